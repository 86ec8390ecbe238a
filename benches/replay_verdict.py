#!/usr/bin/env python3
"""How often `sidetop replay` tells the truth, on this machine: a recording of 300 pings
(about 60 µs each) and one of 100 `sleep 20ms`, both at -c 1 through a real agent, each
replayed 10 times against the same build (the verdict must be exit 0) and 10 times
against a build 2 ms slower per request (ECHO_EXTRA_MS=2: exit 1). Prints each
replay's p50 then and now and the tally; asserts nothing.

    cargo build --release && python3 benches/replay_verdict.py
"""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "sidetop")
ROUNDS = 10


def config(extra_ms):
    return f"""
[[sidecar]]
name = "echo"
command = ["python3", "-u", "{ROOT}/sidecars/jsonrpc_echo.py"]
env = {{ ECHO_EXTRA_MS = "{extra_ms}" }}
[sidecar.ipc]
protocol = "jsonrpc"
"""


def record(tmp, name, load_args):
    cfg = os.path.join(tmp, f"record-{name}.toml")
    with open(cfg, "w") as f:
        f.write(config(0))
    rec = os.path.join(tmp, f"{name}.jsonl")
    sock = os.path.join(tmp, f"{name}.sock")
    agent = subprocess.Popen([BIN, "--config", cfg, "--record", rec, "--log-dir", os.path.join(tmp, "logs"),
                              "agent", "--socket", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctl = [BIN, "ctl", "--socket", sock]
    deadline = time.time() + 20
    while subprocess.run(ctl + ["status"], capture_output=True).returncode != 0:
        if time.time() > deadline:
            sys.exit("the agent did not start")
        time.sleep(0.1)
    time.sleep(1.0)  # Python's start-up, out of the recording
    subprocess.run(ctl + ["request", "echo"] + load_args, check=True, capture_output=True)
    subprocess.run(ctl + ["shutdown"], check=True, capture_output=True)
    agent.wait()
    return rec


def replay(tmp, rec, extra_ms):
    cfg = os.path.join(tmp, f"replay-{extra_ms}.toml")
    with open(cfg, "w") as f:
        f.write(config(extra_ms))
    out = subprocess.run([BIN, "--config", cfg, "--log-dir", os.path.join(tmp, "logs"), "replay", rec,
                          "--sidecar", "echo"], capture_output=True, text=True)
    row = next((l.split() for l in out.stdout.splitlines() if l.split()[:1] in (["ping"], ["sleep"])), [])
    return out.returncode, (row[2], row[3]) if len(row) > 3 else ("?", "?")


def main():
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("ping", ["--method", "ping", "-n", "300", "-c", "1"]),
            ("sleep", ["--method", "sleep", "--params", '{"ms": 20}', "-n", "100", "-c", "1"]),
        ]
        for name, load_args in cases:
            rec = record(tmp, name, load_args)
            for extra_ms, want in [(0, 0), (2, 1)]:
                codes = []
                for _ in range(ROUNDS):
                    code, (then, now) = replay(tmp, rec, extra_ms)
                    codes.append(code)
                    print(f"  {name:5} +{extra_ms} ms: exit {code}  p50 then {then:>9}  now {now:>9}")
                right = sum(1 for c in codes if c == want)
                build = "same build" if extra_ms == 0 else "2 ms slower"
                print(f"{name} against the {build}: exit {want} in {right} of {ROUNDS}")


if __name__ == "__main__":
    main()
