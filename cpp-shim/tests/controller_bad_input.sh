#!/bin/sh
# controller_bad_input.sh JITSLAB_RUN EXECUTOR RELAY OBJECT [jitslab-run arguments]
#
# jitslab-run against an executor that turns bad right after a good handshake
# (bad_executor_relay: the real EXECUTOR behind a relay that replaces the answer to the first
# call with each class of bad frame, or that stops reading before the first call), with both
# protocols. What must hold in every case: exit status 1, never a signal; one line on stderr,
# `jitslab-run: error: ...`, naming the fault where the transport can; within 20 s; no name of
# the session's left in /dev/shm (but for the one LLVM's stock service can leave when a session
# ends early, as kill_trials.sh explains: counted, reported and removed).
set -u
run=$1 executor=$2 relay=$3 object=$4
shift 4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export JITSLAB_RELAY_EXECUTOR="$executor"

shm_names() {
  ls /dev/shm | grep -E '^(jitlink_[0-9]+_|jitslab-[0-9]+-)' | sort
}

cases=0 stock_left=0
for protocol in native stock; do
  for spec in "huge:larger than the limit" "small:smaller than the 32-byte header" \
    "opcode:unknown opcode 9" "setup:a second Setup" "result-tag:a Result with tag address" \
    "cut-header:truncated frame" "cut-payload:truncated frame" \
    "sequence:sequence number 999999" "sps:" "random:" \
    "deaf:lost the connection to the executor: write: "; do
    mode=${spec%%:*} expect=${spec#*:}
    what="$mode ($protocol protocol)"
    shm_names >"$tmp/before"
    JITSLAB_RELAY_MODE=$mode timeout 20 "$run" --executor="$relay" --protocol=$protocol \
      "$object" "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
    fail() {
      echo "controller_bad_input.sh: $what: $*"
      sed 's/^/  stderr: /' "$tmp/err" | head -5
      exit 1
    }
    [ $status = 124 ] && fail "jitslab-run still running after 20 s"
    [ $status = 1 ] || fail "exit status $status, expected 1"
    [ "$(grep -c . "$tmp/err")" = 1 ] || fail "not exactly one line on stderr"
    grep -q '^jitslab-run: error: ' "$tmp/err" || fail "the line is not jitslab-run's error"
    [ -z "$expect" ] || grep -qF "$expect" "$tmp/err" || fail "the error does not say \"$expect\""
    sleep 0.2
    shm_names | comm -13 "$tmp/before" - >"$tmp/new"
    while read -r name; do
      owner=$(echo "$name" | sed -E 's/^(jitlink_|jitslab-)([0-9]+).*/\2/')
      [ -e "/proc/$owner" ] && continue
      # Checked after its owner is gone, so that it can no longer go away: a name another test's
      # executor unlinked as it ended, between the listing and the look at /proc, is no leak.
      [ -e "/dev/shm/$name" ] || continue
      if [ $protocol = stock ] && [ "${name#jitlink_}" != "$name" ]; then
        stock_left=$((stock_left + 1))
        rm -f "/dev/shm/$name"
      else
        fail "/dev/shm still holds $name, whose process is gone"
      fi
    done <"$tmp/new"
    echo "controller_bad_input.sh: $what: $(cut -c1-160 "$tmp/err")"
    cases=$((cases + 1))
  done
done
echo "controller_bad_input.sh: LLVM's stock service left its named object behind (removed by" \
  "this script) in $stock_left of the 11 stock-protocol cases"
echo "controller_bad_input.sh: all $cases cases ended with one clear error"
