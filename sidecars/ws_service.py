#!/usr/bin/env python3
"""A WebSocket JSON-RPC 2.0 sidecar, standard library only (RFC 6455 done by hand).

Usage: ws_service.py PORT   (or WS_PORT=PORT; 0 picks a free port)
Listens on ws://127.0.0.1:PORT/ (any path). Prints "ws_service: listening on
127.0.0.1:PORT" to stderr once ready; connections and disconnections are logged there too.

One JSON-RPC message (or batch) per WebSocket text message; replies are text frames,
one per message. Requests run concurrently, so replies can come out of order.
  ping                       -> "pong"
  echo                       -> its params
  add {"a": x, "b": y}       -> x + y   (also [x, y])
  sleep {"ms": N}            -> {"slept_ms": N} after N ms
  fail                       -> error -32000 "requested failure"
  subscribe {"topic": "ticks", "interval_ms": N (100)} -> {"subscription": "sub-K"}, then
      {"jsonrpc":"2.0","method":"ticks","params":{"subscription","seq","at"}} every N ms
  unsubscribe {"subscription": "sub-K"} -> true (false if unknown); no ticks after the reply
Every connection also gets {"jsonrpc":"2.0","method":"heartbeat","params":{"at": t}}.

Environment:
  WS_PORT           port, if not given as an argument
  WS_HEARTBEAT_S    seconds between heartbeat pushes (default 1.0; 0 disables)
  WS_DELAY_MS       extra sleep before every reply (a slower build)
  WS_FAIL_IMPORT=1  die at start-up with "ModuleNotFoundError: No module named 'websockets'"
SIGTERM/SIGINT: send Close 1001 "going away" on every connection, wait up to 1 s for the
close handshakes, exit 0.
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

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
MAX_MESSAGE = 16 * 1024 * 1024
DELAY_S = float(os.environ.get("WS_DELAY_MS", "0") or 0) / 1000
HEARTBEAT_S = float(os.environ.get("WS_HEARTBEAT_S", "1.0") or 0)
TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10
sub_ids = itertools.count(1)
connections, connections_lock = set(), threading.Lock()


def log(text):
    print(f"ws_service: {text}", file=sys.stderr, flush=True)


class ProtocolError(Exception):
    def __init__(self, code, reason):
        super().__init__(reason)
        self.code, self.reason = code, reason


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def unmask(data, mask):
    n = len(data)  # XOR as one big integer: fast even for multi-megabyte payloads
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


class Connection:
    def __init__(self, sock, addr):
        self.sock, self.peer = sock, "%s:%d" % addr[:2]
        self.reader = sock.makefile("rb")
        # Re-entrant: a tick holds it while checking its stop flag and sending.
        self.write_lock = threading.RLock()
        self.close_sent = False      # once true, nothing more is written
        self.close_code = 1006       # what the client's Close said (1006: none came)
        self.closing = threading.Event()  # stops heartbeat and subscriptions
        self.done = threading.Event()     # socket closed
        self.subscriptions = {}           # id -> stop Event

    def send_frame(self, opcode, payload=b""):
        n, b0 = len(payload), 0x80 | opcode  # FIN set, never masked, never fragmented
        if n < 126:
            header = struct.pack("!BB", b0, n)
        elif n < 65536:
            header = struct.pack("!BBH", b0, 126, n)
        else:
            header = struct.pack("!BBQ", b0, 127, n)
        with self.write_lock:
            if self.close_sent:
                return False
            self.close_sent = opcode == CLOSE
            try:
                self.sock.sendall(header + payload)
            except OSError:
                return False
        return True

    def send_json(self, message):
        self.send_frame(TEXT, json.dumps(message).encode())

    def send_close(self, code, reason=""):
        self.send_frame(CLOSE, struct.pack("!H", code) + reason.encode())

    def read_exact(self, n):
        data = self.reader.read(n)
        if len(data) < n:
            raise EOFError
        return data

    def read_frame(self):
        b0, b1 = self.read_exact(2)
        fin, opcode, length = bool(b0 & 0x80), b0 & 0x0F, b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.read_exact(8))
        if b0 & 0x70:
            raise ProtocolError(1002, "reserved bits set")
        if opcode not in (0, TEXT, BINARY, CLOSE, PING, PONG):
            raise ProtocolError(1002, f"unknown opcode {opcode}")
        if opcode >= CLOSE and (not fin or length > 125):
            raise ProtocolError(1002, "fragmented or oversized control frame")
        if not b1 & 0x80:
            raise ProtocolError(1002, "client frames must be masked")
        if length > MAX_MESSAGE:
            raise ProtocolError(1009, "frame too big")
        mask = self.read_exact(4)
        return fin, opcode, unmask(self.read_exact(length), mask)

    def serve(self):
        parts, kind, size = [], None, 0  # the fragmented message being reassembled
        while True:
            fin, opcode, payload = self.read_frame()
            if opcode == PING:
                self.send_frame(PONG, payload)
                continue
            if opcode == PONG:
                continue
            if opcode == CLOSE:
                if len(payload) == 1:
                    raise ProtocolError(1002, "close payload of one byte")
                self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                self.send_frame(CLOSE, payload[:2])  # echo the status code
                return
            if (opcode == 0) != (kind is not None):
                raise ProtocolError(1002, "unexpected continuation" if opcode == 0
                                    else "new message inside a fragmented one")
            kind = kind or opcode
            parts.append(payload)
            size += len(payload)
            if size > MAX_MESSAGE:
                raise ProtocolError(1009, "message too big")
            if not fin:
                continue
            message, is_text = b"".join(parts), kind == TEXT
            parts, kind, size = [], None, 0
            try:  # binary messages are accepted too and parsed as UTF-8 JSON
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
        try:  # server closes TCP first: FIN, then drain until the client closes too
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(1.0)
            while self.sock.recv(65536):
                pass
        except OSError:
            pass
        self.sock.close()
        self.done.set()
        log(f"client {self.peer} disconnected ({how})")


def handshake(conn):
    """Reads the HTTP upgrade request; answers 101 (returns the path) or an error (None)."""
    request_line, headers = conn.reader.readline(8192), {}
    if not request_line:
        raise EOFError  # a bare TCP probe: connect and close
    while True:
        line = conn.reader.readline(8192)
        if not line:
            raise EOFError
        if line in (b"\r\n", b"\n") or len(headers) > 100:
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    parts = request_line.decode("latin-1").split()
    path, key = (parts[1] if len(parts) > 1 else "?"), headers.get("sec-websocket-key", "")
    if len(parts) != 3 or parts[0] != "GET" or not key \
            or "websocket" not in headers.get("upgrade", "").lower():
        status, extra, body = "400 Bad Request", "", "expected a WebSocket upgrade\n"
    elif headers.get("sec-websocket-version") != "13":
        status, extra, body = "426 Upgrade Required", "Sec-WebSocket-Version: 13\r\n", \
            "only WebSocket version 13 is supported\n"
    else:
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        conn.sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        return path
    log(f"{status} for {request_line.decode('latin-1').strip()!r} from {conn.peer}")
    conn.sock.sendall((f"HTTP/1.1 {status}\r\n{extra}Content-Type: text/plain\r\n"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode())
    return None


def handle_connection(sock, addr):
    conn, how = Connection(sock, addr), None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.settimeout(10)  # for the handshake only
        path = handshake(conn)
        sock.settimeout(None)
        if path is None:
            sock.close()
            return
        with connections_lock:
            connections.add(conn)
        log(f"client {conn.peer} connected (path {path})")
        if HEARTBEAT_S > 0:
            threading.Thread(target=heartbeat, args=(conn,), daemon=True).start()
        conn.serve()
        how = f"close code {conn.close_code}"
    except ProtocolError as e:
        conn.send_close(e.code, e.reason)
        how = f"closed by server: {e.code} {e.reason}"
    except (EOFError, OSError):
        if conn in connections:
            how = "connection lost, no Close frame"
        else:
            sock.close()  # a bare TCP probe, or the handshake failed
    if how:
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


def number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RpcError(-32602, f"Invalid params: {what} must be a number")
    return value


def rpc_add(conn, params, later):
    a, b = (params.get("a"), params.get("b")) if isinstance(params, dict) else \
        (params if isinstance(params, list) and len(params) == 2 else (None, None))
    return number(a, "a") + number(b, "b")


def rpc_sleep(conn, params, later):
    ms = number((params or {}).get("ms", 0) if isinstance(params, (dict, type(None))) else None, "ms")
    time.sleep(max(0, ms) / 1000)
    return {"slept_ms": ms}


def rpc_fail(conn, params, later):
    raise RpcError(-32000, "requested failure")


def rpc_subscribe(conn, params, later):
    params = params or {}
    if not isinstance(params, dict) or params.get("topic", "ticks") != "ticks":
        raise RpcError(-32602, "Invalid params: the only topic is \"ticks\"")
    interval = max(1, number(params.get("interval_ms", 100), "interval_ms")) / 1000
    sid, stop = f"sub-{next(sub_ids)}", threading.Event()
    with conn.write_lock:
        conn.subscriptions[sid] = stop
    # Started only once the reply is out, so the result always precedes the first tick.
    later.append(lambda: threading.Thread(target=ticks, args=(conn, sid, interval, stop),
                                          daemon=True).start())
    return {"subscription": sid}


def rpc_unsubscribe(conn, params, later):
    sid = params.get("subscription") if isinstance(params, dict) else \
        (params[0] if isinstance(params, list) and params else params)
    with conn.write_lock:
        stop = conn.subscriptions.pop(sid, None) if isinstance(sid, str) else None
        if stop:
            stop.set()
    return stop is not None


METHODS = {"ping": lambda c, p, l: "pong", "echo": lambda c, p, l: p, "add": rpc_add,
           "sleep": rpc_sleep, "fail": rpc_fail, "subscribe": rpc_subscribe,
           "unsubscribe": rpc_unsubscribe}


def error(rid, code, message):
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def handle_one(conn, request, later):
    """One request object -> its reply, or None for a notification."""
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" \
            or not isinstance(request.get("method"), str):
        return error(request.get("id") if isinstance(request, dict) else None,
                     -32600, "Invalid Request")
    rid, method = request.get("id"), request["method"]
    try:
        if method not in METHODS:
            raise RpcError(-32601, f"Method not found: {method}")
        reply = {"jsonrpc": "2.0", "id": rid,
                 "result": METHODS[method](conn, request.get("params"), later)}
    except RpcError as e:
        reply = error(rid, e.code, e.message)
    except Exception as e:  # a bug here should not kill the connection
        reply = error(rid, -32603, f"Internal error: {e!r}")
    return reply if "id" in request else None


def on_message(conn, text):
    later = []  # things to do after the reply is sent
    try:
        message = json.loads(text)
    except ValueError:
        reply = error(None, -32700, "Parse error")
    else:
        if isinstance(message, list) and message:  # a batch: items run concurrently
            replies = [None] * len(message)

            def run(i):
                replies[i] = handle_one(conn, message[i], later)
            workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(message))]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
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
                         " line 31, in <module>\n    import websockets\n"
                         "ModuleNotFoundError: No module named 'websockets'\n")
        return 1
    port = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WS_PORT", "")
    if not port.isdigit():
        print("usage: ws_service.py PORT   (or WS_PORT=PORT)", file=sys.stderr)
        return 2
    server = socket.create_server(("127.0.0.1", int(port)))
    # Blocked in every thread (they inherit the mask) and taken synchronously below:
    # a signal handler could not interrupt a main thread blocked in accept().
    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    threading.Thread(target=accept_loop, args=(server,), daemon=True).start()
    log(f"listening on 127.0.0.1:{server.getsockname()[1]}")
    name = signal.Signals(signal.sigwait(signals)).name
    with connections_lock:
        live = list(connections)
    log(f"{name}: closing {len(live)} connection(s) with 1001 going away")
    for conn in live:
        conn.send_close(1001, "going away")
    deadline = time.monotonic() + 1.0  # for the clients' Close replies
    for conn in live:
        conn.done.wait(max(0.0, deadline - time.monotonic()))
    log("exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
