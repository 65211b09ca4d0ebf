/* jk_conn.c — connection files (see jk_conn.h). */
#include "jupyter/jk_conn.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static const char *const port_names[JK_NSOCK] = {"shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"};

static int fail(char *err, size_t errlen, const char *msg, const char *arg) {
    snprintf(err, errlen, msg, arg);
    return -1;
}

int jk_conn_parse(const char *text, size_t len, jk_conn *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    int rc = -1;
    if (!j || !json_is_object(j)) {
        fail(err, errlen, "connection file is not a JSON object%s", j ? "" : " (invalid JSON)");
        goto done;
    }
    const char *tr = json_string_value(json_object_get(j, "transport"));
    const char *ip = json_string_value(json_object_get(j, "ip"));
    const char *scheme = json_string_value(json_object_get(j, "signature_scheme"));
    json_t *key = json_object_get(j, "key");
    tr = tr ? tr : "tcp";
    if (strcmp(tr, "tcp") && strcmp(tr, "ipc")) {
        fail(err, errlen, "unsupported transport '%.32s'", tr);
        goto done;
    }
    if (!ip || !*ip || strlen(ip) >= sizeof c->ip) {
        fail(err, errlen, "connection file has no usable ip%s", "");
        goto done;
    }
    if (scheme && strcmp(scheme, "hmac-sha256")) {
        fail(err, errlen, "unsupported signature_scheme '%.32s' (floe signs with hmac-sha256)", scheme);
        goto done;
    }
    if (key && !json_is_string(key)) {
        fail(err, errlen, "key is not a string%s", "");
        goto done;
    }
    if (key && jk_key_set(&c->key, json_string_value(key), json_string_length(key)) < 0) {
        fail(err, errlen, "key longer than %s bytes", "1024");
        goto done;
    }
    snprintf(c->transport, sizeof c->transport, "%s", tr);
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    for (int i = 0; i < JK_NSOCK; i++) {
        json_t *p = json_object_get(j, port_names[i]);
        if (!json_is_integer(p) || json_integer_value(p) <= 0 || json_integer_value(p) > 65535) {
            fail(err, errlen, "%s missing or not a port number", port_names[i]);
            goto done;
        }
        c->port[i] = (int)json_integer_value(p);
    }
    rc = 0;
done:
    json_decref(j);
    return rc;
}

int jk_conn_load(const char *path, jk_conn *c, char *err, size_t errlen) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = jk_conn_parse(text, len, c, err, errlen);
    free(text);
    return rc;
}

void jk_conn_endpoint(const jk_conn *c, int which, char *out, size_t outlen) {
    if (!strcmp(c->transport, "ipc")) snprintf(out, outlen, "ipc://%s-%d", c->ip, c->port[which]);
    else snprintf(out, outlen, "tcp://%s:%d", c->ip, c->port[which]);
}
