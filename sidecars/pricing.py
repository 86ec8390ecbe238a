#!/usr/bin/env python3
"""A json-lines pricing sidecar: reads {"pair": "BTC-USD"} per line, answers
{"pair": ..., "price": ...} per line, in order. Logs go to stderr.
PRICING_SEED=N makes the prices repeat from run to run."""
import json
import os
import random
import sys

if os.environ.get("PRICING_SEED"):
    random.seed(int(os.environ["PRICING_SEED"]))

BASE = {"BTC-USD": 64000.0, "ETH-USD": 3100.0, "EUR-USD": 1.08}

print("pricing: ready", file=sys.stderr, flush=True)
for line in sys.stdin:
    if not line.strip():
        continue
    try:
        request = json.loads(line)
        pair = request["pair"]
        if pair not in BASE:
            raise KeyError(pair)
        price = round(BASE[pair] * random.uniform(0.995, 1.005), 4)
        answer = {"pair": pair, "price": price}
        print(f"pricing: {pair} -> {price}", file=sys.stderr, flush=True)
    except (ValueError, KeyError, TypeError) as e:
        answer = {"error": f"bad request: {e}"}
        print(f"pricing: bad request {line.strip()!r}", file=sys.stderr, flush=True)
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
