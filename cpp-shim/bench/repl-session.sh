#!/bin/sh
# repl-session.sh [BUILD_DIR] [REPETITIONS]: times jitslab-repl's 200-input scripted session
# (tests/repl/session.repl) with jitslab and with LLVM's managers, in process and out of process
# in Debian's llvm-jitlink-executor, the settings interleaved in each repetition. Prints, per
# setting, the median and min-max of the session's wall time and of its two parts as
# `jitslab-repl --time` reports them: parsing (clang) and compiling, linking and running.
#
# Default BUILD_DIR target/cmake-22 (after ./x test or ./x demo), REPETITIONS 11; the executor
# is the llvm-jitlink-executor of the LLVM the build used.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/target/cmake-22}
reps=${2:-11}
repl=$build/jitslab-repl
script=$root/tests/repl/session.repl
major=$(basename "$build" | sed -n 's/^cmake-\([0-9]*\)$/\1/p')
executor=/usr/lib/llvm-${major:-22}/bin/llvm-jitlink-executor
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
settings="jitslab llvm-inprocess oop-jitslab oop-llvm-shm"

echo "jitslab-repl session: $(grep -c . "$script") lines of $script, $reps repetitions"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
while [ $i -lt "$reps" ]; do
  for s in $settings; do
    case $s in
    jitslab) args= ;;
    llvm-inprocess) args=--memory=llvm-inprocess ;;
    oop-jitslab) args=--executor=$executor ;;
    oop-llvm-shm) args="--executor=$executor --memory=llvm-shm" ;;
    esac
    # shellcheck disable=SC2086 # $args is a list of options
    "$repl" --strict --time $args "$script" 2>&1 >/dev/null |
      sed -n 's/^jitslab-repl: session: \([0-9.]*\) ms (parse \([0-9.]*\) ms, compile, link and run \([0-9.]*\) ms)$/\1 \2 \3/p' \
        >>"$out/$s"
  done
  i=$((i + 1))
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# median COLUMN FILE: "median (min-max)" of one column.
median() {
  cut -d' ' -f"$1" "$2" | sort -n |
    awk '{v[NR] = $1} END {printf "%.0f (%.0f-%.0f)", v[int((NR + 1) / 2)], v[1], v[NR]}'
}
printf '| setting | runs | session ms | parse ms | compile, link and run ms |\n|---|---:|---:|---:|---:|\n'
for s in $settings; do
  printf '| %s | %s | %s | %s | %s |\n' "$s" "$(grep -c . "$out/$s" || true)" \
    "$(median 1 "$out/$s")" "$(median 2 "$out/$s")" "$(median 3 "$out/$s")"
done
