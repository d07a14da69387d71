#!/bin/sh
# preload.sh MODE PRELOAD [arguments] -- the tests of jitslab's preload (libjitslab-preload-MAJOR.so)
# under Debian's stock tools. PRELOAD is the stub's path; JITSLAB_* variables in the
# environment reach the tool.
#
#   repl PRELOAD CLANG_REPL SCRIPT EXPECTED [clang-repl options...]
#       SCRIPT through stock clang-repl with and without the preload: the same stdout, which is
#       EXPECTED (blank lines aside: clang-repl prints one of its own at the end, before or after
#       the executor's last lines out of process), both exit 0; with the
#       preload, JITSLAB_STATS's report shows more than 100 graphs, every linked byte inside
#       the one reservation (one manager: out of process the EPC's, which the layer shares).
#   lli PRELOAD LLI CLANG KIND
#       a program of two bitcode modules (tests/workloads/preload_*.c) through lli
#       -jit-kind=KIND with and without the preload: the same output and status, and every
#       graph inside the reservation.
#   gap PRELOAD GAP_LIB LLI CLANG
#       the same program with GAP_LIB (gap_mmap.c) preloaded too, which puts each mapping of
#       LLVM's own manager 8 GiB from the last: stock lli fails with "out of range of Delta32",
#       with jitslab's preload it runs.
#   jitlink PRELOAD LLVM_JITLINK MANAGER MIN_GRAPHS OBJECT ARCHIVE [llvm-jitlink options...]
#       a program (OBJECT, with -L/-l of the static ARCHIVE unless it is -) through stock
#       llvm-jitlink, in process or in the executor the options name, with and without the
#       preload: the same output (the executor's too: it writes through a pipe that the run
#       waits for), stderr and status; with the preload, JITSLAB_STATS's report names MANAGER
#       (the kind of reservation: "view reservation" in process, "LLVM's executor service",
#       "native executor service") and shows at least MIN_GRAPHS graphs, every linked byte
#       inside the one reservation.
#   jitlink-fallback PRELOAD LLVM_JITLINK OBJECT VAR=VALUE [llvm-jitlink options...]
#       a setting with which jitslab's manager cannot be made (a slab size the library refuses
#       in process, a placement out of process): one line, LLVM's manager, the same output and
#       status as stock llvm-jitlink.
#   settings PRELOAD CLANG_REPL
#       each variable does what the README says, and a bad value of each gives one line naming
#       it, no jitslab, and the tool's own output.
#   fallback PRELOAD CLANG_REPL
#       a slab size the library refuses: one line, LLVM's manager, the same output.
#   other PRELOAD CLANG_REPL
#       the preload of another LLVM major: one line, and the tool runs as without it.
#   untouched PRELOAD
#       sh and ls under the preload: the stub is loaded, the implementation is not, and their
#       output and stderr are as without it.
#   kept PRELOAD JITSLAB_REPL
#       a program that sets its own linking-layer creator (jitslab-repl) keeps it, though its
#       JIT's construction reaches the hook.
set -u
mode=$1
preload=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
workloads=$here/../../tests/workloads

