#!/usr/bin/env python3
"""The JSON-RPC echo sidecar with LSP framing (Content-Length headers) and LSP manners:
every method but `initialize` is refused until `initialize` has been answered and the
`initialized` notification received."""
import os
import sys

sys.argv.append("--content-length")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jsonrpc_echo as echo  # noqa: E402

state = {"initialized": False}


def initialize(params, _rid):
    return {"capabilities": {"textDocumentSync": 1}, "serverInfo": {"name": "lsp_echo", "version": "1.0"}}


def before(request):
    method, rid = request.get("method"), request.get("id")
    if method == "initialized":
        state["initialized"] = True
        echo.log("initialized")
        return True
    if method == "exit":
        sys.exit(0)
    if method not in ("initialize", "shutdown") and not state["initialized"] and rid is not None:
        echo.send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32002, "message": "server not initialized"}})
        return True
    return False


methods = echo.base_methods()
methods["initialize"] = initialize
methods["shutdown"] = lambda _p, _r: None
echo.serve(methods, before)
