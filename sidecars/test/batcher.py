#!/usr/bin/env python3
"""JSON-RPC sidecar that answers "batch" with a batch: the reply, a notification, a
request of its own (id "q1") and a reply to an id nobody asked. Whatever comes back for
"q1" is reported on stderr as `answer: ...`."""
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    items = msg if isinstance(msg, list) else [msg]
    for item in items:
        if item.get("id") == "q1" or "method" not in item:
            print("answer: " + json.dumps(msg), file=sys.stderr, flush=True)
            break
        if item.get("method") == "batch":
            batch = [
                {"jsonrpc": "2.0", "id": item["id"], "result": "ok"},
                {"jsonrpc": "2.0", "method": "progress", "params": {"done": 1}},
                {"jsonrpc": "2.0", "id": "q1", "method": "ask"},
                {"jsonrpc": "2.0", "id": 999999, "result": "nobody asked"},
            ]
            print(json.dumps(batch), flush=True)
