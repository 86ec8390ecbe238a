#!/usr/bin/env python3
"""A small MCP (Model Context Protocol, revision 2025-11-25, and the older ones) tool server, standard library only.

Transports:
  mcp_server.py              stdio: one JSON-RPC 2.0 message per line on stdin/stdout
                             (stdout is protocol only, logs go to stderr). Requests run
                             concurrently; EOF on stdin ends the server with status 0.
  mcp_server.py --http PORT  Streamable HTTP on 127.0.0.1:PORT, endpoint /mcp (PORT 0 picks
                             a free port; the one used is logged). `initialize` returns an
                             Mcp-Session-Id header that every later POST/DELETE must carry.
Tools: get_current_time, add, slow_task (progress notifications), fail_tool (isError result),
toggle_extra (adds/removes extra_tool and sends list_changed), log_something, research (runs only
as a task: tools/call with params.task, then tasks/get and tasks/result), ask_client (stdio:
sends the client roots/list and sampling/createMessage and says what came back). tools/list is
paginated two tools a page (follow nextCursor). Also resources/list|read, prompts/list|get,
logging/setLevel, ping.
Environment:
  MCP_DELAY_MS=N     sleep N ms before answering every tools/call (a slower build)
  MCP_FAIL_IMPORT=1  print a ModuleNotFoundError traceback and exit 1 (missing dependency)
  MCP_HTTP_SSE=1     HTTP: answer every request as an SSE stream when the client accepts it
  MCP_PROTOCOLS=A,B  the protocol revisions it speaks, newest first (default: all four)
  MCP_REFUSE_UNKNOWN=1  refuse an initialize for another revision with an error listing the
                     supported ones (as some servers do) instead of answering with its own
"""
import base64
import json
import os
import socket
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if os.environ.get("MCP_FAIL_IMPORT") == "1":
    print(f'Traceback (most recent call last):\n  File "{os.path.abspath(__file__)}", line '
          f'{sys._getframe().f_lineno}, in <module>\n    from mcp.server.fastmcp import FastMCP\n'
          "ModuleNotFoundError: No module named 'mcp'", file=sys.stderr, flush=True)
    sys.exit(1)

PROTOCOLS = tuple(os.environ.get("MCP_PROTOCOLS", "2025-11-25,2025-06-18,2025-03-26,2024-11-05").split(","))
REFUSE_UNKNOWN = os.environ.get("MCP_REFUSE_UNKNOWN") == "1"
PAGE_SIZE = 2
DELAY_MS = float(os.environ.get("MCP_DELAY_MS") or 0)
SSE_ALL = os.environ.get("MCP_HTTP_SSE") == "1"
LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
HOSTNAME_URI = "file:///etc/hostname"


def log(text):
    print(f"mcp_server: {text}", file=sys.stderr, flush=True)


class RpcError(Exception):
    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def schema(props, required=()):
    return {"type": "object", "properties": props, **({"required": list(required)} if required else {})}


def tool(name, description, input_schema):
    return {"name": name, "description": description, "inputSchema": input_schema}


TOOLS = [
    tool("get_current_time", "Current time in a timezone", schema(
        {"timezone": {"type": "string", "description": "IANA name", "default": "UTC"}}, ["timezone"])),
    tool("add", "Add two numbers", schema({"a": {"type": "number"}, "b": {"type": "number"}}, ["a", "b"])),
    tool("slow_task", "Reports progress while it works", schema({
        "steps": {"type": "integer", "default": 5}, "step_ms": {"type": "integer", "default": 200},
        "mode": {"type": "string", "enum": ["normal", "quiet"]}})),
    tool("fail_tool", "Always fails", schema({})),
    tool("toggle_extra", "Adds or removes the extra tool", schema({})),
    tool("log_something", "Sends a log message", schema({})),
    {**tool("research", "A long job that runs only as a task", schema({
        "topic": {"type": "string"}, "stages": {"type": "integer", "default": 3},
        "stage_ms": {"type": "integer", "default": 200}}, ["topic"])), "execution": {"taskSupport": "required"}},
    tool("ask_client", "Asks the client for its roots and a sampled message", schema({})),
]
EXTRA_TOOL = tool("extra_tool", "Only here after toggle_extra",
                  schema({"choice": {"type": "string", "enum": ["red", "green"]}}, ["choice"]))


class Session:
    def __init__(self):
        self.initialized, self.extra, self.level = False, False, "debug"
        self.tasks, self.tasks_lock = {}, threading.Lock()
        self.ask = None  # stdio: sends the client a request and returns its response

    def task(self, task_id):
        with self.tasks_lock:
            if task_id not in self.tasks:
                raise RpcError(-32602, f"unknown task: {task_id}")
            return self.tasks[task_id]

    def tools(self):
        return TOOLS + [EXTRA_TOOL] * self.extra


