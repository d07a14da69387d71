#!/bin/sh
# rpc_count.sh JITSLAB_RUN JITSLAB_EXECUTOR READELF SMALL LARGE
#
# SMALL and LARGE name synth sets (SMALL.rsp lists the objects, SMALL_native is the native
# build) of 200 and 2000 units compiled without unwind tables. Each is linked and run in
# JITSLAB_EXECUTOR with --no-orc-runtime, so no graph has an allocation action, with the
# native protocol and then the stock one; the output must equal the native build's. The
# memory-manager calls jitslab made (jitslab_rpc_calls of --report) must be O(1) with the
# native protocol: at most BOUND for either set, and no more for 2000 units than for 200 plus
# SLACK (a few finalize calls giving the extra chunks their access). The stock protocol's count is at least one
# per object, which shows the count is the one that would grow. And with no action anywhere,
# the native protocol registers no allocation in the executor: its finalize calls only give
# chunks their access (the --stats line "group commit: ... finalize F (0 allocations) ...").
set -u
run=$1
executor=$2
readelf=$3
small=$4
large=$5
BOUND=16
SLACK=6
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/rpc_common.sh"
for set in "$small" "$large"; do
  if has_eh_frame "$set"; then
    echo "rpc_count.sh: $(head -n 1 "$set.rsp") has an .eh_frame: frames would be registered"
    exit 1
  fi
done
# calls NAME PROTOCOL SET: prints the memory-manager calls jitslab made in that run.
calls() {
  counted_run "$1" "$3" --protocol="$2" && reported "$1" jitslab_rpc_calls
}
n200=$(calls native200 native "$small") || exit 1
n2000=$(calls native2000 native "$large") || exit 1
s2000=$(calls stock2000 stock "$large") || exit 1
grep -q '^jitslab_protocol=native$' "$tmp/native2000.report" || { echo "rpc_count.sh: not native"; exit 1; }
echo "rpc_count.sh: jitslab memory-manager calls: native 200 units $n200, 2000 units $n2000; stock 2000 units $s2000"
[ -n "$n200" ] && [ -n "$n2000" ] && [ -n "$s2000" ] || { echo "rpc_count.sh: no jitslab_rpc_calls in a report"; exit 1; }
[ "$n200" -le $BOUND ] && [ "$n2000" -le $BOUND ] || { echo "rpc_count.sh: more than $BOUND calls"; exit 1; }
[ "$n2000" -le $((n200 + SLACK)) ] || { echo "rpc_count.sh: 2000 units cost more than 200 + $SLACK"; exit 1; }
[ "$s2000" -ge 2000 ] || { echo "rpc_count.sh: the stock protocol made fewer calls than objects"; exit 1; }
for n in native200 native2000; do
  grep -q 'group commit: .* finalize [0-9]* (0 allocations), deallocate 0$' "$tmp/$n.err" ||
    { echo "rpc_count.sh: $n sent allocations to the executor:"; grep 'group commit' "$tmp/$n.err"; exit 1; }
done
echo "rpc_count.sh: O(1) calls with the native protocol, no allocation registered in the executor"
