#!/usr/bin/env python3
"""An HTTP sidecar on 127.0.0.1:$PORT for the proxy tests: GET /stream sends 64 KiB chunks
(chunked encoding) every 10 ms until the client goes away, then says on stderr how far it
got, so a test sees that a hang-up reached the sidecar; GET /sse sends three server-sent
events 200 ms apart."""
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = b"x" * 65536


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        if self.path == "/health":
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for n in range(3):
                self.chunk(b"data: event %d\n\n" % n)
                time.sleep(0.2)
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            while True:
                self.chunk(CHUNK)
                sent += 1
                time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            print(f"stream cancelled after {sent} chunks", file=sys.stderr, flush=True)
            self.close_connection = True


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
