#!/usr/bin/env python3
"""A WebSocket JSON-RPC 2.0 sidecar, standard library only (RFC 6455 done by hand).

Usage: ws_service.py PORT   (or WS_PORT=PORT; 0 picks a free port)
Serves ws://127.0.0.1:PORT/ (any path). Prints "ws_service: listening on 127.0.0.1:PORT"
to stderr once ready; connections and disconnections are logged there too.

One JSON-RPC request (or batch) per text message; every reply or push is one unmasked
text frame. Requests run concurrently, so replies can come out of order. Methods:
  ping -> "pong"      echo -> its params      fail -> error -32000 "requested failure"
  add {"a": x, "b": y} -> x + y
  sleep {"ms": N} -> {"slept_ms": N}, N ms later
  subscribe {"topic": "ticks", "interval_ms": N (100)} -> {"subscription": "sub-K"}, then
      {"jsonrpc":"2.0","method":"ticks","params":{"subscription","seq","at"}} every N ms
  unsubscribe {"subscription": "sub-K"} -> true (false if unknown); no tick follows it
Each connection also gets {"jsonrpc":"2.0","method":"heartbeat","params":{"at": t}}.

Environment:
  WS_PORT           the port, when not given as an argument
  WS_HEARTBEAT_S    seconds between heartbeats (default 1.0; 0 disables)
  WS_DELAY_MS       extra sleep before every reply (a slower build)
  WS_FAIL_IMPORT=1  die at start with "ModuleNotFoundError: No module named 'websockets'"
SIGTERM/SIGINT: Close 1001 "going away" on every connection, up to 1 s for the close
handshakes, exit 0.
"""
import base64
import hashlib
import itertools
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
MAX_SIZE = 16 * 1024 * 1024  # largest frame, and largest reassembled message
DELAY_S = float(os.environ.get("WS_DELAY_MS") or 0) / 1000
HEARTBEAT_S = float(os.environ.get("WS_HEARTBEAT_S") or 1.0)
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10
sub_ids = itertools.count(1)
connections, connections_lock = set(), threading.Lock()


def log(text):
    print(f"ws_service: {text}", file=sys.stderr, flush=True)


class ProtocolError(Exception):
    """Ends the connection with a Close frame; args: (close code, reason)."""


class RpcError(Exception):
    """Becomes a JSON-RPC error reply; args: (code, message)."""


def unmask(data, mask):
    n = len(data)  # XOR as one big integer: fast even for a 16 MiB payload
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


class Connection:
    def __init__(self, sock, addr):
        self.sock, self.peer, self.reader = sock, "%s:%d" % addr[:2], sock.makefile("rb")
        # Serializes writes. Re-entrant: a tick holds it while checking its stop flag.
        self.write_lock = threading.RLock()
        self.close_sent = False           # once true, nothing more is written
        self.close_code = 1006            # from the client's Close (1006: none came)
        self.closing = threading.Event()  # stops the heartbeat and subscriptions
        self.done = threading.Event()     # socket closed
        self.subscriptions = {}           # id -> stop Event

    def send_frame(self, opcode, payload=b""):
        n = len(payload)  # always FIN, never masked
        header = struct.pack("!BB", 0x80 | opcode, n) if n < 126 else \
            struct.pack("!BBH", 0x80 | opcode, 126, n) if n < 65536 else \
            struct.pack("!BBQ", 0x80 | opcode, 127, n)
        with self.write_lock:
            if self.close_sent:
                return
            self.close_sent = opcode == CLOSE
            try:
                self.sock.sendall(header + payload)
            except OSError:
                pass

    def send_json(self, message):
        self.send_frame(TEXT, json.dumps(message).encode())

    def read_exact(self, n):
        data = self.reader.read(n)
        if len(data) < n:
            raise EOFError
        return data

    def read_frame(self):
        b0, b1 = self.read_exact(2)
        fin, opcode, length = bool(b0 & 0x80), b0 & 0x0F, b1 & 0x7F
        if length >= 126:
            (length,) = struct.unpack("!H" if length == 126 else "!Q",
                                      self.read_exact(2 if length == 126 else 8))
        if b0 & 0x70:
            raise ProtocolError(1002, "reserved bits set")
        if opcode not in (CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG):
            raise ProtocolError(1002, f"unknown opcode {opcode}")
        if opcode >= CLOSE and (not fin or length > 125):
            raise ProtocolError(1002, "fragmented or oversized control frame")
        if not b1 & 0x80:
            raise ProtocolError(1002, "client frames must be masked")
        if length > MAX_SIZE:
            raise ProtocolError(1009, "frame too big")
        mask = self.read_exact(4)
        return fin, opcode, unmask(self.read_exact(length), mask)

    def serve(self):
        """Reads frames until the client's Close (echoed back); raises on anything else."""
        parts, kind, size = [], None, 0  # the fragmented message being reassembled
        while True:
            fin, opcode, payload = self.read_frame()
            if opcode == PING:
                self.send_frame(PONG, payload)
            elif opcode == CLOSE:
                if len(payload) == 1:
                    raise ProtocolError(1002, "one-byte close payload")
                self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                return self.send_frame(CLOSE, payload[:2])  # echo the status code
            elif opcode != PONG:
                if (opcode == CONTINUATION) != (kind is not None):
                    raise ProtocolError(1002, "unexpected continuation" if kind is None
                                        else "new message inside a fragmented one")
                kind, size = kind or opcode, size + len(payload)
                parts.append(payload)
                if size > MAX_SIZE:
                    raise ProtocolError(1009, "message too big")
                if fin:
                    message, is_text = b"".join(parts), kind == TEXT
                    parts, kind, size = [], None, 0
                    try:  # binary messages are read as UTF-8 JSON too
                        text = message.decode("utf-8", "strict" if is_text else "replace")
                    except UnicodeDecodeError:
                        raise ProtocolError(1007, "text message is not UTF-8") from None
                    if not self.close_sent:
                        threading.Thread(target=on_message, args=(self, text), daemon=True).start()

    def finish(self, how):
        self.closing.set()
        with self.write_lock:
            for stop in self.subscriptions.values():
                stop.set()
        with connections_lock:
            connections.discard(self)
        try:  # the server closes TCP first: FIN, then drain until the client closes too
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(1.0)
            while self.sock.recv(65536):
                pass
        except OSError:
            pass
        self.sock.close()
        log(f"client {self.peer} disconnected ({how})")
        self.done.set()


