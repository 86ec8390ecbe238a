#!/usr/bin/env python3
"""A minimal MCP server over stdio that answers "burst" with one JSON-RPC batch: the
reply and three `notifications/message` log messages, each with its own params."""
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
    else:
        result = {}
    print(json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}), flush=True)
