/* test_quant_metrics.c: the streaming error metrics (lb_metrics.h) on values worked out
 * by hand, split-and-merge, weights, and the empty and exact cases. */
#include <math.h>
#include <string.h>

#include "lb_metrics.h"
#include "tap.h"

static int near(double a, double b) { return fabs(a - b) <= 1e-12 * (1 + fabs(b)); }

int main(void)
{
    const float ref[4] = { 1, 2, 3, 4 }, hat[4] = { 1, 2, 3, 5 }, w[4] = { 1, 1, 1, 3 };

    tap_begin("metrics-hand-values");
    lb_metrics m;
    lb_metrics_init(&m);
    lb_metrics_add(&m, ref, hat, NULL, 4);
    lb_metrics_result r = lb_metrics_result_of(&m);
    /* e = (0, 0, 0, -1): sum e^2 = 1, sum W^2 = 30, sum W^^2 = 39, sum W W^ = 34 */
    CHECK(near(r.mse, 0.25) && near(r.rmse, 0.5), "mse %g rmse %g", r.mse, r.rmse);
    CHECK(r.max_abs == 1, "max %g", r.max_abs);
    CHECK(near(r.rel_rmse, sqrt(1.0 / 30)), "rel %g", r.rel_rmse);
    CHECK(near(r.sqnr_db, 10 * log10(30.0)), "sqnr %g", r.sqnr_db);
    CHECK(near(r.cosine, 34 / sqrt(30.0 * 39.0)), "cos %g", r.cosine);
    CHECK(near(r.wmse, r.mse), "unweighted wmse falls back to mse: %g", r.wmse);
    tap_end();

    tap_begin("metrics-weighted");
    lb_metrics_init(&m);
    lb_metrics_add(&m, ref, hat, w, 4);
    r = lb_metrics_result_of(&m);
    CHECK(near(r.wmse, 3.0 / 6.0), "wmse %g want 0.5", r.wmse);
    CHECK(near(r.mse, 0.25), "mse unaffected by weights: %g", r.mse);
    tap_end();

    tap_begin("metrics-merge");
    lb_metrics a, b, whole;
    lb_metrics_init(&a);
    lb_metrics_init(&b);
    lb_metrics_init(&whole);
    lb_metrics_add(&a, ref, hat, w, 3);
    lb_metrics_add(&b, ref + 3, hat + 3, w + 3, 1);
    lb_metrics_add(&whole, ref, hat, w, 4);
    lb_metrics_merge(&a, &b);
    lb_metrics_result ra = lb_metrics_result_of(&a), rw = lb_metrics_result_of(&whole);
    CHECK(a.n == 4 && a.n_weighted == 4, "counts %llu %llu", (unsigned long long)a.n, (unsigned long long)a.n_weighted);
    CHECK(!memcmp(&ra, &rw, sizeof ra), "merged partials differ from one pass (exact sums here)");
    /* same partials, same order: same bits, every time */
    lb_metrics c1, c2;
    lb_metrics_init(&c1);
    lb_metrics_init(&c2);
    for (int i = 0; i < 3; i++) { lb_metrics_merge(&c1, &a); lb_metrics_merge(&c2, &a); }
    CHECK(!memcmp(&c1, &c2, sizeof c1), "merge not reproducible");
    tap_end();

    tap_begin("metrics-edge-cases");
    lb_metrics_init(&m);
    r = lb_metrics_result_of(&m);
    CHECK(r.mse == 0 && r.cosine == 1 && r.rel_rmse == 0, "empty: mse %g cos %g", r.mse, r.cosine);
    lb_metrics_add(&m, ref, ref, NULL, 4);
    r = lb_metrics_result_of(&m);
    CHECK(r.mse == 0 && isinf(r.sqnr_db) && near(r.cosine, 1), "exact: sqnr %g cos %g", r.sqnr_db, r.cosine);
    const float zero[4] = { 0 }, nan_hat[2] = { NAN, 0 };
    lb_metrics_init(&m);
    lb_metrics_add(&m, zero, hat, NULL, 4);
    r = lb_metrics_result_of(&m);
    CHECK(isinf(r.rel_rmse) && r.cosine == 0, "zero reference: rel %g cos %g", r.rel_rmse, r.cosine);
    lb_metrics_init(&m);
    lb_metrics_add(&m, zero, nan_hat, NULL, 2);
    r = lb_metrics_result_of(&m);
    CHECK(isnan(r.mse) && isnan(r.max_abs), "NaN propagates: mse %g max %g", r.mse, r.max_abs);
    tap_end();
    TAP_EXIT();
}
