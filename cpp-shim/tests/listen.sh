#!/bin/bash
# listen.sh EXECUTOR: jitslab-executor listens only where it is told, and only on loopback
# unless told otherwise (whoever connects runs code as its user).
# - listen=127.0.0.1:PORT: the one listening socket on PORT has the local address 127.0.0.1
#   (/proc/net/tcp), and a connection to this machine's non-loopback IPv4 address on PORT is
#   refused while the executor keeps waiting for its one connection;
# - listen=0.0.0.0:PORT and listen=<non-loopback address>:PORT are refused (status 1, a line
#   that says why and names allow-remote), with nothing listening;
# - listen=0.0.0.0:PORT allow-remote listens on the wildcard address and warns;
# - a malformed HOST:PORT, an unknown host and an unknown trailing argument are refused.
# Every executor started is stopped.
set -u
executor=$1
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
fail() { echo "listen.sh: $*"; exit 1; }

# The local addresses (hex, as /proc/net/tcp writes them) of the sockets listening on port $1.
listeners() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print substr($2, 1, 8) }' \
    /proc/net/tcp
}
free_port() { # a port nothing listens on
  local port
  for try in 1 2 3 4 5 6 7 8; do
    port=$((20000 + ($$ * 13 + try * 197 + RANDOM) % 20000))
    [ -z "$(listeners $port)" ] && { echo $port; return; }
  done
  fail "no free port"
}
# start NAME ARGS...: starts the executor in the background; waits until its port listens.
start() {
  local name=$1 port=$2
  shift 2
  "$executor" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  for _ in $(seq 50); do
    [ -n "$(listeners "$port")" ] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  fail "$name: the executor never listened on $port: $(cat "$tmp/$name.err")"
}
# refused NAME PATTERN ARGS...: the executor exits 1 at once with PATTERN on stderr.
refused() {
  local name=$1 pattern=$2
  shift 2
  timeout 10 "$executor" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  local status=$?
  [ $status = 1 ] || fail "$name: status $status, expected 1 ($*)"
  grep -q "$pattern" "$tmp/$name.err" || fail "$name: stderr lacks '$pattern': $(cat "$tmp/$name.err")"
}

# Loopback only: bound to 127.0.0.1 itself, not the wildcard.
port=$(free_port)
start loopback $port listen=127.0.0.1:$port
[ "$(listeners $port)" = 0100007F ] || fail "listen=127.0.0.1: listening on $(listeners $port), expected 0100007F only"
outside=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.' | grep -v '^127\.' | head -n 1)
if [ -n "$outside" ]; then
  if timeout 5 bash -c "exec 3<>/dev/tcp/$outside/$port" 2>/dev/null; then
    fail "a connection to $outside:$port was accepted; the executor listens on loopback only"
  fi
  kill -0 "${pids[-1]}" 2>/dev/null || fail "the executor ended after a refused outside connection"
  echo "listen.sh: $outside:$port refused, 127.0.0.1:$port listening"
else
  echo "listen.sh: this machine has no non-loopback IPv4 address; the bound address was checked"
fi

# The wildcard and outside addresses need allow-remote.
port=$(free_port)
refused wildcard "not a loopback address.*allow-remote" listen=0.0.0.0:$port
[ -z "$(listeners $port)" ] || fail "listen=0.0.0.0 without allow-remote left a listener"
if [ -n "$outside" ]; then
  refused outside "not a loopback address" listen=$outside:$port
fi
start allowed $port listen=0.0.0.0:$port allow-remote
[ "$(listeners $port)" = 00000000 ] || fail "allow-remote: listening on $(listeners $port), expected 00000000"
grep -q "warning: listening on 0.0.0.0 port $port, reachable from other machines" "$tmp/allowed.err" ||
  fail "allow-remote: no warning: $(cat "$tmp/allowed.err")"

# Malformed arguments.
refused no-host "listen wants HOST:PORT" listen=:$port
refused no-port "listen wants HOST:PORT" listen=127.0.0.1
refused bad-host "cannot resolve" listen=no-such-host.invalid:$port
refused extra "only allow-remote, secret-file=PATH and max-frame=BYTES may follow" listen=127.0.0.1:$port allow-everyone
echo "listen.sh: ok"
