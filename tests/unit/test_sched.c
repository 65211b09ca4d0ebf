/* test_sched.c — the scheduling core against the scenarios in
 * tests/sched/cases.txt (format described at the top of that file): no
 * process, no event loop; each case feeds the core a notebook and a script
 * of events and compares the actions it takes (starts, kills, re-runs,
 * answers, holders kept and dropped) and the final versions with the
 * expected lines. A failing case prints its name and a diff: -missing
 * (expected, not seen) and +unexpected (seen, not expected) lines.
 * FLOE_SCHED_PRINT=1 prints every case's actual lines. */
#include <stdlib.h>

#include "core/core.h"
#include "unit.h"
#include "util/util.h"

#define CASES_PATH "tests/sched/cases.txt"

typedef struct sched_case {
    char *name;
    int line;
    run_opts o;
    strvec cells;          /* "cell ..." lines, the part after "cell" */
    strvec events;
    strvec want;
} sched_case;

/* ---- building the core's inputs ----------------------------------------------------- */

/* Splits "a,b,c" into v. */
static void split_list(const char *s, strvec *v) {
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n) strvec_push_owned(v, xstrndup(s, n));
        s += n;
        if (*s == ',') s++;
    }
}

/* The value of key=... among the words of line, or NULL; flag words have no '='. */
static int word_value(const char *line, const char *key, char *out, size_t outlen) {
    size_t kl = strlen(key);
    const char *p = line;
    while (*p) {
        while (*p == ' ') p++;
        size_t n = strcspn(p, " ");
        if (n > kl && !strncmp(p, key, kl) && p[kl] == '=') {
            size_t vl = n - kl - 1;
            if (vl >= outlen) vl = outlen - 1;
            memcpy(out, p + kl + 1, vl);
            out[vl] = 0;
            return 1;
        }
        if (n == kl && !strncmp(p, key, kl)) {
            out[0] = 0;
            return 1;
        }
        p += n;
    }
    return 0;
}

static int has_word(const char *line, const char *w) {
    char tmp[8];
    return word_value(line, w, tmp, sizeof tmp) && !tmp[0];
}

static void add_cell(core *c, const char *line, int *count) {
    char buf[1024];
    strvec reads = {0}, writes = {0};
    if (word_value(line, "reads", buf, sizeof buf)) split_list(buf, &reads);
    if (word_value(line, "writes", buf, sizeof buf)) split_list(buf, &writes);
    core_cell_spec s;
    memset(&s, 0, sizeof s);
    s.idx = core_ncells(c);
    s.src = line;
    s.skip = has_word(line, "skip");
    s.raises = has_word(line, "raises");
    s.always_run = has_word(line, "always");
    s.open_world = has_word(line, "open") || has_word(line, "openlazy");
    s.needs_all = has_word(line, "open");
    s.rng = (has_word(line, "draws") ? CORE_RNG_DRAWS : 0) | (has_word(line, "seeds") ? CORE_RNG_SEEDS : 0);
    if (word_value(line, "expect", buf, sizeof buf)) s.expect = atof(buf) / 1000.0;
    s.count = s.skip ? 0 : ++*count;
    s.reads = &reads;
    s.writes = &writes;
    core_add_cells(c, &s, 1);
    strvec_free(&reads);
    strvec_free(&writes);
}

/* Each "done" writes new files, as a kernel does: /run/NAME@K.N, N counting
 * the done messages of the whole test (a re-run of K writes other ones). */
static unsigned long dones;

static json_t *artifact(const char *name, size_t k, const char *codec) {
    char *path = xasprintf("/run/%s@%zu.%lu", name, k, dones);
    json_t *a = json_pack("{s:s,s:s,s:i,s:s}", "name", name, "codec", codec, "cell", (int)k, "path", path);
    free(path);
    return a;
}

static void add_list(json_t *msg, const char *key, const char *line, const char *word) {
    char buf[1024];
    if (!word_value(line, word, buf, sizeof buf)) return;
    strvec v = {0};
    split_list(buf, &v);
    json_t *a = json_array();
    for (size_t i = 0; i < v.n; i++) json_array_append_new(a, json_string(v.v[i]));
    json_object_set_new(msg, key, a);
    strvec_free(&v);
}

