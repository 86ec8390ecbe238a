#!/usr/bin/env python3
"""json-lines sidecar that logs JSON to stdout (pino/structlog style) before answering:
with reply_has = "/price" only the line with a price is the reply."""
import json, sys
for line in sys.stdin:
    req = json.loads(line)
    print(json.dumps({"level": 30, "msg": "pricing", "pair": req.get("pair")}), flush=True)
    print(json.dumps({"pair": req.get("pair"), "price": 1.25}), flush=True)