def notification(method, params=None):
    return {"jsonrpc": "2.0", "method": method, **({"params": params} if params is not None else {})}


def error(rid, code, message):
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def text(value, is_error=False):
    return {"content": [{"type": "text", "text": value}], "isError": is_error}


def check_args(spec, args):
    if not isinstance(args, dict):
        raise RpcError(-32602, "arguments must be an object")
    for key in spec.get("required", []):
        if key not in args:
            raise RpcError(-32602, f"missing required argument: {key}")
    kinds = {"string": (str,), "number": (int, float), "integer": (int,)}
    for key, prop in spec["properties"].items():
        value = args.get(key)
        if key in args and (isinstance(value, bool) or not isinstance(value, kinds[prop["type"]])):
            raise RpcError(-32602, f"argument {key} must be a {prop['type']}")
        if key in args and "enum" in prop and value not in prop["enum"]:
            raise RpcError(-32602, f"argument {key} must be one of {', '.join(prop['enum'])}")


def call_tool(s, params, emit):
    """tools/call. `emit` sends a notification on the request's channel, or is None (plain HTTP)."""
    if DELAY_MS:
        time.sleep(DELAY_MS / 1000)
    name, args = params.get("name"), params.get("arguments") or {}
    spec = next((t for t in s.tools() if t["name"] == name), None)
    if spec is None:
        raise RpcError(-32602, f"unknown tool: {name}")
    check_args(spec["inputSchema"], args)
    emit = emit or (lambda _message: None)
    if name == "get_current_time":
        tz = args["timezone"]
        try:
            now = datetime.now(ZoneInfo(tz))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            return text(f"unknown timezone {tz}", True)
        return text(json.dumps({"timezone": tz, "datetime": now.isoformat()}, indent=2))
    if name == "add":
        total = args["a"] + args["b"]
        return text(str(int(total) if isinstance(total, float) and total.is_integer() else total))
    if name == "slow_task":
        steps, step_ms = args.get("steps", 5), args.get("step_ms", 200)
        if steps < 0 or step_ms < 0:
            raise RpcError(-32602, "steps and step_ms must not be negative")
        token = (params.get("_meta") or {}).get("progressToken")
        for i in range(1, steps + 1):
            time.sleep(step_ms / 1000)
            if token is not None and args.get("mode") != "quiet":
                emit(notification("notifications/progress", {
                    "progressToken": token, "progress": i, "total": steps, "message": f"step {i} of {steps}"}))
        return text(f"done after {steps} steps")
    if name == "research":
        if not isinstance(params.get("task"), dict):
            raise RpcError(-32602, "tool research requires task augmentation (params.task)")
        return start_research(s, args, params["task"])
    if name == "ask_client":
        if s.ask is None:
            return text("ask_client works over stdio only", True)
        answers = [f"{m}: {summary(s.ask(m, p))}" for m, p in (
            ("roots/list", {}),
            ("sampling/createMessage", {"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
                                        "maxTokens": 10}),
            ("elicitation/create", {"message": "Which one?", "requestedSchema": {"type": "object", "properties": {}}}))]
        return text("\n".join(answers))
    if name == "fail_tool":
        return text("this tool always fails", True)
    if name == "toggle_extra":
        s.extra = not s.extra
        emit(notification("notifications/tools/list_changed"))
        return text("extra tool on" if s.extra else "extra tool off")
    if name == "log_something":
        if LEVELS.index(s.level) <= LEVELS.index("warning"):
            emit(notification("notifications/message", {"level": "warning", "logger": "example", "data": "disk almost full"}))
        return text("logged")
    return text(f"you chose {args['choice']}")  # extra_tool


def summary(response):
    if response is None:
        return "no answer"
    if "error" in response:
        return f"error {response['error'].get('code')} {response['error'].get('message')}"
    return "result " + json.dumps(response.get("result"))


def start_research(s, args, task):
    """tools/call as a task: a CreateTaskResult now, the work on a thread."""
    task_id = uuid.uuid4().hex[:12]
    state = {"taskId": task_id, "status": "working", "statusMessage": "starting",
             "createdAt": datetime.now().astimezone().isoformat(), "ttl": task.get("ttl"), "pollInterval": 100,
             "done": threading.Event(), "result": None}
    with s.tasks_lock:
        s.tasks[task_id] = state

    def work():
        stages = args.get("stages", 3)
        for i in range(1, stages + 1):
            state["statusMessage"] = f"stage {i} of {stages}"
            time.sleep(args.get("stage_ms", 200) / 1000)
        state["result"] = text(f"report on {args['topic']}: {stages} stages")
        state["status"], state["statusMessage"] = "completed", "done"
        state["done"].set()

    threading.Thread(target=work, daemon=True).start()
    return {"task": task_view(state)}


