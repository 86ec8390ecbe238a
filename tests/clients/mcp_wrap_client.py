"""A real MCP client (the `mcp` Python SDK's stdio client) against sidecars/mcp_server.py,
once direct and once through `sidetop wrap`, for tests/wrap_clients.rs.

Usage: mcp_wrap_client.py SIDETOP SOCKET SERVER_SCRIPT

Prints one JSON report on stdout: the results of the same calls in both sessions, the
outcome of every call of a concurrent loop during which the wrapped server is restarted
through `sidetop ctl`, the notifications the client got, and `ctl latency --json`.
"""

import asyncio
import json
import subprocess
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError
from mcp.types import PaginatedRequestParams

SIDETOP, SOCKET, SERVER = sys.argv[1:4]
WORKERS, CALLS = 4, 40


def ctl(*args):
    return subprocess.run([SIDETOP, "ctl", "--socket", SOCKET, *args],
                          check=True, capture_output=True, text=True).stdout


async def tool_names(session):
    """Every page of tools/list (the example server sends two tools a page)."""
    names, cursor = [], None
    while True:
        page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
        names += [t.name for t in page.tools]
        cursor = page.next_cursor
        if not cursor:
            return sorted(names)


async def same_calls(session):
    """The calls whose results must not depend on the wrapper."""
    results = {"tools": await tool_names(session)}
    for name, args in [("add", {"a": 2, "b": 3}), ("fail_tool", {}), ("log_something", {})]:
        result = await session.call_tool(name, args)
        results[name] = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    try:
        await session.call_tool("no_such_tool", {})
        results["unknown"] = "no error"
    except MCPError as e:
        results["unknown"] = {"code": e.error.code, "message": e.error.message}
    return results


def run(params, body):
    notes = []

    async def on_message(message):
        method = getattr(getattr(message, "root", message), "method", None)
        if method:
            notes.append(method)

    async def main():
        async with stdio_client(params, errlog=sys.stderr) as (read, write):
            async with ClientSession(read, write, message_handler=on_message) as session:
                info = await session.initialize()
                return {"server": info.server_info.name, **await body(session)}

    report = asyncio.run(main())
    report["notifications"] = notes
    return report


async def loop_with_restart(session):
    """Concurrent calls; one `ctl restart` while they run. Every call's outcome is kept."""
    outcomes, restarted = [], asyncio.Event()

    async def worker(w):
        for i in range(CALLS):
            try:
                result = await session.call_tool("add", {"a": w, "b": i})
                got = result.content[0].text
                outcomes.append("ok" if got == str(w + i) else f"wrong {got}")
            except MCPError as e:
                outcomes.append(e.error.code)
            if w == 0 and i == CALLS // 2:
                await asyncio.to_thread(ctl, "restart", "mcp")
                restarted.set()

    # The extra tool is on before the restart and off in the new server: list_changed.
    await session.call_tool("toggle_extra", {})
    before = await tool_names(session)
    # sidetop's own calls beside the client's, across the restart too.
    load = asyncio.to_thread(subprocess.run, [
        SIDETOP, "ctl", "--socket", SOCKET, "request", "mcp", "--tool", "add",
        "--args", '{"a": 1, "b": 1}', "-n", "30", "-c", "2", "--json"], capture_output=True, text=True)
    *_, load = await asyncio.gather(*(worker(w) for w in range(WORKERS)), load)
    await restarted.wait()
    after = await session.call_tool("add", {"a": 40, "b": 2})
    status = json.loads(ctl("status", "--json").splitlines()[0])
    return {
        "tools_before": before,
        "tools_after": await tool_names(session),
        "outcomes": outcomes,
        "after_restart": after.content[0].text,
        "restarts": status.get("restarts"),
        "latency": [json.loads(row) for row in ctl("latency", "mcp", "--json").splitlines()],
        "load": json.loads(load.stdout) if load.stdout else load.stderr,
    }


async def wrapped_body(session):
    same = await same_calls(session)
    return {"same": same, **await loop_with_restart(session)}


async def direct_body(session):
    return {"same": await same_calls(session)}


env = {"MCP_DELAY_MS": "5"}
direct = run(StdioServerParameters(command="python3", args=[SERVER], env=env), direct_body)
wrap_args = ["wrap", "--name", "mcp", "--protocol", "mcp", "--socket", SOCKET, "--", "python3", SERVER]
wrapped = run(StdioServerParameters(command=SIDETOP, args=wrap_args, env=env), wrapped_body)
print(json.dumps({"direct": direct, "wrapped": wrapped}))
