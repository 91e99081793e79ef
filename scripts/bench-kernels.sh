#!/bin/sh
# bench-kernels.sh - the README performance table: qprof's matvec/matmul kernels against
# llama.cpp's on the standard set, measured in ONE run, the two alternating.
#
# Standard set (the MUL_MAT cases of llama.cpp's `test-backend-ops perf`, m=4096 output rows,
# k=14336 weights per row: the ffn_down projection of an 8B Llama-3):
#   Q4_K and Q8_0 x { n=1 (matvec, token generation) on 1 and on 2 threads,
#                     n=512 (matmul, prompt processing) on 2 threads }
#
# The machine is shared and noisy, so absolute times drift from minute to minute. Each
# round runs every case once for qprof and once for llama.cpp, back to back, in an order
# that alternates between rounds (qprof first in odd rounds, llama.cpp first in even ones);
# a cell is the median over rounds, and the ratio column compares numbers taken under the
# same load. Report the ratios, not the absolute times.
#
# What is timed, on both sides: one Y = X . W^T of an f32 activation matrix X (n x 14336)
# with a quantized W, including the quantization of X to the weights' pairing type (Q8_K
# for Q4_K, Q8_0 for Q8_0), as llama.cpp's MUL_MAT op does. llama.cpp reports the MEAN time
# per run over >= 1 s of runs; qprof's column is the mean of its timed runs as well (its
# own table shows medians). W is 33 MB (Q4_K) or 62 MB (Q8_0), several times the last-level
# cache, so both stream it from memory in every run.
#
# Usage:  scripts/bench-kernels.sh [-r ROUNDS] [-v VARIANT] [-c CASES] [-k DIR] [-o FILE]
#   -r ROUNDS   rounds (default 3)
#   -v VARIANT  qprof kernel variant (default: the one qprof picks for this CPU)
#   -c CASES    other cases than the standard set, "type:n:threads ..." (e.g. "q6_K:1:2")
#   -k DIR      keep the raw per-round measurements (qprof.txt, llama.txt) in DIR
#   -o FILE     also write the markdown to FILE
# Environment: QPROF (default build/qprof), QPROF_PEER_DIR (the llama.cpp build of
# scripts/build-peer.sh; default ${XDG_CACHE_HOME:-$HOME/.cache}/qprof/peer, then /opt/peer).
# Without the peer build only the qprof columns are filled.
# Output: the markdown table on stdout; progress on stderr. Exit 1 if a qprof run fails.
set -eu
. "$(dirname "$0")/lib.sh"

bk_rounds=3
bk_variant=${QPROF_BENCH_VARIANT:-}
bk_out=
bk_keep=
# type:n:threads
bk_cases="q4_K:1:1 q4_K:1:2 q4_K:512:2 q8_0:1:1 q8_0:1:2 q8_0:512:2"
qp_usage="$0 [-r ROUNDS] [-v VARIANT] [-c CASES] [-k DIR] [-o FILE]"
qp_getopts "r=bk_rounds v=bk_variant c=bk_cases k=bk_keep o=bk_out" "$@"
for bk_c in $bk_cases; do
    case $bk_c in
        *:*[!0-9:]*|*::*|:*|*:) qp_die "bad case '$bk_c' (want type:n:threads)" ;;
        *:*:*) ;;
        *) qp_die "bad case '$bk_c' (want type:n:threads)" ;;
    esac
done
qp_positive "$bk_rounds" "-r wants a positive integer"
qp_find_qprof

# ---------------------------------------------------------------- the peer (optional)

bk_tbo=
bk_shim=
if qp_find_peer -x build/bin/test-backend-ops; then
    bk_tbo=$qp_peer/build/bin/test-backend-ops
    # test-backend-ops gives the CPU backend hardware_concurrency()/2 threads and has no
    # option to change it; build-peer.sh's shim makes get_nprocs() answer QP_NPROCS, so
    # QP_NPROCS = 2 x threads runs it on `threads` threads.
    bk_shim=$qp_peer/lib/libqp_nprocs.so
    [ -f "$bk_shim" ] || qp_die "$bk_shim missing: rerun scripts/build-peer.sh"
    qp_log "llama.cpp: $bk_tbo"
else
    qp_log "no llama.cpp build found (scripts/build-peer.sh): qprof columns only"
fi

if [ -z "$bk_variant" ]; then
    bk_variant=$("$qp_qprof" bench kernels --list | awk '/\(default\)/ { print $1; exit }')
    [ -n "$bk_variant" ] || qp_die "cannot tell qprof's default kernel variant"
fi

bk_m=4096
bk_k=14336