def task_view(state):
    return {k: v for k, v in state.items() if k not in ("done", "result")}


def task_result(s, params, _emit):
    state = s.task(params.get("taskId"))
    state["done"].wait()
    return {**state["result"], "_meta": {"io.modelcontextprotocol/related-task": {"taskId": state["taskId"]}}}


def initialize(s, params, _emit):
    version = params.get("protocolVersion")
    log(f"initialize from {(params.get('clientInfo') or {}).get('name')!r}, protocol {version!r}")
    if version not in PROTOCOLS and REFUSE_UNKNOWN:
        raise RpcError(-32602, "Unsupported protocol version", {"supported": list(PROTOCOLS), "requested": version})
    chosen = version if version in PROTOCOLS else PROTOCOLS[0]
    tasks = {"tasks": {"list": {}, "requests": {"tools": {"call": {}}}}} if chosen >= "2025-11-25" else {}
    return {"protocolVersion": chosen,
            "capabilities": {"tools": {"listChanged": True}, "resources": {}, "prompts": {}, "logging": {}, **tasks},
            "serverInfo": {"name": "sidetop-example-mcp", "version": "1.2.0"},
            "instructions": "Example tools for sidetop."}


def list_tools(s, params, _emit):
    start, tools = 0, s.tools()
    if params.get("cursor") is not None:
        try:
            start = int(base64.urlsafe_b64decode(params["cursor"].encode()).decode().removeprefix("offset:"))
        except (ValueError, AttributeError, TypeError):
            raise RpcError(-32602, "invalid cursor") from None
        if start < 0 or start > len(tools):
            raise RpcError(-32602, "invalid cursor")
    result = {"tools": tools[start:start + PAGE_SIZE]}
    if start + PAGE_SIZE < len(tools):
        result["nextCursor"] = base64.urlsafe_b64encode(f"offset:{start + PAGE_SIZE}".encode()).decode()
    return result


def read_resource(_s, params, _emit):
    if params.get("uri") != HOSTNAME_URI:
        raise RpcError(-32002, f"resource not found: {params.get('uri')}")
    try:
        with open("/etc/hostname", encoding="utf-8") as f:
            content = f.read()
    except OSError:
        content = socket.gethostname() + "\n"
    return {"contents": [{"uri": HOSTNAME_URI, "mimeType": "text/plain", "text": content}]}


def get_prompt(_s, params, _emit):
    if params.get("name") != "summarize":
        raise RpcError(-32602, f"unknown prompt: {params.get('name')}")
    body = (params.get("arguments") or {}).get("text")
    if body is None:
        raise RpcError(-32602, "missing required argument: text")
    return {"description": "Summarize a text", "messages": [
        {"role": "user", "content": {"type": "text", "text": f"Please summarize this text:\n\n{body}"}}]}


def set_level(s, params, _emit):
    if params.get("level") not in LEVELS:
        raise RpcError(-32602, f"unknown level: {params.get('level')}")
    s.level = params["level"]
    return {}


METHODS = {
    "initialize": initialize, "ping": lambda *_: {}, "tools/list": list_tools, "tools/call": call_tool,
    "resources/list": lambda *_: {"resources": [
        {"uri": HOSTNAME_URI, "name": "hostname", "mimeType": "text/plain"}]},
    "resources/read": read_resource, "logging/setLevel": set_level, "prompts/get": get_prompt,
    "tasks/get": lambda s, p, _e: task_view(s.task(p.get("taskId"))), "tasks/result": task_result,
    "prompts/list": lambda *_: {"prompts": [{"name": "summarize", "description": "Summarize a text",
                                             "arguments": [{"name": "text", "required": True}]}]},
}


def handle(s, msg, emit):
    """Answers one request (a dict with "id" and "method"); returns the JSON-RPC response."""
    rid, method, params = msg.get("id"), msg.get("method"), msg.get("params") or {}
    try:
        if method not in METHODS:
            raise RpcError(-32601, f"method not found: {method}")
        if not isinstance(params, dict):
            raise RpcError(-32602, "params must be an object")
        return {"jsonrpc": "2.0", "id": rid, "result": METHODS[method](s, params, emit)}
    except RpcError as e:
        reply = error(rid, e.code, e.message)
        if e.data is not None:
            reply["error"]["data"] = e.data
        return reply
    except Exception as e:  # a bug in a handler: report it, keep serving
        log(traceback.format_exc().rstrip())
        return error(rid, -32603, f"internal error: {e}")


