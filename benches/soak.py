#!/usr/bin/env python3
"""Soak test: 30 sidecars that randomly flood, crash, hang and recover for N minutes under
headless sidetop. Reports sidetop's RSS over time, its descriptor count, zombies, and lines
seen vs lines written; exits non-zero if RSS keeps growing or anything leaks.

    cargo build --release && python3 benches/soak.py [--minutes 10] [--sidecars 30]
"""
import argparse
import collections
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SIDETOP_BIN", os.path.join(ROOT, "target", "release", "sidetop"))
CHAOS = os.path.join(ROOT, "sidecars", "hostile", "chaos.py")


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def zombies_of(pid):
    n = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            n += 1
    return n


def marked(marker):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if f"SOAK_MARKER={marker}".encode() in f.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:
            pass
    return pids


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--sidecars", type=int, default=30)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="sidetop-soak-")
    counts = os.path.join(tmp, "counts")
    os.mkdir(counts)
    marker = str(os.getpid())
    config = os.path.join(tmp, "soak.toml")
    with open(config, "w") as f:
        f.write(f'[defaults]\nrestart = "always"\nstop_timeout = "2s"\nbackoff = {{ initial = "100ms", max = "2s" }}\n'
                f'crash_loop = {{ max_exits = 100000, window = "1m" }}\n'
                f'env = {{ CHAOS_COUNT_DIR = "{counts}", SOAK_MARKER = "{marker}" }}\n')
        for i in range(args.sidecars):
            f.write(f'[[sidecar]]\nname = "chaos{i:02}"\ncommand = ["python3", "-u", "{CHAOS}"]\n'
                    f'env = {{ CHAOS_NAME = "chaos{i:02}" }}\n')
    proc = subprocess.Popen([BIN, "--headless", "--config", config, "--log-dir", tmp],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    seen = collections.Counter()

    line_re = re.compile(rb"^\S+ (chaos\d+) +!?\| ")

    def read():
        for line in proc.stdout:
            m = line_re.match(line)
            if m:
                seen[m.group(1).decode()] += 1

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    samples = []
    start = time.monotonic()
    end = start + args.minutes * 60
    print(f"soak: {args.sidecars} chaotic sidecars for {args.minutes} min under headless sidetop (pid {proc.pid})")
    print(f"{'t':>6} {'RSS MB':>8} {'fds':>5} {'zombies':>8} {'sidecar procs':>14} {'lines seen':>12}")
    while time.monotonic() < end:
        time.sleep(min(10, max(0.1, end - time.monotonic())))
        t = time.monotonic() - start
        rss = status_kb(proc.pid, "VmRSS") / 1024
        fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
        zombies = zombies_of(proc.pid)
        samples.append((t, rss, fds, zombies))
        print(f"{t:6.0f} {rss:8.1f} {fds:5d} {zombies:8d} {len(marked(marker)):14d} {sum(seen.values()):12d}", flush=True)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    reader.join(timeout=10)
    time.sleep(1)
    left = marked(marker)
    written = collections.Counter()
    for name in os.listdir(counts):
        with open(os.path.join(counts, name)) as f:
            written[name.split(".")[0]] += int(f.read() or 0)
    total_written, total_seen = sum(written.values()), sum(seen.values())

    problems = []
    if code != 0:
        problems.append(f"sidetop exited {code} on SIGTERM")
    if left:
        problems.append(f"{len(left)} sidecar processes left running")
    # Lines written after the last count update, at a crash, may be missing from the
    # count, never from the output: seen >= written.
    missing = {n: written[n] - seen[n] for n in written if seen[n] < written[n]}
    if missing:
        problems.append(f"lines written but not seen: {missing}")
    third = max(1, len(samples) // 3)
    early = max(s[1] for s in samples[third:2 * third]) if len(samples) >= 3 else samples[0][1]
    late = max(s[1] for s in samples[2 * third:]) if len(samples) >= 3 else samples[-1][1]
    if late > early * 1.25 + 5:
        problems.append(f"RSS kept growing: {early:.1f} MB in the middle third, {late:.1f} MB in the last")
    fd_counts = [s[2] for s in samples]
    if len(samples) >= 3 and max(fd_counts[third:]) > max(fd_counts[:third]) + 10:
        problems.append(f"descriptors grew: {fd_counts}")
    if samples and max(s[3] for s in samples) > args.sidecars:
        problems.append("zombies piled up")
    print(f"\nlines written {total_written}, seen {total_seen} (dropped {max(0, total_written - total_seen)}); "
          f"RSS middle third max {early:.1f} MB, last third max {late:.1f} MB; "
          f"fds {min(fd_counts)}..{max(fd_counts)}; zombies max {max(s[3] for s in samples)}; "
          f"exit code {code}; left running {len(left)}")
    if problems:
        print("FAIL: " + "; ".join(problems))
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
