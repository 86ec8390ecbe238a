#!/bin/sh
# Ignores SIGTERM, as a badly written sidecar does: only SIGKILL stops it.
trap '' TERM
echo "stubborn: pid $$, ignoring SIGTERM"
while :; do
    sleep 1
done
