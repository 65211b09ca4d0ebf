/* kernelspec.c — find Jupyter kernelspecs as jupyter_client does and read
 * the interpreter and environment out of kernel.json.
 *
 * Only what floe needs is read: argv[0] (the interpreter: ipykernel specs
 * are [python, -m, ipykernel_launcher, -f, {connection_file}]), language,
 * display_name and env. A spec whose language is not Python is refused: floe
 * runs cells in forked Python processes, not through a kernel's protocol. */
#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/kernelspec.h"

static void push_env_dir(strvec *dirs, const char *var, const char *suffix) {
    const char *v = getenv(var);
    if (v && *v) strvec_push_owned(dirs, xasprintf("%s%s", v, suffix));
}

void kspec_search_path(strvec *dirs) {
    const char *jp = getenv("JUPYTER_PATH");
    while (jp && *jp) {
        const char *colon = strchr(jp, ':');
        size_t n = colon ? (size_t)(colon - jp) : strlen(jp);
        while (n > 1 && jp[n - 1] == '/') n--;
        if (n) strvec_push_owned(dirs, xasprintf("%.*s/kernels", (int)n, jp));
        jp = colon ? colon + 1 : NULL;
    }
    const char *dd = getenv("JUPYTER_DATA_DIR"), *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (dd && *dd) strvec_push_owned(dirs, xasprintf("%s/kernels", dd));
    else if (xdg && *xdg) strvec_push_owned(dirs, xasprintf("%s/jupyter/kernels", xdg));
    else if (home && *home) strvec_push_owned(dirs, xasprintf("%s/.local/share/jupyter/kernels", home));
    push_env_dir(dirs, "VIRTUAL_ENV", "/share/jupyter/kernels");
    push_env_dir(dirs, "CONDA_PREFIX", "/share/jupyter/kernels");
    strvec_push(dirs, "/usr/local/share/jupyter/kernels");
    strvec_push(dirs, "/usr/share/jupyter/kernels");
}

/* jupyter_client's _kernel_name_pat: [a-z0-9._-]+, case-insensitive. */
static int valid_name(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-') return 0;
    return 1;
}

static char *lower(const char *s) {
    char *r = xstrdup(s);
    for (char *p = r; *p; p++) *p = (char)tolower((unsigned char)*p);
    return r;
}

/* The directory of kernel `lname` in `kdir`, matched case-insensitively,
 * holding a kernel.json; NULL when none. Returns a new string. */
static char *spec_dir_in(const char *kdir, const char *lname) {
    DIR *d = opendir(kdir);
    if (!d) return NULL;
    char *found = NULL;
    struct dirent *de;
    while (!found && (de = readdir(d))) {
        if (!valid_name(de->d_name) || strcasecmp(de->d_name, lname)) continue;
        char *json = xasprintf("%s/%s/kernel.json", kdir, de->d_name);
        if (access(json, R_OK) == 0) found = xasprintf("%s/%s", kdir, de->d_name);
        free(json);
    }
    closedir(d);
    return found;
}

void kspec_names(strvec *names) {
    strvec dirs = {0};
    kspec_search_path(&dirs);
    for (size_t i = 0; i < dirs.n; i++) {
        DIR *d = opendir(dirs.v[i]);
        if (!d) continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!valid_name(de->d_name) || de->d_name[0] == '.') continue;
            char *json = xasprintf("%s/%s/kernel.json", dirs.v[i], de->d_name);
            char *l = lower(de->d_name);
            if (access(json, R_OK) == 0 && !strvec_contains(names, l)) strvec_push(names, l);
            free(l);
            free(json);
        }
        closedir(d);
    }
    strvec_free(&dirs);
    if (!strvec_contains(names, "python3")) strvec_push(names, "python3");
    strvec_sort_unique(names);
}

/* ${VAR} in a spec's env value, from our environment (jupyter_client
 * substitutes the same way; unknown variables are left as written). */
