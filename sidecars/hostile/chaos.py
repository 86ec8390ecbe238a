#!/usr/bin/env python3
"""A sidecar that misbehaves at random, for the soak test: floods, crashes (exit code or
SIGSEGV), hangs, forks short-lived grandchildren, prints escape sequences and invalid
UTF-8. Every line carries a sequence number; the total written so far is kept in
$CHAOS_COUNT_DIR/<name>.<pid> so the soak can compare lines written with lines seen."""
import os
import random
import signal
import sys
import time

name = os.environ.get("CHAOS_NAME", "chaos")
count_dir = os.environ.get("CHAOS_COUNT_DIR", "/tmp")
random.seed(os.getpid())
written = 0
out = sys.stdout.buffer


def emit(lines):
    global written
    for payload in lines:
        out.write(b"%s %d " % (name.encode(), written) + payload + b"\n")
        written += 1
    out.flush()
    with open(os.path.join(count_dir, f"{name}.{os.getpid()}"), "w") as f:
        f.write(str(written))


HOSTILE = [
    b"\x1b]52;c;cHduZWQ=\x07clipboard",
    b"\x1b]0;pwned title\x07title",
    b"\x1b[2J\x1b[H cleared",
    b"\x1b[?1049h alternate screen",
    b"\xff\xfe invalid utf-8 \x00 nul",
    b"progress 10%\rprogress 50%\rprogress 100%",
    b"\x07" * 50 + b"bells",
]

while True:
    action = random.choices(["flood", "log", "hostile", "crash", "segv", "hang", "fork"], [3, 10, 3, 1, 1, 2, 2])[0]
    if action == "flood":
        emit([b"x" * random.randint(10, 300) for _ in range(random.randint(1000, 20000))])
    elif action == "log":
        emit([b"working normally"])
        time.sleep(random.uniform(0.05, 0.5))
    elif action == "hostile":
        emit([random.choice(HOSTILE)])
    elif action == "crash":
        emit([b"about to exit 3"])
        os._exit(3)
    elif action == "segv":
        emit([b"about to segfault"])
        os.kill(os.getpid(), signal.SIGSEGV)
    elif action == "hang":
        time.sleep(random.uniform(1, 5))
    elif action == "fork":
        if os.fork() == 0:
            time.sleep(random.uniform(0.1, 2))
            os._exit(0)
