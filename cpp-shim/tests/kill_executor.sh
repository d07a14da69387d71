#!/bin/sh
# kill_executor.sh link|run JITSLAB_RUN [jitslab-run arguments...]
#
# The executor dies under jitslab-run, and jitslab-run must notice: exit with status 1 and one
# `jitslab-run: error:` line naming the dead executor, within 10 s (a bound on a hang, not a
# timing), leaving no shared-memory object of that executor in /dev/shm.
#   link: the arguments include --test-kill-executor=N (jitslab-run kills it mid-link);
#   run:  the program prints "running" and waits; this script then kills the executor.
set -u
mode=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$@" >"$tmp/out" 2>"$tmp/err" &
tool=$!

# The executor is the child of jitslab-run.
child_of() {
  for s in /proc/[0-9]*/status; do
    if [ "$(sed -n 's/^PPid:[[:space:]]*//p' "$s" 2>/dev/null)" = "$1" ]; then
      basename "$(dirname "$s")"
      return
    fi
  done
}

if [ "$mode" = run ]; then
  i=0
  until grep -q running "$tmp/out"; do
    sleep 0.1
    i=$((i + 1))
    if [ $i -gt 300 ]; then
      echo "kill_executor.sh: the program never started"; cat "$tmp/err"; kill -9 $tool; exit 1
    fi
  done
  executor=$(child_of $tool)
  [ -n "$executor" ] || { echo "kill_executor.sh: no executor process found"; kill -9 $tool; exit 1; }
  kill -9 "$executor"
fi

i=0
while kill -0 $tool 2>/dev/null; do
  sleep 0.1
  i=$((i + 1))
  if [ $i -gt 100 ]; then
    echo "kill_executor.sh: jitslab-run still running 10 s after the executor died"
    kill -9 $tool
    exit 1
  fi
done
wait $tool
status=$?
cat "$tmp/err"
[ $status = 1 ] || { echo "kill_executor.sh: exit status $status, expected 1"; exit 1; }
lines=$(wc -l <"$tmp/err")
[ "$lines" = 1 ] || { echo "kill_executor.sh: $lines lines on stderr, expected one"; exit 1; }
pid=$(sed -n 's/^jitslab-run: error: the executor (pid \([0-9]*\)) was killed by signal 9.*/\1/p' "$tmp/err")
[ -n "$pid" ] || { echo "kill_executor.sh: the error does not name the killed executor"; exit 1; }
if ls /dev/shm | grep -Eq "^(jitlink_${pid}_|jitslab-${pid}-)"; then
  echo "kill_executor.sh: /dev/shm still holds:"; ls /dev/shm | grep -E "^(jitlink_${pid}_|jitslab-${pid}-)"; exit 1
fi
echo "kill_executor.sh: exit 1 with a clear error; /dev/shm clean"
