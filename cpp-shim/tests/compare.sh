#!/bin/sh
# compare.sh NATIVE JITSLAB_RUN [jitslab-run arguments...] [-- PROGRAM ARGS...]
#
# Runs the natively linked program and the same objects under jitslab-run, with the same
# program arguments (those after `--`), and fails unless both print the same stdout and exit
# with the same status. jitslab-run's stderr (statistics, errors) is shown, not compared.
set -u
native=$1
shift
prog_args=""
seen=0
for a in "$@"; do
  if [ $seen = 1 ]; then prog_args="$prog_args $a"; fi
  if [ "$a" = "--" ]; then seen=1; fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086 # program arguments are words without spaces
"$native" $prog_args >"$tmp/native.out"
native_status=$?
"$@" >"$tmp/jit.out"
jit_status=$?
if ! cmp -s "$tmp/native.out" "$tmp/jit.out"; then
  echo "compare.sh: stdout differs (< native, > jitslab-run):"
  diff "$tmp/native.out" "$tmp/jit.out" | head -40
  exit 1
fi
if [ "$native_status" != "$jit_status" ]; then
  echo "compare.sh: exit status differs: native $native_status, jitslab-run $jit_status"
  exit 1
fi
echo "compare.sh: same output ($(wc -l <"$tmp/native.out") lines) and status $jit_status"
