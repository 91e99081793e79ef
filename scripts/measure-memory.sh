#!/bin/sh
# measure-memory.sh - peak resident memory of qprof run, ppl and layers, next to
# llama.cpp's on the same files, its growth with depth, and a full-depth 8B model.
#
# Peak RSS is /usr/bin/time's maximum resident set size of the whole process
# (mapped file pages it touched included). Three parts, each a markdown table:
#   real   SmolLM2-135M-Instruct Q4_1 and Qwen2.5-Coder-1.5B-Instruct Q4_K_M (the
#          ones scripts/fetch-model.sh has fetched): qprof run -p Hello -n 16
#          against llama-simple, qprof ppl --ctx 512 --chunks 4 against
#          llama-perplexity -c 512 --chunks 4 -b 512 (one sequence at a time, as
#          qprof), qprof layers against the file size (2 threads everywhere)
#   depth  random-weight GGUFs of Llama-3-8B's shapes (scripts/gen-synthetic.c) in
#          F16 and Q4_K with 1, 2, 4 and 8 layers: the growth per extra layer of
#          run, ppl and layers against one layer's bytes in the file
#   full   the 32-layer Q4_K one (~4.6 GB): run -n 16 and layers --tokens 64
#          --types q4_0 --reps 1, peak RSS and wall time
# The synthetic files go to a temporary directory (about 20 GB for depth) and are
# removed at the end.
#
# Usage:  scripts/measure-memory.sh [-p "real depth full"] [-k DIR]
#   -p PARTS   which parts (default all three)
#   -k DIR     keep the synthetic models in DIR (and reuse those already there)
# Environment: QPROF (default build/qprof), QPROF_PEER_DIR (scripts/build-peer.sh's
# build; without it the llama.cpp columns stay empty).
set -eu
. "$(dirname "$0")/lib.sh"

mm_parts="real depth full"
mm_keep=
qp_usage="$0 [-p PARTS] [-k DIR]"
qp_getopts "p=mm_parts k=mm_keep" "$@"
shift "$qp_nopts"

qp_find_qprof
cd "$qp_repo"
make -s "${BUILD:-build}/gen-synthetic" >&2
mm_gen=${BUILD:-build}/gen-synthetic
mm_peer=
if qp_find_peer -x build/bin/llama-simple; then
    mm_peer=$qp_peer/build/bin
    qp_log "llama.cpp: $mm_peer"
fi
mm_corpus=$qp_repo/../shared/data/corpus/wikitext-2-raw/wiki.test.raw
[ -f "$mm_corpus" ] || qp_die "$mm_corpus: not found (../shared)"
qp_tmpdir
mm_dir=${mm_keep:-$qp_tmp}
mkdir -p "$mm_dir"

# mm_rss CMD...: runs CMD (output discarded) and sets mm_kb (peak RSS) and mm_s (wall
# seconds); dies if it fails
mm_rss() {
    if ! /usr/bin/time -f '%M %e' -o "$qp_tmp/time" "$@" > /dev/null 2> "$qp_tmp/err"; then
        tail -n 3 "$qp_tmp/err" >&2
        qp_die "failed: $*"
    fi
    read -r mm_kb mm_s < "$qp_tmp/time"
}
mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
file_mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.0f", b / 1048576 }'; }

printf '<!-- scripts/measure-memory.sh -p "%s", %s, qprof %s, %s -->\n' "$mm_parts" "$(date -u +%Y-%m-%dT%H:%MZ)" \
    "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"

case " $mm_parts " in *" real "*)
    printf '\n| model | file MB | command | qprof MB | llama.cpp MB | qprof / llama.cpp | qprof s |\n'
    printf '|---|--:|---|--:|--:|--:|--:|\n'
    for mm_m in SmolLM2-135M-Instruct.Q4_1.gguf Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf; do
        mm_path=$(qp_cache_dir)/models/$mm_m
        [ -f "$mm_path" ] || { qp_log "$mm_m not fetched: skipped"; continue; }
        mm_f=$(file_mb "$mm_path")
        qp_progress "$mm_m: run"
        mm_rss "$qp_qprof" run "$mm_path" -p Hello -n 16 -t 2
        mm_q=$mm_kb mm_qs=$mm_s mm_l=
        [ -z "$mm_peer" ] || { mm_rss "$mm_peer/llama-simple" -m "$mm_path" -n 16 Hello; mm_l=$mm_kb; }
        printf '| %s | %s | run -p Hello -n 16 | %s | %s | %s | %s |\n' "$mm_m" "$mm_f" "$(mb "$mm_q")" \
            "${mm_l:+$(mb "$mm_l")}" "${mm_l:+$(ratio "$mm_q" "$mm_l")}" "$mm_qs"
        qp_progress "$mm_m: ppl"
        mm_rss "$qp_qprof" ppl "$mm_path" "$mm_corpus" -c 512 -k 4 -t 2
        mm_q=$mm_kb mm_qs=$mm_s mm_l=
        [ -z "$mm_peer" ] || { mm_rss "$mm_peer/llama-perplexity" -m "$mm_path" -f "$mm_corpus" -c 512 \
            --chunks 4 -b 512 -t 2; mm_l=$mm_kb; }
        printf '| %s | %s | ppl -c 512 -k 4 | %s | %s | %s | %s |\n' "$mm_m" "$mm_f" "$(mb "$mm_q")" \
            "${mm_l:+$(mb "$mm_l")}" "${mm_l:+$(ratio "$mm_q" "$mm_l")}" "$mm_qs"
        for mm_types in q8_0 q8_0,q4_K,q4_0,q2_K; do
            qp_progress "$mm_m: layers $mm_types"
            mm_rss "$qp_qprof" layers "$mm_path" -T "$mm_types" -n 128 -r 1 -t 2 --no-png -o "$qp_tmp/p.h5"
            printf '| %s | %s | layers -T %s -n 128 -r 1 | %s | (file: %s) | %s x file | %s |\n' "$mm_m" "$mm_f" \
                "$mm_types" "$(mb "$mm_kb")" "$mm_f" "$(ratio "$(mb "$mm_kb")" "$mm_f")" "$mm_s"
        done
    done
    ;;
