/* test_gantt.c — trace loading and the SVG Gantt chart / summary. */
#include <stdlib.h>
#include <string.h>

#include "trace/gantt.h"
#include "unit.h"
#include "util/util.h"

static const char small[] =
    "{\"traceEvents\":["
    "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"kernel <1>\"}},"
    "{\"name\":\"start\",\"ph\":\"X\",\"pid\":1,\"tid\":0,\"ts\":0,\"dur\":500000,\"args\":{}},"
    "{\"name\":\"compute\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":500000,\"dur\":250000,\"args\":{\"cell\":0}},"
    "{\"name\":\"export:df\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":750000,\"dur\":1000,\"args\":{\"cell\":0}},"
    "{\"name\":\"import:a&b\",\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":760000,\"dur\":2000,\"args\":{\"cell\":1}},"
    "{\"name\":\"compute\",\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":762000,\"dur\":300000,"
    "\"args\":{\"cell\":1,\"dead\":true}},"
    "{\"name\":\"dep\",\"ph\":\"s\",\"pid\":1,\"tid\":1,\"ts\":751000,\"id\":1,\"args\":{}},"
    "{\"name\":\"dep\",\"ph\":\"f\",\"pid\":1,\"tid\":2,\"ts\":760000,\"id\":1,\"args\":{}}],"
    "\"otherData\":{\"notebook\":\"dir/nb.ipynb\",\"mode\":\"parallel\",\"jobs\":\"2\"}}";

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

TEST(gantt_svg_small) {
    gantt *g;
    char err[256] = "";
    REQUIRE(gantt_load(small, strlen(small), &g, err, sizeof err) == 0);
    CHECK_INT(gantt_nbars(g), 5);
    buf b;
    buf_init(&b);
    gantt_svg(g, &(gantt_opts){800, NULL}, &b);
    buf_putc(&b, '\0');
    CHECK(!strncmp(b.data, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\"", 50));
    CHECK(strstr(b.data, "</svg>\n") != NULL);
    CHECK_INT(count(b.data, "<title>"), 5);                    /* a tooltip per bar */
    CHECK(strstr(b.data, "nb.ipynb \xe2\x80\x94 parallel, -j 2") != NULL); /* title, basename */
    CHECK(strstr(b.data, "import:a&amp;b") != NULL);            /* escaped */
    CHECK(strstr(b.data, "kernel &lt;1&gt;") != NULL);          /* lane names escaped */
    CHECK(strstr(b.data, ">compute</text>") != NULL);           /* legend */
    CHECK(strstr(b.data, "time (s)") != NULL);                  /* axis: 1.06 s span */
    CHECK(strstr(b.data, ">0.2</text>") != NULL);               /* ticks every 0.2 s */
    CHECK(strstr(b.data, "class=\"failed\"") != NULL);          /* dead kernel marked */
    CHECK_INT(count(b.data, "marker-end"), 1);                  /* one dependency arrow */
    CHECK(strstr(b.data, "class=\"cell\">0</text>") != NULL);   /* compute bar labelled */
    buf_free(&b);
    buf_init(&b);
    gantt_summary(g, &b);
    buf_putc(&b, '\0');
    CHECK(strstr(b.data, "compute ms") != NULL);
    CHECK(strstr(b.data, "\n0 ") != NULL && strstr(b.data, "\n1 ") != NULL);
    buf_free(&b);
    gantt_free(g);
}

TEST(gantt_rejects_malformed) {
    const char *bad[] = {
        "", "{", "[]", "{\"traceEvents\":{}}", "{\"traceEvents\":[]}",
        "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"compute\",\"ts\":0}]}",
        "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"compute\",\"ts\":0,\"dur\":-1}]}",
        "{\"traceEvents\":[{\"ph\":\"X\",\"ts\":0,\"dur\":1}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gantt *g = NULL;
        char err[256] = "";
        CHECK(gantt_load(bad[i], strlen(bad[i]), &g, err, sizeof err) == -1);
        CHECK(err[0] != '\0');
        CHECK(g == NULL);
    }
}

TEST(gantt_time_axis_in_seconds) {
    const char *t = "[{\"ph\":\"X\",\"name\":\"compute\",\"ts\":0,\"dur\":12000000,\"tid\":0,\"args\":{\"cell\":3}}]";
    gantt *g;
    char err[256];
    REQUIRE(gantt_load(t, strlen(t), &g, err, sizeof err) == 0);
    buf b;
    buf_init(&b);
    gantt_svg(g, NULL, &b);
    buf_putc(&b, '\0');
    CHECK(strstr(b.data, "time (s)") != NULL);
    CHECK(strstr(b.data, ">10</text>") != NULL);
    buf_free(&b);
    gantt_free(g);
}

TEST(gantt_time_axis_in_ms) {
    const char *t = "[{\"ph\":\"X\",\"name\":\"compute\",\"ts\":0,\"dur\":42000,\"tid\":0,\"args\":{\"cell\":0}}]";
    gantt *g;
    char err[256];
    REQUIRE(gantt_load(t, strlen(t), &g, err, sizeof err) == 0);
    buf b;
    buf_init(&b);
    gantt_svg(g, NULL, &b);
    buf_putc(&b, '\0');
    CHECK(strstr(b.data, "time (ms)") != NULL);
    CHECK(strstr(b.data, ">5</text>") != NULL);
    buf_free(&b);
    gantt_free(g);
}
