#!/bin/sh
# kill_trials.sh [--stock-names] SEED TRIALS NATIVE JITSLAB_RUN [jitslab-run arguments, with
#                 --executor=...]
#
# Kills one side of an out-of-process run at a random moment, TRIALS times, the moments and
# sides drawn from SEED (the same seed gives the same trials). A clean run is timed first;
# each trial waits a random time within that, then sends SIGKILL to the executor or
# to jitslab-run (the linker). What must hold after every trial:
#   - no hang: the surviving side ends within 10 s;
#   - the executor killed: jitslab-run exits with status 1 and one line naming the dead
#     executor, or, when the kill came after the program finished, exits 0 with the native
#     program's output (NATIVE is the natively linked program, run once for reference);
#   - jitslab-run killed: the executor notices the closed connection and exits by itself;
#   - no leftover files: no name that appeared in /dev/shm during the trial outlives its
#     process (LLVM's service names its objects /jitlink_PID_N, jitslab's named fallback
#     /jitslab-PID-...); other tests may create and remove their own names meanwhile, and
#     names of live processes are theirs.
#     With --stock-names (LLVM's stock protocol), a /jitlink_PID_N name left over is counted,
#     reported and removed instead: LLVM's service creates the object with a name that only
#     the linker unlinks (after opening it), and does not unlink it when the connection
#     closes, so either side killed between the two leaves it behind. The native protocol has
#     no name to leave (memfd); its trials run without the option and watch jitslab's names
#     only (LLVM's service is never called with it; a jitlink_ name is another test's).
# The ctest suite runs 50 trials; for a soak, run more, e.g. with TRIALS=1000.
set -u
stock_names=0
if [ "$1" = --stock-names ]; then
  stock_names=1
  shift
fi
seed=$1 trials=$2 native=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "kill_trials.sh: trial $trial (seed $seed, $side killed after ${delay} ms): $*"
  [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err" | head -20
  exit 1
}

# The first child of process $1, if any (read from /proc, without scanning every process).
child_of() {
  cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | sed -n '/./{p;q;}'
}

# The names in /dev/shm that a run of this kind can make, sorted: jitslab's named fallback
# (jitslab-PID-...), and with --stock-names LLVM's service (jitlink_PID_N). The native protocol
# never calls LLVM's service, so its trials do not look at jitlink_ names: those are other
# tests' (a stock-protocol test killing its processes alongside, under ctest -j2, made this
# test fail on names that were not its own).
shm_names() {
  if [ $stock_names = 1 ]; then
    ls /dev/shm | grep -E '^(jitlink_[0-9]+_|jitslab-[0-9]+-)' | sort
  else
    ls /dev/shm | grep -E '^jitslab-[0-9]+-' | sort
  fi
}

# Whether process $1 is gone (a zombie counts as gone: it has exited).
gone() {
  [ ! -e "/proc/$1" ] || [ "$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null)" = Z ]
}

# wait_gone PID WHAT: waits up to 10 s for PID to end.
wait_gone() {
  i=0
  until gone "$1"; do
    sleep 0.05
    i=$((i + 1))
    [ $i -lt 200 ] || { kill -9 "$1" 2>/dev/null; fail "$2 still running 10 s later"; }
  done
}

trial=0 side=none delay=0
"$native" >"$tmp/native.out" 2>/dev/null
start=$(date +%s%N)
"$@" >"$tmp/out" 2>"$tmp/err" || fail "the clean run failed"
cmp -s "$tmp/native.out" "$tmp/out" || fail "the clean run's output differs from the native one"
clean_ms=$((($(date +%s%N) - start) / 1000000))
window=$((clean_ms + 1))
echo "kill_trials.sh: a clean run takes $clean_ms ms; $trials trials within $window ms, seed $seed"

killed_exec=0 killed_linker=0 finished=0 stock_left=0
awk -v seed="$seed" -v n="$trials" -v w="$window" \
  'BEGIN { srand(seed); for (i = 1; i <= n; i++) printf "%d %d %d\n", i, int(rand() * w), int(rand() * 2) }' \
  >"$tmp/plan"
while read -r trial delay which; do
  shm_names >"$tmp/names.before"
  side=executor
  [ "$which" = 1 ] && side=linker
  "$@" >"$tmp/out" 2>"$tmp/err" &
  tool=$!
  sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
  executor=$(child_of $tool)
  if [ "$side" = executor ]; then
    [ -n "$executor" ] && kill -9 "$executor" 2>/dev/null
    wait_gone $tool jitslab-run
    wait $tool
    status=$?
    if [ $status = 0 ]; then
      cmp -s "$tmp/native.out" "$tmp/out" || fail "status 0 but the output differs from the native one"
      finished=$((finished + 1))
    else
      [ $status = 1 ] || fail "jitslab-run exited with status $status, expected 0 or 1"
      [ "$(grep -c . "$tmp/err")" = 1 ] || fail "more than one line on stderr"
      grep -q "^jitslab-run: error: .*the executor (pid [0-9]*) was killed by signal 9" "$tmp/err" ||
        fail "the error does not name the killed executor"
      killed_exec=$((killed_exec + 1))
    fi
  else
    kill -9 $tool 2>/dev/null
    wait $tool 2>/dev/null
    [ -n "$executor" ] && wait_gone "$executor" "the executor (pid $executor)"
    killed_linker=$((killed_linker + 1))
  fi
  # Names that appeared during the trial and whose process is gone are left over: the
  # executor's, even one that was forked just as the linker died and so never seen.
  shm_names | comm -13 "$tmp/names.before" - >"$tmp/names.new"
  while read -r name; do
    owner=$(echo "$name" | sed -E 's/^(jitlink_|jitslab-)([0-9]+).*/\2/')
    i=0
    while ! gone "$owner" && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
    gone "$owner" || continue # a live process's own name (another test running alongside)
    [ -e "/dev/shm/$name" ] || continue
    if [ $stock_names = 1 ] && [ "${name#jitlink_}" != "$name" ]; then
      stock_left=$((stock_left + 1))
      rm -f "/dev/shm/$name"
    else
      fail "/dev/shm still holds $name, whose process ($owner) is gone"
    fi
  done <"$tmp/names.new"
done <"$tmp/plan"
echo "kill_trials.sh: $trials trials passed: executor killed $killed_exec times (and $finished" \
  "runs finished first), jitslab-run killed $killed_linker times"
[ $stock_names = 0 ] || echo "kill_trials.sh: LLVM's stock service left its named object" \
  "behind (removed by this script) in $stock_left of the $trials trials"
