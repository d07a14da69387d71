#!/bin/sh
# repl-session.sh [BUILD_DIR] [REPETITIONS]: times one plain C++ session of 222 inputs
# (tests/repl/session.plain.repl, which stock clang-repl accepts too: one input per line, no
# jitslab-repl command) with jitslab-repl on jitslab and on LLVM's managers, in process and out
# of process, and with the stock clang-repl of the same LLVM, in process and (LLVM 22) with its
# own out-of-process executor, with and without its shared memory. The settings are
# interleaved within each repetition. Every run's output must equal tests/repl/session.expected
# (stock clang-repl prints an empty line when its input ends, which is ignored: the expected
# output has no empty line); a run that differs or fails stops the script.
#
# Prints, per setting, the median and min-max of the whole process's wall time (what a user
# waits for, start and exit included), and for jitslab-repl the two parts `--time` reports:
# parsing (clang) and compiling, linking and running.
#
# Default BUILD_DIR target/cmake-22 (after ./x test or ./x demo), REPETITIONS 11; the executors
# and clang-repl are those of the LLVM the build used (clang-tools-MAJOR).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/target/cmake-22}
reps=${2:-11}
repl=$build/jitslab-repl
jexec=$build/jitslab-executor
script=$root/tests/repl/session.plain.repl
expected=$root/tests/repl/session.expected
major=$(basename "$build" | sed -n 's/^cmake-\([0-9]*\)$/\1/p')
major=${major:-22}
bin=/usr/lib/llvm-$major/bin
executor=$bin/llvm-jitlink-executor
runtime=/usr/lib/llvm-$major/lib/clang/$major/lib/linux/liborc_rt-x86_64.a
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

settings="jitslab llvm-inprocess oop-jitslab oop-jitslab-native oop-llvm-shm"
if [ -x "$bin/clang-repl" ]; then
  settings="$settings clang-repl"
  # LLVM 22's clang-repl runs code out of process too (19's cannot).
  [ "$major" -ge 22 ] && settings="$settings clang-repl-oop clang-repl-oop-shm"
else
  echo "repl-session.sh: no $bin/clang-repl (clang-tools-$major): stock clang-repl left out" >&2
fi

now_ms() { echo $(($(date +%s%N) / 1000000)); }

echo "one plain C++ session: $(grep -c . "$script") inputs of $script; LLVM $major; $reps repetitions"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
while [ $i -lt "$reps" ]; do
  for s in $settings; do
    case $s in
    jitslab) cmd="$repl" ;;
    llvm-inprocess) cmd="$repl --memory=llvm-inprocess" ;;
    oop-jitslab) cmd="$repl --executor=$executor" ;;
    oop-jitslab-native) cmd="$repl --executor=$jexec" ;;
    oop-llvm-shm) cmd="$repl --executor=$executor --memory=llvm-shm" ;;
    clang-repl) cmd="$bin/clang-repl" ;;
    clang-repl-oop) cmd="$bin/clang-repl --oop-executor=$executor --orc-runtime=$runtime" ;;
    clang-repl-oop-shm)
      cmd="$bin/clang-repl --oop-executor=$executor --orc-runtime=$runtime --use-shared-memory" ;;
    esac
    case $s in clang-repl*) timing= ;; *) timing="--strict --time" ;; esac
    t0=$(now_ms)
    # shellcheck disable=SC2086 # $cmd and $timing are lists of words
    if ! $cmd $timing <"$script" >"$out/stdout" 2>"$out/stderr"; then
      echo "repl-session.sh: $s failed:" >&2
      cat "$out/stderr" >&2
      exit 1
    fi
    t1=$(now_ms)
    if ! grep -v '^$' "$out/stdout" | cmp -s - "$expected"; then
      echo "repl-session.sh: $s printed other output than $expected:" >&2
      grep -v '^$' "$out/stdout" | diff - "$expected" | head -20 >&2
      exit 1
    fi
    parts=$(sed -n 's/^jitslab-repl: session: [0-9.]* ms (parse \([0-9.]*\) ms, compile, link and run \([0-9.]*\) ms)$/\1 \2/p' "$out/stderr")
    echo "$((t1 - t0)) ${parts:-- -}" >>"$out/$s"
  done
  i=$((i + 1))
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# median COLUMN FILE: "median (min-max)" of one column, or "–" if it holds no numbers.
median() {
  cut -d' ' -f"$1" "$2" | grep -E '^[0-9.]+$' | sort -n |
    awk '{v[NR] = $1} END {if (NR == 0) print "–"; else printf "%.0f (%.0f-%.0f)", v[int((NR + 1) / 2)], v[1], v[NR]}'
}
printf '| setting (LLVM %s) | runs | process ms | ratio | parse ms | compile, link and run ms |\n' "$major"
printf '|---|---:|---:|---:|---:|---:|\n'
base=$(cut -d' ' -f1 "$out/jitslab" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
for s in $settings; do
  m=$(cut -d' ' -f1 "$out/$s" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
  printf '| %s | %s | %s | %s | %s | %s |\n' "$s" "$(grep -c . "$out/$s" || true)" \
    "$(median 1 "$out/$s")" "$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f×", a / b}')" \
    "$(median 2 "$out/$s")" "$(median 3 "$out/$s")"
done
echo "(ratio: the median process time against jitslab-repl on jitslab in process)"