fail() {
  echo "preload.sh $mode: $*" >&2
  for f in "$tmp"/*.err; do
    [ -s "$f" ] && { echo "--- $f:" >&2; head -c 4000 "$f" >&2; }
  done
  exit 1
}

# stat KEY FILE: KEY's value in the report line ("jitslab-preload: graphs=...") in FILE.
stat() {
  grep '^jitslab-preload: graphs=' "$2" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# in_slab FILE MIN_GRAPHS: the report in FILE has at least MIN_GRAPHS graphs, all inside the
# reservation, spanning less than 2 GiB.
in_slab() {
  graphs=$(stat graphs "$1")
  [ -n "$graphs" ] || fail "no JITSLAB_STATS report"
  [ "$graphs" -ge "$2" ] || fail "only $graphs graphs linked"
  lowest=$(stat lowest "$1") highest=$(stat highest "$1")
  base=$(stat slab_base "$1") size=$(stat slab_size "$1")
  [ -n "$base" ] || fail "the report has no reservation"
  [ $((lowest)) -ge $((base)) ] && [ $((highest)) -le $((base + size)) ] ||
    fail "linked bytes [$lowest, $highest) leave the reservation [$base, +$size)"
  [ $((highest - lowest)) -lt 2147483648 ] || fail "linked bytes span more than 2 GiB"
}

# The small session of the settings tests: one definition, one call.
small_session() {
  printf '%s\n' '#include <cstdio>' 'int twice(int x) { return 2 * x; }' \
    'printf("twice(21) = %d\n", twice(21));' >"$tmp/small.repl"
}

# two_modules CLANG: the lli program's bitcode, compiled -fno-pic (PC32 data references).
two_modules() {
  for m in main data; do
    "$1" -fno-pic -O1 -c -emit-llvm -o "$tmp/$m.bc" "$workloads/preload_$m.c" ||
      fail "compiling preload_$m.c"
  done
}

case $mode in
repl)
  repl=$1 script=$2 expected=$3
  shift 3
  # Out of process, clang-repl 22 exits without waiting for its executor, which may still be
  # writing what it printed: stdout goes through a pipe, read to its end, which comes once every
  # process holding it has exited. run_all NAME COMMAND...: stdout in $tmp/NAME.out, stderr in
  # $tmp/NAME.err, COMMAND's status in $tmp/NAME.status.
  run_all() {
    name=$1
    shift
    { "$@" 2>"$tmp/$name.err"; echo $? >"$tmp/$name.status"; } | cat >"$tmp/$name.out"
  }
  run_all stock "$repl" "$@" <"$script"
  [ "$(cat "$tmp/stock.status")" = 0 ] || fail "stock clang-repl: status $(cat "$tmp/stock.status")"
  run_all jitslab env JITSLAB_STATS="$tmp/report" LD_PRELOAD="$preload" "$repl" "$@" <"$script"
  [ "$(cat "$tmp/jitslab.status")" = 0 ] ||
    fail "clang-repl under the preload: status $(cat "$tmp/jitslab.status")"
  # Blank lines aside: out of process, clang-repl's own blank line and what the executor prints
  # at its exit interleave in either order, with or without the preload.
  diff -u -B "$tmp/stock.out" "$tmp/jitslab.out" >&2 || fail "stdout differs from stock clang-repl's"
  diff -u -B "$expected" "$tmp/jitslab.out" >&2 || fail "stdout differs from $expected"
  ! grep -q '^jitslab-preload:' "$tmp/jitslab.err" || fail "the preload complained"
  in_slab "$tmp/report" 100
  # One reservation: out of process the layer shares the one the EPC's hook made.
  [ "$(grep -c '^jitslab-preload: graphs=' "$tmp/report")" = 1 ] || fail "more than one jitslab manager"
  echo "preload.sh repl: $(grep -c . "$script") inputs, same output as stock clang-repl; $graphs graphs in [$lowest, $highest), inside [$base, +$size)"
  ;;
lli)
  lli=$1 clang=$2 kind=$3
  two_modules "$clang"
  "$lli" -jit-kind="$kind" -extra-module="$tmp/data.bc" "$tmp/main.bc" a b >"$tmp/stock.out" \
    2>"$tmp/stock.err" || fail "stock lli: status $?"
  JITSLAB_STATS=$tmp/report LD_PRELOAD=$preload "$lli" -jit-kind="$kind" \
    -extra-module="$tmp/data.bc" "$tmp/main.bc" a b >"$tmp/jitslab.out" 2>"$tmp/jitslab.err" ||
    fail "lli under the preload: status $?"
  diff -u "$tmp/stock.out" "$tmp/jitslab.out" >&2 || fail "output differs from stock lli's"
  grep -q 'counter 111, 2 arguments' "$tmp/jitslab.out" || fail "wrong output"
  in_slab "$tmp/report" 2
  echo "preload.sh lli: -jit-kind=$kind, $graphs graphs inside the reservation"
  ;;
gap)
  gap=$1 lli=$2 clang=$3
  two_modules "$clang"
  LD_PRELOAD=$gap "$lli" -jit-kind=orc -extra-module="$tmp/data.bc" "$tmp/main.bc" \
    >"$tmp/stock.out" 2>"$tmp/stock.err" && fail "stock lli ran with its objects 8 GiB apart"
  grep -q 'out of range of Delta32' "$tmp/stock.err" || fail "stock lli failed otherwise"
  JITSLAB_STATS=$tmp/report LD_PRELOAD="$gap $preload" "$lli" -jit-kind=orc \
    -extra-module="$tmp/data.bc" "$tmp/main.bc" >"$tmp/jitslab.out" 2>"$tmp/jitslab.err" ||
    fail "lli under the preload: status $?"
  grep -q 'counter 111' "$tmp/jitslab.out" || fail "wrong output"
  in_slab "$tmp/report" 2
  echo "preload.sh gap: stock lli: $(grep -o 'out of range of Delta32 fixup' "$tmp/stock.err" | head -n 1); with the preload it runs"
  ;;
jitlink)
  jitlink=$1 manager=$2 min_graphs=$3 object=$4 archive=$5
  shift 5
  # Only the archive in the search path: llvm-jitlink's -l takes a shared library first.
  lib=""
  if [ "$archive" != - ]; then
    mkdir "$tmp/lib" && ln -s "$archive" "$tmp/lib/" || fail "cannot link $archive into $tmp/lib"
    lib=$(basename "$archive" .a)
    lib=${lib#lib}
  fi
  # jl STATS PRELOAD [options...]: the program through llvm-jitlink, with JITSLAB_STATS and
  # LD_PRELOAD set when not empty. Through a pipe, so that the run ends when the executor
  # (which writes the program's output at its exit) has ended too; the status is the tool's.
  jl() {
    stats=$1 pre=$2
    shift 2
    { env ${stats:+JITSLAB_STATS="$stats"} ${pre:+LD_PRELOAD="$pre"} "$jitlink" "$@" "$object" \
        ${lib:+-L"$tmp/lib"} ${lib:+-l"$lib"} -args 300
      echo $? >"$tmp/status"; } | cat
    return "$(cat "$tmp/status")"
  }
  jl "" "" "$@" >"$tmp/stock.out" 2>"$tmp/stock.err"
  stock_status=$?
  [ -s "$tmp/stock.out" ] || fail "stock llvm-jitlink: no output of the program (status $stock_status)"
  jl "$tmp/report" "$preload" "$@" >"$tmp/jitslab.out" 2>"$tmp/jitslab.err"
  status=$?
  [ $status = $stock_status ] || fail "status $status under the preload, $stock_status without"
  diff -u "$tmp/stock.out" "$tmp/jitslab.out" >&2 || fail "output differs from stock llvm-jitlink's"
  diff -u "$tmp/stock.err" "$tmp/jitslab.err" >&2 || fail "stderr differs from stock llvm-jitlink's"
  grep -q "$manager" "$tmp/report" || fail "the report names no $manager"
  in_slab "$tmp/report" "$min_graphs"
  [ "$(grep -c '^jitslab-preload: graphs=' "$tmp/report")" = 1 ] || fail "more than one jitslab manager"
  echo "preload.sh jitlink $(basename "$object") $*: same output and status ($status) as stock llvm-jitlink; $graphs graphs in [$lowest, $highest), inside the reservation [$base, +$size) ($manager)"
  ;;
jitlink-fallback)
  jitlink=$1 object=$2 setting=$3
  shift 3
  # Through a pipe, as in the jitlink mode; the status is the tool's.
  { "$jitlink" "$@" "$object" -args 300 2>/dev/null; echo $? >"$tmp/status"; } | cat >"$tmp/stock.out"
  stock_status=$(cat "$tmp/status")
  [ -s "$tmp/stock.out" ] || fail "stock llvm-jitlink: no output of the program (status $stock_status)"
  { env "$setting" JITSLAB_STATS="$tmp/report" LD_PRELOAD="$preload" "$jitlink" "$@" "$object" \
      -args 300 2>"$tmp/jitslab.err"; echo $? >"$tmp/status"; } | cat >"$tmp/jitslab.out"
  status=$(cat "$tmp/status")
  [ $status = $stock_status ] || fail "status $status under the preload, $stock_status without"
  cmp -s "$tmp/stock.out" "$tmp/jitslab.out" || fail "output differs from stock"
  grep -q "^jitslab-preload: .*; the tool keeps LLVM's memory manager" "$tmp/jitslab.err" ||
    fail "no line about the fallback"
  [ "$(grep -c . "$tmp/jitslab.err")" = 1 ] || fail "not one line on stderr"
  [ ! -e "$tmp/report" ] || fail "jitslab was used"
  echo "preload.sh jitlink-fallback $setting $*: $(cat "$tmp/jitslab.err")"
  ;;
settings)
  repl=$1
  small_session
  "$repl" <"$tmp/small.repl" >"$tmp/stock.out" 2>/dev/null || fail "stock clang-repl: status $?"
  # run NAME VAR=VALUE...: the small session under the preload with those settings.
  run() {
    name=$1
    shift
    env "$@" JITSLAB_STATS="$tmp/$name.report" LD_PRELOAD="$preload" "$repl" <"$tmp/small.repl" \
      >"$tmp/$name.out" 2>"$tmp/$name.err" || fail "$name: status $?"
    cmp -s "$tmp/stock.out" "$tmp/$name.out" || fail "$name: output differs from stock"
  }
  run size JITSLAB_SLAB_SIZE=64M
  [ "$(stat slab_size "$tmp/size.report")" = 67108864 ] || fail "JITSLAB_SLAB_SIZE=64M not used"
  run low JITSLAB_PLACEMENT=low
  [ $(($(stat highest "$tmp/low.report"))) -le 2147483648 ] || fail "JITSLAB_PLACEMENT=low: above 2 GiB"
  run near JITSLAB_PLACEMENT=near
  in_slab "$tmp/near.report" 1
  run single JITSLAB_MAPPER=single
  grep -q 'single view' "$tmp/single.report" || fail "JITSLAB_MAPPER=single not used"
  run dual JITSLAB_MAPPER=dual
  grep -q 'dual view' "$tmp/dual.report" || fail "JITSLAB_MAPPER=dual not used"
  # JITSLAB_STATS=stderr: the report on stderr, after the session's output.
  JITSLAB_STATS=stderr LD_PRELOAD=$preload "$repl" <"$tmp/small.repl" >/dev/null 2>"$tmp/stderr.err"
  grep -q '^jitslab-preload: graphs=' "$tmp/stderr.err" || fail "JITSLAB_STATS=stderr: no report"
  grep -q 'heap map' "$tmp/stderr.err" || fail "JITSLAB_STATS=stderr: no heap map"
  for bad in JITSLAB_SLAB_SIZE=lots JITSLAB_SLAB_SIZE=3G JITSLAB_PLACEMENT=far \
             JITSLAB_MAPPER=triple JITSLAB_PROTOCOL=morse; do
    var=${bad%%=*}
    run bad "$bad"
    [ "$(grep -c . "$tmp/bad.err")" = 1 ] || fail "$bad: not one line"
    grep -q "^jitslab-preload: $bad: expected" "$tmp/bad.err" || fail "$bad: the line does not name $var"
    [ ! -e "$tmp/bad.report" ] || fail "$bad: jitslab was used"
  done
  echo "preload.sh settings: slab size, placements, mappers and stats as set; each bad value named in one line"
  ;;
fallback)
  repl=$1
  small_session
  "$repl" <"$tmp/small.repl" >"$tmp/stock.out" 2>/dev/null || fail "stock clang-repl: status $?"
  JITSLAB_SLAB_SIZE=12345 JITSLAB_STATS=$tmp/report LD_PRELOAD=$preload "$repl" <"$tmp/small.repl" \
    >"$tmp/jitslab.out" 2>"$tmp/jitslab.err" || fail "status $?"
  cmp -s "$tmp/stock.out" "$tmp/jitslab.out" || fail "output differs from stock"
  grep -q "^jitslab-preload: .*; the tool keeps LLVM's memory manager" "$tmp/jitslab.err" ||
    fail "no line about the fallback"
  [ "$(grep -c . "$tmp/jitslab.err")" = 1 ] || fail "more than one line"
  echo "preload.sh fallback: $(cat "$tmp/jitslab.err")"
  ;;
other)
  repl=$1
  small_session
  "$repl" <"$tmp/small.repl" >"$tmp/stock.out" 2>/dev/null || fail "stock clang-repl: status $?"
  JITSLAB_STATS=$tmp/report LD_PRELOAD=$preload "$repl" <"$tmp/small.repl" >"$tmp/jitslab.out" \
    2>"$tmp/jitslab.err" || fail "status $?"
  cmp -s "$tmp/stock.out" "$tmp/jitslab.out" || fail "output differs from stock"
  [ "$(grep -c . "$tmp/jitslab.err")" = 1 ] || fail "not one line on stderr"
  grep -q '^jitslab-preload: this program uses LLVM [0-9]*, this preload is for LLVM' "$tmp/jitslab.err" ||
    fail "the line does not say which majors"
  [ ! -e "$tmp/report" ] || fail "jitslab was used"
  echo "preload.sh other: $(cat "$tmp/jitslab.err")"
  ;;
untouched)
  name=$(basename "$preload")
  impl=$(echo "$name" | sed 's/preload-/preload-impl-/')
  LD_PRELOAD=$preload sh -c 'cat /proc/$$/maps' >"$tmp/maps" 2>"$tmp/sh.err" || fail "sh: status $?"
  grep -q "$name" "$tmp/maps" || fail "the stub is not loaded into sh"
  ! grep -q "$impl" "$tmp/maps" || fail "the implementation is loaded into sh"
  [ ! -s "$tmp/sh.err" ] || fail "sh printed on stderr"
  # A directory of this test's own: `ls -la /` flaked whenever another test touched /tmp
  # between the two listings (its time is in the listing).
  mkdir "$tmp/dir" && touch "$tmp/dir/a" "$tmp/dir/b" && ln -s a "$tmp/dir/c"
  ls -l "$tmp/dir" >"$tmp/ls.stock" 2>&1
  LD_PRELOAD=$preload ls -l "$tmp/dir" >"$tmp/ls.out" 2>&1
  cmp -s "$tmp/ls.stock" "$tmp/ls.out" || fail "ls printed something else"
  echo "preload.sh untouched: sh and ls run with the stub loaded and the implementation not"
  ;;
kept)
  jrepl=$1
  # The session also says whether the implementation is loaded, which happens only when the
  # program's JIT construction reached the hook: otherwise this test would prove nothing.
  small_session
  printf '%s\n' '#include <cstring>' \
    'int impl_maps = 0; { FILE *m = fopen("/proc/self/maps", "r"); char l[4096]; while (m && fgets(l, sizeof l, m)) impl_maps += strstr(l, "jitslab-preload-impl") != nullptr; }' \
    'printf("implementation loaded: %s\n", impl_maps ? "yes" : "no");' >>"$tmp/small.repl"
  JITSLAB_STATS=stderr LD_PRELOAD=$preload "$jrepl" --stats "$tmp/small.repl" >"$tmp/jitslab.out" \
    2>"$tmp/jitslab.err" || fail "status $?"
  grep -q 'twice(21) = 42' "$tmp/jitslab.out" || fail "wrong output"
  grep -q 'implementation loaded: yes' "$tmp/jitslab.out" || fail "the hook was not reached"
  ! grep -q '^jitslab-preload:' "$tmp/jitslab.err" || fail "the preload replaced the program's creator"
  grep -q '^jitslab-repl: inputs=.*slab_base=' "$tmp/jitslab.err" || fail "the program's own manager was not used"
  echo "preload.sh kept: jitslab-repl kept its own linking layer"
  ;;
*)
  fail "unknown mode"
  ;;
esac