esac

case " $mm_parts " in *" depth "*)
    printf '\n| Llama-3-8B shapes | layers | file MB | run -n 16 MB | ppl -c 128 -k 1 MB | layers -n 64 -T q4_0 MB |\n'
    printf '|---|--:|--:|--:|--:|--:|\n'
    for mm_t in f16 q4_K; do
        for mm_n in 1 2 4 8; do
            mm_path=$mm_dir/synthetic-8b-$mm_t-$mm_n.gguf
            [ -f "$mm_path" ] || { qp_progress "generating $mm_path"; "$mm_gen" --type "$mm_t" --layers "$mm_n" -o "$mm_path" 2>/dev/null; }
            mm_f=$(file_mb "$mm_path")
            mm_rss "$qp_qprof" run "$mm_path" -p Hello -n 16 -t 2
            mm_r=$mm_kb
            mm_rss "$qp_qprof" ppl "$mm_path" "$mm_corpus" -c 128 -k 1 -t 2
            mm_p=$mm_kb
            mm_rss "$qp_qprof" layers "$mm_path" -T q4_0 -n 64 -r 1 -t 2 --no-png -o "$qp_tmp/p.h5"
            mm_y=$mm_kb
            printf '| %s | %s | %s | %s | %s | %s |\n' "$mm_t" "$mm_n" "$mm_f" "$(mb "$mm_r")" "$(mb "$mm_p")" "$(mb "$mm_y")"
            printf '%s %s %s %s %s %s\n' "$mm_t" "$mm_n" "$(stat -c %s "$mm_path")" "$mm_r" "$mm_p" "$mm_y" >> "$qp_tmp/depth"
            [ -n "$mm_keep" ] || [ "$mm_n" != 8 ] || rm -f "$mm_dir"/synthetic-8b-"$mm_t"-*.gguf
        done
    done
    # growth per extra layer: least squares of RSS over layers, against one layer's bytes
    printf '\n| type | one layer in the file (MB) | run: MB per extra layer | ppl | layers |\n|---|--:|--:|--:|--:|\n'
    for mm_t in f16 q4_K; do
        awk -v t="$mm_t" '$1 == t { n++; x[n] = $2; f[n] = $3 / 1048576; r[n] = $4 / 1024; p[n] = $5 / 1024; y[n] = $6 / 1024 }
            function slope(v,   i, sx, sy, sxx, sxy) { sx = sy = sxx = sxy = 0
                for (i = 1; i <= n; i++) { sx += x[i]; sy += v[i]; sxx += x[i] * x[i]; sxy += x[i] * v[i] }
                return (n * sxy - sx * sy) / (n * sxx - sx * sx) }
            END { printf "| %s | %.0f | %.0f | %.0f | %.0f |\n", t, slope(f), slope(r), slope(p), slope(y) }' "$qp_tmp/depth"
    done
    ;;
esac

case " $mm_parts " in *" full "*)
    mm_path=$mm_dir/synthetic-8b-q4_K-32.gguf
    [ -f "$mm_path" ] || { qp_progress "generating $mm_path (several minutes)"; "$mm_gen" --type q4_K --layers 32 -o "$mm_path" 2>/dev/null; }
    mm_f=$(file_mb "$mm_path")
    printf '\n| Llama-3-8B shapes, 32 layers, Q4_K (file %s MB) | peak MB | wall s |\n|---|--:|--:|\n' "$mm_f"
    mm_rss "$qp_qprof" run "$mm_path" -p Hello -n 16 -t 2
    printf '| run -p Hello -n 16 | %s | %s |\n' "$(mb "$mm_kb")" "$mm_s"
    mm_rss "$qp_qprof" layers "$mm_path" -T q4_0 -n 64 -r 1 -t 2 --no-png -o "$qp_tmp/p.h5"
    printf '| layers --tokens 64 --types q4_0 --reps 1 | %s | %s |\n' "$(mb "$mm_kb")" "$mm_s"
    [ -n "$mm_keep" ] || rm -f "$mm_path"
    ;;
esac
