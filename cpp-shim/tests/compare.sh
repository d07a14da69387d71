#!/bin/sh
# compare.sh NATIVE JITSLAB_RUN [jitslab-run arguments...] [-- PROGRAM ARGS...]
#
# Runs the natively linked program and the same objects under jitslab-run, with the same
# program arguments (those after `--`), and fails unless both print the same stdout and exit
# with the same status. jitslab-run's stderr (statistics, errors) is shown, not compared.
set -u
. "$(dirname "$0")/native_check.sh"
native=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run_native "$tmp/native.out" "$native" "$@"
"$@" >"$tmp/jit.out"
jit_status=$?
same_as_native compare.sh "$tmp/native.out" "$tmp/jit.out" $jit_status "jitslab-run"
