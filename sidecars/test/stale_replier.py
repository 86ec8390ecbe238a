#!/usr/bin/env python3
"""Run 1 (no STATE file): leaves behind a detached process holding stdout that, 0.5 s
later, answers ids 1..50 with "stale"; then exits. Run 2: answers every request with
"fresh", the first one after 1.5 s (so a stale reply would win the race)."""
import json, os, subprocess, sys, time
state = sys.argv[1]
if not os.path.exists(state):
    open(state, "w").write("1")
    stale = "import json,time\ntime.sleep(0.5)\nfor i in range(1, 51): print(json.dumps({'jsonrpc':'2.0','id':i,'result':'stale'}), flush=True)\ntime.sleep(2)\n"
    subprocess.Popen([sys.executable, "-c", stale], start_new_session=True)
    sys.exit(3)
first = True
for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    if first:
        time.sleep(1.5)
        first = False
    print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": "fresh"}), flush=True)
