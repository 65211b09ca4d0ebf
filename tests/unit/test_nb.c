/* test_nb.c — notebook model: .ipynb and percent-format loading, errors,
 * round trips, result updates. */
#include <stdlib.h>

#include "nb/nb.h"
#include "unit.h"
#include "util/util.h"

static nb *load(const char *name, const char *text, char *err, size_t errlen) {
    nb *n = NULL;
    if (nb_load_mem(name, text, strlen(text), &n, err, errlen) < 0) return NULL;
    return n;
}

static const char minimal[] =
    "{\"cells\":[{\"cell_type\":\"markdown\",\"metadata\":{},\"source\":[\"# T\"]},"
    "{\"cell_type\":\"code\",\"id\":\"a1\",\"metadata\":{\"tags\":[\"parameters\"]},\"execution_count\":null,"
    "\"outputs\":[],\"source\":[\"x = 1\\n\",\"print(x)\"]}],"
    "\"metadata\":{\"custom\":{\"k\":[1,2]}},\"nbformat\":4,\"nbformat_minor\":5}";

TEST(nb_ipynb_basic) {
    char err[256] = "";
    nb *n = load("a.ipynb", minimal, err, sizeof err);
    REQUIRE(n != NULL);
    CHECK_INT(nb_ncells(n), 2);
    CHECK_INT(nb_ncode(n), 1);
    CHECK_INT(nb_code_cell(n, 0), 1);
    CHECK_STR(nb_cell_source(n, 1), "x = 1\nprint(x)");
    CHECK(nb_cell_has_tag(n, 1, "parameters"));
    CHECK(!nb_cell_has_tag(n, 1, "other"));
    nb_free(n);
}

TEST(nb_ipynb_roundtrip_preserves_unknown) {
    char err[256] = "";
    nb *n = load("a.ipynb", minimal, err, sizeof err);
    REQUIRE(n != NULL);
    json_t *outs = json_array();
    json_array_append_new(outs, json_pack("{s:s,s:s,s:s}", "output_type", "stream", "name", "stdout", "text", "1\n"));
    nb_set_outputs(n, 1, outs, 1, NULL);
    char *s = nb_dump_ipynb(n);
    nb *m = load("b.ipynb", s, err, sizeof err);
    REQUIRE(m != NULL);
    json_t *custom = json_object_get(json_object_get(nb_root(m), "metadata"), "custom");
    CHECK_INT(json_array_size(json_object_get(custom, "k")), 2);
    CHECK_STR(json_string_value(json_object_get(nb_cell_json(m, 1), "id")), "a1");
    CHECK_INT(json_integer_value(json_object_get(nb_cell_json(m, 1), "execution_count")), 1);
    CHECK(s[strlen(s) - 1] == '\n');
    free(s);
    nb_free(m);
    nb_free(n);
}

struct bad_case { const char *text; const char *expect; };

TEST(nb_ipynb_errors) {
    static const struct bad_case cases[] = {
        {"{\"cells\": [", "a.ipynb:1:"},
        {"[]", "top level is not a JSON object"},
        {"{\"nbformat\": 3, \"cells\": []}", "nbformat 3 is not supported"},
        {"{\"nbformat\": 4}", "missing list 'cells'"},
        {"{\"nbformat\": 4, \"cells\": [{\"cell_type\": \"code\"}]}", "cell 0: missing 'source'"},
        {"{\"nbformat\": 4, \"cells\": [{\"cell_type\": \"code\", \"source\": 3}]}", "must be a string or a list"},
        {"{\"nbformat\": 4, \"cells\": [{\"cell_type\": 1, \"source\": \"\"}]}", "cell_type"},
        {"{\"nbformat\": 4, \"cells\": [{\"cell_type\": \"code\", \"source\": \"\", \"outputs\": {}}]}", "'outputs' must be a list"},
        {"{\"nbformat\": 4, \"cells\": [7]}", "not a JSON object"},
        {"{\"nbformat\": 4, \"cells\": [], \"x\": \"\xff\"}", "a.ipynb:1:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        nb *n = load("a.ipynb", cases[i].text, err, sizeof err);
        CHECK(n == NULL);
        if (!strstr(err, cases[i].expect)) {
            fprintf(stderr, "  case %zu: message \"%s\" lacks \"%s\"\n", i, err, cases[i].expect);
            unit_failures++;
        }
        CHECK(strchr(err, '\n') == NULL);
        nb_free(n);
    }
}

TEST(nb_py_percent) {
    const char *text =
        "import os\n\n"
        "# %% tags=[\"parameters\"]\n"
        "alpha = 1\n\n\n"
        "# %% [markdown]\n"
        "# # Title\n"
        "# text\n"
        "#\n"
        "# %% Second cell\n"
        "print(alpha)\n";
    char err[256] = "";
    nb *n = load("s.py", text, err, sizeof err);
    REQUIRE(n != NULL);
    CHECK_INT(nb_ncells(n), 4);
    CHECK_INT(nb_ncode(n), 3);
    CHECK_STR(nb_cell_source(n, 0), "import os");
    CHECK_STR(nb_cell_source(n, 1), "alpha = 1");
    CHECK(nb_cell_has_tag(n, 1, "parameters"));
    CHECK(nb_cell_kind(n, 2) == NB_MARKDOWN);
    CHECK_STR(nb_cell_source(n, 2), "# Title\ntext");
    CHECK_STR(json_string_value(json_object_get(json_object_get(nb_cell_json(n, 3), "metadata"), "title")),
              "Second cell");
    char *py = nb_dump_py(n);
    nb *m = load("t.py", py, err, sizeof err);
    REQUIRE(m != NULL);
    CHECK_INT(nb_ncells(m), 4);
    for (size_t i = 0; i < 4; i++) CHECK_STR(nb_cell_source(m, i), nb_cell_source(n, i));
    CHECK(nb_cell_has_tag(m, 1, "parameters"));
    free(py);
    nb_free(m);
    nb_free(n);
}

TEST(nb_py_no_markers_is_one_cell) {
    char err[256] = "";
    nb *n = load("s.py", "x = 1\n\ny = x\n\n", err, sizeof err);
    REQUIRE(n != NULL);
    CHECK_INT(nb_ncode(n), 1);
    CHECK_STR(nb_cell_source(n, 0), "x = 1\n\ny = x");
    nb_free(n);
    n = load("e.py", "", err, sizeof err);
    REQUIRE(n != NULL);
    CHECK_INT(nb_ncode(n), 1);
    nb_free(n);
}

TEST(nb_py_bad_utf8) {
    char err[256] = "";
    nb *n = load("s.py", "# %%\nx = '\xff'\n", err, sizeof err);
    CHECK(n == NULL);
    CHECK(strstr(err, "UTF-8") != NULL);
}

TEST(nb_insert_parameters_cell) {
    char err[256] = "";
    nb *n = load("a.ipynb", minimal, err, sizeof err);
    REQUIRE(n != NULL);
    const char *tags[] = {"injected-parameters", NULL};
    nb_insert_code(n, 2, "# Parameters\nx = 5\n", tags);
    CHECK_INT(nb_ncode(n), 2);
    CHECK_STR(nb_cell_source(n, 2), "# Parameters\nx = 5\n");
    CHECK(nb_cell_has_tag(n, 2, "injected-parameters"));
    CHECK(json_is_string(json_object_get(nb_cell_json(n, 2), "id")));
    nb_free(n);
}
