#!/bin/sh
# repl.sh MODE REPL [arguments] -- the jitslab-repl tests (see the list in CMakeLists.txt).
#
#   session REPL SCRIPT EXPECTED [repl options...]
#       runs SCRIPT with --strict --stats; stdout must equal EXPECTED, the exit status be 0, and
#       with jitslab every byte linked in the session lie inside the one reservation (the last
#       "jitslab-repl: inputs=" line, printed by --stats).
#   undo REPL [repl options...]
#       100 rounds of define, call, %undo 2 after a warm-up: jitslab's live bytes and
#       allocations come back exactly; out of process, the executor's resident shared memory
#       too, and its RSS grows by less than 256 KiB (one round links about 16 KiB).
#   errors REPL SCRIPT [repl options...]
#       SCRIPT (errors.repl) is full of mistakes: each gets its message on stderr, the session
#       goes on to the end (an input that failed to link is taken back and harms no later one),
#       the exit status is 0, and 1 with --strict.
#   failed REPL [repl options...]
#       (LLVM 22) inputs that fail after clang generated code for a part of them, in C++ and in
#       C (where calling an undeclared function is a warning made an error): none of that code
#       runs, then or with a later input, and what they defined can be defined again.
#   values REPL CLANG_REPL [repl options...]
#       an expression's value: printed in process and out of process (read back from the slab
#       shared with the executor), and evaluated once (its side effect is seen). On LLVM 22
#       (REPL_LLVM_MAJOR=22) also every kind of value in tests/repl/values.repl: stdout must
#       equal stock CLANG_REPL's in process, addresses aside, and stderr be empty. (LLVM 19's
#       clang-repl prints no value, "Not implement yet.", so it is no reference there.)
#   killed REPL EXECUTOR
#       JIT'd code kills its executor: one clear line, the session ends with status 1, promptly,
#       and /dev/shm is as it was.
set -u
mode=$1
repl=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "repl.sh $mode: $*" >&2
  echo "--- stderr:" >&2
  cat "$tmp/err" >&2 2>/dev/null
  exit 1
}

# stat KEY LINE: the value of KEY=... in one "jitslab-repl: inputs=..." line.
stat() {
  echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

case $mode in
session)
  script=$1 expected=$2
  shift 2
  "$repl" --strict --stats "$@" "$script" >"$tmp/out" 2>"$tmp/err"
  status=$?
  [ $status -eq 0 ] || fail "exit status $status"
  diff -u "$expected" "$tmp/out" >"$tmp/diff" || { cat "$tmp/diff" >&2; fail "stdout differs from $expected"; }
  line=$(grep '^jitslab-repl: inputs=' "$tmp/err" | tail -n 1)
  [ -n "$line" ] || fail "no statistics line"
  lowest=$(stat lowest "$line") highest=$(stat highest "$line") graphs=$(stat graphs "$line")
  [ "$graphs" -gt 100 ] || fail "only $graphs graphs linked"
  base=$(stat slab_base "$line")
  if [ -n "$base" ]; then
    size=$(stat slab_size "$line")
    [ $((lowest)) -ge $((base)) ] && [ $((highest)) -le $((base + size)) ] ||
      fail "linked bytes [$lowest, $highest) leave the reservation [$base, +$size)"
    [ $((highest - lowest)) -lt 2147483648 ] || fail "linked bytes span more than 2 GiB"
  fi
  echo "repl.sh session: same output; $graphs graphs linked within [$lowest, $highest)"
  ;;