/* The kernel's "done" message for "done K exports=a,b unmovable=f ...". */
static json_t *done_msg(size_t k, const char *line) {
    char buf[1024];
    dones++;
    json_t *m = json_pack("{s:s,s:s,s:[]}", "op", "done", "status", "ok", "outputs");
    json_t *ex = json_array();
    strvec v = {0};
    const char *kinds[][2] = {{"exports", "pickle"}, {"dropped", "dropped"}};
    for (size_t t = 0; t < 2; t++) {
        if (!word_value(line, kinds[t][0], buf, sizeof buf)) continue;
        split_list(buf, &v);
        for (size_t i = 0; i < v.n; i++) json_array_append_new(ex, artifact(v.v[i], k, kinds[t][1]));
        strvec_free(&v);
    }
    if (word_value(line, "big", buf, sizeof buf)) { /* a large mapped artifact (--stagger) */
        split_list(buf, &v);
        for (size_t i = 0; i < v.n; i++) {
            json_t *a = artifact(v.v[i], k, "arrow");
            char *path = xasprintf("/run/%s@%zu.arrow", v.v[i], k);
            json_object_set_new(a, "path", json_string(path));
            json_object_set_new(a, "bytes", json_integer(2 << 20));
            free(path);
            json_array_append_new(ex, a);
        }
        strvec_free(&v);
    }
    if (word_value(line, "group", buf, sizeof buf)) { /* co-variables: one group, members listed */
        split_list(buf, &v);
        strvec same = {0};
        char sbuf[256];
        if (word_value(line, "same", sbuf, sizeof sbuf)) split_list(sbuf, &same);
        json_t *members = json_array();
        for (size_t i = 0; i < v.n; i++) json_array_append_new(members, json_string(v.v[i]));
        for (size_t i = 0; i < v.n; i++) {
            json_t *a = artifact(v.v[i], k, "group");
            char gid[32];
            snprintf(gid, sizeof gid, "g%zu", k); /* one group per cell */
            json_object_set(a, "members", members);
            json_object_set_new(a, "gid", json_string(gid));
            if (strvec_contains(&same, v.v[i])) json_object_set_new(a, "same", json_true());
            json_array_append_new(ex, a);
        }
        json_decref(members);
        strvec_free(&same);
        strvec_free(&v);
    }
    if (word_value(line, "mutated", buf, sizeof buf)) { /* exports changed in place, not rebound */
        split_list(buf, &v);
        size_t i;
        json_t *a;
        json_array_foreach(ex, i, a)
            if (strvec_contains(&v, json_string_value(json_object_get(a, "name"))))
                json_object_set_new(a, "mutated", json_true());
        strvec_free(&v);
    }
    json_object_set_new(m, "exports", ex);
    if (word_value(line, "unmovable", buf, sizeof buf)) {
        json_t *u = json_array();
        split_list(buf, &v);
        for (size_t i = 0; i < v.n; i++) json_array_append_new(u, json_pack("{s:s}", "name", v.v[i]));
        strvec_free(&v);
        json_object_set_new(m, "unmovable", u);
    }
    if (word_value(line, "mem", buf, sizeof buf)) json_object_set_new(m, "mem", json_integer(atoll(buf)));
    if (word_value(line, "threads", buf, sizeof buf)) json_object_set_new(m, "threads", json_integer(atoll(buf)));
    if (word_value(line, "native_threads", buf, sizeof buf))
        json_object_set_new(m, "native_threads", json_integer(atoll(buf)));
    add_list(m, "deletes", line, "deletes");
    add_list(m, "files", line, "files");
    add_list(m, "wfiles", line, "wfiles");
    add_list(m, "tfiles", line, "tfiles");
    add_list(m, "sfiles", line, "sfiles");
    if (has_word(line, "rng")) json_object_set_new(m, "rng_touched", json_true());
    if (has_word(line, "drew")) json_object_set_new(m, "rng_drew", json_true());
    if (word_value(line, "nameerror", buf, sizeof buf)) {
        char *ev = xasprintf("name '%s' is not defined", buf);
        json_object_set_new(m, "status", json_string("error"));
        json_object_set_new(m, "ename", json_string("NameError"));
        json_object_set_new(m, "evalue", json_string(ev));
        json_object_set_new(m, "missing", json_pack("[s]", buf)); /* as kernel.py reports it */
        free(ev);
    } else if (has_word(line, "error")) {
        json_object_set_new(m, "status", json_string("error"));
        json_object_set_new(m, "ename", json_string("ValueError"));
        json_object_set_new(m, "evalue", json_string("boom"));
    }
    return m;
}

