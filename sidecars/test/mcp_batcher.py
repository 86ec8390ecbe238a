#!/usr/bin/env python3
"""A minimal MCP server over stdio that answers "burst" with one JSON-RPC batch: the
reply and three `notifications/message` log messages, each with its own params; and
"flood" with n log messages, one line each, in one write, then the reply."""
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    method, rid = msg.get("method"), msg["id"]
    if method == "initialize":
        result = {"protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"logging": {}},
                  "serverInfo": {"name": "batcher", "version": "1"}}
    elif method == "tools/list":
        result = {"tools": []}
    elif method == "burst":
        batch = [{"jsonrpc": "2.0", "method": "notifications/message",
                  "params": {"level": "info", "logger": "batch", "data": f"batched note {i}"}} for i in range(3)]
        batch.append({"jsonrpc": "2.0", "id": rid, "result": {}})
        print(json.dumps(batch), flush=True)
        continue
    elif method == "flood":
        n = msg["params"]["n"]
        note = lambda i: json.dumps({"jsonrpc": "2.0", "method": "notifications/message",
                                     "params": {"level": "info", "data": f"flood note {i}"}})
        sys.stdout.write("".join(note(i) + "\n" for i in range(n)))
        result = {}
    else:
        result = {}
    print(json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}), flush=True)