if [ -n "$bk_keep" ]; then
    mkdir -p "$bk_keep" || qp_die "cannot create $bk_keep"
    bk_tmp=$bk_keep
    trap 'exit 1' INT TERM HUP
else
    qp_tmpdir
    bk_tmp=$qp_tmp
fi

# ---------------------------------------------------------------- one measurement each

# qprof: appends "type n threads mean_ms gbs bw_pct membw_gbs weight_bytes cpu_share" to
# qprof.txt (cpu_share: the task-clock CPU time over wall time x threads, "" without it).
# A matmul (n=512) takes seconds: 2 timed runs after the warm-up, as llama.cpp's >= 1 s
# of runs is one or two of them; a matvec gets up to 10 runs in <= 2 s.
bk_run_qprof() {
    bk_reps=10
    [ "$2" -le 32 ] || bk_reps=2
    QPROF_NO_PROGRESS=1 "$qp_qprof" bench kernels --types "$1" -n "$2" --threads "$3" \
        --variants "$bk_variant" --shape "${bk_m}x${bk_k}" --reps "$bk_reps" --max-time 2 \
        --membw-mib 64 --csv > "$bk_tmp/q.csv" \
        || qp_die "qprof bench kernels failed for $1 n=$2 threads=$3"
    # columns by name, so a new CSV column cannot shift them
    awk -F, -v t="$1" -v n="$2" -v th="$3" '
        /^#/ { next }
        !hdr { for (i = 1; i <= NF; i++) c[$i] = i; hdr = 1; next }
        { print t, n, th, $c["mean_ms"], $c["gbs"], $c["bw_pct"], $c["membw_gbs"], $c["weight_bytes"],
                $c["cpu_share"]; exit }
    ' "$bk_tmp/q.csv" >> "$bk_tmp/qprof.txt"
    sed -n 's/^# memory read bandwidth/memory read bandwidth/p' "$bk_tmp/q.csv" | head -1 > "$bk_tmp/bw.txt"
}

# llama.cpp: appends "type n threads mean_ms" to llama.txt ("-" if no number came out)
bk_run_llama() {
    bk_case="type_a=$1,type_b=f32,m=$bk_m,n=$2,k=$bk_k,"
    QP_NPROCS=$(( $3 * 2 )) LD_PRELOAD="$bk_shim" \
        "$bk_tbo" perf -o MUL_MAT -b CPU -p "$bk_case" > "$bk_tmp/l.txt" 2>&1 || true
    # strip colour codes; the case line reads
    #   MUL_MAT(type_a=q4_K,...,k=14336,...):   N runs -   X us/run - Y GFLOP/run - Z GFLOPS
    bk_us=$(sed 's/\x1b\[[0-9;]*m//g' "$bk_tmp/l.txt" | grep -F "MUL_MAT($bk_case" \
        | sed -n 's/.* \([0-9][0-9.]*\) us\/run.*/\1/p' | head -1)
    if [ -n "$bk_us" ]; then
        echo "$1 $2 $3 $(awk -v u="$bk_us" 'BEGIN { printf "%.4f", u / 1000 }')" >> "$bk_tmp/llama.txt"
    else
        echo "$1 $2 $3 -" >> "$bk_tmp/llama.txt"
    fi
}

