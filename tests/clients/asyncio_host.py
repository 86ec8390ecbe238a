"""A host like the Minions runtime's `Resource` (seeds/000): it starts its sidecar with
`asyncio.create_subprocess_exec`, writes one JSON line per request and reads each reply
line with a 2 s timeout. Run once against sidecars/pricing.py directly and once through
`sidetop wrap --protocol json-lines`, with a `sidetop ctl traffic -f` beside the wrapper
whose output is never read (a stalled observer). For tests/wrap_clients.rs.

Usage: asyncio_host.py SIDETOP SOCKET SERVER_SCRIPT [REQUESTS]

Prints one JSON report: both directions' bytes of both runs (hex), the exit codes, the
slowest reply of each run, and `ctl latency` as the wrapper saw the calls.
"""

import asyncio
import json
import os
import subprocess
import sys
import time

SIDETOP, SOCKET, SERVER = sys.argv[1:4]
REQUESTS = int(sys.argv[4]) if len(sys.argv) > 4 else 3000
PAIRS = ["BTC-USD", "ETH-USD", "EUR-USD"]
ENV = {**os.environ, "PRICING_SEED": "7"}


def request(i):
    if i % 97 == 96:
        return b"not json at all\n"
    return (json.dumps({"pair": PAIRS[i % 3], "seq": i}) + "\n").encode()


async def converse(cmd, before_close=None):
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, env=ENV)
    sent, got, slowest = bytearray(), bytearray(), 0.0
    for i in range(REQUESTS):
        line = request(i)
        proc.stdin.write(line)
        await proc.stdin.drain()
        sent += line
        started = time.monotonic()
        got += await asyncio.wait_for(proc.stdout.readline(), 2)  # the Resource's timeout
        slowest = max(slowest, time.monotonic() - started)
    extra = await before_close() if before_close else None
    proc.stdin.close()
    got += await proc.stdout.read()
    return {"sent": sent.hex(), "got": got.hex(), "code": await proc.wait(),
            "slowest_ms": round(slowest * 1000, 2), "extra": extra}


async def wrapped():
    cmd = [SIDETOP, "wrap", "--name", "pricing", "--protocol", "json-lines", "--socket", SOCKET,
           "--", "python3", SERVER]
    observer = None

    async def latency():
        out = subprocess.run([SIDETOP, "ctl", "--socket", SOCKET, "latency", "pricing", "--json"],
                             check=True, capture_output=True, text=True).stdout
        return [json.loads(row) for row in out.splitlines()]

    async def run():
        nonlocal observer
        task = asyncio.create_task(converse(cmd, latency))
        deadline = time.monotonic() + 10
        while not os.path.exists(SOCKET) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        # Subscribed and never read: its pipe fills after a few hundred exchanges.
        observer = subprocess.Popen([SIDETOP, "ctl", "--socket", SOCKET, "traffic", "pricing", "-f"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return await task

    try:
        return await run()
    finally:
        if observer:
            observer.kill()
            observer.wait()


direct = asyncio.run(converse(["python3", SERVER]))
through = asyncio.run(wrapped())
print(json.dumps({"direct": direct, "wrapped": through}))
