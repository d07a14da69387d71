#!/bin/sh
# wx_sample.sh JITSLAB_RUN [jitslab-run arguments...]
#
# Runs jitslab-run (with --executor) and, every 10 ms while it runs, reads /proc/PID/maps of
# it and of its executor: no mapping may be writable and executable in either process. Also
# checks /dev/shm at each sample and afterwards: no jitslab-PID-* or jitlink_PID_* name of
# either process (other processes' names, e.g. of tests running alongside, are not ours). The
# run must succeed, the executor must have been sampled, and its r-x view of the region's
# memfd must have been seen (so the sampler did look at JIT memory).
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shm_names() {
  for p in $tool $executor; do ls /dev/shm | grep -E "^(jitslab-$p-|jitlink_${p}_)"; done
}
"$@" >"$tmp/out" 2>"$tmp/err" &
tool=$!
child_of() { cat /proc/"$1"/task/*/children 2>/dev/null | awk '{ print $1; exit }'; }
executor=""
samples=0
exec_samples=0
rx_seen=0
fail() { echo "wx_sample.sh: $*"; kill -9 $tool 2>/dev/null; [ -n "$executor" ] && kill -9 "$executor" 2>/dev/null; exit 1; }
while kill -0 $tool 2>/dev/null; do
  [ -n "$executor" ] || executor=$(child_of $tool)
  for pid in $tool $executor; do
    cat /proc/$pid/maps >"$tmp/maps" 2>/dev/null || continue
    if awk '$2 ~ /^.wx/ { bad = 1; print } END { exit !bad }' "$tmp/maps" >"$tmp/wx"; then
      fail "writable and executable in pid $pid: $(cat "$tmp/wx")"
    fi
    if [ "$pid" = "$executor" ] && [ -s "$tmp/maps" ]; then
      exec_samples=$((exec_samples + 1))
      grep -q 'r-xs .*memfd:jitslab-executor' "$tmp/maps" && rx_seen=1
    fi
  done
  shm_names >"$tmp/shm.new"
  [ -s "$tmp/shm.new" ] && fail "/dev/shm holds during the run: $(cat "$tmp/shm.new")"
  samples=$((samples + 1))
  sleep 0.01
done
wait $tool
status=$?
[ $status = 0 ] || { cat "$tmp/err"; echo "wx_sample.sh: jitslab-run exited with $status"; exit 1; }
shm_names >"$tmp/shm.new"
[ -s "$tmp/shm.new" ] && { echo "wx_sample.sh: /dev/shm holds after the run: $(cat "$tmp/shm.new")"; exit 1; }
[ $exec_samples -gt 0 ] || { echo "wx_sample.sh: the executor was never sampled ($samples samples)"; exit 1; }
[ $rx_seen = 1 ] || { echo "wx_sample.sh: never saw the executor's r-x view of its memfd"; exit 1; }
echo "wx_sample.sh: $samples samples ($exec_samples of the executor): no page writable and executable; /dev/shm clean"
