/* scripts/gen-synthetic.c - writes a llama GGUF of a real model's shapes with
 * random weights, for measuring memory and speed at sizes no freely
 * available model has (scripts/measure-memory.sh). Built by
 * `make build/gen-synthetic`; it uses only qprof's public library.
 *
 * Usage: gen-synthetic [--shape llama3-8b|smollm2-135m] [--layers N] [--type q4_K|q8_0|f16|f32]
 *                      [--threads T] -o OUT.gguf
 *
 * Weights are Gaussian with the spread of a trained model's (std 0.02, norms
 * 1.0), drawn row by row from a seed that depends only on the tensor and the
 * row, and quantized to the type with qprof's reference quantizers, so the
 * same arguments always give the same file. The output projection is Q6_K
 * when the type is Q4_K, as llama.cpp's Q4_K_M recipe makes it. The
 * vocabulary is a SentencePiece one (byte tokens and placeholders), enough
 * for qprof to tokenize any text; this is not a model anyone should read.
 * Tensors are made while the file is written (qp_gguf_writer_add_tensor_fill),
 * so memory holds one tensor at a time: a 4.6 GB 32-layer file needs about
 * 300 MB.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../gguf/gguf.h"
#include "../kernels/kernels.h"
#include "../quant/quant.h"

typedef struct shape {
    const char *name;
    int n_embd, n_ff, n_head, n_head_kv, n_vocab, n_layer, n_ctx;
    float rope_base;
} shape;

static const shape shapes[] = {
    /* Llama 3 8B: the model family people quantize most */
    {"llama3-8b", 4096, 14336, 32, 8, 128256, 32, 8192, 500000.0f},
    {"smollm2-135m", 576, 1536, 9, 3, 49152, 30, 8192, 100000.0f},
};

typedef struct tensor_job {
    int type;
    int64_t rows, cols;
    uint64_t seed;
    float center, spread; /* values: center + spread * N(0, 1) */
    void *out;            /* rows of the type */
    size_t row_bytes;
} tensor_job;

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Rows [begin, end) of a job: Gaussian values (Box-Muller), quantized. */
static void make_rows(void *ctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const tensor_job *j = ctx;
    float *x = malloc((size_t)j->cols * sizeof(float));
    if (!x)
        return; /* the caller checks the result's first row: it stays zero */
    for (int64_t r = begin; r < end; r++) {
        uint64_t s = j->seed ^ ((uint64_t)r * 0xD1B54A32D192ED03ull);
        for (int64_t i = 0; i < j->cols; i += 2) {
            const double u1 = ((double)(splitmix(&s) >> 11) + 1.0) / 9007199254740993.0;
            const double u2 = (double)(splitmix(&s) >> 11) / 9007199254740992.0;
            const double rad = sqrt(-2.0 * log(u1));
            x[i] = j->center + j->spread * (float)(rad * cos(6.283185307179586 * u2));
            if (i + 1 < j->cols)
                x[i + 1] = j->center + j->spread * (float)(rad * sin(6.283185307179586 * u2));
        }
        qp_quantize_row(j->type, x, (char *)j->out + (size_t)r * j->row_bytes, j->cols, NULL, NULL);
    }
    free(x);
}

typedef struct gen {
    qp_threadpool *pool;
    int n_tensors;
    tensor_job jobs[16 + 9 * 128];
} gen;

static qp_status fill(void *user, int64_t index, void *buf, size_t nbytes, qp_error *err)
{
    gen *g = user;
    tensor_job *j = &g->jobs[index];
    j->out = buf;
    memset(buf, 0, nbytes);
    qp_threadpool_parallel_for(g->pool, j->rows, make_rows, j);
    if (isatty(2))
        fprintf(stderr, "\rgen-synthetic: tensor %lld of %d", (long long)index + 1, g->n_tensors);
    (void)err;
    return QP_OK;
}

