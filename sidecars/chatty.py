#!/usr/bin/env python3
"""A chatty logger: lines on stdout and stderr, some in ANSI colour, at a steady pace."""
import itertools
import os
import random
import sys
import time

COLOURS = {"INFO": "\x1b[32m", "WARN": "\x1b[33m", "ERROR": "\x1b[31m"}
RESET = "\x1b[0m"
interval = float(os.environ.get("CHATTY_INTERVAL", "0.5"))

for n in itertools.count(1):
    level = random.choices(["INFO", "WARN", "ERROR"], weights=[8, 2, 1])[0]
    text = f"request {n} handled in {random.randint(1, 250)}ms"
    if level == "INFO":
        print(f"{COLOURS[level]}{level}{RESET} {text}", flush=True)
    else:
        print(f"{COLOURS[level]}{level}{RESET} {text}", file=sys.stderr, flush=True)
    time.sleep(interval)
