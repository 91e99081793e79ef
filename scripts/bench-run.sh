#!/bin/sh
# bench-run.sh - `qprof run` against llama.cpp's llama-bench on the same GGUF files:
# prompt processing (512 tokens) and decoding (128 tokens at depth 512), tokens/s,
# measured in ONE run with the two alternating, as the README's speed table.
#
# Each round runs, per model and thread count, `qprof run` (prompt 512 + generate 128),
# llama-bench pp512 and llama-bench tg128 at depth 512 (-d 512, so both decode at
# positions 512-639), qprof first in odd rounds and llama.cpp first in even ones. A cell
# is the median over rounds, and the ratio compares numbers taken under the same load
# (ratio = qprof tokens/s / llama.cpp tokens/s: > 1 means qprof is faster).
# The machine is shared and noisy: report the ratios, and look at the CPU column (qprof's
# CPU-seconds / (wall x threads)) - well under 1 means another process had the cores.
#
# The prompt is the first 1906 bytes of WikiText-2 test (../shared), which SmolLM2's
# tokenizer makes 512 tokens; another model may need -b to get 512 (qprof prints the
# count, and the script warns when it is not 512).
#
# Usage:  scripts/bench-run.sh [-r ROUNDS] [-t "THREADS..."] [-b BYTES] [-f PROMPT] [-o FILE] MODEL...
#   -r ROUNDS   rounds (default 3)
#   -t LIST     thread counts (default "1 2")
#   -b BYTES    prompt = first BYTES bytes of the corpus (default 1906)
#   -f PROMPT   prompt file instead of the corpus
#   -o FILE     also write the markdown to FILE
# Environment: QPROF (default build/qprof), QPROF_PEER_DIR (the llama.cpp build of
# scripts/build-peer.sh; default ${XDG_CACHE_HOME:-$HOME/.cache}/qprof/peer, then /opt/peer),
# QPROF_KERNELS (qprof's kernel variant). Without the peer build only qprof's columns fill.
# Output: the markdown table on stdout; progress on stderr. Exit 1 if a qprof run fails.
set -eu
. "$(dirname "$0")/lib.sh"

