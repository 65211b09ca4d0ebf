/* jk_conn.h — a Jupyter connection file: where the kernel's five sockets
 * listen and the key its messages are signed with.
 *
 *   {"transport": "tcp", "ip": "127.0.0.1", "shell_port": 5, "iopub_port": 6,
 *    "stdin_port": 7, "control_port": 8, "hb_port": 9,
 *    "key": "...", "signature_scheme": "hmac-sha256", "kernel_name": "floe"}
 *
 * transport "ipc" names files "<ip>-<port>" instead of TCP ports. Only
 * hmac-sha256 is accepted (what jupyter_client writes).
 *
 * Ownership: a jk_conn is a plain value (no pointers), filled by the caller's
 * storage; nothing here allocates beyond the call. */
#ifndef FLOE_JK_CONN_H
#define FLOE_JK_CONN_H

#include <stddef.h>

#include "jupyter/jk_wire.h"

enum { JK_SHELL, JK_IOPUB, JK_STDIN, JK_CONTROL, JK_HB, JK_NSOCK };

typedef struct jk_conn {
    char transport[8];
    char ip[256];
    int port[JK_NSOCK];
    jk_key key;
} jk_conn;

/* Parses the JSON text of a connection file. Returns 0, or -1 with a
 * one-line message in err. */
int jk_conn_parse(const char *text, size_t len, jk_conn *c, char *err, size_t errlen);
/* Reads and parses the file at path. Same return. */
int jk_conn_load(const char *path, jk_conn *c, char *err, size_t errlen);
/* The endpoint of socket `which` ("tcp://127.0.0.1:5555", "ipc://x-5"). */
void jk_conn_endpoint(const jk_conn *c, int which, char *out, size_t outlen);

#endif