def serve_stdio():
    s, lock, threads = Session(), threading.Lock(), []

    def write(message):
        with lock:
            try:
                sys.stdout.buffer.write(json.dumps(message).encode() + b"\n")
                sys.stdout.buffer.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass

    pending, asked = {}, iter(range(1, 1 << 62))

    def ask(method, params):
        rid = f"srv-{next(asked)}"
        got = pending[rid] = [threading.Event(), None]
        write({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        got[0].wait(5)
        return pending.pop(rid)[1]

    s.ask = ask
    log(f"ready on stdio, pid {os.getpid()}")
    while line := sys.stdin.buffer.readline():
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            write(error(None, -32700, "parse error"))
            continue
        if not isinstance(msg, dict) or not isinstance(msg.get("method", ""), str):
            write(error(None, -32600, "invalid request (batches are not supported)"))
        elif "method" not in msg:  # a response to one of our requests (ask_client)
            if msg.get("id") in pending:
                pending[msg["id"]][1] = msg
                pending[msg["id"]][0].set()
        elif "id" not in msg:
            if msg["method"] == "notifications/initialized":
                s.initialized = True
        elif not s.initialized and msg["method"] not in ("initialize", "ping"):
            write(error(msg["id"], -32002, "server not initialized"))
        else:  # a thread per request, so a slow_task does not hold up a ping
            threads = [t for t in threads if t.is_alive()]
            threads.append(threading.Thread(target=lambda m=msg: write(handle(s, m, write)), daemon=True))
            threads[-1].start()
    log("stdin closed, exiting")
    deadline = time.monotonic() + 2  # let requests already in flight answer, briefly
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    sys.exit(0)


class Handler(BaseHTTPRequestHandler):
    sessions, lock = {}, threading.Lock()

    def log_message(self, fmt, *args):
        log("http " + fmt % args)

    def reply(self, status, body=None, headers=()):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in [*headers, *([("Content-Type", "application/json")] if body is not None else [])]:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def session(self, rid=None):
        """The session named by the Mcp-Session-Id header, or None after answering 400/404."""
        sid = self.headers.get("Mcp-Session-Id")
        if not sid:
            return self.reply(400, error(rid, -32000, "Bad Request: missing Mcp-Session-Id header"))
        with self.lock:
            s = self.sessions.get(sid)
        return s or self.reply(404, error(rid, -32001, f"session not found: {sid}"))

    def do_POST(self):
        if self.path.split("?")[0] != "/mcp":
            return self.reply(404, error(None, -32601, f"no endpoint {self.path}, use /mcp"))
        try:
            msg = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        except ValueError:
            return self.reply(400, error(None, -32700, "parse error"))
        if not isinstance(msg, dict):
            return self.reply(400, error(None, -32600, "expected a single JSON-RPC message"))
        method, rid, headers = msg.get("method"), msg.get("id"), []
        if method == "initialize" and "id" in msg:
            s, sid = Session(), uuid.uuid4().hex
            with self.lock:
                self.sessions[sid] = s
            headers.append(("Mcp-Session-Id", sid))
        elif (s := self.session(rid)) is None:
            return
        if method is None or "id" not in msg:  # a notification or a response
            s.initialized |= method == "notifications/initialized"
            return self.reply(202)
        slow = method == "tools/call" and (msg.get("params") or {}).get("name") == "slow_task"
        if "text/event-stream" not in self.headers.get("Accept", "") or not (slow or SSE_ALL):
            return self.reply(200, handle(s, msg, None), headers)
        self.send_response(200)
        for name, value in [*headers, ("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]:
            self.send_header(name, value)
        self.end_headers()
        self.close_connection = True

        def event(message):
            try:
                self.wfile.write(f"event: message\ndata: {json.dumps(message)}\n\n".encode())
                self.wfile.flush()
            except OSError:
                pass  # the client went away

        event(handle(s, msg, event))

    def do_DELETE(self):
        if self.path.split("?")[0] != "/mcp":
            return self.reply(404, error(None, -32601, f"no endpoint {self.path}, use /mcp"))
        if self.session() is not None:
            with self.lock:
                self.sessions.pop(self.headers["Mcp-Session-Id"], None)
            self.reply(200)

    def do_GET(self):
        self.reply(405, None, [("Allow", "POST, DELETE")])


def serve_http(port):
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    log(f"listening on 127.0.0.1:{server.server_address[1]}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    if "--http" in sys.argv:
        try:
            serve_http(int(sys.argv[sys.argv.index("--http") + 1]))
        except (IndexError, ValueError):
            sys.exit("usage: mcp_server.py [--http PORT]")
    else:
        serve_stdio()