static void add(qp_gguf_writer *w, gen *g, const char *name, int type, int64_t rows, int64_t cols, float center,
                float spread)
{
    tensor_job *j = &g->jobs[g->n_tensors];
    *j = (tensor_job){.type = type, .rows = rows, .cols = cols, .seed = 0x5EED0000ull + (uint64_t)g->n_tensors,
                      .center = center, .spread = spread, .row_bytes = qp_row_size(type, cols)};
    const int64_t ne[2] = {cols, rows};
    qp_gguf_writer_add_tensor_fill(w, name, type, rows > 1 ? 2 : 1, ne, fill, g);
    g->n_tensors++;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"shape", required_argument, NULL, 's'}, {"layers", required_argument, NULL, 'l'},
        {"type", required_argument, NULL, 'T'},  {"threads", required_argument, NULL, 't'},
        {"output", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0},
    };
    const shape *sh = &shapes[0];
    int layers = -1, type = QP_TYPE_Q4_K, threads = 2, c;
    const char *out = NULL;
    while ((c = getopt_long(argc, argv, "s:l:T:t:o:", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            sh = NULL;
            for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
                if (!strcmp(optarg, shapes[i].name))
                    sh = &shapes[i];
            if (!sh) {
                fprintf(stderr, "gen-synthetic: unknown shape '%s' (llama3-8b, smollm2-135m)\n", optarg);
                return 2;
            }
            break;
        case 'l': layers = atoi(optarg); break;
        case 'T': type = qp_type_from_name(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'o': out = optarg; break;
        default: return 2;
        }
    }
    if (layers < 0)
        layers = sh->n_layer;
    if (!out || layers < 1 || layers > 128 || threads < 1 || threads > QP_MAX_THREADS ||
        (type != QP_TYPE_Q4_K && type != QP_TYPE_Q8_0 && type != QP_TYPE_F16 && type != QP_TYPE_F32)) {
        fprintf(stderr, "usage: gen-synthetic [--shape NAME] [--layers 1..128] [--type q4_K|q8_0|f16|f32] "
                        "[--threads T] -o OUT.gguf\n");
        return 2;
    }
    gen *g = calloc(1, sizeof *g);
    g->pool = threads > 1 ? qp_threadpool_create(threads) : NULL;
    qp_gguf_writer *w = qp_gguf_writer_new();
    char name[128];
    qp_gguf_writer_set_str(w, "general.architecture", "llama");
    snprintf(name, sizeof name, "synthetic %s, %d layers, %s, random weights", sh->name, layers,
             qp_type_info(type)->name);
    qp_gguf_writer_set_str(w, "general.name", name);
    qp_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)layers);
    qp_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)sh->n_ctx);
    qp_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)sh->n_embd);
    qp_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)sh->n_ff);
    qp_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)sh->n_head);
    qp_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)sh->n_head_kv);
    qp_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    qp_gguf_writer_set_f32(w, "llama.rope.freq_base", sh->rope_base);

    /* the vocabulary: <unk> <s> </s>, 256 byte tokens, then placeholders */
    const int V = sh->n_vocab;
    char **tok = malloc((size_t)V * sizeof *tok);
    float *score = calloc((size_t)V, sizeof *score);
    int32_t *ttype = malloc((size_t)V * sizeof *ttype);
    for (int i = 0; i < V; i++) {
        tok[i] = malloc(24);
        if (i < 3) {
            snprintf(tok[i], 24, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
            ttype[i] = i == 0 ? 2 : 3; /* UNKNOWN, CONTROL */
        } else if (i < 259) {
            snprintf(tok[i], 24, "<0x%02X>", i - 3);
            ttype[i] = 6; /* BYTE */
        } else {
            snprintf(tok[i], 24, "\xE2\x96\x81w%d", i);
            ttype[i] = 1; /* NORMAL */
            score[i] = -(float)i;
        }
    }
    qp_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    qp_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)V);
    qp_gguf_writer_set_arr_data(w, "tokenizer.ggml.scores", QP_GGUF_TYPE_FLOAT32, score, (uint64_t)V);
    qp_gguf_writer_set_arr_data(w, "tokenizer.ggml.token_type", QP_GGUF_TYPE_INT32, ttype, (uint64_t)V);
    qp_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    qp_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    qp_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);

    const int E = sh->n_embd, F = sh->n_ff, kvd = E / sh->n_head * sh->n_head_kv;
    const int norm = QP_TYPE_F32, out_type = type == QP_TYPE_Q4_K ? QP_TYPE_Q6_K : type;
    add(w, g, "token_embd.weight", type, V, E, 0.0f, 0.02f);
    add(w, g, "output_norm.weight", norm, 1, E, 1.0f, 0.0f);
    add(w, g, "output.weight", out_type, V, E, 0.0f, 0.02f);
    for (int l = 0; l < layers; l++) {
#define T(suffix, tt, r, cc, m, s) snprintf(name, sizeof name, "blk.%d." suffix, l), add(w, g, name, tt, r, cc, m, s)
        T("attn_norm.weight", norm, 1, E, 1.0f, 0.0f);
        T("attn_q.weight", type, E, E, 0.0f, 0.02f);
        T("attn_k.weight", type, kvd, E, 0.0f, 0.02f);
        T("attn_v.weight", type, kvd, E, 0.0f, 0.02f);
        T("attn_output.weight", type, E, E, 0.0f, 0.02f);
        T("ffn_norm.weight", norm, 1, E, 1.0f, 0.0f);
        T("ffn_gate.weight", type, F, E, 0.0f, 0.02f);
        T("ffn_up.weight", type, F, E, 0.0f, 0.02f);
        T("ffn_down.weight", type, E, F, 0.0f, 0.02f);
#undef T
    }
    qp_error err;
    const qp_status st = qp_gguf_writer_write(w, out, &err);
    fprintf(stderr, "\n");
    if (st != QP_OK) {
        fprintf(stderr, "gen-synthetic: %s: %s\n", err.file, err.msg);
        return 1;
    }
    fprintf(stderr, "gen-synthetic: wrote %s (%d tensors)\n", out, g->n_tensors);
    qp_gguf_writer_free(w);
    for (int i = 0; i < V; i++)
        free(tok[i]);
    free(tok), free(score), free(ttype);
    qp_threadpool_free(g->pool);
    free(g);
    return 0;
}
