#!/usr/bin/env python3
"""A language-server stand-in: JSON-RPC 2.0 with LSP framing (`Content-Length: N\\r\\n\\r\\n`
then N bytes of JSON) on stdin/stdout, standard library only. Logs go to stderr.

Lifecycle, as the LSP spec has it: `initialize` (the rootUri is logged to stderr), then the
`initialized` notification (until then every other request gets -32002 and notifications
are dropped), ..., `shutdown` (answered null; later requests get -32600), then `exit`:
status 0 after a shutdown, 1 without one. EOF on stdin without `exit` also ends with 1;
SIGTERM logs "lsp_server: SIGTERM" and ends with 143.
After `initialized` the server sends a window/logMessage, a window/workDoneProgress/create
request (id "idx-1", token "indexing"; the answer is ignored) and $/progress begin/report/end
100 ms apart. Documents sync incrementally (textDocumentSync 2: didChange edits with a
range, in UTF-16 code units, or whole texts without one); didOpen and didChange publish one
warning diagnostic per line of the document's text containing TODO (didClose clears them);
textDocument/hover answers "hover at LINE:CHAR".
$/cancelRequest makes a still pending hover answer -32800.
Environment:
  LSP_DELAY_MS=N  sleep N ms before answering a hover (hovers are answered on their own thread)
"""
import json
import os
import re
import signal
import sys
import threading
import time

DELAY_MS = float(os.environ.get("LSP_DELAY_MS") or 0)
out_lock = threading.Lock()
state = {"initialize": False, "initialized": False, "shutdown": False, "root": None}
cancelled = set()
documents = {}  # uri -> current text


def log(text):
    print(f"lsp_server: {text}", file=sys.stderr, flush=True)


def send(message):
    body = json.dumps(message).encode()
    with out_lock:
        try:
            sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            sys.stdout.buffer.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass


def notify(method, params):
    send({"jsonrpc": "2.0", "method": method, "params": params})


def reply(rid, result):
    send({"jsonrpc": "2.0", "id": rid, "result": result})


