/* tests/install/ggml_names.c - stand-ins for ggml: one definition of each
 * public name of ggml's GGUF API (ggml/include/gguf.h in llama.cpp)
 * and of the quantization and type functions ggml exports
 * (ggml/src/ggml-quants.h, ggml.h) under the names qprof's own functions
 * would have had without their qp_ prefix. test-install.sh archives this
 * into a library and links it with the whole of libqprof.a into one program
 * (ggml_link.c): a duplicate definition of any of these names in libqprof
 * is a link error there, as it would be for a program using both libraries.
 *
 * Only the names matter to the linker; the few that ggml_link.c calls have
 * ggml's signatures and return values it checks (proof that the call
 * reached this file), the rest take and return nothing. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gguf_context { int magic; };
struct gguf_init_params { bool no_alloc; void **ctx; };

static struct gguf_context stub_context = { 0x67677566 }; /* "gguf" */

struct gguf_context *gguf_init_from_file(const char *fname, struct gguf_init_params params);
struct gguf_context *gguf_init_from_file(const char *fname, struct gguf_init_params params)
{
    (void)fname;
    (void)params;
    return &stub_context;
}

void gguf_free(struct gguf_context *ctx);
void gguf_free(struct gguf_context *ctx) { ctx->magic = 0; }

const char *gguf_type_name(int type);
const char *gguf_type_name(int type) { return type == 8 ? "ggml-stub-string" : "ggml-stub"; }

size_t gguf_type_size(int type);
size_t gguf_type_size(int type) { return type == 8 ? 0 : 4242; }

int64_t gguf_find_key(const struct gguf_context *ctx, const char *key);
int64_t gguf_find_key(const struct gguf_context *ctx, const char *key) { (void)ctx; (void)key; return 4243; }

int64_t gguf_find_tensor(const struct gguf_context *ctx, const char *name);
int64_t gguf_find_tensor(const struct gguf_context *ctx, const char *name) { (void)ctx; (void)name; return 4244; }

int gguf_get_tensor_type(const struct gguf_context *ctx, int64_t tensor_id);
int gguf_get_tensor_type(const struct gguf_context *ctx, int64_t tensor_id) { (void)ctx; return (int)tensor_id; }

int64_t gguf_get_n_tensors(const struct gguf_context *ctx);
int64_t gguf_get_n_tensors(const struct gguf_context *ctx) { (void)ctx; return 4245; }

/* every other name: a function of no arguments */
#define STUB(name) void name(void); void name(void) {}
/* gguf.h */
STUB(gguf_init_empty) STUB(gguf_init_from_file_ptr) STUB(gguf_init_from_buffer)
STUB(gguf_init_from_callback) STUB(gguf_get_version) STUB(gguf_get_alignment)
STUB(gguf_get_data_offset) STUB(gguf_get_n_kv) STUB(gguf_get_key) STUB(gguf_get_kv_type)
STUB(gguf_get_arr_type) STUB(gguf_get_val_u8) STUB(gguf_get_val_i8) STUB(gguf_get_val_u16)
STUB(gguf_get_val_i16) STUB(gguf_get_val_u32) STUB(gguf_get_val_i32) STUB(gguf_get_val_f32)
STUB(gguf_get_val_u64) STUB(gguf_get_val_i64) STUB(gguf_get_val_f64) STUB(gguf_get_val_bool)
STUB(gguf_get_val_str) STUB(gguf_get_val_data) STUB(gguf_get_arr_n) STUB(gguf_get_arr_data)
STUB(gguf_get_arr_str) STUB(gguf_get_tensor_offset) STUB(gguf_get_tensor_name)
STUB(gguf_get_tensor_ne) STUB(gguf_get_tensor_size) STUB(gguf_remove_key)
STUB(gguf_set_val_u8) STUB(gguf_set_val_i8) STUB(gguf_set_val_u16) STUB(gguf_set_val_i16)
STUB(gguf_set_val_u32) STUB(gguf_set_val_i32) STUB(gguf_set_val_f32) STUB(gguf_set_val_u64)
STUB(gguf_set_val_i64) STUB(gguf_set_val_f64) STUB(gguf_set_val_bool) STUB(gguf_set_val_str)
STUB(gguf_set_arr_data) STUB(gguf_set_arr_str) STUB(gguf_set_kv) STUB(gguf_add_tensor)
STUB(gguf_set_tensor_type) STUB(gguf_set_tensor_data) STUB(gguf_write_to_file_ptr)
STUB(gguf_write_to_file) STUB(gguf_get_meta_size) STUB(gguf_get_meta_data)
/* ggml.h: types, fp16 */
STUB(ggml_type_name) STUB(ggml_type_size) STUB(ggml_type_sizef) STUB(ggml_blck_size)
STUB(ggml_row_size) STUB(ggml_is_quantized) STUB(ggml_fp16_to_fp32) STUB(ggml_fp32_to_fp16)
STUB(ggml_fp16_to_fp32_row) STUB(ggml_fp32_to_fp16_row) STUB(ggml_bf16_to_fp32)
STUB(ggml_fp32_to_bf16) STUB(ggml_quantize_chunk) STUB(ggml_quantize_requires_imatrix)
STUB(ggml_quantize_init) STUB(ggml_quantize_free) STUB(ggml_validate_row_data)
/* ggml-quants.h: reference quantize / dequantize of the types qprof implements */
STUB(quantize_row_q4_0_ref) STUB(quantize_row_q4_1_ref) STUB(quantize_row_q5_0_ref)
STUB(quantize_row_q5_1_ref) STUB(quantize_row_q8_0_ref) STUB(quantize_row_q8_1_ref)
STUB(quantize_row_q2_K_ref) STUB(quantize_row_q3_K_ref) STUB(quantize_row_q4_K_ref)
STUB(quantize_row_q5_K_ref) STUB(quantize_row_q6_K_ref) STUB(quantize_row_q8_K_ref)
STUB(dequantize_row_q4_0) STUB(dequantize_row_q4_1) STUB(dequantize_row_q5_0)
STUB(dequantize_row_q5_1) STUB(dequantize_row_q8_0) STUB(dequantize_row_q2_K)
STUB(dequantize_row_q3_K) STUB(dequantize_row_q4_K) STUB(dequantize_row_q5_K)
STUB(dequantize_row_q6_K) STUB(dequantize_row_q8_K) STUB(quantize_q4_0) STUB(quantize_q4_1)
STUB(quantize_q5_0) STUB(quantize_q5_1) STUB(quantize_q8_0) STUB(quantize_q2_K)
STUB(quantize_q3_K) STUB(quantize_q4_K) STUB(quantize_q5_K) STUB(quantize_q6_K)
/* ggml-cpu: the row dot products and fp16 tables */
STUB(quantize_row_q8_0) STUB(quantize_row_q8_1) STUB(quantize_row_q8_K)
STUB(ggml_vec_dot_q4_0_q8_0) STUB(ggml_vec_dot_q8_0_q8_0) STUB(ggml_vec_dot_q4_K_q8_K)
STUB(ggml_vec_dot_q6_K_q8_K) STUB(ggml_cpu_init) STUB(ggml_cpu_has_avx2) STUB(ggml_cpu_has_avx512)
