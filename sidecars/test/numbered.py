#!/usr/bin/env python3
"""Writes numbered 100-byte lines to stdout: TOTAL (argv[1], 0 = forever) lines, BLOCK
(argv[2]) lines per write, PAUSE_MS (argv[3]) between writes; then `done` on stderr."""
import os, sys, time
total, block, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000
n = 0
while total == 0 or n < total:
    count = block if total == 0 else min(block, total - n)
    os.write(1, b"".join(b"line %09d " % (n + i) + b"x" * 84 + b"\n" for i in range(count)))
    n += count
    if pause:
        time.sleep(pause)
print("done", file=sys.stderr, flush=True)