def fail(rid, code, message):
    send({"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}})


def read_message(stream):
    """The next message body (bytes), or None at EOF. Header blocks without Content-Length are skipped."""
    while True:
        length = None
        while (line := stream.readline()) not in (b"\r\n", b"\n"):
            if not line:
                return None
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    log(f"bad Content-Length header {line!r}")
        if length is not None:
            body = stream.read(length)
            return body if len(body) == length else None
        log("header block without Content-Length, skipped")


def diagnostics(uri, text, version=None):
    found = []
    for i, line in enumerate(re.split(r"\r\n|\r|\n", text)):
        if (col := line.find("TODO")) >= 0:
            span = {"start": {"line": i, "character": col}, "end": {"line": i, "character": col + 4}}
            found.append({"range": span, "severity": 2, "source": "example-lsp", "message": "TODO found"})
    notify("textDocument/publishDiagnostics",
           {"uri": uri, "diagnostics": found, **({"version": version} if version is not None else {})})


def offset(text, position):
    """The index in `text` of an LSP position (line, UTF-16 character)."""
    lines = re.split(r"(?<=\r\n)|(?<=\n)|(?<=\r)(?!\n)", text)
    line, char = position["line"], position["character"]
    if line >= len(lines):
        return len(text)
    start = sum(len(l) for l in lines[:line])
    units = 0
    for i, c in enumerate(lines[line].rstrip("\r\n")):
        if units >= char:
            return start + i
        units += 2 if ord(c) > 0xFFFF else 1
    return start + len(lines[line].rstrip("\r\n"))


def apply_change(text, change):
    if "range" not in change:
        return change.get("text", "")
    start, end = offset(text, change["range"]["start"]), offset(text, change["range"]["end"])
    return text[:start] + change.get("text", "") + text[end:]


def indexing():
    # A request of our own: the client's answer arrives as a message without "method" and is ignored.
    send({"jsonrpc": "2.0", "id": "idx-1", "method": "window/workDoneProgress/create",
          "params": {"token": "indexing"}})
    values = [{"kind": "begin", "title": "Indexing", "percentage": 0}, {"kind": "report", "percentage": 50},
              {"kind": "end", "message": "indexed 3 files"}]
    for i, value in enumerate(values):
        time.sleep(0.1 if i else 0)
        notify("$/progress", {"token": "indexing", "value": value})


def hover(rid, params):
    if DELAY_MS:
        time.sleep(DELAY_MS / 1000)
    if rid in cancelled:
        cancelled.discard(rid)
        return fail(rid, -32800, "request cancelled")
    try:
        pos = params["position"]
        line, char = int(pos["line"]), int(pos["character"])
        params["textDocument"]["uri"]
    except (KeyError, TypeError, ValueError):
        return fail(rid, -32602, "hover needs textDocument.uri and position {line, character}")
    reply(rid, {"contents": {"kind": "plaintext", "value": f"hover at {line}:{char}"}})


def on_request(rid, method, params):
    if state["shutdown"]:
        fail(rid, -32600, "shutting down")
    elif method == "initialize":
        if state["initialize"]:
            return fail(rid, -32600, "already initialized")
        state["initialize"], state["root"] = True, params.get("rootUri")
        log(f"initialize: rootUri {state['root']}, client pid {params.get('processId')}")
        reply(rid, {"capabilities": {"textDocumentSync": 2, "hoverProvider": True},
                    "serverInfo": {"name": "sidetop-example-lsp", "version": "0.3.0"}})
    elif not state["initialized"]:
        fail(rid, -32002, "server not initialized")
    elif method == "shutdown":
        state["shutdown"] = True
        log("shutdown requested")
        reply(rid, None)
    elif method == "textDocument/hover":
        threading.Thread(target=hover, args=(rid, params), daemon=True).start()
    else:
        fail(rid, -32601, f"method not found: {method}")


def on_notification(method, params):
    if method == "exit":
        code = 0 if state["shutdown"] else 1
        log(f"exit {'after' if code == 0 else 'without'} shutdown, status {code}")
        sys.exit(code)
    if method == "initialized" and state["initialize"] and not state["initialized"]:
        state["initialized"] = True
        notify("window/logMessage", {"type": 3, "message": f"example-lsp ready (root {state['root']})"})
        threading.Thread(target=indexing, daemon=True).start()
    elif not state["initialized"] or state["shutdown"]:
        pass  # dropped, as the spec asks
    elif method == "textDocument/didOpen":
        doc = params.get("textDocument") or {}
        documents[doc.get("uri")] = doc.get("text", "")
        diagnostics(doc.get("uri"), documents[doc.get("uri")], doc.get("version"))
    elif method == "textDocument/didChange" and params.get("contentChanges"):
        doc = params.get("textDocument") or {}
        text = documents.get(doc.get("uri"), "")
        try:
            for change in params["contentChanges"]:
                text = apply_change(text, change)
        except (KeyError, TypeError):
            log(f"bad didChange for {doc.get('uri')}")
        documents[doc.get("uri")] = text
        diagnostics(doc.get("uri"), text, doc.get("version"))
    elif method == "textDocument/didClose":
        uri = (params.get("textDocument") or {}).get("uri")
        documents.pop(uri, None)
        notify("textDocument/publishDiagnostics", {"uri": uri, "diagnostics": []})
    elif method == "$/cancelRequest":
        cancelled.add(params.get("id"))


def on_sigterm(_signum, _frame):
    os.write(2, b"lsp_server: SIGTERM\n")
    os._exit(143)


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    log(f"ready, pid {os.getpid()}")
    while (body := read_message(sys.stdin.buffer)) is not None:
        try:
            msg = json.loads(body)
        except ValueError:
            fail(None, -32700, "parse error")
            continue
        if not isinstance(msg, dict):
            fail(None, -32600, "invalid request")
        elif "method" not in msg:
            pass  # an answer to our own request (window/workDoneProgress/create): ignored
        elif "id" in msg:
            params = msg.get("params")
            on_request(msg["id"], msg["method"], params if isinstance(params, dict) else {})
        else:
            params = msg.get("params")
            on_notification(msg["method"], params if isinstance(params, dict) else {})
    log("stdin closed without exit, status 1")
    sys.exit(1)


if __name__ == "__main__":
    main()
