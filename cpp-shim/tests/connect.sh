#!/bin/sh
# connect.sh EXECUTOR COMPARE NATIVE JITSLAB_RUN [jitslab-run arguments...]
#
# Starts EXECUTOR listening on a loopback port, runs compare.sh with jitslab-run attached to it
# (--connect=127.0.0.1:PORT), and stops the executor whatever happens.
set -u
executor=$1
shift
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
# A port from the ephemeral range that nothing listens on; retried if the executor cannot bind.
for try in 1 2 3 4 5; do
  port=$((20000 + ($$ * 7 + try * 131) % 20000))
  "$executor" listen=127.0.0.1:$port >"$tmp/executor.out" 2>&1 &
  pid=$!
  i=0
  # Ready when the port accepts connections: probe with bash-free /proc/net/tcp (state 0A =
  # LISTEN, port in hex).
  hex=$(printf '%04X' $port)
  while [ $i -lt 50 ]; do
    if grep -q ":$hex 00000000:0000 0A" /proc/net/tcp 2>/dev/null; then break; fi
    if ! kill -0 $pid 2>/dev/null; then break; fi
    sleep 0.1
    i=$((i + 1))
  done
  if grep -q ":$hex 00000000:0000 0A" /proc/net/tcp 2>/dev/null; then break; fi
  kill -9 $pid 2>/dev/null
  pid=""
done
[ -n "$pid" ] || { echo "connect.sh: the executor never listened"; cat "$tmp/executor.out"; exit 1; }
compare=$1
native=$2
tool=$3
shift 3
"$compare" "$native" "$tool" --connect=127.0.0.1:$port "$@"
status=$?
# The executor ends its session when jitslab-run hangs up; give it a moment, then stop it.
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
exit $status
