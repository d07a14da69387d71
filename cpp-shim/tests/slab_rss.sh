#!/bin/sh
# slab_rss.sh MAX_RATIO NATIVE JITSLAB_RUN [jitslab-run arguments, out of process]
#
# Runs the program under jitslab-run with --report and checks the executor's side of the slab:
# the resident pages of the executor's mappings of the reservation (executor_slab_rss_kib, from
# /proc/PID/smaps before the executor is told to exit) must be at most MAX_RATIO times the bytes
# actually linked (linked_bytes: every block of every graph). The output must equal the native
# program's. With page-granular segments (LLVM's stock service) 2000 small objects cost about
# 18 times their bytes; sub-page packing is what keeps the native protocol near 1.
set -u
max=$1 native=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$native" >"$tmp/native.out" 2>/dev/null
"$@" --report="$tmp/report" >"$tmp/out" || { echo "slab_rss.sh: jitslab-run failed"; exit 1; }
cmp -s "$tmp/native.out" "$tmp/out" || { echo "slab_rss.sh: the output differs from the native one"; exit 1; }
rss=$(sed -n 's/^executor_slab_rss_kib=//p' "$tmp/report")
linked=$(sed -n 's/^linked_bytes=//p' "$tmp/report")
[ -n "$rss" ] && [ -n "$linked" ] && [ "$linked" -gt 0 ] || { echo "slab_rss.sh: no figures in the report"; exit 1; }
echo "slab_rss.sh: executor's slab resident $rss KiB for $linked bytes linked" \
  "($(awk -v r="$rss" -v l="$linked" 'BEGIN { printf "%.2f", r * 1024 / l }')x; at most ${max}x)"
[ $((rss * 1024)) -le $((max * linked)) ] || { echo "slab_rss.sh: more than ${max}x"; exit 1; }
