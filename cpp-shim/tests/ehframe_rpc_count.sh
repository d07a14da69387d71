#!/bin/sh
# ehframe_rpc_count.sh JITSLAB_RUN JITSLAB_EXECUTOR READELF SMALL LARGE
#
# SMALL and LARGE name synth sets (SMALL.rsp lists the objects, SMALL_native is the native
# build) of 200 and 2000 units compiled WITH unwind tables: every object has an .eh_frame.
# Each is linked and run in JITSLAB_EXECUTOR with --no-orc-runtime and the native protocol,
# its frames registered by allocation actions (--eh-frames=actions, the default) and, for the
# large set, by LLVM's EHFrameRegistrationPlugin (--eh-frames=calls); the output must equal
# the native build's. Everything that crossed the connection (rpc_calls of --report: the
# memory manager's calls, eh-frame registration, lookups, the call into main) must be O(1)
# with actions: at most BOUND for either set, and no more for 2000 units than for 200 plus
# SLACK. With LLVM's plugin the count is at least one per object, which shows the count is the
# one that would grow. And with actions the native protocol's group commit made finalize
# calls (the --stats line "group commit: ..."): the registrations did travel in them.
set -u
run=$1
executor=$2
readelf=$3
small=$4
large=$5
BOUND=32
SLACK=8
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for set in "$small" "$large"; do
  if ! "$readelf" -S "$(head -n 1 "$set.rsp")" | grep -q eh_frame; then
    echo "ehframe_rpc_count.sh: $(head -n 1 "$set.rsp") has no .eh_frame: nothing to register"
    exit 1
  fi
done
# calls NAME HOW SET: links and runs SET with --eh-frames=HOW, checks its output, prints
# rpc_calls and jitslab_rpc_calls.
calls() {
  "$run" --executor="$executor" --protocol=native --no-orc-runtime --eh-frames="$2" \
    --report="$tmp/$1.report" --stats "@$3.rsp" >"$tmp/$1.out" 2>"$tmp/$1.err"
  status=$?
  "$3_native" >"$tmp/$1.native"
  if [ $status != 0 ] || ! cmp -s "$tmp/$1.out" "$tmp/$1.native"; then
    echo "ehframe_rpc_count.sh: $1: status $status or output differs from the native build" >&2
    cat "$tmp/$1.err" >&2
    return 1
  fi
  grep -q '^jitslab_protocol=native$' "$tmp/$1.report" || { echo "$1: not native" >&2; return 1; }
  echo "$(sed -n 's/^rpc_calls=//p' "$tmp/$1.report")" \
    "$(sed -n 's/^jitslab_rpc_calls=//p' "$tmp/$1.report")"
}
a200=$(calls actions200 actions "$small") || exit 1
a2000=$(calls actions2000 actions "$large") || exit 1
c200=$(calls calls200 calls "$small") || exit 1
c2000=$(calls calls2000 calls "$large") || exit 1
echo "ehframe_rpc_count.sh: calls over the connection (all, jitslab's): 200 units: actions $a200," \
  "LLVM's plugin $c200; 2000 units: actions $a2000, LLVM's plugin $c2000"
set -- $a200 $a2000 $c2000
[ $# = 6 ] || { echo "ehframe_rpc_count.sh: no rpc_calls or jitslab_rpc_calls in a report"; exit 1; }
[ "$1" -le $BOUND ] && [ "$3" -le $BOUND ] ||
  { echo "ehframe_rpc_count.sh: more than $BOUND calls with actions"; exit 1; }
[ "$3" -le $(($1 + SLACK)) ] ||
  { echo "ehframe_rpc_count.sh: 2000 units cost more than 200 + $SLACK"; exit 1; }
[ "$5" -ge 2000 ] || { echo "ehframe_rpc_count.sh: LLVM's plugin made fewer calls than objects"; exit 1; }
for n in actions200 actions2000; do
  grep -q 'group commit: .* finalize [1-9][0-9]*, ' "$tmp/$n.err" ||
    { echo "ehframe_rpc_count.sh: $n made no finalize call:"; grep 'group commit' "$tmp/$n.err"; exit 1; }
done
echo "ehframe_rpc_count.sh: O(1) calls with eh-frames registered by finalize actions"