/* ---- the log of actions ---------------------------------------------------------------- */

static void log_start(buf *b, const core_action *a) {
    buf_printf(b, "start %zu", a->cell);
    if (a->from == CK_HOLDER) buf_printf(b, " holder %d", a->holder);
    if (a->from == CK_MONO) buf_puts(b, " mono");
    if (a->from == CK_CONT || a->from == CK_FORK) {
        buf_printf(b, a->from == CK_FORK ? " fork %d" : " lineage %d", a->holder);
        json_t *names[] = {json_object_get(a->msg, "keep"), json_object_get(a->msg, "hold")};
        const char *words[] = {" keep", " hold"};
        for (size_t w = 0; w < 2; w++) {
            size_t i;
            json_t *v;
            if (json_array_size(names[w])) buf_puts(b, words[w]);
            json_array_foreach(names[w], i, v) buf_printf(b, "%s%s", i ? "," : " ", json_string_value(v));
        }
    }
    json_t *imports = json_object_get(a->msg, "imports");
    if (json_array_size(imports)) {
        buf_puts(b, " import");
        size_t i;
        json_t *art;
        json_array_foreach(imports, i, art)
            buf_printf(b, " %s@%lld", json_string_value(json_object_get(art, "name")),
                       (long long)json_integer_value(json_object_get(art, "cell")));
    }
    if (json_is_true(json_object_get(a->msg, "lazy"))) buf_puts(b, " lazy");
    if (json_object_get(a->msg, "export_only") == NULL && json_object_get(a->msg, "imports")) buf_puts(b, " all");
}

/* One line per action worth comparing (releases, progress and wake-ups are not). */
static void log_action(strvec *log, const core_action *a) {
    buf b;
    buf_init(&b);
    switch (a->kind) {
    case CA_START_POOL: buf_puts(&b, "pool"); break;
    case CA_START: log_start(&b, a); break;
    case CA_KILL: buf_printf(&b, "kill %zu", a->cell); break;
    case CA_RERUN: buf_printf(&b, "rerun %zu", a->cell); break;
    case CA_KEEP:
        if (a->holder) buf_printf(&b, "keep %zu %s %d", a->cell, a->from == CK_CONT ? "lineage" : "holder", a->holder);
        break;
    case CA_DROP_HOLDER:
        buf_printf(&b, "drop %s %d", a->from == CK_CONT ? "lineage" : "holder", a->holder);
        break;
    case CA_ANSWER: {
        json_t *art = json_object_get(a->msg, "artifact");
        buf_printf(&b, "answer %zu %s", a->cell, json_string_value(json_object_get(a->msg, "name")));
        if (art) buf_printf(&b, "@%lld", (long long)json_integer_value(json_object_get(art, "cell")));
        else buf_puts(&b, " none");
        break;
    }
    case CA_RELEASE:
        if (a->holder) buf_printf(&b, "release %zu holder %d", a->cell, a->holder);
        break;
    case CA_WAKE: buf_puts(&b, "wake"); break;
    case CA_PAUSE: buf_printf(&b, "pause %zu", a->cell); break;
    case CA_RESUME: buf_printf(&b, "resume %zu", a->cell); break;
    case CA_SETTLED: break;
    }
    if (b.len) strvec_push(log, b.data);
    buf_free(&b);
}

static void drain(core *c, strvec *log) {
    core_action a;
    while (core_next_action(c, &a)) {
        log_action(log, &a);
        json_decref(a.msg);
    }
}

/* The end state: every cell's state, and who supplies each name last. */
static void log_final(core *c, strvec *log) {
    size_t n = core_ncells(c);
    strvec names = {0};
    for (size_t k = 0; k < n; k++) {
        core_cell *cl = core_cell_at(c, k);
        if (cl->skip) continue;
        const char *st = cl->state == C_DONE ? (cl->error ? "error" : "done")
                                             : cl->state == C_RUNNING ? "running" : "pending";
        char *line = xasprintf("cell %zu %s", k, st);
        strvec_push_owned(log, line);
        for (size_t i = 0; i < cl->exports.n; i++) strvec_push(&names, cl->exports.v[i].name);
    }
    strvec_sort_unique(&names);
    for (size_t i = 0; i < names.n; i++) {
        core_artifact *art = NULL;
        long from;
        int r = core_resolve(c, n, names.v[i], &art, &from);
        if (r == RES_FOUND) strvec_push_owned(log, xasprintf("final %s@%ld", names.v[i], from));
    }
    strvec_free(&names);
    const run_stats *s = core_stats(c);
    strvec_push_owned(log, xasprintf("stats run=%d reruns=%d lazy=%d", s->cells_run, s->reruns, s->lazy_reads));
}

