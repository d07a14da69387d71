#!/bin/bash
# auth.sh EXECUTOR JITSLAB_RUN STATUS_OBJ: who may connect to jitslab-executor.
# - listen=127.0.0.1:PORT secret-file=S: jitslab-run --secret-file=S links and runs the status
#   workload in it (exit status 42, its line in the executor's output);
# - a wrong secret, and no secret, against that executor: refused on both sides (the executor
#   exits 1 with a line that says why, jitslab-run fails with one too), nothing run (the
#   workload's line is absent);
# - a controller with a secret refuses an executor that asks for none, and runs nothing there;
# - a secret file with mode 0644 is refused by the executor at start and by jitslab-run before
#   it connects;
# - listen=unix:PATH: the socket is created mode 0600, jitslab-run --connect=unix:PATH runs the
#   workload, with the secret named by JITSLAB_EXECUTOR_SECRET_FILE on both sides; the socket
#   is gone afterwards.
# Every executor started is stopped.
set -u
executor=$1
run=$2
obj=$3
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "auth.sh: $*"; exit 1; }
unset JITSLAB_EXECUTOR_SECRET_FILE
ran="2 arguments, last 'answer'"

listening() { grep -q ":$(printf '%04X' "$1") 0100007F:0000 0A\|:$(printf '%04X' "$1") 00000000:0000 0A" /proc/net/tcp 2>/dev/null; }
# start NAME PORT ARGS...: the executor in the background, once its port listens.
start() {
  local name=$1 port=$2
  shift 2
  "$executor" "$@" >"$tmp/$name.exec.out" 2>"$tmp/$name.exec.err" &
  pids+=($!)
  for _ in $(seq 50); do
    listening "$port" && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  fail "$name: the executor never listened on $port: $(cat "$tmp/$name.exec.err")"
}
free_port() {
  local port
  for try in 1 2 3 4 5 6 7 8; do
    port=$((20000 + ($$ * 17 + try * 211 + RANDOM) % 20000))
    listening $port || { echo $port; return; }
  done
  fail "no free port"
}
# finish NAME: waits for the last executor started; sets exec_status.
finish() {
  local pid=${pids[-1]}
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "$1: the executor did not end after its connection"
  wait "$pid"
  exec_status=$?
}
# controller NAME ARGS...: jitslab-run with ARGS on the status workload; sets run_status.
controller() {
  local name=$1
  shift
  timeout 60 "$run" "$@" "$obj" -- answer >"$tmp/$name.run.out" 2>"$tmp/$name.run.err"
  run_status=$?
}
# refused NAME RUN_PATTERN EXEC_PATTERN: both sides failed with these lines; nothing ran.
refused() {
  local name=$1
  [ $run_status != 0 ] && [ $run_status != 42 ] || fail "$name: jitslab-run status $run_status"
  grep -q "$2" "$tmp/$name.run.err" || fail "$name: jitslab-run stderr lacks '$2': $(cat "$tmp/$name.run.err")"
  [ $exec_status = 1 ] || fail "$name: executor status $exec_status, expected 1"
  grep -q "$3" "$tmp/$name.exec.err" || fail "$name: executor stderr lacks '$3': $(cat "$tmp/$name.exec.err")"
  [ "$(grep -c 'error' "$tmp/$name.exec.err")" = 1 ] || fail "$name: not one line: $(cat "$tmp/$name.exec.err")"
  ! grep -q "$ran" "$tmp/$name.exec.out" "$tmp/$name.run.out" || fail "$name: the program ran"
}

secret() { # secret FILE TEXT MODE
  printf '%s\n' "$2" >"$1"
  chmod "$3" "$1"
}
secret "$tmp/secret" "the executor's secret, 32 bytes." 600
secret "$tmp/wrong" "another secret of 32 bytes, too." 600
secret "$tmp/open" "the executor's secret, 32 bytes." 644

