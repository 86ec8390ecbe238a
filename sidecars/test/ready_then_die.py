#!/usr/bin/env python3
"""Run 1 (no STATE file): prints the ready line at once, never answers the handshake,
exits after 0.3 s. Run 2: answers the handshake but never prints the ready line, so it
must never be ready."""
import json, os, sys, time
state = sys.argv[1]
if not os.path.exists(state):
    open(state, "w").write("1")
    print("READY to serve", flush=True)
    time.sleep(0.3)
    sys.exit(1)
for line in sys.stdin:
    msg = json.loads(line)
    if "id" in msg:
        print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {}}), flush=True)
