/* kquants_rows.c: the k-quant rows of the kernel table (qtypes.c). The kernels are in
 * kquants.c; every k-quant reads importance weights when given and runs without. */
#include "lb_dtype.h"
#include "lb_kquants.h"
#include "qimpl.h"

#define KROW(t, nm, sz) { t, #nm, 256, sz, lb_quantize_##nm, lb_dequantize_##nm, 1, 0 }

const lb_qkernel lb_qk_q2_K = KROW(LB_Q2_K, q2_K, 84);
const lb_qkernel lb_qk_q3_K = KROW(LB_Q3_K, q3_K, 110);
const lb_qkernel lb_qk_q4_K = KROW(LB_Q4_K, q4_K, 144);
const lb_qkernel lb_qk_q5_K = KROW(LB_Q5_K, q5_K, 176);
const lb_qkernel lb_qk_q6_K = KROW(LB_Q6_K, q6_K, 210);
