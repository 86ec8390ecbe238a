#!/usr/bin/env python3
"""Fleet scale: one agent with 100, 500 and 1,000 sleeping sidecars, and 20 agents x 50
under one `sidetop attach --all` in a real terminal (tmux). Prints figures and how each
grows with the sidecar count; asserts nothing.

    cargo build --release && python3 benches/fleet.py [--sizes 100,500,1000] [--idle 20]

One agent, per size N:
  start: from spawning the agent to every sidecar running (status polled every 20 ms);
  idle CPU: the agent's, with one client subscribed as a dashboard is (target <= 0.5%
  of a core at 1,000); RSS per sidecar: the agent's RSS over N; snapshot: bytes and time
  of one `snapshot` call (it carries each sidecar's resource history, up to 5 minutes of
  samples: taken here about 25 s after the start); `ctl status`: wall time of the command.
Fleet: 20 agents x 50 sleepers in a private runtime folder, one `attach --all` at 160x48:
  first complete frame (every engine's sidecars counted on screen, target <= 1 s), the
  dashboard's idle CPU (target <= 1%), key to screen (target <= 20 ms), the agents' idle
  CPU together; an engine joining (an agent with one sidecar started, then stopped, 5
  times: a wrapper an application spawns): time until its sidecar shows ready, and the
  CPU it costs the dashboard and the 20 agents, over their idle share of the same time.
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent import BIN, Conn, cpu_seconds  # noqa: E402
from tui import key_to_screen  # noqa: E402

SESSIONS = []


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def sleepers(n, prefix="s"):
    return "".join(f'[[sidecar]]\nname = "{prefix}{i:04}"\ncommand = ["sleep", "100000"]\n' for i in range(n))


def spawn_agent(tmp, name, toml, env=None, socket_path=None):
    config = os.path.join(tmp, f"{name}.toml")
    open(config, "w").write(toml)
    args = [BIN, "agent", "--config", config, "--log-dir", os.path.join(tmp, "logs", name)]
    if socket_path:
        args += ["--socket", socket_path]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def connect(path, deadline):
    while True:
        try:
            return Conn(path)
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"no agent listening at {path}")
            time.sleep(0.01)


def all_running(conn, n):
    sidecars = conn.call("status")["sidecars"]
    return len(sidecars) == n and all(s.get("pid") for s in sidecars)


def raw_call(path, method):
    """(bytes of the reply line, seconds) of one call on a fresh connection."""
    c = Conn(path)
    t0 = time.monotonic()
    c.send(method)
    line = c.file.readline()
    return len(line), time.monotonic() - t0


def one_agent(tmp, n, idle_s):
    path = os.path.join(tmp, f"one-{n}.sock")
    t0 = time.monotonic()
    proc = spawn_agent(tmp, f"one-{n}", sleepers(n), socket_path=path)
    conn = connect(path, t0 + 60)
    while not all_running(conn, n):
        if time.monotonic() - t0 > 120:
            raise SystemExit(f"{n} sidecars not all running after 120 s")
        time.sleep(0.02)
    started = time.monotonic() - t0
    watcher = Conn(path)
    # What an attached dashboard follows (besides the selected sidecar's logs).
    watcher.call("subscribe", {"status": True, "events": True, "samples": True, "traffic": True})
    pushed = [0]

    def drain():
        # What a dashboard does: read every push (an unread socket would only fill).
        for line in watcher.file:
            pushed[0] += len(line)
    threading.Thread(target=drain, daemon=True).start()
    time.sleep(3)
    c0, w0, p0 = cpu_seconds(proc.pid), time.monotonic(), pushed[0]
    time.sleep(idle_s)
    idle = (cpu_seconds(proc.pid) - c0) / (time.monotonic() - w0) * 100
    pushed_per_s = (pushed[0] - p0) / (time.monotonic() - w0)
    rss = rss_kib(proc.pid)
    snaps = [raw_call(path, "snapshot") for _ in range(5)]
    stats = []
    for _ in range(5):
        s0 = time.monotonic()
        subprocess.run([BIN, "ctl", "--socket", path, "status"], stdout=subprocess.DEVNULL, check=True)
        stats.append(time.monotonic() - s0)
    proc.terminate()
    proc.wait(timeout=60)
    return {
        "n": n,
        "start_s": started,
        "idle_pct": idle,
        "pushed": pushed_per_s,
        "rss_kib": rss,
        "snapshot_bytes": snaps[0][0],
        "snapshot_ms": statistics.median(s[1] for s in snaps) * 1e3,
        "status_ms": statistics.median(stats) * 1e3,
    }


def tmux(*args):
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def fleet(tmp, agents, each, idle_s, presses):
    runtime = os.path.join(tmp, "runtime")
    os.makedirs(runtime, mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
    procs = [spawn_agent(tmp, f"fleet-{a:02}", sleepers(each, f"a{a:02}-"), env=env) for a in range(agents)]
    deadline = time.monotonic() + 120
    folder = os.path.join(runtime, "sidetop")
    while True:
        socks = [f for f in os.listdir(folder)] if os.path.isdir(folder) else []
        socks = [os.path.join(folder, f) for f in socks if f.endswith(".sock")]
        if len(socks) == agents and all(all_running(connect(s, deadline), each) for s in socks):
            break
        if time.monotonic() > deadline:
            raise SystemExit("the fleet's agents did not all start")
        time.sleep(0.2)
    total = agents * each
    session = f"sidetop-fleet-bench-{os.getpid()}"
    SESSIONS.append(session)
    t0 = time.monotonic()
    tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "48", "env", f"XDG_RUNTIME_DIR={runtime}",
         BIN, "attach", "--all", "--log-dir", os.path.join(tmp, "attach-logs"))
    first = None
    while time.monotonic() - t0 < 30:
        text = tmux("capture-pane", "-p", "-t", session)
        m = re.search(r"(\d+) ready", text)
        if m and int(m.group(1)) == total:
            first = time.monotonic() - t0
            break
        time.sleep(0.005)
    if first is None:
        raise SystemExit("attach --all never showed every sidecar ready:\n" + tmux("capture-pane", "-p", "-t", session))
    pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
    time.sleep(3)
    d0, a0, w0 = cpu_seconds(pid), sum(cpu_seconds(p.pid) for p in procs), time.monotonic()
    time.sleep(idle_s)
    wall = time.monotonic() - w0
    dash = (cpu_seconds(pid) - d0) / wall * 100
    agents_cpu = (sum(cpu_seconds(p.pid) for p in procs) - a0) / wall * 100
    dash_rss = rss_kib(pid)
    samples = key_to_screen(session, presses)
    joined = joins(session, tmp, env, procs, pid, total, dash, agents_cpu)
    tmux("kill-session", "-t", session)
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=60)
    print(f"fleet, {agents} agents x {each} sleepers ({total}), attach --all at 160x48:")
    print(f"  first complete frame (all {total} counted ready on screen) {first * 1e3:.0f} ms   (target <= 1 s)")
    print(f"  dashboard idle {dash:.2f}% of a core, RSS {dash_rss / 1024:.1f} MB   (target <= 1%)")
    print(f"  the {agents} agents' idle CPU together {agents_cpu:.2f}% of a core "
          f"({agents_cpu / agents:.3f}% each)")
    print(f"  key to screen median {statistics.median(samples):.1f} ms, p90 "
          f"{samples[int(len(samples) * 0.9)]:.1f} ms, max {samples[-1]:.1f} ms   (target <= 20 ms; "
          f"includes tmux capture polling)")
    times, dash_ms, agents_ms = joined
    print(f"  an engine joining ({len(times)} times): on screen in median {statistics.median(times) * 1e3:.0f} ms; "
          f"CPU per join over idle: dashboard {statistics.median(dash_ms):.1f} ms, the {agents} agents "
          f"{statistics.median(agents_ms):.1f} ms (medians)")


def joins(session, tmp, env, procs, pid, total, dash_idle_pct, agents_idle_pct, count=5, window=2.0):
    """Starts and stops a one-sidecar agent `count` times under the attached dashboard."""
    times, dash_ms, agents_ms = [], [], []
    for j in range(count):
        d0, a0, t0 = cpu_seconds(pid), sum(cpu_seconds(p.pid) for p in procs), time.monotonic()
        joiner = spawn_agent(tmp, f"joiner-{j}", sleepers(1, f"j{j}-"), env=env)
        while f"{total + 1} ready" not in tmux("capture-pane", "-p", "-t", session):
            if time.monotonic() - t0 > 10:
                raise SystemExit("a joining engine never showed:\n" + tmux("capture-pane", "-p", "-t", session))
            time.sleep(0.005)
        times.append(time.monotonic() - t0)
        time.sleep(max(0.0, window - (time.monotonic() - t0)))
        wall = time.monotonic() - t0
        dash_ms.append((cpu_seconds(pid) - d0) * 1e3 - dash_idle_pct / 100 * wall * 1e3)
        agents_ms.append((sum(cpu_seconds(p.pid) for p in procs) - a0) * 1e3 - agents_idle_pct / 100 * wall * 1e3)
        joiner.terminate()
        joiner.wait(timeout=30)
        time.sleep(1)
    return times, dash_ms, agents_ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,500,1000")
    ap.add_argument("--idle", type=float, default=20)
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--each", type=int, default=50)
    ap.add_argument("--presses", type=int, default=20)
    ap.add_argument("--skip-fleet", action="store_true")
    ap.add_argument("--skip-one", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sidetop-fleet-bench-")
    try:
        if not args.skip_one:
            rows = [one_agent(tmp, int(n), args.idle) for n in args.sizes.split(",")]
            print("one agent, N sleeping sidecars, one client subscribed to status, events, samples and traffic:")
            print("       N   start s   idle %core   pushed B/s   RSS MB   RSS/sidecar KiB   snapshot KB   snapshot ms   ctl status ms")
            for r in rows:
                print(f"  {r['n']:6}   {r['start_s']:7.2f}   {r['idle_pct']:10.2f}   {r['pushed']:10.0f}   {r['rss_kib'] / 1024:6.1f}   "
                      f"{r['rss_kib'] / r['n']:15.1f}   {r['snapshot_bytes'] / 1e3:11.1f}   {r['snapshot_ms']:11.1f}   "
                      f"{r['status_ms']:13.1f}")
            if len(rows) > 1:
                a, b = rows[0], rows[-1]
                k = b["n"] / a["n"]
                print(f"  growth from {a['n']} to {b['n']} ({k:.0f}x sidecars): start {b['start_s'] / a['start_s']:.1f}x, "
                      f"idle {b['idle_pct'] / max(a['idle_pct'], 1e-3):.1f}x, snapshot bytes "
                      f"{b['snapshot_bytes'] / a['snapshot_bytes']:.1f}x, snapshot time "
                      f"{b['snapshot_ms'] / a['snapshot_ms']:.1f}x, ctl status {b['status_ms'] / a['status_ms']:.1f}x; "
                      f"RSS per added sidecar {(b['rss_kib'] - a['rss_kib']) / (b['n'] - a['n']):.1f} KiB")
        if not args.skip_fleet:
            fleet(tmp, args.agents, args.each, args.idle, args.presses)
    finally:
        for s in SESSIONS:
            subprocess.run(["tmux", "kill-session", "-t", s], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
