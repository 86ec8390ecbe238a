#!/usr/bin/env python3
"""Prints every terminal escape that must never reach the operator's terminal: clipboard
write (OSC 52), title changes (OSC 0/2), screen clear, cursor moves, alternate screen,
DCS, a bell flood, and an unterminated OSC followed by megabytes of text. Then
HOSTILE-DONE, and it stays up."""
import os
import sys
import time

out = sys.stdout.buffer
mb = int(os.environ.get("HOSTILE_MB", "4"))
out.write(b"before \x1b]52;c;cHduZWQ=\x07 clipboard\n")
out.write(b"\x1b]0;pwned-title\x07 title0 \x1b]2;pwned-title\x1b\\ title2\n")
out.write(b"\x1b[2J\x1b[H\x1b[10;10H\x1b[5A cleared and moved\n")
out.write(b"\x1b[?1049h alternate \x1b[?1049l screen\n")
out.write(b"\x1bPq#0;2;0;0;0#0~~@@\x1b\\ dcs\n")
out.write(b"\x07" * 10000 + b" bells\n")
out.write(b"\x1b[31mred\x1b[0m ok\n")
# An OSC that never ends, then megabytes of text on the same line, then more lines.
out.write(b"\x1b]0;never ends ")
chunk = b"y" * (1 << 20)
for _ in range(mb):
    out.write(chunk)
out.write(b"\nHOSTILE-DONE\n")
out.flush()
while True:
    time.sleep(1)
