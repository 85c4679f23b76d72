/* metrics.c: streaming error metrics (lb_metrics.h).
 *
 * Each call sums its values in 8 interleaved lanes (value i goes to lane i % 8), combines
 * the lanes in a fixed tree, then adds the n % 8 tail values in order. The scalar loop and
 * the AVX2 loop do the same double operations lane by lane, so the sums are the same bits
 * on every path; the lanes are what lets the fast path run at memory speed. */
#include "lb_metrics.h"

#include <math.h>
#include <string.h>

#include "lb_cpu.h"

enum { S_E2, S_W2, S_H2, S_WH, S_IW, S_IWE2, NSUM };

/* max |e| with NaN sticky, as a sequential scan would leave it */
static inline double max_nan(double a, double b) { return (b > a || isnan(b)) && !isnan(a) ? b : a; }

static void lanes_scalar(const float *ref, const float *hat, const float *w, int64_t n8, double acc[NSUM][8],
                         double mx[8])
{
    for (int64_t i = 0; i < n8; i += 8)
        for (int l = 0; l < 8; l++) {
            double r = ref[i + l], h = hat[i + l], e = r - h;
            acc[S_E2][l] += e * e;
            acc[S_W2][l] += r * r;
            acc[S_H2][l] += h * h;
            acc[S_WH][l] += r * h;
            mx[l] = max_nan(mx[l], fabs(e));
            if (w) {
                double wi = w[i + l];
                acc[S_IW][l] += wi;
                acc[S_IWE2][l] += wi * (e * e);
            }
        }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2")))

/* Lanes 0-3 in the low vector, 4-7 in the high one. max: a NaN lane stays NaN (the
 * compare is false for it and blendv keeps it), a new NaN replaces. */
AVX2 static inline __m256d vmax_nan(__m256d a, __m256d b)
{
    __m256d take = _mm256_or_pd(_mm256_cmp_pd(b, a, _CMP_GT_OQ), _mm256_cmp_pd(b, b, _CMP_UNORD_Q));
    take = _mm256_andnot_pd(_mm256_cmp_pd(a, a, _CMP_UNORD_Q), take);
    return _mm256_blendv_pd(a, b, take);
}

AVX2 static void lanes_avx2(const float *ref, const float *hat, const float *w, int64_t n8, double acc[NSUM][8],
                            double mx[8])
{
    __m256d a[NSUM][2], m[2];
    for (int k = 0; k < NSUM; k++)
        for (int h = 0; h < 2; h++) a[k][h] = _mm256_loadu_pd(&acc[k][4 * h]);
    for (int h = 0; h < 2; h++) m[h] = _mm256_loadu_pd(&mx[4 * h]);
    const __m256d absmask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
    for (int64_t i = 0; i < n8; i += 8)
        for (int h = 0; h < 2; h++) {
            __m256d r = _mm256_cvtps_pd(_mm_loadu_ps(ref + i + 4 * h));
            __m256d q = _mm256_cvtps_pd(_mm_loadu_ps(hat + i + 4 * h));
            __m256d e = _mm256_sub_pd(r, q), ee = _mm256_mul_pd(e, e);
            a[S_E2][h] = _mm256_add_pd(a[S_E2][h], ee);
            a[S_W2][h] = _mm256_add_pd(a[S_W2][h], _mm256_mul_pd(r, r));
            a[S_H2][h] = _mm256_add_pd(a[S_H2][h], _mm256_mul_pd(q, q));
            a[S_WH][h] = _mm256_add_pd(a[S_WH][h], _mm256_mul_pd(r, q));
            m[h] = vmax_nan(m[h], _mm256_and_pd(e, absmask));
            if (w) {
                __m256d wi = _mm256_cvtps_pd(_mm_loadu_ps(w + i + 4 * h));
                a[S_IW][h] = _mm256_add_pd(a[S_IW][h], wi);
                a[S_IWE2][h] = _mm256_add_pd(a[S_IWE2][h], _mm256_mul_pd(wi, ee));
            }
        }
    for (int k = 0; k < NSUM; k++)
        for (int h = 0; h < 2; h++) _mm256_storeu_pd(&acc[k][4 * h], a[k][h]);
    for (int h = 0; h < 2; h++) _mm256_storeu_pd(&mx[4 * h], m[h]);
}
#endif

void lb_metrics_init(lb_metrics *m) { memset(m, 0, sizeof *m); }

static double tree8(const double *s) { return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); }

void lb_metrics_add(lb_metrics *m, const float *ref, const float *hat, const float *w, int64_t n)
{
    double acc[NSUM][8] = { { 0 } }, mxl[8] = { 0 };
    int64_t n8 = n > 0 ? n - n % 8 : 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (lb_cpu_active() == LB_CPU_AVX2) lanes_avx2(ref, hat, w, n8, acc, mxl);
    else
#endif
        lanes_scalar(ref, hat, w, n8, acc, mxl);
    double s[NSUM], mx = m->max_abs;
    for (int k = 0; k < NSUM; k++) s[k] = tree8(acc[k]);
    for (int l = 0; l < 8; l++) mx = max_nan(mx, mxl[l]);
    for (int64_t i = n8; i < n; i++) {
        double r = ref[i], h = hat[i], e = r - h;
        s[S_E2] += e * e;
        s[S_W2] += r * r;
        s[S_H2] += h * h;
        s[S_WH] += r * h;
        mx = max_nan(mx, fabs(e));
        if (w) {
            s[S_IW] += w[i];
            s[S_IWE2] += w[i] * (e * e);
        }
    }
    m->n += (uint64_t)n;
    m->sum_e2 += s[S_E2];
    m->sum_w2 += s[S_W2];
    m->sum_h2 += s[S_H2];
    m->sum_wh += s[S_WH];
    m->max_abs = mx;
    if (w) {
        m->n_weighted += (uint64_t)n;
        m->sum_iw += s[S_IW];
        m->sum_iwe2 += s[S_IWE2];
    }
}

void lb_metrics_merge(lb_metrics *dst, const lb_metrics *src)
{
    dst->n += src->n;
    dst->sum_e2 += src->sum_e2;
    dst->sum_w2 += src->sum_w2;
    dst->sum_h2 += src->sum_h2;
    dst->sum_wh += src->sum_wh;
    dst->max_abs = max_nan(dst->max_abs, src->max_abs);
    dst->n_weighted += src->n_weighted;
    dst->sum_iw += src->sum_iw;
    dst->sum_iwe2 += src->sum_iwe2;
}
lb_metrics_result lb_metrics_result_of(const lb_metrics *m)
{
    lb_metrics_result r = { 0, 0, 0, 0, 0, 1, 0 };
    if (!m->n) return r;
    r.mse = m->sum_e2 / (double)m->n;
    r.rmse = sqrt(r.mse);
    r.max_abs = m->max_abs;
    r.rel_rmse = m->sum_w2 > 0 ? sqrt(m->sum_e2 / m->sum_w2) : m->sum_e2 > 0 ? INFINITY : 0;
    r.sqnr_db = m->sum_e2 > 0 ? 10 * log10(m->sum_w2 / m->sum_e2) : INFINITY;
    if (m->sum_w2 > 0 && m->sum_h2 > 0) r.cosine = m->sum_wh / sqrt(m->sum_w2 * m->sum_h2);
    else r.cosine = (m->sum_w2 == 0 && m->sum_h2 == 0) ? 1 : 0;
    r.wmse = m->n_weighted ? (m->sum_iw > 0 ? m->sum_iwe2 / m->sum_iw : 0) : r.mse;
    return r;
}
