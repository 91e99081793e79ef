#!/bin/sh
# peer-logits.sh - reference logits from llama.cpp (the peer) for a few fixed prompts.
#
# Builds a small C program against the peer's llama.h and static libraries (made by
# scripts/build-peer.sh, outside the repository), runs every prompt below through
# llama.cpp in one batch with logits for every position, and writes per position
# the log-sum-exp over the whole vocabulary and the top-K (id, logit) pairs. The
# result is small text meant to be committed as test data (tests/data/) and read by
# tests/test_model_generate.c, which runs the same tokens through qprof.
#
# Usage:  scripts/peer-logits.sh MODEL.gguf OUT.txt [TOP_K]
#   TOP_K defaults to 10. The peer is looked for in $QPROF_PEER_DIR, then
#   ${XDG_CACHE_HOME:-$HOME/.cache}/qprof/peer, then /opt/peer.
#   QP_KV_TYPE=f16 keeps llama.cpp's default F16 KV cache; the default here is F32,
#   qprof's cache type, so that the comparison measures the weights' arithmetic only.
#   QP_PEER_WEIGHTS=f32 first has llama-quantize dequantize every tensor to F32 (in a
#   temporary directory) and runs that: llama.cpp then computes in plain FP32 with no
#   activation quantization, the counterpart of qprof's --precision ref on the file.
#
# llama.cpp settings: context 512, one sequence, batch = ubatch = 512, flash
# attention off (the plain softmax(QK^T)V path, as qprof computes it), CPU only,
# 1 thread (a fixed reduction order), special tokens parsed in the prompts, BOS as
# the vocabulary says.
set -eu
. "$(dirname "$0")/lib.sh"

case $# in 2|3) ;; *) qp_die "usage: $0 MODEL.gguf OUT.txt [TOP_K]" ;; esac
qp_model=$1
qp_out=$2
qp_topk=${3:-10}
qp_kv=${QP_KV_TYPE:-f32}
case $qp_kv in f32|f16) ;; *) qp_die "QP_KV_TYPE is f32 or f16, not $qp_kv" ;; esac
qp_weights=${QP_PEER_WEIGHTS:-file}
case $qp_weights in file|f32) ;; *) qp_die "QP_PEER_WEIGHTS is file or f32, not $qp_weights" ;; esac
[ -f "$qp_model" ] || qp_die "no model file $qp_model"

qp_find_peer -f build/src/libllama.a || qp_die "no llama.cpp build found: run scripts/build-peer.sh first"
# the first of the unpacked sources (build-peer.sh unpacks one)
qp_src=
for qp_d in "$qp_peer"/llama_cpp_python-*/vendor/llama.cpp; do
    if [ -d "$qp_d" ]; then qp_src=$qp_d; break; fi
done
if [ -z "$qp_src" ] || [ ! -f "$qp_src/include/llama.h" ]; then
    qp_die "no llama.h under $qp_peer"
fi

qp_tmpdir

# ---------------------------------------------------------------- the prompts
# One per line; \n in a line is a newline. Chosen to cover plain prose, code,
# digits and the chat template's special tokens.
cat > "$qp_tmp/prompts.txt" <<'EOF'
The capital of France is
Once upon a time, there was a little girl who
def fibonacci(n):\n    if n < 2:\n        return
<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n
EOF

# ---------------------------------------------------------------- the program
cat > "$qp_tmp/peer_logits.c" <<'EOF'
/* Writes, for each prompt line of argv[2], the prompt's tokens and for each
 * position the log-sum-exp of the logits and the top-K (id, logit) pairs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

/* "\n" in the prompt file stands for a newline */
static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] == 'n') {
            *o++ = '\n';
            p++;
        } else if (*p != '\r' && *p != '\n') {
            *o++ = *p;
        }
    }
    *o = '\0';
}

