#!/usr/bin/env python3
"""Sends the same requests straight to a server and through sidetop's proxy, each on one
keep-alive connection, and prints one JSON line: how many were sent and every one whose
status, headers (names as written, but Date) or body differed. Usage: http_compare.py DIRECT_PORT PROXY_PORT N PATH..."""
import http.client
import json
import sys


def run(port, requests):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for method, path, body in requests:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        # Header names as written (case too); Date moves on, Connection is hop-by-hop.
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in ("date", "connection")]
        out.append((resp.status, headers, data))
    conn.close()
    return out


direct, proxied, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
paths = sys.argv[4:]
requests = []
for i in range(count):
    path = paths[i % len(paths)].replace("{i}", str(i))
    if path.startswith("POST "):
        requests.append(("POST", path[5:], json.dumps({"pair": f"NO-{i}"}).encode()))
    else:
        requests.append(("GET", path, None))
a, b = run(direct, requests), run(proxied, requests)
differ = [
    {"request": requests[i][1], "direct": [a[i][0], len(a[i][2])], "proxied": [b[i][0], len(b[i][2])]}
    for i in range(count)
    if a[i] != b[i]
]
print(json.dumps({"sent": count, "differ": differ[:5], "differing": len(differ), "bytes": sum(len(x[2]) for x in b)}))
