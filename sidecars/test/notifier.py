#!/usr/bin/env python3
"""JSON-RPC sidecar that only talks: RATE notifications a second (argv[1], default 1000),
each {"method": "tick", "params": {"seq": N, "pad": "x" * 500}}, N counting from 0."""
import json, sys, time
rate = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
pad = "x" * 500
seq = 0
while True:
    lines = []
    for _ in range(max(1, rate // 100)):
        lines.append(json.dumps({"jsonrpc": "2.0", "method": "tick", "params": {"seq": seq, "pad": pad}}))
        seq += 1
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    time.sleep(0.01)
