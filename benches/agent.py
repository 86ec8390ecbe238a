#!/usr/bin/env python3
"""Control-socket benchmarks against a real `sidetop agent`. Prints figures; asserts nothing.

    cargo build --release && python3 benches/agent.py

1. A restart asked by one client, seen by another: time from sending `restart` on one
   connection to a `status` notification with the new pid on another (target <= 50 ms).
2. Idle: the agent's CPU with 50 sleeping sidecars and 3 clients subscribed to status,
   events and every sidecar's logs (what an attached dashboard follows), over 30 s.
3. Flood: a C child writes 2,000,000 lines of 100 bytes; its wall time with one client
   following its logs against no client (target <= 1.1x), and the agent's CPU seconds.
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "sidetop")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Conn:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")
        self.next = 1
        self.call("hello", {"version": 2})

    def send(self, method, params=None):
        msg = {"jsonrpc": "2.0", "id": self.next, "method": method, "params": params or {}}
        self.next += 1
        self.file.write((json.dumps(msg) + "\n").encode())
        self.file.flush()
        return msg["id"]

    def call(self, method, params=None):
        id_ = self.send(method, params)
        while True:
            msg = json.loads(self.file.readline())
            if msg.get("id") == id_:
                return msg.get("result")

    def notification(self):
        while True:
            msg = json.loads(self.file.readline())
            if "method" in msg:
                return msg["method"], msg["params"]


def start_agent(tmp, toml, name):
    config = os.path.join(tmp, f"{name}.toml")
    open(config, "w").write(toml)
    socket_path = os.path.join(tmp, f"{name}.sock")
    proc = subprocess.Popen([BIN, "agent", "--config", config, "--socket", socket_path,
                             "--log-dir", os.path.join(tmp, "logs")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            Conn(socket_path)
            return proc, socket_path
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the agent never listened")


def stop(proc):
    proc.terminate()
    proc.wait(timeout=30)


def restart_seen(tmp):
    proc, path = start_agent(tmp, '[[sidecar]]\nname = "s"\ncommand = ["sleep", "100000"]\n', "restart")
    watcher, actor = Conn(path), Conn(path)
    watcher.call("subscribe", {"status": True})
    samples = []
    for _ in range(20):
        pid = next(s["pid"] for s in actor.call("status")["sidecars"])
        start = time.monotonic()
        actor.send("restart", {"sidecar": "s"})
        while True:
            method, params = watcher.notification()
            if method == "status" and any(s["pid"] not in (None, pid) for s in params["sidecars"]):
                samples.append((time.monotonic() - start) * 1000)
                break
        time.sleep(0.2)
    stop(proc)
    print(f"restart in one client -> seen in another: median {statistics.median(samples):.1f} ms, "
          f"max {max(samples):.1f} ms over {len(samples)}   (target <= 50 ms)")


def idle(tmp, seconds):
    toml = "".join(f'[[sidecar]]\nname = "s{i}"\ncommand = ["sleep", "100000"]\n' for i in range(50))
    proc, path = start_agent(tmp, toml, "idle")
    clients = [Conn(path) for _ in range(3)]
    for c in clients:
        c.call("subscribe", {"status": True, "events": True, "logs": "*"})
    time.sleep(3)
    c0, t0 = cpu_seconds(proc.pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(proc.pid), time.monotonic()
    stop(proc)
    print(f"agent idle, 50 sleeping sidecars, 3 subscribed clients, {seconds}s: "
          f"{(c1 - c0) / (t1 - t0) * 100:.2f}% of a core   (target <= 0.3%)")


def flood_run(tmp, tag, watch=None):
    """One 2,000,000-line flood under an agent: (child wall s, agent CPU s). `watch(path)`,
    if given, starts a client before the flood and returns (during, after): called while
    the child writes, and once it is done."""
    flood_bin = os.path.join(tmp, "flood")
    if not os.path.exists(flood_bin):
        subprocess.run(["cc", "-O2", "-o", flood_bin, os.path.join(ROOT, "benches", "flood.c")], check=True)
    go, times, release = (os.path.join(tmp, f"{tag}.{n}") for n in ("go", "times", "release"))
    for p in (go, times, release):
        if os.path.exists(p):
            os.remove(p)
    toml = (f'[[sidecar]]\nname = "flood"\nrestart = "never"\n'
            f'command = ["{flood_bin}", "2000000", "line", "{go}", "{times}", "{release}"]\n')
    proc, path = start_agent(tmp, toml, f"flood-{tag}")
    during, after = watch(path) if watch else (None, None)
    c0 = cpu_seconds(proc.pid)
    open(go, "w").close()
    if during:
        during()
    while not os.path.exists(times):
        time.sleep(0.01)
    wall = int(open(times).read()) / 1e9
    time.sleep(0.5)
    cpu = cpu_seconds(proc.pid) - c0
    open(release, "w").close()
    if after:
        after()
    stop(proc)
    return wall, cpu


def follow_every_line(path):
    client = Conn(path)
    client.call("subscribe", {"logs": ["flood"]})

    def during():
        # Count without parsing: the client must not compete with the child for the CPU
        # more than a Rust dashboard would.
        seen = 0
        while seen < 2_000_000:
            raw = client.file.readline()
            if b'"method":"log"' in raw:
                gone = raw.rsplit(b'"gone":', 1)[1].split(b"}", 1)[0]
                seen += raw.count(b'"seq":') + int(gone)
            elif b'"method":"skipped"' in raw:
                break
    return during, None


def flood(tmp, follow):
    return flood_run(tmp, "follow" if follow else "alone", follow_every_line if follow else None)


def main():
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    with tempfile.TemporaryDirectory() as tmp:
        restart_seen(tmp)
        idle(tmp, 30)
        alone = [flood(tmp, False) for _ in range(3)]
        followed = [flood(tmp, True) for _ in range(3)]
        wa, wf = statistics.median(w for w, _ in alone), statistics.median(w for w, _ in followed)
        print(f"flood 2,000,000 lines: child wall {wa:.3f} s alone, {wf:.3f} s with a client following "
              f"its logs: {wf / wa:.2f}x   (target <= 1.1x)")
        print(f"  agent CPU: {statistics.median(c for _, c in alone):.2f} s alone, "
              f"{statistics.median(c for _, c in followed):.2f} s followed")


if __name__ == "__main__":
    main()
