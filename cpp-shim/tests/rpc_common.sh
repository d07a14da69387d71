# rpc_common.sh: sourced by rpc_count.sh and ehframe_rpc_count.sh, which count the calls a run
# makes to its executor. Expects $run (jitslab-run), $executor, $readelf and $tmp to be set.

# has_eh_frame SET: whether the first object of synth set SET has an .eh_frame section.
has_eh_frame() {
  "$readelf" -S "$(head -n 1 "$1.rsp")" | grep -q eh_frame
}

# counted_run NAME SET [jitslab-run options...]: links and runs synth set SET in the executor
# with --no-orc-runtime, --report and --stats, and checks that it exits 0 with the native
# build's output. Leaves $tmp/NAME.report and $tmp/NAME.err; returns 1 on a failure.
counted_run() {
  name=$1 set=$2
  shift 2
  "$run" --executor="$executor" --no-orc-runtime --report="$tmp/$name.report" --stats "$@" \
    "@$set.rsp" >"$tmp/$name.out" 2>"$tmp/$name.err"
  status=$?
  "${set}_native" >"$tmp/$name.native"
  if [ $status != 0 ] || ! cmp -s "$tmp/$name.out" "$tmp/$name.native"; then
    echo "$name: status $status or output differs from the native build" >&2
    cat "$tmp/$name.err" >&2
    return 1
  fi
}

# reported NAME KEY: the value of KEY in $tmp/NAME.report.
reported() {
  sed -n "s/^$2=//p" "$tmp/$1.report"
}
