/* runner.c — runs every registered unit test in a forked child with a
 * timeout and prints one line per test and a closing "N passed, N failed".
 * `unit_tests NAME...` runs only the named tests; FLOE_UNIT_NOFORK=1 runs
 * them in-process (for gdb). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

int unit_failures;

#define TEST_ENTRY(n) void test_##n(void);
#include "unit-registry.h"
#undef TEST_ENTRY

struct entry { const char *name; void (*fn)(void); };
static const struct entry tests[] = {
#define TEST_ENTRY(n) { #n, test_##n },
#include "unit-registry.h"
#undef TEST_ENTRY
};

static int run_forked(const struct entry *t, int timeout_s) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        alarm((unsigned)timeout_s);
        t->fn();
        fflush(NULL);
        _exit(unit_failures ? 1 : 0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (WIFSIGNALED(st)) {
        fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(st),
                WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
        return 1;
    }
    return WEXITSTATUS(st) != 0;
}

static int selected(const char *name, int argc, char **argv) {
    if (argc < 2) return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return 1;
    return 0;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0, nofork = getenv("FLOE_UNIT_NOFORK") != NULL;
    size_t n = sizeof tests / sizeof tests[0];
    for (size_t i = 0; i < n; i++) {
        if (!selected(tests[i].name, argc, argv)) continue;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int bad;
        if (nofork) { unit_failures = 0; tests[i].fn(); bad = unit_failures != 0; }
        else bad = run_forked(&tests[i], 60);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        printf("%s %-40s %8.1f ms\n", bad ? "FAIL" : "ok  ", tests[i].name, ms);
        if (bad) failed++; else passed++;
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