# The right secret links and runs the program.
port=$(free_port)
start right $port listen=127.0.0.1:$port secret-file="$tmp/secret"
controller right --connect=127.0.0.1:$port --secret-file="$tmp/secret"
finish right
[ $run_status = 42 ] || fail "right secret: jitslab-run status $run_status: $(cat "$tmp/right.run.err")"
[ $exec_status = 0 ] || fail "right secret: executor status $exec_status: $(cat "$tmp/right.exec.err")"
grep -q "$ran" "$tmp/right.exec.out" || fail "right secret: the program's line is missing"
echo "auth.sh: the right secret ran the program"

# A wrong secret, and none.
port=$(free_port)
start wrong $port listen=127.0.0.1:$port secret-file="$tmp/secret"
controller wrong --connect=127.0.0.1:$port --secret-file="$tmp/wrong"
finish wrong
refused wrong "authentication: the executor refused this secret" "proof does not match this executor's secret"
port=$(free_port)
start none $port listen=127.0.0.1:$port secret-file="$tmp/secret"
controller none --connect=127.0.0.1:$port
finish none
refused none "give --secret-file" "closed the connection during authentication"
echo "auth.sh: a wrong secret and no secret were refused, nothing ran"

# A controller with a secret does not use an executor that asks for none.
port=$(free_port)
start open-executor $port listen=127.0.0.1:$port
controller open-executor --connect=127.0.0.1:$port --secret-file="$tmp/secret"
finish open-executor
[ $run_status != 0 ] && [ $run_status != 42 ] || fail "open executor: jitslab-run status $run_status"
grep -q "did not ask for authentication" "$tmp/open-executor.run.err" ||
  fail "open executor: jitslab-run stderr: $(cat "$tmp/open-executor.run.err")"
! grep -q "$ran" "$tmp/open-executor.exec.out" || fail "open executor: the program ran"

# A secret file others may read.
port=$(free_port)
timeout 10 "$executor" listen=127.0.0.1:$port secret-file="$tmp/open" >/dev/null 2>"$tmp/mode.err"
[ $? = 1 ] || fail "mode 0644: the executor did not exit 1"
grep -q "has mode 0644" "$tmp/mode.err" || fail "mode 0644: executor stderr: $(cat "$tmp/mode.err")"
listening $port && fail "mode 0644: the executor listened"
controller mode --connect=127.0.0.1:$port --secret-file="$tmp/open"
[ $run_status != 0 ] && grep -q "has mode 0644" "$tmp/mode.run.err" ||
  fail "mode 0644: jitslab-run status $run_status: $(cat "$tmp/mode.run.err")"
echo "auth.sh: a secret file with mode 0644 was refused on both sides"

# A Unix-domain socket, the secret named by the environment on both sides.
sock=$tmp/executor.sock
JITSLAB_EXECUTOR_SECRET_FILE=$tmp/secret "$executor" listen=unix:$sock >"$tmp/unix.exec.out" 2>"$tmp/unix.exec.err" &
pids+=($!)
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "unix: no socket at $sock: $(cat "$tmp/unix.exec.err")"
[ "$(stat -c %a "$sock")" = 600 ] || fail "unix: socket mode $(stat -c %a "$sock"), expected 600"
export JITSLAB_EXECUTOR_SECRET_FILE=$tmp/secret
controller unix --connect=unix:$sock
unset JITSLAB_EXECUTOR_SECRET_FILE
finish unix
[ $run_status = 42 ] || fail "unix: jitslab-run status $run_status: $(cat "$tmp/unix.run.err")"
[ $exec_status = 0 ] || fail "unix: executor status $exec_status: $(cat "$tmp/unix.exec.err")"
grep -q "$ran" "$tmp/unix.exec.out" || fail "unix: the program's line is missing"
[ -e "$sock" ] && fail "unix: the socket outlived its one connection"
echo "auth.sh: ok"
