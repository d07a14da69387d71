#!/bin/bash
# clang_lit.sh LLVM_BIN TESTS VARIANTS JITSLAB_REPL JITSLAB_EXECUTOR
#
# Runs clang's own Interpreter tests (clang/test/Interpreter, copied in TESTS) the way LLVM's
# lit would, with `clang-repl` in their RUN lines standing for, in turn:
#   stock        LLVM_BIN/clang-repl, the reference
#   inprocess    jitslab-repl
#   jexec        jitslab-repl --executor=JITSLAB_EXECUTOR (jitslab's native protocol)
#   llvm-exec    jitslab-repl --executor=LLVM_BIN/llvm-jitlink-executor (LLVM's protocol)
# and fails unless every jitslab mode passes exactly the test files stock passes. A test file
# of the same name in VARIANTS replaces the original for the jitslab modes: it states why, in
# its first lines (a deliberate, documented difference of output).
#
# A small subset of lit: RUN lines (joined at a trailing '\'), each file's lines run in order
# by bash with pipefail in a fresh directory, stopping at the first that fails; REQUIRES with
# a feature this machine lacks skips the file; %s %S %t %clang %clang_cc1 %llvmshlibdir
# %pluginext %host-jit-triple substituted, and `%if [!]FEATURE %{ ... %} [%else %{ ... %}]`
# resolved. Every file gets at most 60 s, in each mode.
set -u
BIN=$1 TESTS=$(realpath "$2") VARIANTS=$(realpath -m "$3") REPL=$(realpath "$4")
JEXEC=$(realpath "$5")
# What this machine offers of lit's features: a JIT, x86-64 Linux, and, found as clang's
# lit.cfg.py finds it, out-of-process JIT: stock clang-repl running a line with its default
# executor and ORC runtime (Debian's clang-repl 22 looks for the runtime where Debian does not
# put it). LLVM's example plugins (`plugins`, `examples`) are not in Debian's packages.
HAVE=" host-supports-jit x86_64-linux "
if printf 'int i = 0;\n%%quit\n' | "$BIN/clang-repl" -orc-runtime -oop-executor >/dev/null 2>&1
then
  HAVE="$HAVE host-supports-out-of-process-jit "
fi

export PATH="$BIN:$PATH" # FileCheck, not, split-file of the same LLVM
RESOURCE=$("$BIN/clang" -print-resource-dir)
HOST_TRIPLE=$("$BIN/llvm-config" --host-target) # what clang-repl 22's --host-jit-triple prints
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The RUN lines of $1, one command a line, substitutions done but `clang-repl` left as it is.
run_lines() {
  local file=$1 dir
  dir=$(dirname "$file")
  sed -n 's/^.*RUN: \{0,1\}//p' "$file" | sed -e ':a' -e '/\\$/{N;s/\\\n//;ba' -e '}' |
    sed -e "s|%clang_cc1|$BIN/clang -cc1 -internal-isystem $RESOURCE/include -nostdsysteminc|g" \
        -e "s|%clang|$BIN/clang|g" -e "s|%llvmshlibdir|$BIN/../lib|g" -e "s|%pluginext|.so|g" \
        -e "s|%host-jit-triple|$HOST_TRIPLE|g" \
        -e "s|%s|$file|g" -e "s|%S|$dir|g" -e "s|%t|$WORK/t|g" | resolve_if
}

# lit's `%if [!]FEATURE %{ THEN %}`, with an optional `%else %{ ELSE %}`, replaced by THEN or
# ELSE (or nothing) as the feature is in HAVE or not.
resolve_if() {
  HAVE="$HAVE" perl -pe '
    s{%if\s+(!?)([\w.+-]+)\s*%\{(.*?)%\}(?:\s*%else\s*%\{(.*?)%\})?}{
      my $has = index($ENV{HAVE}, " $2 ") >= 0; $has = !$has if $1;
      $has ? $3 : ($4 // "")
    }ge'
}

# Whether $1 needs a lit feature this machine does not have (printed as the reason).
lacks_feature() {
  local f
  for f in $(sed -n 's/^.*REQUIRES: *//p' "$1" | tr ',' ' '); do
    case "$HAVE" in *" $f "*) ;; *) echo "$f"; return 0 ;; esac
  done
  return 1
}

# Runs the file $2 with clang-repl meaning the command $1; status 0 if every RUN line passes.
run_file() {
  local tool=$1 file=$2 script="$WORK/script.sh"
  rm -rf "$WORK/t" "$WORK/cwd" && mkdir -p "$WORK/cwd"
  { echo "set -e -o pipefail"
    run_lines "$file" | sed -e "s#\(^\|[^-_[:alnum:]/]\)clang-repl\b#\1$tool#g"; } > "$script"
  (cd "$WORK/cwd" && timeout 60 bash "$script" < /dev/null > "$WORK/log" 2>&1)
}

declare -A TOOL=(
  [stock]="$BIN/clang-repl"
  [inprocess]="$REPL"
  [jexec]="$REPL --executor=$JEXEC"
  [llvm-exec]="$REPL --executor=$BIN/llvm-jitlink-executor"
)
MODES="stock inprocess jexec llvm-exec"
declare -A PASSED FAILED result
status=0
for file in "$TESTS"/*.c "$TESTS"/*.cpp "$TESTS"/*.cppm; do
  name=$(basename "$file")
  if why=$(lacks_feature "$file"); then
    echo "skipped $name: needs '$why', which this machine does not have"
    continue
  fi
  for mode in $MODES; do
    test_file=$file
    [ "$mode" != stock ] && [ -f "$VARIANTS/$name" ] && test_file=$VARIANTS/$name
    if run_file "${TOOL[$mode]}" "$test_file"; then
      PASSED[$mode]=$(( ${PASSED[$mode]:-0} + 1 ))
      result[$mode]=pass
    else
      FAILED[$mode]="${FAILED[$mode]:-} $name"
      result[$mode]=FAIL
      echo "--- $name, $mode: the output"
      sed 's/^/    /' "$WORK/log" | head -40
    fi
  done
  line="$name:"
  for mode in $MODES; do line="$line $mode=${result[$mode]}"; done
  echo "$line"
done

echo
for mode in $MODES; do
  echo "$mode: ${PASSED[$mode]:-0} passed; failed:${FAILED[$mode]:- none}"
  if [ "$mode" != stock ] && [ "${FAILED[$mode]:-}" != "${FAILED[stock]:-}" ]; then
    echo "error: jitslab-repl ($mode) does not pass the test files stock clang-repl passes"
    status=1
  fi
done
exit $status
