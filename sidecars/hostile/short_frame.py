#!/usr/bin/env python3
"""Content-Length framing that lies: announces 1000 bytes, sends 20, then stalls."""
import sys
import time

for _ in sys.stdin.buffer:
    sys.stdout.buffer.write(b'Content-Length: 1000\r\n\r\n{"jsonrpc":"2.0",')
    sys.stdout.buffer.flush()
    time.sleep(3600)
