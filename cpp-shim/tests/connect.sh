#!/bin/sh
# connect.sh EXECUTOR NATIVE JITSLAB_RUN [jitslab-run arguments...] [-- PROGRAM ARGS...]
#
# Starts EXECUTOR listening on a loopback port, links and runs the program in it with
# `jitslab-run --connect=127.0.0.1:PORT`, and fails unless the program's output (which the
# executor prints) and exit status equal the native build's. The executor is stopped whatever
# happens.
set -u
. "$(dirname "$0")/native_check.sh"
executor=$1
native=$2
shift 2
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
listening() { grep -q ":$(printf '%04X' "$1") 00000000:0000 0A" /proc/net/tcp 2>/dev/null; }
for try in 1 2 3 4 5; do
  port=$((20000 + ($$ * 7 + try * 131) % 20000))
  listening $port && continue
  "$executor" listen=127.0.0.1:$port >"$tmp/program.out" 2>"$tmp/executor.err" &
  pid=$!
  i=0
  while [ $i -lt 50 ] && ! listening $port && kill -0 $pid 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
  done
  listening $port && break
  kill -9 $pid 2>/dev/null
  pid=""
done
[ -n "$pid" ] || { echo "connect.sh: the executor never listened"; cat "$tmp/executor.err"; exit 1; }
tool=$1
shift
"$tool" --connect=127.0.0.1:$port "$@"
jit_status=$?
# The executor ends when the connection closes; its output is complete then.
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
run_native "$tmp/native.out" "$native" "$@"
same_as_native connect.sh "$tmp/native.out" "$tmp/program.out" $jit_status "in the executor, over TCP"
