#!/usr/bin/env python3
"""An HTTP sidecar on 127.0.0.1:$PORT: GET /health, GET /price?pair=..,
POST /price {"pair": ..}, GET /slow?ms=N, GET /fail (500). Request logs go to stderr."""
import json
import os
import random
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

BASE = {"BTC-USD": 64000.0, "ETH-USD": 3100.0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle plus delayed ACKs
    # add 40 ms to every response.
    disable_nagle_algorithm = True

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def price(self, pair):
        if pair not in BASE:
            return self.reply(404, {"error": f"unknown pair {pair}"})
        return self.reply(200, {"pair": pair, "price": round(BASE[pair] * random.uniform(0.995, 1.005), 2)})

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/health":
            return self.reply(200, {"status": "ok"})
        if url.path == "/price":
            return self.price(query.get("pair", ["BTC-USD"])[0])
        if url.path == "/slow":
            time.sleep(int(query.get("ms", ["100"])[0]) / 1000)
            return self.reply(200, {"slept": True})
        if url.path == "/fail":
            return self.reply(500, {"error": "requested failure"})
        return self.reply(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.reply(400, {"error": "invalid JSON"})
        if urlparse(self.path).path == "/price":
            return self.price(body.get("pair", "BTC-USD"))
        return self.reply(404, {"error": "not found"})


port = int(os.environ.get("PORT", "5000"))
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
print(f"http_service listening on 127.0.0.1:{port}", flush=True)
server.serve_forever()
