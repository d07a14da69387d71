#!/bin/sh
# ehframe_rpc_count.sh [--control=calls|stock] [--per-object=K] JITSLAB_RUN JITSLAB_EXECUTOR READELF SMALL LARGE
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
# one that would grow. LLVM 22 has no such plugin (its registration is an allocation action);
# --control=stock takes as the control the same actions under jitslab's stock protocol, which
# makes one finalize call per object. With --per-object=K the bound on each set of N units is
# the larger of BOUND and N/K and the 200-vs-2000 check is left out: the number of group-commit
# rounds follows the length of the link (a round leaves when the previous one is back), so on
# a slow or loaded machine, and on LLVM 22, whose ORC core links synth-2000 about 4x slower than
# 19's, the rounds grow with the link instead of staying a handful (CI's loaded runner made 47
# rounds for 200 units). What does not depend on timing is checked in every mode: with actions,
# every call but at most OTHER (the bootstrap, lookups, the call into main) is jitslab's own, so
# no registration made a call of its own; and the native protocol's group commit sent
# allocations in finalize calls (the --stats line "group commit: ..."): the registrations did
# travel in them.
set -u
control=calls
per_object=
case ${1-} in --control=*) control=${1#--control=}; shift ;; esac
case ${1-} in --per-object=*) per_object=${1#--per-object=}; shift ;; esac
run=$1
executor=$2
readelf=$3
small=$4
large=$5
BOUND=32
SLACK=8
OTHER=8
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/rpc_common.sh"
for set in "$small" "$large"; do
  if ! has_eh_frame "$set"; then
    echo "ehframe_rpc_count.sh: $(head -n 1 "$set.rsp") has no .eh_frame: nothing to register"
    exit 1
  fi
done
# calls NAME HOW SET [PROTOCOL]: prints all calls and jitslab's calls of a run with
# --eh-frames=HOW and PROTOCOL (default native).
calls() {
  proto=${4:-native}
  counted_run "$1" "$3" --protocol="$proto" --eh-frames="$2" || return 1
  [ "$(reported "$1" jitslab_protocol)" = "$proto" ] || { echo "$1: not $proto" >&2; return 1; }
  echo "$(reported "$1" rpc_calls)" "$(reported "$1" jitslab_rpc_calls)"
}
a200=$(calls actions200 actions "$small") || exit 1
a2000=$(calls actions2000 actions "$large") || exit 1
case $control in
calls) what="LLVM's plugin"; c200=$(calls calls200 calls "$small") || exit 1
  c2000=$(calls calls2000 calls "$large") || exit 1 ;;
stock) what="the stock protocol"; c200=$(calls stock200 actions "$small" stock) || exit 1
  c2000=$(calls stock2000 actions "$large" stock) || exit 1 ;;
*) echo "ehframe_rpc_count.sh: --control=$control: expected calls or stock"; exit 1 ;;
esac
echo "ehframe_rpc_count.sh: calls over the connection (all, jitslab's): 200 units: actions $a200," \
  "$what $c200; 2000 units: actions $a2000, $what $c2000"
set -- $a200 $a2000 $c2000
[ $# = 6 ] || { echo "ehframe_rpc_count.sh: no rpc_calls or jitslab_rpc_calls in a report"; exit 1; }
[ $(($1 - $2)) -le $OTHER ] && [ $(($3 - $4)) -le $OTHER ] ||
  { echo "ehframe_rpc_count.sh: with actions, more than $OTHER calls were not jitslab's"; exit 1; }
if [ -n "$per_object" ]; then
  b200=$((200 / per_object)) b2000=$((2000 / per_object))
  [ $b200 -ge $BOUND ] || b200=$BOUND
  [ $b2000 -ge $BOUND ] || b2000=$BOUND
  [ "$1" -le $b200 ] && [ "$3" -le $b2000 ] ||
    { echo "ehframe_rpc_count.sh: more than $b200 (200 units) or $b2000 (2000 units) calls with actions"; exit 1; }
else
  [ "$1" -le $BOUND ] && [ "$3" -le $BOUND ] ||
    { echo "ehframe_rpc_count.sh: more than $BOUND calls with actions"; exit 1; }
  [ "$3" -le $(($1 + SLACK)) ] ||
    { echo "ehframe_rpc_count.sh: 2000 units cost more than 200 + $SLACK"; exit 1; }
fi
[ "$5" -ge 2000 ] || { echo "ehframe_rpc_count.sh: $what made fewer calls than objects"; exit 1; }
for n in actions200 actions2000; do
  grep -q 'group commit: .* finalize [1-9][0-9]* ([1-9][0-9]* allocations), ' "$tmp/$n.err" ||
    { echo "ehframe_rpc_count.sh: $n sent no allocation in a finalize call:"; grep 'group commit' "$tmp/$n.err"; exit 1; }
done
echo "ehframe_rpc_count.sh: ${per_object:+at most one call per $per_object objects, not }O(1) calls" \
  "with eh-frames registered by finalize actions"
