#!/usr/bin/env python3
"""Reload of a 50-sidecar config with one change, against a real `sidetop agent`: time from
`reload` sent until `status` shows the changed sidecar's new process, and
proof that the other 49 kept their PIDs. Prints figures; asserts nothing.

    cargo build --release && python3 benches/reload.py
"""
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent import BIN, Conn, start_agent, stop  # noqa: E402


def config(changed_env):
    out = ""
    for i in range(50):
        env = f'env = {{ GEN = "{changed_env}" }}\n' if i == 25 else ""
        out += f'[[sidecar]]\nname = "s{i:02}"\ncommand = ["sleep", "100000"]\n{env}'
    return out


def main():
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    with tempfile.TemporaryDirectory() as tmp:
        proc, path = start_agent(tmp, config(0), "reload")
        conn = Conn(path)
        times, kept = [], []
        for run in range(1, 11):
            before = {s["name"]: s["pid"] for s in conn.call("status")["sidecars"]}
            open(os.path.join(tmp, "reload.toml"), "w").write(config(run))
            start = time.monotonic()
            conn.call("reload", {})
            while True:
                after = {s["name"]: s["pid"] for s in conn.call("status")["sidecars"]}
                if after["s25"] not in (None, before["s25"]):
                    break
            times.append((time.monotonic() - start) * 1000)
            same = sum(1 for n in before if n != "s25" and before[n] == after.get(n))
            kept.append(same)
        stop(proc)
        print(f"reload of 50 sidecars, one env changed: median {statistics.median(times):.1f} ms "
              f"(max {max(times):.1f}) over {len(times)}; unchanged PIDs kept: {min(kept)}/49 in every run "
              f"(includes the changed one's graceful stop, SIGTERM to a sleep)")


if __name__ == "__main__":
    main()
