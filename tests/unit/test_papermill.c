/* test_papermill.c — papermill's parameter translation as a table: a -p
 * VALUE on the command line -> the `name = ...` text papermill writes
 * (cli._resolve_type, then translators.PythonTranslator). The expected
 * column was produced by papermill's own functions under Python 3.11. */
#include <stdlib.h>

#include "cli/papermill.h"
#include "unit.h"

static const struct { const char *arg, *want; } values[] = {
    {"True", "True"},
    {"False", "False"},
    {"None", "None"},
    {"10", "10"},
    {"12.51", "12.51"},
    {"-8.2", "-8.2"},
    {"1e16", "1e+16"},
    {"1e15", "1000000000000000.0"},
    {"0.0001", "0.0001"},
    {"0.00001", "1e-05"},
    {"1.5e300", "1.5e+300"},
    {"1e400", "float('inf')"},
    {"-1e400", "float('-inf')"},
    {"-0.0", "-0.0"},
    {"5e-324", "5e-324"},
    {"0.1", "0.1"},
    {" 7 ", "7"},
    {"+5", "5"},
    {"007", "7"},
    {"-0", "0"},
    {"1_000", "1000"},
    {"1__0", "\"1__0\""},
    {"_1", "\"_1\""},
    {"0x10", "\"0x10\""},
    {"1.5_0", "1.5"},
    {"Infinity", "float('inf')"},
    {"nan", "float('nan')"},
    {"-nan", "float('nan')"},
    {"1e", "\"1e\""},
    {".", "\".\""},
    {"1.", "1.0"},
    {".5", "0.5"},
    {"\xc3\xa9", "\"\\xe9\""},
    {"tab\t", "\"tab\\t\""},
    {"a'b", "\"a'b\""},
    {"", "\"\""},
    {"123456789.123456789", "123456789.12345679"},
    {"1e22", "1e+22"},
    {"9007199254740993", "9007199254740993"},
    {"123456789012345678901234567890", "123456789012345678901234567890"},
    {"hello world", "\"hello world\""},
    {"\xf0\x9f\x98\x8d", "\"\\U0001f60d\""},
    {"say \"hi\"", "\"say \\\"hi\\\"\""},
    {"back\\slash", "\"back\\\\slash\""},
    {"1e-7", "1e-07"},
    {"2.5e-5", "2.5e-05"},
    {"100.0", "100.0"},
    {"12345678901234567.0", "1.2345678901234568e+16"},
    {"1E5", "100000.0"},
    {"inf5", "\"inf5\""},
    {"1e+5_0", "1e+50"},
    {"nan(1)", "\"nan(1)\""},
    {"0b1", "\"0b1\""},
    {"1j", "\"1j\""},
    /* not UTF-8: as Python decodes argv (surrogateescape), found by fuzz_params */
    {"a\xc3\xa9\xf0\x9f\x98\x8d\xff\xc0\xafz", "\"a\\xe9\\U0001f60d\\udcff\\udcc0\\udcafz\""},
};

TEST(papermill_resolve_and_translate) {
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        json_t *params = json_object();
        json_object_set_new(params, "x", pm_resolve_type(values[i].arg));
        char *src = pm_codify(params);
        char *want = xasprintf("# Parameters\nx = %s\n", values[i].want);
        CHECK_STR(src, want);
        free(src);
        free(want);
        json_decref(params);
    }
}

TEST(papermill_codify_keeps_order_and_nests) {
    json_t *p = json_loads("{\"foo\": \"bar\", \"baz\": [\"buz\", {\"k\": null, \"t\": true}], \"n\": 1.0}", 0, NULL);
    REQUIRE(p);
    char *src = pm_codify(p);
    CHECK_STR(src, "# Parameters\nfoo = \"bar\"\nbaz = [\"buz\", {\"k\": None, \"t\": True}]\nn = 1.0\n");
    free(src);
    json_t *md = pm_metadata_value(p);
    CHECK(json_equal(md, p));
    json_decref(md);
    json_decref(p);
}
