/* qtypes.c: the kernel table, one row per type, indexed by type id.
 *
 * Adding a type is adding its row here; the row itself (block size, byte size,
 * functions) lives beside the kernel, as `const lb_qkernel lb_qk_<type>`. */
#include <pthread.h>

#include "qimpl.h"

static const lb_qkernel *const table[LB_GGML_TYPE_COUNT] = {
    [LB_F32]    = &lb_qk_f32,
    [LB_F16]    = &lb_qk_f16,
    [LB_BF16]   = &lb_qk_bf16,
    [LB_Q4_0]   = &lb_qk_q4_0,
    [LB_Q4_1]   = &lb_qk_q4_1,
    [LB_Q5_0]   = &lb_qk_q5_0,
    [LB_Q5_1]   = &lb_qk_q5_1,
    [LB_Q8_0]   = &lb_qk_q8_0,
    [LB_Q2_K]   = &lb_qk_q2_K,
    [LB_Q3_K]   = &lb_qk_q3_K,
    [LB_Q4_K]   = &lb_qk_q4_K,
    [LB_Q5_K]   = &lb_qk_q5_K,
    [LB_Q6_K]   = &lb_qk_q6_K,
    [LB_IQ4_NL] = &lb_qk_iq4_nl,
    [LB_IQ4_XS] = &lb_qk_iq4_xs,
    [LB_TQ1_0]  = &lb_qk_tq1_0,
    [LB_TQ2_0]  = &lb_qk_tq2_0,
    [LB_MXFP4]  = &lb_qk_mxfp4,
};

const lb_qkernel *lb_qkernel_get(int type)
{
    if (type < 0 || type >= LB_GGML_TYPE_COUNT) return NULL;
    return table[type];
}

static const lb_qkernel *listed[LB_GGML_TYPE_COUNT];
static size_t nlisted;
static pthread_once_t list_once = PTHREAD_ONCE_INIT;

static void build_list(void)
{
    for (int i = 0; i < LB_GGML_TYPE_COUNT; i++)
        if (table[i]) listed[nlisted++] = table[i];
}

size_t lb_qkernel_list(const lb_qkernel *const **list)
{
    pthread_once(&list_once, build_list);
    *list = listed;
    return nlisted;
}

size_t lb_quant_row_size(int type, int64_t n_per_row)
{
    const lb_qkernel *k = lb_qkernel_get(type);
    if (!k || n_per_row <= 0 || n_per_row % k->blck) return 0;
    return (size_t)(n_per_row / k->blck) * k->type_size;
}
