/* test_jupyter.c — the Jupyter wire format (src/jupyter/jk_wire.c) and
 * connection files: HMAC-SHA256 against RFC 4231 vectors, signing and
 * verification of a message, rejection of tampered, unsigned, truncated
 * and oversized ones, base64, and the connection file's checks. */
#include <stdlib.h>
#include <string.h>

#include "jupyter/jk_conn.h"
#include "jupyter/jk_wire.h"
#include "unit.h"

static jk_bytes B(const char *s) { return (jk_bytes){(unsigned char *)s, strlen(s)}; }

TEST(jk_hmac_rfc4231) {
    jk_key k;
    char hex[65];
    /* test case 2: key "Jefe"; the data split over the four parts */
    jk_key_set(&k, "Jefe", 4);
    jk_bytes parts[4] = {B("what do ya"), B(" want "), B(""), B("for nothing?")};
    jk_sign(&k, parts, hex);
    CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* test case 1: key 20 x 0x0b, "Hi There" */
    char key1[20];
    memset(key1, 0x0b, sizeof key1);
    jk_key_set(&k, key1, sizeof key1);
    jk_bytes p1[4] = {B("Hi There"), B(""), B(""), B("")};
    jk_sign(&k, p1, hex);
    CHECK_STR(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static int parse_frames(const jk_key *k, jk_bytes *f, size_t n, jk_msg *m) {
    char err[160];
    int rc = jk_msg_parse(k, f, n, m, err, sizeof err);
    if (rc < 0) CHECK(err[0] != '\0');
    return rc;
}

TEST(jk_msg_sign_verify) {
    jk_key k;
    jk_key_set(&k, "secret", 6);
    json_t *h = jk_header("sess", "execute_request");
    json_t *c = json_pack("{s:s}", "code", "1+1");
    jk_bytes id = B("client-1"), buf = B("\x01\x02");
    jk_bytes *f;
    size_t n;
    CHECK_INT(jk_msg_encode(&k, &id, 1, h, NULL, NULL, c, &buf, 1, &f, &n), 0);
    CHECK_INT(n, 8);
    jk_msg m;
    CHECK_INT(parse_frames(&k, f, n, &m), 0);
    CHECK_STR(m.msg_type, "execute_request");
    CHECK_INT(m.nidents, 1);
    CHECK_INT(m.nbuffers, 1);
    CHECK_STR(json_string_value(json_object_get(m.content, "code")), "1+1");
    CHECK_STR(json_string_value(json_object_get(m.header, "version")), "5.3");
    jk_msg_free(&m);
    /* the wrong key, a tampered content, an empty signature: rejected */
    jk_key other;
    jk_key_set(&other, "secreT", 6);
    CHECK_INT(parse_frames(&other, f, n, &m), JK_EBADSIG);
    unsigned char save = f[5].data[0];
    f[5].data[0] = ' ';
    CHECK_INT(parse_frames(&k, f, n, &m), JK_EBADSIG);
    f[5].data[0] = save;
    size_t siglen = f[2].len;
    f[2].len = 0;
    CHECK_INT(parse_frames(&k, f, n, &m), JK_EBADSIG);
    f[2].len = siglen;
    /* uppercase hex is not what jupyter_client sends: rejected */
    for (size_t i = 0; i < f[2].len; i++)
        if (f[2].data[i] >= 'a') f[2].data[i] = (unsigned char)(f[2].data[i] - 32);
    CHECK_INT(parse_frames(&k, f, n, &m), JK_EBADSIG);
    /* truncated: fewer than five frames after the delimiter */
    CHECK_INT(parse_frames(&k, f, 5, &m), JK_EMALFORMED);
    /* no delimiter */
    CHECK_INT(parse_frames(&k, f, 1, &m), JK_EMALFORMED);
    jk_frames_free(f, n);
    json_decref(h);
    json_decref(c);
}

TEST(jk_msg_unsigned_and_malformed) {
    jk_key none = {.len = 0};
    jk_bytes f[6] = {B("<IDS|MSG>"), B(""), B("{\"msg_id\":\"1\",\"msg_type\":\"x\"}"), B("{}"), B("{}"), B("{}")};
    jk_msg m;
    CHECK_INT(parse_frames(&none, f, 6, &m), 0);
    jk_msg_free(&m);
    f[5] = B("[]"); /* content must be an object */
    CHECK_INT(parse_frames(&none, f, 6, &m), JK_EMALFORMED);
    f[5] = B("{}");
    f[2] = B("{\"msg_type\":\"x\"}"); /* no msg_id */
    CHECK_INT(parse_frames(&none, f, 6, &m), JK_EMALFORMED);
    f[2] = B("{\"msg_id\":\"1\",\"msg_type\":\"x\"");
    CHECK_INT(parse_frames(&none, f, 6, &m), JK_EMALFORMED);
}

TEST(jk_msg_too_big) {
    setenv("FLOE_JUPYTER_MAX_MSG", "1M", 1); /* read once: this is the first use in the test binary */
    size_t max = jk_max_bytes();
    CHECK(max >= 1000000);
    jk_bytes f[7] = {B("<IDS|MSG>"), B(""), B("{\"msg_id\":\"1\",\"msg_type\":\"x\"}"), B("{}"), B("{}"), B("{}")};
    f[6].len = max;
    f[6].data = calloc(1, max);
    jk_msg m;
    jk_key none = {.len = 0};
    CHECK_INT(parse_frames(&none, f, 7, &m), JK_ETOOBIG);
    free(f[6].data);
}

TEST(jk_b64) {
    const char *cases[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < 5; i++) {
        char *e = jk_b64_encode((const unsigned char *)cases[i][0], strlen(cases[i][0]));
        CHECK_STR(e, cases[i][1]);
        jk_bytes d;
        CHECK_INT(jk_b64_decode(e, strlen(e), &d), 0);
        CHECK_INT(d.len, strlen(cases[i][0]));
        CHECK(!memcmp(d.data, cases[i][0], d.len));
        free(d.data);
        free(e);
    }
    jk_bytes d;
    CHECK_INT(jk_b64_decode("Zm9", 3, &d), -1);
    CHECK_INT(jk_b64_decode("Z=9v", 4, &d), -1);
    CHECK_INT(jk_b64_decode("Zm9v!!!!", 8, &d), -1);
}

TEST(jk_conn_files) {
    const char *ok = "{\"transport\":\"tcp\",\"ip\":\"127.0.0.1\",\"shell_port\":5001,\"iopub_port\":5002,"
                     "\"stdin_port\":5003,\"control_port\":5004,\"hb_port\":5005,\"key\":\"abc\","
                     "\"signature_scheme\":\"hmac-sha256\",\"kernel_name\":\"floe\"}";
    jk_conn c;
    char err[256], ep[320];
    CHECK_INT(jk_conn_parse(ok, strlen(ok), &c, err, sizeof err), 0);
    CHECK_INT(c.key.len, 3);
    jk_conn_endpoint(&c, JK_CONTROL, ep, sizeof ep);
    CHECK_STR(ep, "tcp://127.0.0.1:5004");
    const char *md5 = "{\"ip\":\"127.0.0.1\",\"shell_port\":1,\"iopub_port\":2,\"stdin_port\":3,\"control_port\":4,"
                      "\"hb_port\":5,\"signature_scheme\":\"hmac-md5\"}";
    CHECK_INT(jk_conn_parse(md5, strlen(md5), &c, err, sizeof err), -1);
    CHECK(strstr(err, "hmac-md5") != NULL);
    const char *noport = "{\"ip\":\"127.0.0.1\",\"shell_port\":1}";
    CHECK_INT(jk_conn_parse(noport, strlen(noport), &c, err, sizeof err), -1);
    CHECK_INT(jk_conn_parse("[", 1, &c, err, sizeof err), -1);
}
