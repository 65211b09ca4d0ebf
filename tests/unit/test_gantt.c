/* test_gantt.c — trace loading and the SVG Gantt chart / summary. */
#include <stdlib.h>
#include <string.h>

#include "trace/gantt.h"
#include "unit.h"
#include "util/util.h"

/* Start-up on row 0, a writer on row 1, a reader on row 2 (which died), and
 * an arrow whose start is recorded on row 0 (as the engine does) although
 * cell 0 ran on row 1. Row 3 is named but has no events. */
static const char small[] =
    "{\"traceEvents\":["
    "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"kernel <1>\"}},"
    "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":3,\"args\":{\"name\":\"kernel 3\"}},"
    "{\"name\":\"start\",\"ph\":\"X\",\"pid\":1,\"tid\":0,\"ts\":0,\"dur\":500000,\"args\":{}},"
    "{\"name\":\"compute\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":500000,\"dur\":250000,\"args\":{\"cell\":0}},"
    "{\"name\":\"export:df\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":750000,\"dur\":1000,"
    "\"args\":{\"cell\":0,\"codec\":\"arrow\",\"bytes\":2048}},"
    "{\"name\":\"import:a&b\",\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":760000,\"dur\":2000,\"args\":{\"cell\":1}},"
    "{\"name\":\"compute\",\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":762000,\"dur\":300000,"
    "\"args\":{\"cell\":1,\"dead\":true}},"
    "{\"name\":\"dep\",\"ph\":\"s\",\"pid\":1,\"tid\":0,\"ts\":750000,\"id\":1,\"args\":{\"cell\":0,\"names\":\"df\"}},"
    "{\"name\":\"dep\",\"ph\":\"f\",\"pid\":1,\"tid\":2,\"ts\":760000,\"id\":1,\"args\":{\"cell\":1}}],"
    "\"otherData\":{\"notebook\":\"dir/nb.ipynb\",\"mode\":\"parallel\",\"jobs\":\"2\",\"wall_us\":\"1100000\"}}";

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* The text between the first `from` and the next `to` (owned by caller). */
static char *section(const char *s, const char *from, const char *to) {
    const char *a = strstr(s, from);
    if (!a) return xstrdup("");
    const char *b = strstr(a, to);
    return xstrndup(a, b ? (size_t)(b - a) : strlen(a));
}

static gantt *load(const char *text) {
    gantt *g = NULL;
    char err[256] = "";
    if (gantt_load(text, strlen(text), &g, err, sizeof err) < 0) fprintf(stderr, "  load: %s\n", err);
    return g;
}

static char *svg_of(const gantt *g, int width, const char *title) {
    buf b;
    buf_init(&b);
    gantt_svg(g, &(gantt_opts){width, title}, &b);
    buf_putc(&b, '\0');
    return buf_steal(&b);
}

TEST(gantt_svg_small) {
    gantt *g = load(small);
    REQUIRE(g);
    CHECK_INT(gantt_nbars(g), 5);
    CHECK_INT(gantt_nlanes(g), 3);  /* start-up, kernel <1>, kernel 2; not the empty kernel 3 */
    CHECK_INT(gantt_narrows(g), 1);
    char *s = svg_of(g, 800, NULL);
    CHECK(!strncmp(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\"", 50));
    CHECK(strstr(s, "</svg>\n") != NULL);
    char *bars = section(s, "<g class=\"bars\">", "</g>");
    CHECK_INT(count(bars, "<rect "), 5);                 /* one rect per event */
    CHECK_INT(count(bars, "<title>"), 5);                /* each with a tooltip */
    CHECK(strstr(bars, "<title>compute \xc2\xb7 cell 0 \xc2\xb7 250.0 ms") != NULL);
    CHECK(strstr(bars, "export:df \xc2\xb7 cell 0 \xc2\xb7 1.0 ms \xc2\xb7 arrow, 2.0 KiB") != NULL);
    CHECK(strstr(bars, "import:a&amp;b") != NULL);       /* escaped */
    CHECK(strstr(bars, "class=\"failed\"") != NULL);     /* dead kernel marked */
    CHECK(strstr(bars, "class=\"cell\">0</text>") != NULL); /* compute bar labelled */
    free(bars);
    CHECK(strstr(s, "nb.ipynb \xe2\x80\x94 parallel, -j 2 \xe2\x80\x94 1.10 s") != NULL); /* title: wall_us */
    CHECK(strstr(s, "kernel &lt;1&gt;") != NULL);       /* lane names escaped */
    CHECK(strstr(s, ">start-up</text>") != NULL);        /* the zygote's own lane */
    CHECK(strstr(s, ">kernel 2</text>") != NULL);        /* unnamed row */
    CHECK(strstr(s, "kernel 3") == NULL);                /* empty row not drawn */
    char *legend = section(s, "<g class=\"legend\">", "</g>");
    CHECK(strstr(legend, ">compute</text>") && strstr(legend, ">import</text>") && strstr(legend, ">export</text>"));
    CHECK(strstr(legend, ">dependency</text>") != NULL);
    CHECK(strstr(legend, ">fork</text>") == NULL);       /* only kinds present */
    free(legend);
    char *axis = section(s, "<g class=\"axis-ticks\">", "</g>");
    CHECK(strstr(axis, "time (s)") != NULL);             /* 1.062 s span */
    CHECK(strstr(axis, ">0.2</text>") && strstr(axis, ">1</text>"));
    CHECK_INT(count(axis, "class=\"tick\""), 6);         /* 0, 0.2 .. 1 */
    free(axis);
    char *deps = section(s, "<g class=\"deps\">", "</g>");
    CHECK_INT(count(deps, "marker-end"), 1);
    CHECK(strstr(deps, "df: cell 0 \xe2\x86\x92 cell 1") != NULL);
    /* drawn from cell 0's lane (1: y 66+34), not the recorded row 0 */
    CHECK(strstr(deps, "y1=\"113.0\"") != NULL);
    free(deps);
    free(s);
    gantt_free(g);
}

