/* test_am_quant.c — the quantile sketch against exact quantiles, its windows, and its bounds. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "am_quant.h"

#define N 100000
#define MAX_AGE 600000

/* A fixed xorshift generator: the same data on every run. */
static uint64_t rng_state = 88172645463325252ULL;

static double uniform01(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double normal01(void)
{
    double u = uniform01(), v = uniform01();

    return sqrt(-2 * log(u > 0 ? u : 1e-300)) * cos(2 * M_PI * v);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

enum dist { UNIFORM, EXPONENTIAL, LOGNORMAL, NORMAL, WIDE };

static double draw(enum dist d)
{
    switch (d) {
    case UNIFORM:
        return uniform01() * 1000;
    case EXPONENTIAL:
        return -log(1 - uniform01()) * 0.25;
    case LOGNORMAL:
        return exp(normal01());
    case NORMAL:
        return normal01() * 10; /* negative and positive */
    case WIDE:
        return pow(10, uniform01() * 12 - 6); /* 1e-6 .. 1e6: ~1400 bins */
    }
    return 0;
}

struct acc_row {
    const char *title;
    enum dist dist;
    double qmin; /* quantiles below this are not checked (collapsed bins, WIDE) */
};

static const struct acc_row acc_rows[] = {
    {"uniform", UNIFORM, 0},
    {"exponential", EXPONENTIAL, 0},
    {"lognormal", LOGNORMAL, 0},
    {"normal", NORMAL, 0},
    /* Past AM_QUANT_MAX_BINS bins the lowest merge: the high quantiles keep their bound. */
    {"wide", WIDE, 0.3},
};

static const double qs_checked[] = {0,    0.001, 0.01, 0.05, 0.1,   0.25,   0.5,
                                    0.75, 0.9,   0.95, 0.99, 0.999, 0.9999, 1};

/* Within AM_QUANT_ALPHA of the exact rank-floor(q(n-1)) value, for 100k values, spread over
 * the windows (one observation per 6 ms over 10 minutes). */
static void test_accuracy(void **state)
{
    static double v[N];

    (void)state;
    for (size_t r = 0; r < sizeof(acc_rows) / sizeof(acc_rows[0]); r++) {
        const struct acc_row *row = &acc_rows[r];
        struct am_quant *qs = am_quant_create(MAX_AGE, 5);
        int64_t now = 0;

        assert_non_null(qs);
        for (size_t i = 0; i < N; i++) {
            v[i] = draw(row->dist);
            now = (int64_t)i * (MAX_AGE - 1) / N;
            am_quant_observe(qs, v[i], 1, now);
        }
        qsort(v, N, sizeof(v[0]), cmp_double);
        for (size_t i = 0; i < sizeof(qs_checked) / sizeof(qs_checked[0]); i++) {
            double q = qs_checked[i];
            double exact = v[(size_t)floor(q * (N - 1))];
            double got = am_quant_query(qs, q, now);

            if (q < row->qmin) {
                continue;
            }
            if (!(fabs(got - exact) <= AM_QUANT_ALPHA * fabs(exact) * (1 + 1e-9))) {
                fail_msg("%s q=%g: got %.17g, exact %.17g (error %g)", row->title, q, got, exact,
                         fabs(got - exact) / fabs(exact));
            }
        }
        /* Bounded: at most AM_QUANT_MAX_BINS bins of 12 bytes per window, and a little. */
        assert_true(am_quant_bytes(qs) <= 5 * (AM_QUANT_MAX_BINS * 12 + 128) + 512);
        am_quant_destroy(qs);
    }
}

/* Values exactly at, just above and just below bin bounds: never worse than alpha. */
static void test_bin_edges(void **state)
{
    double gamma = (1 + AM_QUANT_ALPHA) / (1 - AM_QUANT_ALPHA);

    (void)state;
    for (int k = -1000; k <= 1700; k += 7) {
        double edge = pow(gamma, k);
        double tries[] = {edge, nextafter(edge, 0), nextafter(edge, INFINITY), -edge};

        for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
            struct am_quant *qs = am_quant_create(1000, 1);
            double got;

            assert_non_null(qs);
            /* Two values so that min/max clamping does not hide the bin's value. */
            am_quant_observe(qs, tries[i], 1, 0);
            am_quant_observe(qs, tries[i] > 0 ? tries[i] * 4 : tries[i] / 4, 1, 0);
            got = am_quant_query(qs, 0.5, 0);
            if (!(fabs(got - tries[i]) <= AM_QUANT_ALPHA * fabs(tries[i]) * (1 + 1e-9)) &&
                fabs(tries[i]) >= 1e-9 && fabs(tries[i]) <= 1e15) {
                fail_msg("k=%d %.17g: got %.17g", k, tries[i], got);
            }
            am_quant_destroy(qs);
        }
    }
}

struct exact_row {
    const char *title;
    double in[8];
    size_t n;
    double q;
    double want; /* exactly */
};

static const struct exact_row exact_rows[] = {
    {"one value: every quantile is it", {3.3}, 1, 0.5, 3.3},
    {"q=0 is the minimum", {5, 1.234567, 9}, 3, 0, 1.234567},
    {"q=1 is the maximum", {5, 1.234567, 9.87654}, 3, 1, 9.87654},
    {"zero apart from negatives and positives", {-5, 0, 0, 5}, 4, 0.5, 0},
    {"zero at the bottom", {0, 0, 0, 7}, 4, 0.5, 0},
    {"below 1e-9 counts as zero", {-1e-12, 1e-10, 1e-12, 7}, 4, 0.5, 0},
    {"negatives only: min", {-1, -2, -3}, 3, 0, -3},
    {"negatives only: max", {-1, -2, -3}, 3, 1, -1},
    {"NaN and infinities are ignored", {NAN, 2, INFINITY, -INFINITY}, 4, 0.5, 2},
    {"q below 0 is 0", {1, 2, 3}, 3, -1, 1},
    {"q above 1 is 1", {1, 2, 3}, 3, 2, 3},
    {"q NaN", {1, 2, 3}, 3, NAN, NAN},
    {"nothing", {0}, 0, 0.5, NAN},
    {"only NaN", {NAN}, 1, 0.5, NAN},
};

static void test_exact(void **state)
{
    (void)state;
    for (size_t r = 0; r < sizeof(exact_rows) / sizeof(exact_rows[0]); r++) {
        const struct exact_row *row = &exact_rows[r];
        struct am_quant *qs = am_quant_create(MAX_AGE, 5);
        double got;

        assert_non_null(qs);
        for (size_t i = 0; i < row->n; i++) {
            am_quant_observe(qs, row->in[i], 1, 10);
        }
        got = am_quant_query(qs, row->q, 10);
        if (!(got == row->want || (isnan(got) && isnan(row->want)))) {
            fail_msg("%s: got %.17g want %.17g", row->title, got, row->want);
        }
        am_quant_destroy(qs);
    }
}

/* A value seen weight times is that many observations. */
static void test_weight(void **state)
{
    struct am_quant *a = am_quant_create(MAX_AGE, 5), *b = am_quant_create(MAX_AGE, 5);

    (void)state;
    am_quant_observe(a, 1, 1000, 0);
    am_quant_observe(a, 100, 1, 0);
    am_quant_observe(a, 7, 0, 0); /* weight 0: nothing */
    for (int i = 0; i < 1000; i++) {
        am_quant_observe(b, 1, 1, 0);
    }
    am_quant_observe(b, 100, 1, 0);
    for (double q = 0; q <= 1; q += 0.0005) {
        assert_true(am_quant_query(a, q, 0) == am_quant_query(b, q, 0));
    }
    assert_true(am_quant_query(a, 0.999, 0) == 1);
    assert_true(am_quant_query(a, 1, 0) == 100);
    am_quant_destroy(a);
    am_quant_destroy(b);
}

/* max_age 1000 in 4 windows of 250 ms: what is seen at t counts until the end of the window
 * after which max_age has passed from the window's start. */
static void test_windows(void **state)
{
    struct am_quant *qs = am_quant_create(1000, 4);

    (void)state;
    assert_non_null(qs);
    am_quant_observe(qs, 1, 1, 0);   /* window [0, 250) */
    am_quant_observe(qs, 2, 1, 300); /* [250, 500) */
    am_quant_observe(qs, 3, 1, 800); /* [750, 1000) */
    assert_true(am_quant_query(qs, 0, 999) == 1);
    assert_true(am_quant_query(qs, 1, 999) == 3);
    /* At 1000 the first window is older than max_age. */
    assert_true(am_quant_query(qs, 0, 1000) == 2);
    am_quant_observe(qs, 4, 1, 1100); /* reuses the first window's slot */
    assert_true(am_quant_query(qs, 0, 1100) == 2);
    assert_true(am_quant_query(qs, 1, 1100) == 4);
    assert_true(am_quant_query(qs, 0, 1250) == 3);
    assert_true(am_quant_query(qs, 0, 1749) == 3);
    assert_true(am_quant_query(qs, 0, 1750) == 4);
    assert_true(am_quant_query(qs, 0.5, 1999) == 4);
    assert_true(isnan(am_quant_query(qs, 0.5, 2000)));
    /* A long silence, then a value: the old windows do not come back. */
    am_quant_observe(qs, 9, 1, 1000000);
    assert_true(am_quant_query(qs, 0, 1000000) == 9);
    assert_true(isnan(am_quant_query(qs, 0.5, 1001000)));
    am_quant_destroy(qs);
}

/* Memory stays bounded whatever comes in: values over the whole range, in every window. */
static void test_bounded(void **state)
{
    struct am_quant *qs = am_quant_create(MAX_AGE, 5);
    size_t most = 0;

    (void)state;
    for (int i = 0; i < 200000; i++) {
        double v = pow(10, uniform01() * 48 - 24);

        am_quant_observe(qs, uniform01() < 0.5 ? -v : v, 1, (int64_t)i * 10);
        most = am_quant_bytes(qs) > most ? am_quant_bytes(qs) : most;
    }
    assert_true(most <= 5 * (AM_QUANT_MAX_BINS * 12 + 128) + 512);
    am_quant_destroy(qs);
}

static void test_create(void **state)
{
    (void)state;
    assert_null(am_quant_create(0, 5));
    assert_null(am_quant_create(-1, 5));
    assert_null(am_quant_create(1000, 0));
    am_quant_destroy(NULL);
    assert_int_equal(am_quant_bytes(NULL), 0);
    {
        /* More windows than milliseconds: 3 windows of 1 ms. */
        struct am_quant *qs = am_quant_create(3, 10);

        assert_non_null(qs);
        am_quant_observe(qs, 1, 1, 0);
        assert_true(am_quant_query(qs, 0.5, 2) == 1);
        assert_true(isnan(am_quant_query(qs, 0.5, 3)));
        am_quant_destroy(qs);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accuracy), cmocka_unit_test(test_bin_edges),
        cmocka_unit_test(test_exact),    cmocka_unit_test(test_weight),
        cmocka_unit_test(test_windows),  cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_create),
    };

    return cmocka_run_group_tests_name("am_quant", tests, NULL, NULL);
}