undo)
  {
    echo '#include <cstdio>'
    round() {
      echo 'int probe(int x) { return x * 7; }'
      echo 'int probe_result = probe(6);'
      echo '%undo 2'
    }
    round; round; round
    echo '%stats'
    i=0
    while [ $i -lt 100 ]; do round; i=$((i + 1)); done
    echo '%stats'
    printf '%s\n' 'printf("probe after undo: %d\n", probe_result);'
  } >"$tmp/undo.repl"
  "$repl" "$@" "$tmp/undo.repl" >"$tmp/out" 2>"$tmp/err"
  status=$?
  [ $status -eq 0 ] || fail "exit status $status"
  # The last input refers to a variable that was undone: it must be an error, not a value.
  grep -q "use of undeclared identifier 'probe_result'" "$tmp/err" || fail "probe_result survived %undo"
  before=$(grep '^jitslab-repl: inputs=' "$tmp/err" | sed -n 1p)
  after=$(grep '^jitslab-repl: inputs=' "$tmp/err" | sed -n 2p)
  [ -n "$after" ] || fail "missing statistics lines"
  for key in live_bytes live_allocations executor_shmem_kib; do
    b=$(stat $key "$before") a=$(stat $key "$after")
    [ "$b" = "$a" ] || fail "$key went from $b to $a over 100 rounds of define and %undo"
  done
  [ -n "$(stat live_bytes "$after")" ] || fail "no jitslab statistics"
  rss_b=$(stat executor_rss_kib "$before") rss_a=$(stat executor_rss_kib "$after")
  if [ -n "$rss_b" ]; then
    [ $((rss_a - rss_b)) -lt 256 ] || fail "the executor's RSS grew from $rss_b to $rss_a KiB"
  fi
  echo "repl.sh undo: live bytes $(stat live_bytes "$after") before and after;" \
    "executor RSS ${rss_b:--} -> ${rss_a:--} KiB"
  ;;
errors)
  script=$1
  shift
  "$repl" "$@" "$script" >"$tmp/out" 2>"$tmp/err"
  status=$?
  [ $status -eq 0 ] || fail "exit status $status without --strict"
  [ "$(cat "$tmp/out")" = "still running" ] || fail "stdout is not just 'still running': $(cat "$tmp/out")"
  for msg in "expected expression" "use of undeclared identifier 'undeclared_thing'" \
      "Symbols not found: [ _Z7missingv ]" "error: %undo takes a positive count of inputs" \
      "error: %undo 99: there are only 2 inputs to undo" \
      "error: Invalid % command \"%frobnicate\", use \"%help\" to list commands"; do
    grep -qF "$msg" "$tmp/err" || fail "no message '$msg'"
  done
  "$repl" --strict "$@" "$script" >"$tmp/out" 2>"$tmp/err"
  status=$?
  [ $status -eq 1 ] || fail "exit status $status with --strict, expected 1"
  echo "repl.sh errors: every mistake reported, the session went on"
  ;;
failed)
  printf '%s\n' '#include <cstdio>' 'printf("leak 1\n"); undeclared_one();' \
    'int leaked = (printf("leak 2\n"), 0); undeclared_two();' \
    'struct Noisy { Noisy() { printf("leak 3\n"); } } noisy; undeclared_three();' \
    'int twice(int v) { return 2 * v; } undeclared_four();' \
    'int twice(int v) { return 2 * v; }' 'printf("twice(21) = %d\n", twice(21));' >"$tmp/failed.repl"
  "$repl" "$@" "$tmp/failed.repl" >"$tmp/out" 2>"$tmp/err"
  status=$?
  [ $status -eq 0 ] || fail "C++: exit status $status"
  [ "$(cat "$tmp/out")" = "twice(21) = 42" ] || fail "C++: stdout is not just 'twice(21) = 42': $(cat "$tmp/out")"
  for id in one two three four; do
    grep -qF "use of undeclared identifier 'undeclared_$id'" "$tmp/err" || fail "C++: no error for undeclared_$id"
  done
  printf '%s\n' 'printf("leak 4\n");' 'int x = 42;' '#include <stdio.h>' \
    'printf("x = %d\n", x);' >"$tmp/failed.c.repl"
  "$repl" "$@" -Xcc -xc "$tmp/failed.c.repl" >"$tmp/out" 2>"$tmp/err"
  status=$?
  [ $status -eq 0 ] || fail "C: exit status $status"
  [ "$(cat "$tmp/out")" = "x = 42" ] || fail "C: stdout is not just 'x = 42': $(cat "$tmp/out")"
  grep -qF "call to undeclared library function 'printf'" "$tmp/err" || fail "C: no error for printf"
  echo "repl.sh failed: no code of a failed input ran"
  ;;
