#!/usr/bin/env python3
"""A JSON-RPC 2.0 sidecar over stdio, one message per line (or Content-Length framing
with --content-length). Methods:
  ping             -> "pong"
  echo             -> its params
  sleep {"ms": N}  -> answers after N ms (requests are answered concurrently, so
                      replies can come out of order)
  fail             -> a JSON-RPC error (-32000)
  crash            -> exits with status 3 at once
  malformed        -> prints a broken JSON line instead of a reply
  notify           -> sends a notification, then answers
ECHO_SLEEP_EXTRA_MS adds that many ms to every `sleep`, ECHO_EXTRA_MS to every request (a
slower build, for replay tests).
Sends a `heartbeat` notification every ECHO_NOTIFY_INTERVAL seconds (0: never).
With ECHO_LISTEN=tcp:HOST:PORT or unix:PATH it serves one connection at a time on that
socket instead of stdio.
Logs go to stderr; one stray line goes to stdout at start, as real programs do.
"""
import json
import os
import sys
import threading
import time

CONTENT_LENGTH = "--content-length" in sys.argv
EXTRA_MS = float(os.environ.get("ECHO_SLEEP_EXTRA_MS", "0"))
EVERY_EXTRA_MS = float(os.environ.get("ECHO_EXTRA_MS", "0"))
out_lock = threading.Lock()
# Where messages are read from and written to: stdio, or the current socket connection.
io = {"in": sys.stdin.buffer, "out": sys.stdout.buffer}


def send(message):
    body = json.dumps(message).encode()
    with out_lock:
        try:
            if CONTENT_LENGTH:
                io["out"].write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            else:
                io["out"].write(body + b"\n")
            io["out"].flush()
        except (BrokenPipeError, OSError, ValueError):
            pass


def send_raw(data):
    with out_lock:
        io["out"].write(data)
        io["out"].flush()


def log(text):
    print(f"jsonrpc_echo: {text}", file=sys.stderr, flush=True)


def read_messages():
    stdin = io["in"]
    while True:
        if not CONTENT_LENGTH:
            line = stdin.readline()
            if not line:
                return
            if line.strip():
                yield line
            continue
        length = None
        while True:
            header = stdin.readline()
            if not header:
                return
            header = header.strip()
            if not header:
                break
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length is not None:
            yield stdin.read(length)


def handle(request, methods):
    rid = request.get("id")
    method = request.get("method")
    params = request.get("params")
    if method not in methods:
        if rid is not None:
            send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": f"no method {method}"}})
        return
    try:
        if EVERY_EXTRA_MS:
            time.sleep(EVERY_EXTRA_MS / 1000)
        result = methods[method](params, rid)
    except RpcError as e:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": e.code, "message": e.message}})
        return
    if rid is not None and result is not NO_REPLY:
        send({"jsonrpc": "2.0", "id": rid, "result": result})


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


NO_REPLY = object()


def base_methods():
    def sleep(params, _rid):
        params = params or {}
        time.sleep((params.get("ms", 0) + EXTRA_MS) / 1000)
        return {"slept_ms": params.get("ms", 0), "tag": params.get("tag")}

    def fail(_params, _rid):
        raise RpcError(-32000, "requested failure")

    def crash(_params, _rid):
        log("crashing on request")
        os._exit(3)

    def malformed(_params, rid):
        send_raw(b'{"jsonrpc": "2.0", "id": %d, "result": \n' % rid if not CONTENT_LENGTH
                 else b"Content-Length: 9\r\n\r\n{\"broken\"")
        return NO_REPLY

    def notify(params, _rid):
        send({"jsonrpc": "2.0", "method": "note", "params": params})
        return "sent"

    return {
        "ping": lambda _p, _r: "pong",
        "echo": lambda p, _r: p,
        "sleep": sleep,
        "fail": fail,
        "crash": crash,
        "malformed": malformed,
        "notify": notify,
    }


def heartbeat(interval):
    n = 0
    while True:
        time.sleep(interval)
        n += 1
        send({"jsonrpc": "2.0", "method": "heartbeat", "params": {"n": n}})


def serve(methods, before=None):
    interval = float(os.environ.get("ECHO_NOTIFY_INTERVAL", "0"))
    if interval > 0:
        threading.Thread(target=heartbeat, args=(interval,), daemon=True).start()
    listen = os.environ.get("ECHO_LISTEN")
    if listen:
        return serve_socket(listen, methods, before)
    if not CONTENT_LENGTH:
        print("jsonrpc_echo starting (this line is a stray print, not protocol)", flush=True)
    log(f"ready, pid {os.getpid()}")
    serve_stream(methods, before)
    log("stdin closed, exiting")


def serve_socket(listen, methods, before):
    import socket
    kind, _, where = listen.partition(":")
    if kind == "unix":
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(where):
            os.unlink(where)
        server.bind(where)
    else:
        host, _, port = where.rpartition(":")
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, int(port)))
    server.listen(1)
    log(f"listening on {listen}, pid {os.getpid()}")
    while True:
        conn, _ = server.accept()
        io["in"], io["out"] = conn.makefile("rb"), conn.makefile("wb")
        serve_stream(methods, before)
        conn.close()
        log("connection closed")


def serve_stream(methods, before):
    for raw in read_messages():
        try:
            request = json.loads(raw)
        except ValueError:
            send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
            continue
        if before and before(request):
            continue
        # Each request on its own thread: slow ones do not hold up fast ones.
        threading.Thread(target=handle, args=(request, methods)).start()


if __name__ == "__main__":
    serve(base_methods())