static void print_escaped(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '\n')
            fputs("\\n", out);
        else if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: peer_logits MODEL PROMPTS TOP_K KV(f32|f16) OUT\n");
        return 2;
    }
    const int top_k = atoi(argv[3]);
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    FILE *in = fopen(argv[2], "r"), *out = fopen(argv[5], "w");
    if (!in || !out) {
        fprintf(stderr, "cannot open the prompt or output file\n");
        return 1;
    }
    fprintf(out, "top_k %d\nkv_cache %s\nn_vocab %d\n", top_k, argv[4], n_vocab);
    char line[4096];
    int index = 0;
    int *order = malloc((size_t)n_vocab * sizeof *order);
    while (fgets(line, sizeof line, in)) {
        unescape(line);
        if (!line[0])
            continue;
        struct llama_context_params cp = llama_context_default_params();
        cp.n_ctx = 512;
        cp.n_batch = cp.n_ubatch = 512;
        cp.n_seq_max = 1;
        cp.n_threads = cp.n_threads_batch = 1;
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
        cp.type_k = cp.type_v = strcmp(argv[4], "f16") == 0 ? GGML_TYPE_F16 : GGML_TYPE_F32;
        struct llama_context *ctx = llama_init_from_model(model, cp);
        if (!ctx) {
            fprintf(stderr, "cannot create a context\n");
            return 1;
        }
        llama_token tok[512];
        const int n = llama_tokenize(vocab, line, (int)strlen(line), tok, 512, true, true);
        if (n <= 0) {
            fprintf(stderr, "cannot tokenize prompt %d\n", index);
            return 1;
        }
        struct llama_batch b = llama_batch_init(n, 0, 1);
        for (int i = 0; i < n; i++) {
            b.token[i] = tok[i];
            b.pos[i] = i;
            b.n_seq_id[i] = 1;
            b.seq_id[i][0] = 0;
            b.logits[i] = 1;
        }
        b.n_tokens = n;
        if (llama_decode(ctx, b) != 0) {
            fprintf(stderr, "llama_decode failed on prompt %d\n", index);
            return 1;
        }
        fprintf(out, "prompt %d %d ", index, n);
        print_escaped(out, line);
        fprintf(out, "\ntokens");
        for (int i = 0; i < n; i++)
            fprintf(out, " %d", tok[i]);
        fputc('\n', out);
        for (int i = 0; i < n; i++) {
            const float *lg = llama_get_logits_ith(ctx, i);
            float max = lg[0];
            for (int v = 1; v < n_vocab; v++)
                max = lg[v] > max ? lg[v] : max;
            double sum = 0.0;
            for (int v = 0; v < n_vocab; v++)
                sum += exp((double)lg[v] - max);
            /* top-k by selection: k passes over the vocabulary */
            int n_top = 0;
            for (int k = 0; k < top_k; k++) {
                int best = -1;
                for (int v = 0; v < n_vocab; v++) {
                    int taken = 0;
                    for (int j = 0; j < n_top && !taken; j++)
                        taken = order[j] == v;
                    if (!taken && (best < 0 || lg[v] > lg[best]))
                        best = v;
                }
                order[n_top++] = best;
            }
            fprintf(out, "pos %d lse %.5f top", i, max + log(sum));
            for (int k = 0; k < n_top; k++)
                fprintf(out, " %d:%.5f", order[k], lg[order[k]]);
            fputc('\n', out);
        }
        llama_batch_free(b);
        llama_free(ctx);
        index++;
    }
    free(order);
    fclose(in);
    if (fclose(out) != 0)
        return 1;
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
EOF

# ---------------------------------------------------------------- build and run
qp_b="$qp_peer/build"
cc -O2 -std=c11 -I"$qp_src/include" -I"$qp_src/ggml/include" -c "$qp_tmp/peer_logits.c" \
    -o "$qp_tmp/peer_logits.o" || qp_die "compiling against $qp_src failed"
c++ -o "$qp_tmp/peer_logits" "$qp_tmp/peer_logits.o" "$qp_b/src/libllama.a" \
    "$qp_b/ggml/src/libggml.a" "$qp_b/ggml/src/libggml-cpu.a" "$qp_b/ggml/src/libggml-base.a" \
    -fopenmp -lpthread -lm || qp_die "linking against $qp_b failed"
qp_run_model=$qp_model
if [ "$qp_weights" = f32 ]; then
    qp_run_model="$qp_tmp/f32.gguf"
    "$qp_b/bin/llama-quantize" --allow-requantize "$qp_model" "$qp_run_model" F32 >/dev/null 2>&1 \
        || qp_die "llama-quantize could not dequantize $qp_model to F32"
fi
"$qp_tmp/peer_logits" "$qp_run_model" "$qp_tmp/prompts.txt" "$qp_topk" "$qp_kv" "$qp_tmp/body.txt" \
    || qp_die "the peer program failed"

qp_sum=$(qp_sha256 "$qp_model")
qp_commit=$(sed -n 's/^QP_LLAMA_COMMIT="\(.*\)"/\1/p' "$(dirname "$0")/build-peer.sh")
{
    echo "# qprof peer logits: made by scripts/peer-logits.sh; read by tests/test_model_generate.c"
    echo "# peer llama.cpp ${qp_commit:-unknown} (CPU, 1 thread, flash attention off, KV cache $qp_kv)"
    echo "model $(basename "$qp_model")"
    echo "sha256 $qp_sum"
    echo "size $(wc -c < "$qp_model" | tr -d ' ')"
    echo "weights $qp_weights"
    cat "$qp_tmp/body.txt"
} > "$qp_out.tmp"
mv "$qp_out.tmp" "$qp_out"
printf 'peer-logits: wrote %s (%s bytes)\n' "$qp_out" "$(wc -c < "$qp_out")" >&2
