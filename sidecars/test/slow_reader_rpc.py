#!/usr/bin/env python3
"""JSON-RPC echo that does not read its stdin for the first SECONDS (argv[1]): a request
written meanwhile fills the pipe and its write stalls. Replies with the params' length."""
import json, sys, time
time.sleep(float(sys.argv[1]))
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        print(f"not JSON: {line[:60]!r}", file=sys.stderr, flush=True)
        continue
    reply = {"jsonrpc": "2.0", "id": msg.get("id"), "result": {"size": len(json.dumps(msg.get("params")))}}
    print(json.dumps(reply), flush=True)