TEST(gantt_summary_table) {
    gantt *g = load(small);
    REQUIRE(g);
    buf b;
    buf_init(&b);
    gantt_summary(g, &b);
    buf_putc(&b, '\0');
    CHECK(strstr(b.data, "compute ms") != NULL);
    CHECK(strstr(b.data, "\n0      1             500.0        0.0        0.0      250.0        1.0") != NULL);
    CHECK(strstr(b.data, "\n1      2             760.0        0.0        2.0      300.0        0.0") != NULL);
    CHECK(strstr(b.data, "\ntotal                    -        0.0        2.0      550.0        1.0") != NULL);
    CHECK(strstr(b.data, "\nwall 1.10 s; 3 lanes, 5 bars, 1 dependency arrows") != NULL);
    buf_free(&b);
    gantt_free(g);
}

TEST(gantt_deterministic_and_titled) {
    gantt *g = load(small);
    REQUIRE(g);
    char *a = svg_of(g, 1000, "A <b> & \"c\""), *b = svg_of(g, 1000, "A <b> & \"c\"");
    CHECK_STR(a, b);
    CHECK(strstr(a, ">A &lt;b&gt; &amp; &quot;c&quot; \xe2\x80\x94 1.10 s</text>") != NULL);
    free(a);
    free(b);
    gantt_free(g);
}

TEST(gantt_rejects_malformed) {
    const char *bad[] = {
        "", "{", "[]", "3", "{\"traceEvents\":{}}", "{\"traceEvents\":[]}", "{\"traceEvents\":[1,\"x\",null]}",
        "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"compute\",\"ts\":0}]}",
        "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"compute\",\"ts\":0,\"dur\":-1}]}",
        "{\"traceEvents\":[{\"ph\":\"X\",\"ts\":0,\"dur\":1}]}",
        "{\"traceEvents\":[{\"ph\":\"X\",\"name\":7,\"ts\":0,\"dur\":1}]}",
        "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"c\",\"ts\":\"0\",\"dur\":1}]}",
        "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"c\",\"ts\":1e300,\"dur\":1}]}",
        "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"c\",\"ts\":0,\"dur\":1e300}]}",
        "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"c\",\"ts\":0,\"dur\":1,\"tid\":1e300}]}",
        "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"c\",\"ts\":0,\"dur\":1,\"tid\":\"1\"}]}",
        "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"c\",\"ts\":0,\"dur\":1},{\"ph\":\"X\"}]}",
        "{\"traceEvents\":[], \"traceEvents\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gantt *g = (gantt *)1;
        char err[256] = "";
        CHECK(gantt_load(bad[i], strlen(bad[i]), &g, err, sizeof err) == -1);
        CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
        CHECK(g == NULL);
    }
    char err[256];
    gantt *g;
    const char *late = "[{\"ph\":\"X\",\"name\":\"c\",\"ts\":0,\"dur\":1},{\"ph\":\"X\",\"name\":\"c\",\"ts\":0}]";
    CHECK(gantt_load(late, strlen(late), &g, err, sizeof err) == -1);
    CHECK(!strncmp(err, "event 1: ", 9));                /* says which event */
}