: > "$bk_tmp/qprof.txt"
: > "$bk_tmp/llama.txt"
bk_r=1
while [ "$bk_r" -le "$bk_rounds" ]; do
    for bk_c in $bk_cases; do
        bk_t=${bk_c%%:*}
        bk_rest=${bk_c#*:}
        bk_n=${bk_rest%%:*}
        bk_th=${bk_rest#*:}
        qp_log "round $bk_r/$bk_rounds: $bk_t n=$bk_n threads=$bk_th"
        if [ -n "$bk_tbo" ] && [ $((bk_r % 2)) -eq 0 ]; then
            bk_run_llama "$bk_t" "$bk_n" "$bk_th"
            bk_run_qprof "$bk_t" "$bk_n" "$bk_th"
        else
            bk_run_qprof "$bk_t" "$bk_n" "$bk_th"
            [ -z "$bk_tbo" ] || bk_run_llama "$bk_t" "$bk_n" "$bk_th"
        fi
    done
    bk_r=$((bk_r + 1))
done

# ---------------------------------------------------------------- the table

bk_cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
bk_ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')
bk_commit=$(git -C "$qp_repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
bk_peer_note="llama.cpp: not built (scripts/build-peer.sh)"
[ -z "$bk_tbo" ] || bk_peer_note="llama.cpp 0c1e57098 (scripts/build-peer.sh: AVX2 build, OpenMP)"

bk_render() {
    echo "<!-- scripts/bench-kernels.sh -r $bk_rounds, $(date -u +%Y-%m-%d), qprof $bk_commit -->"
    echo "Machine: ${bk_cpu:-unknown CPU}, $bk_ncpu logical CPUs; first round's $(cat "$bk_tmp/bw.txt")."
    echo "qprof variant \`$bk_variant\`; $bk_peer_note. W: M=$bk_m rows x K=$bk_k; times are means per"
    echo "product (activation quantization included), median of $bk_rounds alternating rounds."
    echo
    echo "| type | n | threads | qprof ms | llama.cpp ms | time qprof/llama.cpp | qprof | llama.cpp | qprof % of read bw: median run (mean) |"
    echo "|------|--:|--:|--:|--:|--:|--:|--:|--:|"
    awk -v cases="$bk_cases" -v m="$bk_m" -v kk="$bk_k" '
        function median(list,    a, n, i, j, x) {
            n = split(list, a, " ")
            for (i = 2; i <= n; i++) {          # insertion sort, n is tiny
                x = a[i] + 0
                for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]
                a[j + 1] = x
            }
            if (n == 0) return ""
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        # the rate that matters: weight traffic for a matvec (memory-bound), flops for a
        # matmul (compute-bound); both from the same time as the ms columns
        function rate(ms, n, bytes) {
            if (ms == "") return "n/a"
            if (n == 1) return sprintf("%.2f GB/s", bytes / (ms / 1000) / 1e9)
            return sprintf("%.1f GFLOP/s", 2 * m * kk * n / (ms / 1000) / 1e9)
        }
        FILENAME ~ /\/qprof\.txt$/ { k = $1 ":" $2 ":" $3; q[k] = q[k] " " $4; bw[k] = bw[k] " " $7
                                    qg[k] = qg[k] " " $5
                                    bwt[$3] = bwt[$3] " " $7
                                    bytes[k] = $8; if ($9 != "") share = share " " $9 }
        FILENAME ~ /\/llama\.txt$/ && $4 != "-" { k = $1 ":" $2 ":" $3; l[k] = l[k] " " $4 }
        END {
            nc = split(cases, cs, " ")
            for (i = 1; i <= nc; i++) {
                k = cs[i]; split(k, f, ":")
                qm = median(q[k]); lm = median(l[k])
                ratio = (qm != "" && lm != "") ? sprintf("%.2f", qm / lm) : "n/a"
                # the figure of the target: the median run (the gbs column of qprof) over the
                # bandwidth; in brackets the mean run, as the other columns use
                pct = (qm != "" && f[2] == 1) ? sprintf("%.0f%% (%.0f%%)", 100 * median(qg[k]) / median(bw[k]),
                                                        100 * bytes[k] / (qm / 1000) / 1e9 / median(bw[k])) : "-"
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], f[3],
                       qm != "" ? sprintf("%.3f", qm) : "n/a", lm != "" ? sprintf("%.3f", lm) : "n/a",
                       ratio, rate(qm, f[2], bytes[k]), rate(lm, f[2], bytes[k]), pct
            }
            # the bandwidth the % column divides by, which moves from round to round
            line = ""
            for (t = 1; t <= 64; t++)
                if (t in bwt) line = line sprintf("%s%d thread%s %.1f GB/s", line == "" ? "" : ", ", t, t > 1 ? "s" : "", median(bwt[t]))
            if (line != "")
                printf "\nRead bandwidth, median of the rounds (qprof measures it in each): %s.\n", line
            # how loaded the machine was: qprof threads on a core for this share of the time
            if (share != "") {
                ns = split(share, sh, " "); lo = 1e9; hi = 0
                for (i = 1; i <= ns; i++) { if (sh[i] + 0 < lo) lo = sh[i] + 0; if (sh[i] + 0 > hi) hi = sh[i] + 0 }
                printf "\nLoad: qprof'"'"'s threads were on a core %.0f-%.0f%% of the run time (task-clock over\n", 100 * lo, 100 * hi
                print "wall time x threads); well under 100% means other processes shared the cores."
            }
        }' "$bk_tmp/qprof.txt" "$bk_tmp/llama.txt"
    echo
    echo "Time ratio < 1: qprof faster. n=1 rates are weight traffic (bytes of W / time), n>1 rates"
    echo "2*M*K*n / time; % of read bw = qprof's n=1 traffic over the streaming read bandwidth qprof"
    echo "measured at the same thread count in the same rounds, medians over the rounds of both"
    echo "(docs/bench.md). The traffic is that of qprof's median run in each round, as the target is"
    echo "stated on medians; in brackets that of its mean run, which the time columns use because"
    echo "llama.cpp reports means, and which a few runs slowed by other processes pull down."
}

if [ -n "$bk_out" ]; then
    bk_render | tee "$bk_out"
else
    bk_render
fi
