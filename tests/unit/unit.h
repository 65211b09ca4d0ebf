/* unit.h — the tiny C unit-test framework of floe.
 *
 * A test is `TEST(name) { ... }` in any tests/unit/test_*.c file; the build
 * collects every TEST line into a registry, and runner.c forks each test in
 * its own process with a timeout, so a crash or hang fails one test only.
 * CHECK(cond) records a failure and goes on; REQUIRE(cond) stops the test. */
#ifndef FLOE_UNIT_H
#define FLOE_UNIT_H

#include <stdio.h>
#include <string.h>

extern int unit_failures;

#define TEST(name) void test_##name(void); void test_##name(void)

#define CHECK(cond) do { if (!(cond)) { unit_failures++; \
    fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } } while (0)
#define REQUIRE(cond) do { if (!(cond)) { unit_failures++; \
    fprintf(stderr, "  %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond); return; } } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) { unit_failures++; \
    fprintf(stderr, "  %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } } while (0)
#define CHECK_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) { unit_failures++; \
    fprintf(stderr, "  %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, a_, b_); } } while (0)

#endif
