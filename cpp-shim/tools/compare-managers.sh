#!/bin/sh
# compare-managers.sh [REPS]: in-process link times of jitslab vs LLVM 19's two in-process
# managers, until jitslab-bench exists. Runs jitslab-run on the sqlite workload and on the
# 2000-unit workload, interleaving the managers (each repetition runs every manager once), and
# prints per workload and manager the median link time (jitslab-run --times: from the first
# lookup until every object is linked and initialized), its min-max, the median wall time of
# the whole process, their ratios to jitslab, the number of mappings and the peak RSS.
# Needs the tree built by `./x test` or `./x demo` (target/cmake).
set -eu
cd "$(dirname "$0")/../.."
REPS=${1:-21}
RUN=target/cmake/jitslab-run
WL=target/cmake/tests/wl
[ -x "$RUN" ] || { echo "compare-managers.sh: build first (./x demo)" >&2; exit 1; }
data=$(mktemp)
trap 'rm -f "$data"' EXIT
rep=1
while [ "$rep" -le "$REPS" ]; do
  for memory in jitslab llvm-mapper llvm-inprocess; do
    for workload in sqlite synth2000; do
      if [ "$workload" = sqlite ]; then
        set -- "$WL/sqlite_main.o" -lsqlite3 -lm -- 1000
      else
        set -- "@$WL/synth2000.rsp"
      fi
      start=$(date +%s%N)
      report=$("$RUN" --memory="$memory" --times "$@" 2>&1 >/dev/null)
      end=$(date +%s%N)
      link=$(echo "$report" | sed -n 's/.*link \([0-9.]*\) ms.*/\1/p')
      maps=$(echo "$report" | sed -n 's/.*process: \([0-9]*\) mappings.*/\1/p')
      rss=$(echo "$report" | sed -n 's/.*peak RSS \([0-9]*\) kB.*/\1/p')
      echo "$workload $memory $link $(( (end - start) / 1000000 )) $maps $rss" >>"$data"
    done
  done
  rep=$((rep + 1))
done
echo "$REPS interleaved repetitions on $(nproc) cores, $(date -u +%Y-%m-%d)"
printf '%-10s %-15s %12s %15s %10s %10s %10s %9s %13s\n' workload memory "link ms" "min-max" "ratio" "wall ms" "ratio" mappings "peak RSS kB"
for workload in sqlite synth2000; do
  for memory in jitslab llvm-mapper llvm-inprocess; do
    grep "^$workload $memory " "$data" | awk '
      { link[NR] = $3; wall[NR] = $4; maps = $5; rss = $6 }
      function median(a, n,   i, j, t) {
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      }
      END { n = NR; ml = median(link, n); lo = link[1]; hi = link[n]; mw = median(wall, n)
            printf "%s %s %.1f %.1f-%.1f %.1f %s %s\n", "'"$workload"'", "'"$memory"'", ml, lo, hi, mw, maps, rss }'
  done
done | awk '
  $2 == "jitslab" { base_link = $3; base_wall = $5 }
  { printf "%-10s %-15s %12.1f %15s %9.2fx %10.0f %9.2fx %9s %13s\n", $1, $2, $3, $4, $3 / base_link, $5, $5 / base_wall, $6, $7 }'