/* ---- running a case --------------------------------------------------------------------- */

static int run_event(core *c, const char *ev, int *count, strvec *log) {
    char word[32];
    size_t k = 0;
    int used = 0;
    if (sscanf(ev, "%31s %n", word, &used) < 1) return -1;
    const char *rest = ev + used;
    if (!strcmp(word, "append")) {
        add_cell(c, rest, count);
        core_schedule(c);
    } else if (!strcmp(word, "gone")) {
        core_holder_gone(c, atoi(rest));
        core_schedule(c);
    } else if (!strcmp(word, "wake")) {
        core_wake(c);
    } else if (!strcmp(word, "stop")) {
        core_stop(c);
    } else if (!strcmp(word, "withdraw")) {
        core_withdraw(c, (size_t)atoi(rest));
    } else {
        if (sscanf(rest, "%zu %n", &k, &used) < 1 || k >= core_ncells(c)) return -1;
        const char *args = rest + used;
        if (!strcmp(word, "done")) {
            json_t *m = done_msg(k, args);
            core_cell_done(c, k, m);
            json_decref(m);
        } else if (!strcmp(word, "died")) {
            char sig[16];
            core_cell_died(c, k, word_value(args, "signal", sig, sizeof sig) ? atoi(sig) : 9, 0);
        } else if (!strcmp(word, "timeout")) {
            core_cell_timed_out(c, k);
        } else if (!strcmp(word, "cpu")) {
            char th[32];
            core_cell_cpu(c, k, atof(args), word_value(args, "threads", th, sizeof th) ? atoi(th) : 1);
        } else if (!strcmp(word, "need")) {
            char name[128], link[128];
            if (sscanf(args, "%127s", name) != 1) return -1;
            core_need(c, k, name, word_value(args, "link", link, sizeof link) ? link : NULL);
        } else {
            return -1;
        }
    }
    drain(c, log);
    return 0;
}

/* Lines of a not in b (a multiset difference that keeps a's order). */
static void diff(const strvec *a, const strvec *b, char sign) {
    int *used = xcalloc(b->n + 1, sizeof *used);
    for (size_t i = 0; i < a->n; i++) {
        size_t j;
        for (j = 0; j < b->n; j++)
            if (!used[j] && !strcmp(a->v[i], b->v[j])) break;
        if (j < b->n) used[j] = 1;
        else fprintf(stderr, "    %c%s\n", sign, a->v[i]);
    }
    free(used);
}

static int same(const strvec *a, const strvec *b) {
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0) return 0;
    return 1;
}

static int run_case(sched_case *sc) {
    core *c = core_new(&sc->o, "/run", NULL, NULL, NULL);
    int count = 0;
    for (size_t i = 0; i < sc->cells.n; i++) add_cell(c, sc->cells.v[i], &count);
    core_plan(c);
    strvec log = {0};
    core_schedule(c);
    core_pool_ready(c, NULL);
    drain(c, &log);
    int ok = 1;
    for (size_t i = 0; i < sc->events.n && ok; i++) {
        strvec_push_owned(&log, xasprintf("> %s", sc->events.v[i]));
        if (run_event(c, sc->events.v[i], &count, &log) < 0) {
            fprintf(stderr, "  %s:%d: case '%s': bad event '%s'\n", CASES_PATH, sc->line, sc->name, sc->events.v[i]);
            ok = 0;
        }
    }
    log_final(c, &log);
    if (getenv("FLOE_SCHED_PRINT")) {
        fprintf(stderr, "=== %s\n", sc->name);
        for (size_t i = 0; i < log.n; i++) fprintf(stderr, "%s\n", log.v[i]);
    }
    if (ok && !same(&log, &sc->want)) {
        fprintf(stderr, "  %s:%d: case '%s':\n", CASES_PATH, sc->line, sc->name);
        diff(&sc->want, &log, '-');
        diff(&log, &sc->want, '+');
        if (sc->want.n == log.n) fprintf(stderr, "    (same lines, another order)\n");
        ok = 0;
    }
    strvec_free(&log);
    core_free(c);
    return ok;
}

