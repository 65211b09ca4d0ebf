/* test_map.c — map.h's name index against a linear search: positions,
 * first position wins, absent names, growth past many resizes. */
#include <stdio.h>
#include <stdlib.h>

#include "unit.h"
#include "util/map.h"

TEST(nameidx_matches_linear_search) {
    enum { N = 3000 };
    char *names[N];
    nameidx x = {0};
    CHECK_INT(nameidx_get(&x, "absent"), -1); /* empty: no slots yet */
    for (size_t i = 0; i < N; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "n%zu", i % 1000); /* each name three times */
        names[i] = strdup(buf);
        nameidx_add(&x, names[i], i);
    }
    CHECK_INT(x.used, 1000);
    for (size_t i = 0; i < N; i++) {
        size_t first = 0;
        while (strcmp(names[first], names[i]) != 0) first++;
        CHECK_INT(nameidx_get(&x, names[i]), (long long)first);
    }
    CHECK_INT(nameidx_get(&x, "n1000"), -1);
    CHECK_INT(nameidx_get(&x, ""), -1);
    nameidx_free(&x);
    CHECK_INT(nameidx_get(&x, "n1"), -1);
    for (size_t i = 0; i < N; i++) free(names[i]);
}
