# native_check.sh: sourced by compare.sh and connect.sh (POSIX sh).
#
#   run_native OUT NATIVE ARGS...   runs the native build with the program arguments among ARGS
#                                   (those after `--`), stdout to OUT; sets native_status
#   same_as_native WHO NATIVE_OUT JIT_OUT JIT_STATUS WHERE
#                                   fails (exit 1) unless the JIT'd run printed the same stdout
#                                   and exited with the same status as the native one

run_native() {
  _out=$1
  _native=$2
  shift 2
  _args=""
  _seen=0
  for _a in "$@"; do
    if [ $_seen = 1 ]; then _args="$_args $_a"; fi
    if [ "$_a" = "--" ]; then _seen=1; fi
  done
  # shellcheck disable=SC2086 # program arguments are words without spaces
  "$_native" $_args >"$_out"
  native_status=$?
}

same_as_native() {
  if ! cmp -s "$2" "$3"; then
    echo "$1: stdout differs (< native, > $5):"
    diff "$2" "$3" | head -40
    exit 1
  fi
  if [ "$native_status" != "$4" ]; then
    echo "$1: exit status differs: native $native_status, jitslab-run $4"
    exit 1
  fi
  echo "$1: same output ($(wc -l <"$2") lines) and status $4 ($5)"
}
