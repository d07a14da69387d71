#!/bin/sh
# connect.sh EXECUTOR NATIVE JITSLAB_RUN [jitslab-run arguments...] [-- PROGRAM ARGS...]
#
# Starts EXECUTOR listening on a loopback port, links and runs the program in it with
# `jitslab-run --connect=127.0.0.1:PORT`, and fails unless the program's output (which the
# executor prints) and exit status equal the native build's. The executor is stopped whatever
# happens.
set -u
executor=$1
native=$2
shift 2
prog_args=""
seen=0
for a in "$@"; do
  if [ $seen = 1 ]; then prog_args="$prog_args $a"; fi
  if [ "$a" = "--" ]; then seen=1; fi
done
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
# shellcheck disable=SC2086 # program arguments are words without spaces
"$native" $prog_args >"$tmp/native.out"
native_status=$?
if ! cmp -s "$tmp/native.out" "$tmp/program.out"; then
  echo "connect.sh: output differs (< native, > in the executor):"
  diff "$tmp/native.out" "$tmp/program.out" | head -40
  exit 1
fi
if [ "$native_status" != "$jit_status" ]; then
  echo "connect.sh: exit status differs: native $native_status, jitslab-run $jit_status"
  exit 1
fi
echo "connect.sh: same output ($(wc -l <"$tmp/native.out") lines) and status $jit_status over TCP"
