#!/usr/bin/env python3
"""Sends COUNT (argv[1]) JSON-RPC requests to sidetop and never reads its stdin, so the
answers pile up; then prints `flood done` on stderr and sleeps."""
import json, sys, time
out = sys.stdout
for i in range(int(sys.argv[1])):
    out.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": "ask", "params": {"n": i}}) + "\n")
out.flush()
print("flood done", file=sys.stderr, flush=True)
time.sleep(600)