TEST(gantt_tolerates_odd_but_valid) {
    /* unknown phases, bad flows and odd args are skipped, not fatal */
    const char *t = "{\"traceEvents\":[{\"ph\":\"B\",\"name\":\"x\"},{\"ph\":\"s\",\"id\":\"q\",\"ts\":0},"
                    "{\"ph\":\"f\",\"id\":9,\"ts\":1e300},{\"ph\":\"s\",\"id\":5,\"ts\":1},"
                    "{\"ph\":\"M\",\"name\":\"thread_name\",\"tid\":1e300,\"args\":{\"name\":\"z\"}},"
                    "{\"ph\":\"X\",\"name\":\"compute\",\"ts\":0,\"dur\":0,\"tid\":-4,"
                    "\"args\":{\"cell\":99999999999,\"codec\":5}}],\"otherData\":[1]}";
    gantt *g = load(t);
    REQUIRE(g);
    CHECK_INT(gantt_narrows(g), 0);
    char *s = svg_of(g, 0, NULL);
    CHECK(strstr(s, ">kernel -4</text>") != NULL);
    CHECK(strstr(s, "floe run \xe2\x80\x94 0 \xc2\xb5s") != NULL);
    CHECK(strstr(s, "width=\"1200\"") != NULL);
    free(s);
    buf b;
    buf_init(&b);
    gantt_summary(g, &b);
    CHECK(strstr(b.data, "\ntotal ") != NULL);
    buf_free(&b);
    gantt_free(g);
}

TEST(gantt_xml_safe_text) {
    /* control characters and U+FFFF are not XML; names are cut in lanes */
    const char *t = "[{\"ph\":\"M\",\"name\":\"thread_name\",\"tid\":0,"
                    "\"args\":{\"name\":\"a very long\\tkernel name indeed\"}},"
                    "{\"ph\":\"X\",\"name\":\"x\\u0001y\\uffffz\\u00e9\",\"ts\":0,\"dur\":5,\"tid\":0}]";
    gantt *g = load(t);
    REQUIRE(g);
    char *s = svg_of(g, 0, "bad \xff\xfe utf8 \xe2\x82");
    CHECK(strstr(s, "<title>x?y?z\xc3\xa9 \xc2\xb7 5 \xc2\xb5s") != NULL);
    CHECK(strstr(s, ">bad ?? utf8 ? \xe2\x80\x94") != NULL);  /* cut short: one ? */
    CHECK(strstr(s, "</title>a very long k\xe2\x80\xa6</text>") != NULL);
    CHECK(strstr(s, ">other</text>") != NULL);           /* unknown kinds in the legend */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        CHECK(*p >= 0x20 || *p == '\n');
    free(s);
    gantt_free(g);
}

TEST(gantt_time_axis_in_seconds) {
    const char *t = "[{\"ph\":\"X\",\"name\":\"compute\",\"ts\":0,\"dur\":12000000,\"tid\":0,\"args\":{\"cell\":3}}]";
    gantt *g = load(t);
    REQUIRE(g);
    char *s = svg_of(g, 0, NULL);
    CHECK(strstr(s, "time (s)") != NULL);
    CHECK(strstr(s, ">10</text>") != NULL);
    CHECK(strstr(s, "class=\"cell\">3</text>") != NULL);
    free(s);
    gantt_free(g);
}

TEST(gantt_time_axis_in_ms) {
    const char *t = "[{\"ph\":\"X\",\"name\":\"compute\",\"ts\":100,\"dur\":42000,\"tid\":0,\"args\":{\"cell\":0}},"
                    "{\"ph\":\"X\",\"name\":\"compute\",\"ts\":42100,\"dur\":10,\"tid\":0,\"args\":{\"cell\":12345}}]";
    gantt *g = load(t);
    REQUIRE(g);
    char *s = svg_of(g, 0, NULL);
    CHECK(strstr(s, "time (ms)") != NULL);
    CHECK(strstr(s, ">5</text>") != NULL && strstr(s, ">40</text>") != NULL);
    CHECK(strstr(s, "cell 12345") != NULL);              /* tooltip */
    CHECK(strstr(s, "class=\"cell\">12345<") == NULL);   /* no room for the label */
    free(s);
    gantt_free(g);
}
