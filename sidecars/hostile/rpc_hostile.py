#!/usr/bin/env python3
"""A JSON-RPC sidecar (newline framing) that breaks the protocol on request:
  ping          -> "pong" (to show it still works afterwards)
  twice         -> answers twice
  unknown_id    -> answers with an id nobody asked for
  garbage       -> prints a line that is not JSON at all but looks like it
  huge {"mb":N} -> answers with an N MB frame
  flood {"n":N} -> sends N notifications, then answers
"""
import json
import sys

out = sys.stdout


def send(msg):
    out.write(json.dumps(msg) + "\n")
    out.flush()


for line in sys.stdin:
    try:
        req = json.loads(line)
    except ValueError:
        continue
    rid, method, params = req.get("id"), req.get("method"), req.get("params") or {}
    if method == "ping":
        send({"jsonrpc": "2.0", "id": rid, "result": "pong"})
    elif method == "twice":
        send({"jsonrpc": "2.0", "id": rid, "result": 1})
        send({"jsonrpc": "2.0", "id": rid, "result": 2})
    elif method == "unknown_id":
        send({"jsonrpc": "2.0", "id": 987654321, "result": "who asked?"})
    elif method == "garbage":
        out.write('{"jsonrpc": "2.0", "id": ' + str(rid) + ', "result": [1, 2,, garbage\n')
        out.flush()
    elif method == "huge":
        out.write('{"jsonrpc": "2.0", "id": %d, "result": "' % rid)
        out.write("z" * (params.get("mb", 20) << 20))
        out.write('"}\n')
        out.flush()
    elif method == "flood":
        for n in range(params.get("n", 1000)):
            out.write('{"jsonrpc": "2.0", "method": "note", "params": {"n": %d}}\n' % n)
        out.flush()
        send({"jsonrpc": "2.0", "id": rid, "result": "flooded"})