values)
  clang_repl=$1
  shift
  printf '%s\n' '#include <cstdio>' 'int x = 41;' 'int bump() { return ++x; }' 'bump()' \
    'printf("x = %d\n", x);' 'x == 42' >"$tmp/values.repl"
  "$repl" --strict "$@" "$tmp/values.repl" >"$tmp/out" 2>"$tmp/err"
  status=$?
  [ $status -eq 0 ] || fail "exit status $status"
  case " $* " in
  *" --executor="* | *" --connect="*)
    # The executor's own stdout reaches the pipe when it flushes (at its exit), so only the
    # lines are compared, not their order.
    printf '(bool) true\n(int) 42\nx = 42\n' >"$tmp/want"
    sort "$tmp/out" >"$tmp/out.sorted" && mv "$tmp/out.sorted" "$tmp/out"
    ;;
  *) printf '(int) 42\nx = 42\n(bool) true\n' >"$tmp/want" ;;
  esac
  diff -u "$tmp/want" "$tmp/out" >&2 || fail "stdout differs"
  if [ "${REPL_LLVM_MAJOR:-}" = 22 ]; then
    script=$(dirname "$0")/../../tests/repl/values.repl
    # Addresses differ from run to run and between processes; clang-repl ends its output with
    # an empty line at the end of its input.
    addresses='s/0x[0-9a-f]*/0x?/g'
    "$clang_repl" <"$script" 2>"$tmp/err" | sed -e "$addresses" -e '${/^$/d;}' >"$tmp/want"
    [ -s "$tmp/err" ] && fail "stock $clang_repl wrote on stderr"
    # A reference that lost its values would make any output pass.
    [ "$(grep -c '^(' "$tmp/want")" -ge 25 ] || fail "stock $clang_repl printed too few values"
    "$repl" --strict "$@" "$script" >"$tmp/out" 2>"$tmp/err"
    status=$?
    [ $status -eq 0 ] || fail "values.repl: exit status $status"
    sed "$addresses" "$tmp/out" >"$tmp/got"
    diff -u "$tmp/want" "$tmp/got" >&2 || fail "values.repl: stdout differs from $clang_repl's"
    [ -s "$tmp/err" ] && fail "values.repl: stderr is not empty"
  fi
  echo "repl.sh values: as expected"
  ;;
killed)
  executor=$1
  ls /dev/shm >"$tmp/shm.before"
  printf '%s\n' '#include <csignal>' '#include <cstdio>' 'printf("before\n"); fflush(stdout);' \
    'raise(SIGKILL);' 'printf("after\n");' >"$tmp/killed.repl"
  "$repl" --executor="$executor" "$tmp/killed.repl" >"$tmp/out" 2>"$tmp/err"
  status=$?
  [ $status -eq 1 ] || fail "exit status $status, expected 1"
  [ "$(cat "$tmp/out")" = "before" ] || fail "stdout: $(cat "$tmp/out")"
  grep -q "error: the executor (pid [0-9]*) was killed by signal 9; the session cannot go on" \
    "$tmp/err" || fail "no clear message"
  [ "$(grep -c . "$tmp/err")" -eq 1 ] || fail "more than the one line about the executor"
  ls /dev/shm >"$tmp/shm.after"
  diff "$tmp/shm.before" "$tmp/shm.after" >&2 || fail "/dev/shm changed"
  echo "repl.sh killed: one clear line, status 1"
  ;;
*)
  fail "unknown mode"
  ;;
esac
