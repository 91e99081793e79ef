#!/bin/sh
# bench-ab.sh - is build B faster than build A? Alternates `qprof bench kernels` runs of two
# qprof builds, round by round, and prints the median of each row for both.
#
# A kernel change worth 5 % is below the minute-to-minute drift of a shared machine's memory
# bandwidth (tens of %), so two builds timed one after the other cannot be compared. Here
# every round runs A and B back to back, in an order that alternates between rounds (A first
# in odd rounds, B first in even ones), and each cell is the median over rounds of the
# row's median time: both builds see the same load. The %bw column divides by the bandwidth
# each run measured itself, so it drifts with the machine; the ratio column does not.
#
# Usage:  scripts/bench-ab.sh [-r ROUNDS] [-k DIR] A B [bench kernels options...]
#   A, B        a qprof binary (a path to an executable), or a git revision of this
#               repository, built with `make` in a temporary worktree (removed at exit)
#   -r ROUNDS   rounds (default 8)
#   -k DIR      keep the raw CSV of every run in DIR (a.N.csv, b.N.csv)
#   bench kernels options: default --types q4_K,q8_0 -n 1 --threads 1,2 -r 9
#               (see `qprof bench kernels --help`; --csv is added)
# Example: the prefetch change of docs/bench.md, "Q4_K at 2 threads":
#   scripts/bench-ab.sh -r 10 HEAD~1 HEAD --types q4_K -n 1 --threads 2
# Output: a markdown table on stdout: per row (variant, type, n, threads) the median time of
# A and B, B's time over A's (< 1: B is faster), and each one's median %bw; progress on
# stderr (quiet when it is not a terminal). Exit 1 on a failed build or run.
set -eu
. "$(dirname "$0")/lib.sh"

ab_rounds=8
ab_keep=
qp_usage="$0 [-r ROUNDS] [-k DIR] A B [bench kernels options...]"
qp_getopts "r=ab_rounds k=ab_keep" "$@"
shift "$qp_nopts"
[ $# -ge 2 ] || qp_die "usage: $qp_usage"
qp_positive "$ab_rounds" "-r wants a positive number of rounds, not '$ab_rounds'"
ab_a=$1
ab_b=$2
shift 2
[ $# -gt 0 ] || set -- --types q4_K,q8_0 -n 1 --threads 1,2 -r 9

qp_tmpdir
# the worktrees of git revisions go before their directory does
ab_remove_worktrees() {
    for ab_w in "$qp_tmp"/wt-*; do
        [ -d "$ab_w" ] && git -C "$qp_repo" worktree remove --force "$ab_w" >/dev/null 2>&1
    done
    return 0
}
qp_at_exit=ab_remove_worktrees

# ab_binary NAME SPEC: prints the path of the qprof to run for SPEC
ab_binary() {
    if [ -f "$2" ] && [ -x "$2" ]; then
        printf '%s\n' "$2"
        return
    fi
    ab_rev=$(git -C "$qp_repo" rev-parse --verify --quiet "$2^{commit}") ||
        qp_die "'$2' is neither an executable nor a git revision"
    ab_wt=$qp_tmp/wt-$1
    git -C "$qp_repo" worktree add --detach "$ab_wt" "$ab_rev" >/dev/null 2>&1 ||
        qp_die "cannot check out $2 in $ab_wt"
    qp_progress "building $2 ($ab_rev) in $ab_wt"
    make -C "$ab_wt" -j"$(nproc 2>/dev/null || echo 2)" build/qprof >"$qp_tmp/build-$1.log" 2>&1 ||
        qp_die "building $2 failed (log: make -C $ab_wt build/qprof)"
    printf '%s\n' "$ab_wt/build/qprof"
}
ab_qa=$(ab_binary a "$ab_a") && [ -x "$ab_qa" ] || exit 1
ab_qb=$(ab_binary b "$ab_b") && [ -x "$ab_qb" ] || exit 1

ab_raw=$qp_tmp/raw
mkdir -p "$ab_raw"
ab_i=1
while [ "$ab_i" -le "$ab_rounds" ]; do
    if [ $((ab_i % 2)) -eq 1 ]; then ab_order="a b"; else ab_order="b a"; fi
    for ab_s in $ab_order; do
        qp_progress "round $ab_i/$ab_rounds: $ab_s"
        if [ "$ab_s" = a ]; then ab_q=$ab_qa; else ab_q=$ab_qb; fi
        QPROF_NO_PROGRESS=1 "$ab_q" bench kernels "$@" --csv >"$ab_raw/$ab_s.$ab_i.csv" 2>"$qp_tmp/err" ||
            { cat "$qp_tmp/err" >&2; qp_die "run $ab_i of $ab_s failed"; }
    done
    ab_i=$((ab_i + 1))
done
[ -n "$ab_keep" ] && mkdir -p "$ab_keep" && cp "$ab_raw"/*.csv "$ab_keep"/

# The CSV columns are looked up by name in each file's header (docs/bench.md).
# shellcheck disable=SC2016  # the backquotes are markdown's
printf '| A | B |\n|---|---|\n| `%s` | `%s` |\n\n' "$ab_a" "$ab_b"
# shellcheck disable=SC2016  # the backquotes are markdown's
printf '%s rounds of `qprof bench kernels %s`, A and B alternating.\n\n' "$ab_rounds" "$*"
awk -F, '
    FNR == 1 { side = FILENAME; sub(/.*\//, "", side); side = substr(side, 1, 1) }
    /^#/ { next }
    $1 == "variant" { for (i = 1; i <= NF; i++) col[$i] = i; next }
    {
        key = $col["variant"] " " $col["type"] " n=" $col["n"] " t=" $col["threads"]
        if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
        n = ++cnt[side, key]
        ms[side, key, n] = $col["median_ms"]; bw[side, key, n] = $col["bw_pct"]
    }
    function median(s, k, arr,    n, i, j, t, v) {
        n = cnt[s, k]
        for (i = 1; i <= n; i++) v[i] = arr[s, k, i] + 0
        for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    END {
        print "| row | A ms | B ms | B / A | A %bw | B %bw |"
        print "|---|--:|--:|--:|--:|--:|"
        for (i = 1; i <= nk; i++) {
            k = order[i]
            if (!cnt["a", k] || !cnt["b", k]) continue
            a = median("a", k, ms); b = median("b", k, ms)
            printf "| %s | %.3f | %.3f | **%.3f** | %.1f | %.1f |\n", k, a, b, b / a, median("a", k, bw), median("b", k, bw)
        }
    }' "$ab_raw"/a.*.csv "$ab_raw"/b.*.csv