br_rounds=3
br_threads="1 2"
br_bytes=1906
br_prompt=
br_out=
qp_usage="$0 [-r ROUNDS] [-t THREADS] [-b BYTES] [-f PROMPT] [-o FILE] MODEL..."
qp_getopts "r=br_rounds t=br_threads b=br_bytes f=br_prompt o=br_out" "$@"
shift "$qp_nopts"
[ $# -ge 1 ] || qp_die "no model given (e.g. ~/.cache/qprof/models/SmolLM2-135M-Instruct.Q4_1.gguf)"
qp_positive "$br_rounds" "-r wants a positive integer"
qp_positive "$br_bytes" "-b wants a positive integer"
for br_t in $br_threads; do
    qp_positive "$br_t" "-t wants positive integers, got '$br_t'"
done
for br_m in "$@"; do [ -f "$br_m" ] || qp_die "$br_m: no such file"; done

qp_find_qprof

br_bench=
if qp_find_peer -x build/bin/llama-bench; then
    br_bench=$qp_peer/build/bin/llama-bench
    qp_log "llama.cpp: $br_bench"
else
    qp_log "no llama.cpp build found (scripts/build-peer.sh): qprof columns only"
fi

qp_tmpdir

if [ -z "$br_prompt" ]; then
    br_corpus=$qp_repo/../shared/data/corpus/wikitext-2-raw/wiki.test.raw
    [ -f "$br_corpus" ] || qp_die "$br_corpus not found: give a prompt file with -f"
    head -c "$br_bytes" "$br_corpus" > "$qp_tmp/prompt.txt"
    br_prompt=$qp_tmp/prompt.txt
fi

# ---------------------------------------------------------------- one measurement each

# qprof: appends "model threads prompt_tps decode_tps cpu_share" to qprof.txt
br_run_qprof() {
    QPROF_NO_PROGRESS=1 "$qp_qprof" run "$1" -f "$br_prompt" -n 128 --ignore-eos -t "$2" \
        > /dev/null 2> "$qp_tmp/q.txt" || { cat "$qp_tmp/q.txt" >&2; qp_die "qprof run failed: $1 -t $2"; }
    # prompt:       512 tokens in    6.940 s =    73.78 tokens/s (6.895 CPU-s)
    # generation:   128 tokens, 127 decode passes in    3.788 s =    33.53 tokens/s (3.767 CPU-s)
    awk -v m="$3" -v t="$2" '
        /^prompt:/     { n = $2; pw = $5; pt = $8; pc = substr($10, 2) }
        /^generation:/ { gw = $8; gt = $11; gc = substr($13, 2) }
        END {
            if (pt == "" || gt == "") exit 1
            if (n != 512) printf "bench-run: warning: the prompt is %d tokens, not 512\n", n > "/dev/stderr"
            printf "%s %s %s %s %.2f\n", m, t, pt, gt, (pc + gc) / ((pw + gw) * t)
        }' "$qp_tmp/q.txt" >> "$qp_tmp/qprof.txt" || qp_die "cannot read qprof run's speed lines"
}

# llama-bench: appends "model threads test tps" (test pp or tg) to llama.txt
br_run_llama() {
    if [ "$3" = pp ]; then
        set -- "$1" "$2" "$3" "$4" -p 512 -n 0
    else
        set -- "$1" "$2" "$3" "$4" -p 0 -n 128 -d 512
    fi
    br_model=$1 br_t=$2 br_test=$3 br_idx=$4
    shift 4
    "$br_bench" -m "$br_model" -t "$br_t" -r 1 --no-warmup -o csv "$@" > "$qp_tmp/l.csv" 2> /dev/null || true
    # columns by name: avg_ts is tokens/s
    awk -F, -v m="$br_idx" -v t="$br_t" -v x="$br_test" '
        !hdr { for (i = 1; i <= NF; i++) { h = $i; gsub(/"/, "", h); c[h] = i } hdr = 1; next }
        { v = $c["avg_ts"]; gsub(/"/, "", v); print m, t, x, v; exit }
    ' "$qp_tmp/l.csv" >> "$qp_tmp/llama.txt"
}

: > "$qp_tmp/qprof.txt"
: > "$qp_tmp/llama.txt"
br_r=1
while [ "$br_r" -le "$br_rounds" ]; do
    br_i=0
    for br_m in "$@"; do
        br_i=$((br_i + 1))
        for br_t in $br_threads; do
            qp_log "round $br_r/$br_rounds: $(basename "$br_m"), $br_t thread(s)"
            if [ $((br_r % 2)) -eq 1 ]; then
                br_run_qprof "$br_m" "$br_t" "$br_i"
                [ -z "$br_bench" ] || { br_run_llama "$br_m" "$br_t" pp "$br_i"; br_run_llama "$br_m" "$br_t" tg "$br_i"; }
            else
                [ -z "$br_bench" ] || { br_run_llama "$br_m" "$br_t" pp "$br_i"; br_run_llama "$br_m" "$br_t" tg "$br_i"; }
                br_run_qprof "$br_m" "$br_t" "$br_i"
            fi
        done
    done
    br_r=$((br_r + 1))
done

# ---------------------------------------------------------------- the table

br_table() {
    echo "| model | threads | qprof prompt t/s | llama.cpp pp512 t/s | ratio | qprof decode t/s | llama.cpp tg128 @512 t/s | ratio | qprof CPU use |"
    echo "|---|---|---|---|---|---|---|---|---|"
    br_i=0
    for br_m in "$@"; do
        br_i=$((br_i + 1))
        for br_t in $br_threads; do
            awk -v m="$br_i" -v t="$br_t" -v name="$(basename "$br_m" .gguf)" '
                function median(a, n,   i, j, x) {
                    if (n == 0) return ""
                    for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
                    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
                }
                FILENAME ~ /qprof\.txt$/ && $1 == m && $2 == t { qp[++nq] = $3; qg[nq] = $4; cpu[nq] = $5 }
                FILENAME ~ /llama\.txt$/ && $1 == m && $2 == t && $3 == "pp" && $4 != "" { lp[++nlp] = $4 }
                FILENAME ~ /llama\.txt$/ && $1 == m && $2 == t && $3 == "tg" && $4 != "" { lg[++nlg] = $4 }
                END {
                    a = median(qp, nq); b = median(lp, nlp); c = median(qg, nq); d = median(lg, nlg)
                    printf "| %s | %s | %.1f | %s | %s | %.1f | %s | %s | %.2f |\n", name, t, a,
                        b == "" ? "-" : sprintf("%.1f", b), b == "" ? "-" : sprintf("**%.2f**", a / b), c,
                        d == "" ? "-" : sprintf("%.1f", d), d == "" ? "-" : sprintf("**%.2f**", c / d),
                        median(cpu, nq)
                }' "$qp_tmp/qprof.txt" "$qp_tmp/llama.txt"
        done
    done
    echo
    echo "Medians of $br_rounds interleaved rounds; ratio = qprof / llama.cpp tokens/s (> 1: qprof faster)."
    echo "qprof: $("$qp_qprof" --version 2>/dev/null | head -1), kernels ${QPROF_KERNELS:-default}; llama.cpp: ${br_bench:-none}."
}

if [ -n "$br_out" ]; then
    br_table "$@" | tee "$br_out"
else
    br_table "$@"
fi
