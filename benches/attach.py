#!/usr/bin/env python3
"""`sidetop attach` against a real `sidetop agent`, each dashboard a real terminal (tmux).
Prints figures; asserts nothing.

    cargo build --release && python3 benches/attach.py

1. First frame: an agent supervising 50 sidecars with 10,000 lines of scrollback each;
   time from `sidetop attach` connecting to its first complete frame (the table and the
   selected sidecar's whole scrollback), and the bytes it received (target <= 200 ms).
2. A restart sent by one client (a script on the socket), seen on the screen of an
   attached dashboard: median over 20 restarts (target <= 50 ms).
3. Idle: the agent's CPU with 50 sleeping sidecars and 3 attached idle dashboards over
   30 s (target <= 0.3% of a core), and each dashboard's own CPU.
4. Flood: a C child writes 2,000,000 lines of 100 bytes; its wall time with an attached
   dashboard showing its logs against no dashboard (target <= 1.1x), and the agent's CPU.
"""
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent import BIN, Conn, cpu_seconds, flood_run, start_agent, stop  # noqa: E402

SESSIONS = []


def tmux(*args):
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def attach(tmp, socket_path, name):
    session = f"sidetop-bench-{os.getpid()}-{name}"
    SESSIONS.append(session)
    logs = os.path.join(tmp, f"attach-{name}")
    tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "48",
         BIN, "attach", "--socket", socket_path, "--log-dir", logs)
    return session, logs


def screen(session):
    return tmux("capture-pane", "-p", "-t", session)


def wait_screen(session, check, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = screen(session)
        if check(text):
            return text
        time.sleep(0.005)
    raise SystemExit(f"timed out; screen:\n{screen(session)}")


def pid_of(session):
    return int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())


def close(session):
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def first_frame(tmp):
    body = "i=0; while [ $i -lt 10000 ]; do i=$((i+1)); echo \\\"line $i of the scrollback with some text\\\"; done; exec sleep 100000"
    toml = "".join(f'[[sidecar]]\nname = "s{i:02}"\ncommand = ["sh", "-c", "{body}"]\n' for i in range(50))
    proc, path = start_agent(tmp, toml, "frame")
    conn = Conn(path)
    while not all(s["lines"] == 10000 for s in conn.call("status")["sidecars"]):
        time.sleep(0.2)
    times, sizes = [], []
    for run in range(5):
        session, logs = attach(tmp, path, f"frame{run}")
        log = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = [f for f in os.listdir(logs)] if os.path.isdir(logs) else []
            text = "".join(open(os.path.join(logs, f)).read() for f in found)
            m = re.search(r"first complete frame ([\d.]+) ms after connecting \((\d+) bytes received\)", text)
            if m:
                log = m
                break
            time.sleep(0.05)
        close(session)
        if not log:
            raise SystemExit("no first-frame line in the attach log")
        times.append(float(log.group(1)))
        sizes.append(int(log.group(2)))
    stop(proc)
    print(f"attach to 50 sidecars x 10,000 lines: first complete frame median {statistics.median(times):.1f} ms "
          f"(max {max(times):.1f}) over {len(times)}, {statistics.median(sizes) / 1e6:.2f} MB received   "
          f"(target <= 200 ms)")


def row_pid(text):
    """The PID column of the sleeper's row, as shown."""
    for line in text.splitlines():
        if line.startswith("│sleeper "):
            fields = line.strip("│").split()
            return int(fields[3]) if len(fields) > 3 and fields[3].isdigit() else None
    return None


def restart_seen(tmp):
    proc, path = start_agent(tmp, '[[sidecar]]\nname = "sleeper"\ncommand = ["sleep", "100000"]\n', "restart")
    session, _ = attach(tmp, path, "restart")
    actor = Conn(path)
    samples = []
    for _ in range(20):
        pid = next(s["pid"] for s in actor.call("status")["sidecars"])
        wait_screen(session, lambda t: row_pid(t) == pid)
        start = time.monotonic()
        actor.send("restart", {"sidecar": "sleeper"})
        wait_screen(session, lambda t: row_pid(t) not in (None, pid))
        samples.append((time.monotonic() - start) * 1000)
        time.sleep(0.2)
    close(session)
    stop(proc)
    print(f"restart by a client -> on an attached dashboard's screen: median {statistics.median(samples):.1f} ms, "
          f"max {max(samples):.1f} ms over {len(samples)}   (target <= 50 ms; includes tmux capture polling)")


def idle(tmp, seconds):
    toml = "".join(f'[[sidecar]]\nname = "s{i:02}"\ncommand = ["sleep", "100000"]\n' for i in range(50))
    proc, path = start_agent(tmp, toml, "idle")
    sessions = [attach(tmp, path, f"idle{n}")[0] for n in range(3)]
    for s in sessions:
        wait_screen(s, lambda t: "s49" in t or "sidecars (50)" in t)
    time.sleep(3)
    pids = [pid_of(s) for s in sessions]
    a0, d0, t0 = cpu_seconds(proc.pid), [cpu_seconds(p) for p in pids], time.monotonic()
    time.sleep(seconds)
    a1, d1, t1 = cpu_seconds(proc.pid), [cpu_seconds(p) for p in pids], time.monotonic()
    for s in sessions:
        close(s)
    stop(proc)
    dash = [(b - a) / (t1 - t0) * 100 for a, b in zip(d0, d1)]
    print(f"agent idle, 50 sleeping sidecars, 3 attached dashboards, {seconds}s: "
          f"{(a1 - a0) / (t1 - t0) * 100:.2f}% of a core   (target <= 0.3%); "
          f"each dashboard {', '.join(f'{d:.2f}%' for d in dash)}")


def flood(tmp, attached):
    def dashboard(path):
        session, _ = attach(tmp, path, f"flood{len(SESSIONS)}")
        wait_screen(session, lambda t: "flood" in t and "follow" in t)
        return None, lambda: close(session)
    return flood_run(tmp, "attached" if attached else "alone", dashboard if attached else None)


def main():
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            first_frame(tmp)
            restart_seen(tmp)
            idle(tmp, 30)
            alone, attached = [], []
            for _ in range(3):
                alone.append(flood(tmp, False))
                attached.append(flood(tmp, True))
            wa, wf = statistics.median(w for w, _ in alone), statistics.median(w for w, _ in attached)
            print(f"flood 2,000,000 lines: child wall {wa:.3f} s alone, {wf:.3f} s with an attached dashboard "
                  f"on its logs: {wf / wa:.2f}x   (target <= 1.1x)")
            print(f"  agent CPU: {statistics.median(c for _, c in alone):.2f} s alone, "
                  f"{statistics.median(c for _, c in attached):.2f} s attached")
        finally:
            for s in SESSIONS:
                close(s)


if __name__ == "__main__":
    main()