def handshake(conn):
    """Reads the HTTP upgrade request; answers 101 and returns the path, or an error."""
    request_line, headers = conn.reader.readline(8192), {}
    while True:
        line = conn.reader.readline(8192)
        if not line:
            raise EOFError  # e.g. a bare TCP probe: connect, close
        if line in (b"\r\n", b"\n") or len(headers) > 100:
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    parts, key = request_line.decode("latin-1").split(), headers.get("sec-websocket-key", "")
    if len(parts) != 3 or parts[0] != "GET" or not key \
            or "websocket" not in headers.get("upgrade", "").lower():
        status, extra, body = "400 Bad Request", "", "expected a WebSocket upgrade\n"
    elif headers.get("sec-websocket-version") != "13":
        status, extra, body = "426 Upgrade Required", "Sec-WebSocket-Version: 13\r\n", \
            "only WebSocket version 13\n"
    else:
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        conn.sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        return parts[1]
    log(f"{status} for {' '.join(parts)!r} from {conn.peer}")
    conn.sock.sendall((f"HTTP/1.1 {status}\r\n{extra}Content-Type: text/plain\r\n"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode())
    return None


def handle_connection(sock, addr):
    conn = Connection(sock, addr)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.settimeout(10)  # for the handshake only
        path = handshake(conn)
        sock.settimeout(None)
        if path is None:
            return sock.close()
        with connections_lock:
            connections.add(conn)
        log(f"client {conn.peer} connected (path {path})")
        if HEARTBEAT_S > 0:
            threading.Thread(target=heartbeat, args=(conn,), daemon=True).start()
        conn.serve()
        how = f"close code {conn.close_code}"
    except ProtocolError as e:
        conn.send_frame(CLOSE, struct.pack("!H", e.args[0]) + e.args[1].encode())
        how = f"closed by server: {e.args[0]} {e.args[1]}"
    except (EOFError, OSError):
        if conn not in connections:  # a bare TCP probe, or a failed handshake
            return sock.close()
        how = "connection lost, no Close frame"
    conn.finish(how)


def heartbeat(conn):
    while not conn.closing.wait(HEARTBEAT_S):
        conn.send_json({"jsonrpc": "2.0", "method": "heartbeat", "params": {"at": time.time()}})


def ticks(conn, sid, interval, stop):
    next_at = time.monotonic()
    for seq in itertools.count(1):
        next_at += interval
        if stop.wait(max(0.0, next_at - time.monotonic())):
            return
        with conn.write_lock:  # unsubscribe sets `stop` under this lock: no tick after it
            if stop.is_set():
                return
            conn.send_json({"jsonrpc": "2.0", "method": "ticks",
                            "params": {"subscription": sid, "seq": seq, "at": time.time()}})


def number(params, name, default=None):
    value = params.get(name, default) if isinstance(params, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RpcError(-32602, f"Invalid params: {name} must be a number")
    return value


def rpc_sleep(conn, params, later):
    ms = number(params or {}, "ms", 0)
    time.sleep(max(0, ms) / 1000)
    return {"slept_ms": ms}


def rpc_fail(conn, params, later):
    raise RpcError(-32000, "requested failure")


def rpc_subscribe(conn, params, later):
    params = params or {}
    if not isinstance(params, dict) or params.get("topic", "ticks") != "ticks":
        raise RpcError(-32602, 'Invalid params: the only topic is "ticks"')
    interval = max(1, number(params, "interval_ms", 100)) / 1000
    sid, stop = f"sub-{next(sub_ids)}", threading.Event()
    with conn.write_lock:
        conn.subscriptions[sid] = stop
    # Started once the reply is out, so the result always comes before the first tick.
    later.append(lambda: threading.Thread(target=ticks, args=(conn, sid, interval, stop),
                                          daemon=True).start())
    return {"subscription": sid}


def rpc_unsubscribe(conn, params, later):
    sid = params.get("subscription") if isinstance(params, dict) else None
    with conn.write_lock:
        stop = conn.subscriptions.pop(sid, None) if isinstance(sid, str) else None
        if stop:
            stop.set()
    return stop is not None


METHODS = {"ping": lambda c, p, l: "pong", "echo": lambda c, p, l: p,
           "add": lambda c, p, l: number(p, "a") + number(p, "b"),
           "sleep": rpc_sleep, "fail": rpc_fail, "subscribe": rpc_subscribe,
           "unsubscribe": rpc_unsubscribe}


def error(rid, code, message):
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def handle_one(conn, request, later):
    """One request object -> its reply, or None for a notification."""
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" \
            or not isinstance(request.get("method"), str):
        return error(request.get("id") if isinstance(request, dict) else None, -32600, "Invalid Request")
    rid, method = request.get("id"), request["method"]
    try:
        if method not in METHODS:
            raise RpcError(-32601, f"Method not found: {method}")
        reply = {"jsonrpc": "2.0", "id": rid, "result": METHODS[method](conn, request.get("params"), later)}
    except RpcError as e:
        reply = error(rid, *e.args)
    except Exception as e:  # a bug here must not kill the connection
        reply = error(rid, -32603, f"Internal error: {e!r}")
    return reply if "id" in request else None


def on_message(conn, text):
    later = []  # things to do once the reply is sent
    try:
        message = json.loads(text)
    except ValueError:
        reply = error(None, -32700, "Parse error")
    else:
        if isinstance(message, list) and message:  # a batch: its requests run concurrently
            with ThreadPoolExecutor(len(message)) as pool:
                replies = pool.map(lambda request: handle_one(conn, request, later), message)
            reply = [r for r in replies if r is not None] or None
        elif isinstance(message, list):
            reply = error(None, -32600, "Invalid Request: empty batch")
        else:
            reply = handle_one(conn, message, later)
    if reply is not None:
        time.sleep(DELAY_S)
        conn.send_json(reply)
    for action in later:
        action()


def accept_loop(server):
    while True:
        sock, addr = server.accept()
        threading.Thread(target=handle_connection, args=(sock, addr), daemon=True).start()


def main():
    if os.environ.get("WS_FAIL_IMPORT") == "1":
        sys.stderr.write(f'Traceback (most recent call last):\n  File "{os.path.abspath(__file__)}",'
                         " line 27, in <module>\n    import websockets\n"
                         "ModuleNotFoundError: No module named 'websockets'\n")
        return 1
    port = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WS_PORT", "")
    if not port.isdigit():
        print("usage: ws_service.py PORT   (or WS_PORT=PORT)", file=sys.stderr)
        return 2
    server = socket.create_server(("127.0.0.1", int(port)))
    # Blocked in every thread (threads inherit the mask) and taken synchronously below:
    # a Python signal handler could not interrupt the main thread blocked in accept().
    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    threading.Thread(target=accept_loop, args=(server,), daemon=True).start()
    log(f"listening on 127.0.0.1:{server.getsockname()[1]}")
    name = signal.Signals(signal.sigwait(signals)).name
    with connections_lock:
        live = list(connections)
    log(f"{name}: closing {len(live)} connection(s) with 1001 going away")
    for conn in live:
        conn.send_frame(CLOSE, struct.pack("!H", 1001) + b"going away")
    deadline = time.monotonic() + 1.0  # for the clients' Close replies
    for conn in live:
        conn.done.wait(max(0.0, deadline - time.monotonic()))
    log("exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
