#!/usr/bin/env python3
"""Works for a few seconds, then dies of SIGSEGV, like a native extension gone wrong."""
import os
import signal
import sys
import time

delay = float(os.environ.get("SEGFAULT_AFTER", "3"))
print(f"codec worker up, pid {os.getpid()}; crashing in {delay}s", flush=True)
time.sleep(delay)
print("about to dereference a bad pointer", file=sys.stderr, flush=True)
os.kill(os.getpid(), signal.SIGSEGV)