static char *substitute(const char *v) {
    buf b;
    buf_init(&b);
    while (*v) {
        const char *end = v[0] == '$' && v[1] == '{' ? strchr(v + 2, '}') : NULL;
        if (end) {
            char *var = xstrndup(v + 2, (size_t)(end - v - 2));
            const char *val = getenv(var);
            if (val) buf_puts(&b, val);
            else buf_append(&b, v, (size_t)(end - v + 1));
            free(var);
            v = end + 1;
        } else {
            buf_putc(&b, *v++);
        }
    }
    return buf_steal(&b);
}

static const char *str_field(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Reads dir/kernel.json into k. Returns 0 or -2 with err set. */
static int read_spec(const char *dir, kspec *k, char *err, size_t errlen) {
    char *path = xasprintf("%s/kernel.json", dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    int rc = -2;
    if (!j || !json_is_object(j)) {
        snprintf(err, errlen, "%s: %s", path, j ? "not a JSON object" : je.text);
        goto done;
    }
    const char *lang = str_field(j, "language"), *disp = str_field(j, "display_name");
    json_t *argv = json_object_get(j, "argv");
    const char *argv0 = json_is_array(argv) ? json_string_value(json_array_get(argv, 0)) : NULL;
    k->language = xstrdup(lang ? lang : "");
    k->display_name = xstrdup(disp ? disp : k->name);
    if (strcasecmp(k->language, "python") != 0) {
        snprintf(err, errlen, "kernel '%s' (%s) is for %s, not Python; floe runs Python notebooks only", k->name, path,
                 lang && *lang ? lang : "no language");
        goto done;
    }
    if (!argv0 || !*argv0) {
        snprintf(err, errlen, "kernel '%s' (%s) has no argv[0]", k->name, path);
        goto done;
    }
    k->python = strchr(argv0, '/') ? (access(argv0, X_OK) == 0 ? xstrdup(argv0) : NULL) : cli_search_path(argv0);
    if (!k->python) {
        snprintf(err, errlen, "kernel '%s' (%s): interpreter %s not found", k->name, path, argv0);
        goto done;
    }
    json_t *env = json_object_get(j, "env");
    const char *key;
    json_t *val;
    json_object_foreach(env, key, val) {
        if (!json_is_string(val)) continue;
        char *s = substitute(json_string_value(val));
        strvec_push_owned(&k->env, xasprintf("%s=%s", key, s));
        free(s);
    }
    rc = 0;
done:
    json_decref(j);
    free(path);
    return rc;
}

static void not_found(const char *name, char *err, size_t errlen) {
    strvec names = {0};
    kspec_names(&names);
    buf b;
    buf_init(&b);
    for (size_t i = 0; i < names.n; i++) buf_printf(&b, "%s%s", i ? ", " : "", names.v[i]);
    snprintf(err, errlen, "no such kernel: '%s' (kernels: %s; see floe kernels)", name, b.data);
    buf_free(&b);
    strvec_free(&names);
}

int kspec_find(const char *name, kspec *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->name = lower(name);
    strvec dirs = {0};
    kspec_search_path(&dirs);
    for (size_t i = 0; i < dirs.n && !out->dir; i++) out->dir = spec_dir_in(dirs.v[i], out->name);
    strvec_free(&dirs);
    if (out->dir) return read_spec(out->dir, out, err, errlen);
    if (!strcmp(out->name, "python3")) {
        /* ipykernel's native spec: the interpreter Jupyter itself runs in,
         * which for floe is the python3 on PATH */
        out->display_name = xstrdup("Python 3 (native: python3 on PATH)");
        out->language = xstrdup("python");
        out->python = cli_search_path("python3");
        if (out->python) return 0;
        snprintf(err, errlen, "kernel 'python3': no kernelspec and no python3 on PATH");
        return -2;
    }
    not_found(name, err, errlen);
    return -1;
}

void kspec_free(kspec *k) {
    free(k->name);
    free(k->dir);
    free(k->display_name);
    free(k->language);
    free(k->python);
    strvec_free(&k->env);
    memset(k, 0, sizeof *k);
}

void kspec_apply_env(const kspec *k) {
    for (size_t i = 0; i < k->env.n; i++) {
        char *eq = strchr(k->env.v[i], '=');
        char *key = xstrndup(k->env.v[i], (size_t)(eq - k->env.v[i]));
        setenv(key, eq + 1, 1);
        free(key);
    }
}
