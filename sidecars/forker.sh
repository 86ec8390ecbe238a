#!/bin/sh
# Starts a grandchild that would outlive it unless its whole process group is stopped.
sleep 100000 &
echo "forker: pid $$ started grandchild $!"
while :; do
    echo "forker: still here"
    sleep 5
done