/* ---- reading cases.txt ------------------------------------------------------------------ */

static void case_init(sched_case *sc, const char *name, int line) {
    memset(sc, 0, sizeof *sc);
    sc->name = xstrdup(name);
    sc->line = line;
    sc->o.mode = MODE_PARALLEL;
    sc->o.jobs = 4;
}

static void case_free(sched_case *sc) {
    free(sc->name);
    strvec_free(&sc->cells);
    strvec_free(&sc->events);
    strvec_free(&sc->want);
}

/* An option line of a case's header; 0, or -1 if unknown. */
static int parse_option(sched_case *sc, const char *l) {
    if (!strncmp(l, "cell", 4) && (l[4] == ' ' || !l[4])) strvec_push(&sc->cells, l + 4);
    else if (!strcmp(l, "mode serial")) sc->o.mode = MODE_SERIAL;
    else if (!strcmp(l, "mode monolithic")) sc->o.mode = MODE_MONOLITHIC;
    else if (!strcmp(l, "mode parallel")) sc->o.mode = MODE_PARALLEL;
    else if (!strncmp(l, "jobs ", 5)) sc->o.jobs = atoi(l + 5);
    else if (!strncmp(l, "stagger ", 8)) sc->o.stagger_ms = atoi(l + 8);
    else if (!strcmp(l, "allow_errors")) sc->o.allow_errors = 1;
    else if (!strcmp(l, "lazy_always")) sc->o.lazy_always = 1;
    else if (!strcmp(l, "open_ended")) sc->o.open_ended = 1;
    else if (!strcmp(l, "lineage")) sc->o.lineage = sc->o.lineage_fork = 1;
    else if (!strcmp(l, "no_fork")) sc->o.lineage_fork = 0;
    else if (!strcmp(l, "spare")) sc->o.lineage_spare = 1;
    else if (!strcmp(l, "wide")) sc->o.wide = 1;
    else if (!strcmp(l, "wide_pause")) sc->o.wide = sc->o.wide_pause = 1;
    else if (!strncmp(l, "spare_wait ", 11)) sc->o.spare_wait_ms = atoi(l + 11);
    else if (!strncmp(l, "lineage_wait ", 13)) sc->o.lineage_wait_ms = atoi(l + 13);
    else if (!strncmp(l, "branch ", 7)) sc->o.branch_ms = atoi(l + 7);
    else if (!strncmp(l, "mem_budget ", 11)) sc->o.mem_budget = atoll(l + 11);
    else if (!strcmp(l, "schedule critical")) sc->o.schedule = SCHED_CRITICAL;
    else return -1;
    return 0;
}

TEST(sched_cases) {
    size_t len;
    char *text = read_file(CASES_PATH, &len);
    REQUIRE(text != NULL);
    sched_case sc;
    int have = 0, section = 0, lineno = 0, ncases = 0, failed = 0;
    char *next = text;
    for (;;) {
        char *l = next;
        if (l) {
            next = strchr(l, '\n');
            if (next) *next++ = 0;
            else if (!*l) l = NULL;
        }
        lineno++;
        if (!l || !strncmp(l, "=== ", 4)) {
            if (have) {
                ncases++;
                if (!run_case(&sc)) failed++;
                case_free(&sc);
            }
            if (!l) break;
            case_init(&sc, l + 4, lineno);
            have = 1;
            section = 0;
            continue;
        }
        while (*l == ' ') l++;
        if (!*l || *l == '#' || !have) continue;
        if (!strcmp(l, "--- run")) {
            section = 1;
        } else if (section == 1) {
            if (!strncmp(l, "> ", 2)) strvec_push(&sc.events, l + 2);
            strvec_push(&sc.want, l);
        }
        else if (parse_option(&sc, l) < 0) {
            fprintf(stderr, "  %s: case '%s': unknown line '%s'\n", CASES_PATH, sc.name, l);
            failed++;
        }
    }
    free(text);
    fprintf(stderr, "  %d scheduler scenarios, %d failed\n", ncases, failed);
    CHECK(ncases >= 60);
    CHECK_INT(failed, 0);
}
