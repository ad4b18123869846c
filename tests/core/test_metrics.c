#include "core/metrics.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void counters_accumulate_per_label(void **state)
{
    (void)state;
    metrics_reset();
    metrics_count("sitesmith_jobs_total", "kind=\"blog.write\"", 1);
    metrics_count("sitesmith_jobs_total", "kind=\"blog.write\"", 2);
    metrics_count("sitesmith_jobs_total", "kind=\"blog.image\"", 1);
    assert_int_equal(
        metrics_counter_value("sitesmith_jobs_total", "kind=\"blog.write\""),
        3);
    assert_int_equal(metrics_counter_value("sitesmith_jobs_total", "x"), 0);
}

static void render_prometheus_text(void **state)
{
    struct buf out;
    const char *type_line;

    (void)state;
    metrics_reset();
    metrics_count("a_total", "k=\"1\"", 1);
    metrics_observe_ms("latency_ms", "service=\"wix\"", 7);
    metrics_observe_ms("latency_ms", "service=\"wix\"", 700);
    metrics_count("a_total", "k=\"2\"", 5);
    buf_init(&out, 1 << 20);
    assert_int_equal(metrics_render(&out), 0);
    type_line = strstr(out.data, "# TYPE a_total counter\n");
    assert_non_null(type_line);
    assert_null(strstr(type_line + 1, "# TYPE a_total"));
    assert_non_null(strstr(out.data, "a_total{k=\"1\"} 1\n"));
    assert_non_null(strstr(out.data, "a_total{k=\"2\"} 5\n"));
    assert_non_null(strstr(out.data, "# TYPE latency_ms histogram\n"));
    assert_non_null(
        strstr(out.data, "latency_ms_bucket{service=\"wix\",le=\"10\"} 1\n"));
    assert_non_null(
        strstr(out.data, "latency_ms_bucket{service=\"wix\",le=\"1000\"} 2\n"));
    assert_non_null(
        strstr(out.data, "latency_ms_bucket{service=\"wix\",le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(out.data, "latency_ms_sum{service=\"wix\"} 707\n"));
    assert_non_null(strstr(out.data, "latency_ms_count{service=\"wix\"} 2\n"));
    buf_free(&out);
    metrics_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_accumulate_per_label),
        cmocka_unit_test(render_prometheus_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
