/* metrics.c: streaming error metrics (lb_metrics.h). */
#include "lb_metrics.h"

#include <math.h>
#include <string.h>

void lb_metrics_init(lb_metrics *m) { memset(m, 0, sizeof *m); }

void lb_metrics_add(lb_metrics *m, const float *ref, const float *hat, const float *w, int64_t n)
{
    /* per-call partial sums, then one add each: the totals are independent of how a
     * call's values are ordered inside the loop only up to rounding, and identical for
     * identical call sequences */
    double e2 = 0, w2 = 0, h2 = 0, wh = 0, iw = 0, iwe2 = 0, mx = m->max_abs;
    for (int64_t i = 0; i < n; i++) {
        double r = ref[i], h = hat[i], e = r - h;
        e2 += e * e;
        w2 += r * r;
        h2 += h * h;
        wh += r * h;
        double ae = fabs(e);
        if (ae > mx || isnan(ae)) mx = ae;
        if (w) {
            iw += w[i];
            iwe2 += w[i] * (e * e);
        }
    }
    m->n += (uint64_t)n;
    m->sum_e2 += e2;
    m->sum_w2 += w2;
    m->sum_h2 += h2;
    m->sum_wh += wh;
    m->max_abs = mx;
    if (w) {
        m->n_weighted += (uint64_t)n;
        m->sum_iw += iw;
        m->sum_iwe2 += iwe2;
    }
}

void lb_metrics_merge(lb_metrics *dst, const lb_metrics *src)
{
    dst->n += src->n;
    dst->sum_e2 += src->sum_e2;
    dst->sum_w2 += src->sum_w2;
    dst->sum_h2 += src->sum_h2;
    dst->sum_wh += src->sum_wh;
    if (src->max_abs > dst->max_abs || isnan(src->max_abs)) dst->max_abs = src->max_abs;
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
