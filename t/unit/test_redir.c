
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Unit tests of the redirection-authentication filter (cmocka), against
 * byte sequences of Intel's UI toolkit, MeshCentral's scripts and an AMT
 * device: what each side gets, that the digest answer is the one AMT
 * computes from the password (checked here with an MD5 of its own), that
 * the console never sees the password nor the challenge, held and split
 * input, and every refusal.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "ngx_fcfh_redir.h"


#define USER      "admin"
#define PASSWORD  "P@ssw0rd"
#define REALM     "Digest:0123456789ABCDEF0123456789ABCDEF"
#define NONCE     "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"

#define C         NGX_FCFH_REDIR_CONSOLE
#define D         NGX_FCFH_REDIR_DEVICE


typedef struct {
    uint8_t       out[2][16384];
    size_t        len[2];
    int           fail;
} sink_t;


static sink_t            sink;
static ngx_fcfh_redir_t  rd;


static const uint8_t  start_sol[] = { 0x10, 0, 0, 0, 'S', 'O', 'L', ' ' };
static const uint8_t  start_kvm[] = { 0x10, 1, 0, 0, 'K', 'V', 'M', 'R' };
static const uint8_t  start_reply[] = {
    0x11, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 'o', 'k'
};
static const uint8_t  query[] = { 0x13, 0, 0, 0, 0, 0, 0, 0, 0 };
static const uint8_t  methods_134[] = {
    0x14, 0, 0, 0, 0, 3, 0, 0, 0, 1, 3, 4
};
static const uint8_t  shown_4[] = { 0x14, 0, 0, 0, 0, 1, 0, 0, 0, 4 };
static const uint8_t  success_4[] = { 0x14, 0, 0, 0, 4, 0, 0, 0, 0 };
static const uint8_t  failure_4[] = { 0x14, 1, 0, 0, 4, 0, 0, 0, 0 };
static const uint8_t  refused[] = { 0x14, 1, 0, 0, 0, 0, 0, 0, 0 };

/* the toolkit's digest start: empty user and URI */
static const uint8_t  toolkit_digest[] = {
    0x13, 0, 0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};

/* SOL settings, as the toolkit sends them after success */
static const uint8_t  sol_settings[] = {
    0x20, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x27, 100, 0, 0, 0, 0x10, 0x27,
    100, 0, 0, 0, 0, 0, 0, 0
};


static int
capture(void *data, int to, const uint8_t *buf, size_t len)
{
    sink_t  *s = data;

    if (s->fail) {
        return -1;
    }

    assert_true(to == C || to == D);
    assert_true(len <= sizeof(s->out[to]) - s->len[to]);

    memcpy(s->out[to] + s->len[to], buf, len);
    s->len[to] += len;

    return 0;
}


static int
setup(void **state)
{
    memset(&sink, 0, sizeof(sink));

    assert_int_equal(ngx_fcfh_redir_init(&rd, (uint8_t *) USER,
                                         strlen(USER), (uint8_t *) PASSWORD,
                                         strlen(PASSWORD), capture, &sink),
                     0);

    return 0;
}


static void
drain(void)
{
    sink.len[C] = 0;
    sink.len[D] = 0;
}


static int
in(int from, const void *buf, size_t len)
{
    return ngx_fcfh_redir_input(&rd, from, buf, len);
}


#define IN(from, a)  in(from, a, sizeof(a))


static void
assert_out(int to, const void *want, size_t len)
{
    assert_int_equal(sink.len[to], len);
    assert_memory_equal(sink.out[to], want, len);
}


#define OUT(to, a)  assert_out(to, a, sizeof(a))


static void
md5_hex(const char *s, size_t len, char *hex)
{
    size_t         i;
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    assert_int_equal(EVP_Digest(s, len, md, &n, EVP_md5(), NULL), 1);

    for (i = 0; i < 16; i++) {
        sprintf(hex + 2 * i, "%02x", md[i]);
    }
}


static uint32_t
le32(const uint8_t *p)
{
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t) p[3] << 24);
}


/* the fields of an AuthenticateSession the device got: their count */

static int
fields(const uint8_t *m, size_t n, char f[][256], int max)
{
    int     i;
    size_t  off, len, flen;

    assert_true(n >= 9);
    assert_int_equal(m[0], 0x13);
    len = le32(m + 5);
    assert_int_equal(n, 9 + len);

    off = 9;

    for (i = 0; i < max && off < n; i++) {
        flen = m[off++];
        assert_true(flen <= n - off);
        memcpy(f[i], m + off, flen);
        f[i][flen] = '\0';
        off += flen;
    }

    assert_int_equal(off, n);

    return i;
}


/* a challenge as AMT sends it */

static size_t
challenge(uint8_t *b, uint8_t method, const char *qop)
{
    size_t  n;

    n = 9;
    b[n++] = strlen(REALM);
    memcpy(b + n, REALM, strlen(REALM));
    n += strlen(REALM);
    b[n++] = strlen(NONCE);
    memcpy(b + n, NONCE, strlen(NONCE));
    n += strlen(NONCE);

    if (qop) {
        b[n++] = strlen(qop);
        memcpy(b + n, qop, strlen(qop));
        n += strlen(qop);
    }

    b[0] = 0x14;
    b[1] = 1;
    b[2] = 0;
    b[3] = 0;
    b[4] = method;
    b[5] = (n - 9) & 0xff;
    b[6] = (n - 9) >> 8;
    b[7] = 0;
    b[8] = 0;

    return n;
}


/* the answer the device got is the one AMT expects for the password */

static void
check_answer(uint8_t method)
{
    int   n;
    char  f[8][256], buf[1024], ha1[33], ha2[33], want[33];

    n = fields(sink.out[D], sink.len[D], f, 8);
    assert_int_equal(sink.out[D][4], method);
    assert_int_equal(n, method == 4 ? 8 : 7);

    assert_string_equal(f[0], USER);
    assert_string_equal(f[1], REALM);
    assert_string_equal(f[2], NONCE);
    assert_string_equal(f[3], "/RedirectionService");
    assert_int_equal(strlen(f[4]), 32);
    assert_string_equal(f[5], "00000001");

    snprintf(buf, sizeof(buf), "%s:%s:%s", USER, REALM, PASSWORD);
    md5_hex(buf, strlen(buf), ha1);
    snprintf(buf, sizeof(buf), "POST:%s", f[3]);
    md5_hex(buf, strlen(buf), ha2);

    if (method == 4) {
        assert_string_equal(f[7], "auth");
        snprintf(buf, sizeof(buf), "%s:%s:%s:%s:%s:%s", ha1, NONCE, f[5],
                 f[4], f[7], ha2);

    } else {
        snprintf(buf, sizeof(buf), "%s:%s:%s", ha1, NONCE, ha2);
    }

    md5_hex(buf, strlen(buf), want);
    assert_string_equal(f[6], want);
}


static int
contains(const uint8_t *h, size_t hn, const char *needle)
{
    size_t  i, n;

    n = strlen(needle);

    for (i = 0; i + n <= hn; i++) {
        if (memcmp(h + i, needle, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/* start and query up to the methods the console is shown */

static void
to_methods(const uint8_t *methods, size_t n)
{
    assert_int_equal(IN(C, start_sol), NGX_FCFH_REDIR_OK);
    OUT(D, start_sol);
    assert_int_equal(sink.len[C], 0);
    assert_memory_equal(rd.session, "SOL ", 4);

    assert_int_equal(IN(D, start_reply), NGX_FCFH_REDIR_OK);
    OUT(C, start_reply);
    drain();

    assert_int_equal(IN(C, query), NGX_FCFH_REDIR_OK);
    OUT(D, query);
    assert_int_equal(sink.len[C], 0);
    drain();

    assert_int_equal(in(D, methods, n), NGX_FCFH_REDIR_OK);
    assert_int_equal(sink.len[D], 0);
}


static void
test_toolkit(void **state)
{
    int      i;
    size_t   n, seen;
    uint8_t  ch[600], sol[] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0, 'h', 'i' };
    uint8_t  echo[] = { 0x2a, 0, 0, 0, 1, 0, 0, 0, 2, 0, 'h', 'i' };
    char     f[8][256];

    to_methods(methods_134, sizeof(methods_134));
    OUT(C, shown_4);
    seen = sink.len[C];
    drain();

    /* the console's empty credentials go nowhere; the gateway's do */
    assert_int_equal(IN(C, toolkit_digest), NGX_FCFH_REDIR_OK);
    assert_int_equal(sink.len[C], 0);

    i = fields(sink.out[D], sink.len[D], f, 8);
    assert_int_equal(i, 8);
    assert_int_equal(sink.out[D][4], 4);
    assert_string_equal(f[0], USER);
    assert_string_equal(f[1], "");
    assert_string_equal(f[3], "/RedirectionService");
    drain();

    n = challenge(ch, 4, "auth");
    assert_int_equal(in(D, ch, n), NGX_FCFH_REDIR_OK);
    assert_int_equal(sink.len[C], 0);
    check_answer(4);
    drain();

    assert_false(rd.authenticated);
    assert_int_equal(IN(D, success_4), NGX_FCFH_REDIR_OK);
    OUT(C, success_4);
    assert_true(ngx_fcfh_redir_transparent(&rd));
    assert_true(rd.authenticated);
    seen += sink.len[C];
    drain();

    /* then every byte, both ways, untouched */
    assert_int_equal(IN(C, sol_settings), NGX_FCFH_REDIR_OK);
    OUT(D, sol_settings);
    assert_int_equal(IN(C, sol), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(D, echo), NGX_FCFH_REDIR_OK);
    OUT(C, echo);

    /* the console saw 20 bytes: methods and success, nothing of AMT's */
    assert_int_equal(seen, sizeof(shown_4) + sizeof(success_4));
}


static void
test_meshcentral(void **state)
{
    size_t   n;
    uint8_t  ch[600], m[64];

    to_methods(methods_134, sizeof(methods_134));
    drain();

    /* user "*" and the URI, as MeshCentral's scripts send them */
    n = 0;
    m[n++] = 0x13; m[n++] = 0; m[n++] = 0; m[n++] = 0; m[n++] = 4;
    m[n++] = 1 + 19 + 8; m[n++] = 0; m[n++] = 0; m[n++] = 0;
    m[n++] = 1; m[n++] = '*'; m[n++] = 0; m[n++] = 0;
    m[n++] = 19;
    memcpy(m + n, "/RedirectionService", 19);
    n += 19;
    m[n++] = 0; m[n++] = 0; m[n++] = 0; m[n++] = 0;

    assert_int_equal(in(C, m, n), NGX_FCFH_REDIR_OK);
    assert_int_equal(sink.len[C], 0);
    assert_false(contains(sink.out[D], sink.len[D], "*"));
    drain();

    n = challenge(ch, 4, "auth");
    assert_int_equal(in(D, ch, n), NGX_FCFH_REDIR_OK);
    check_answer(4);
    drain();

    assert_int_equal(IN(D, success_4), NGX_FCFH_REDIR_OK);
    OUT(C, success_4);
}


static void
test_digest_no_qop(void **state)
{
    int      i;
    size_t   n;
    uint8_t  ch[600], shown[] = { 0x14, 0, 0, 0, 0, 1, 0, 0, 0, 3 };
    uint8_t  methods[] = { 0x14, 0, 0, 0, 0, 2, 0, 0, 0, 1, 3 };
    uint8_t  success[] = { 0x14, 0, 0, 0, 3, 0, 0, 0, 0 };
    char     f[8][256];

    to_methods(methods, sizeof(methods));
    OUT(C, shown);
    drain();

    assert_int_equal(IN(C, toolkit_digest), NGX_FCFH_REDIR_OK);
    i = fields(sink.out[D], sink.len[D], f, 8);
    assert_int_equal(i, 7);
    assert_int_equal(sink.out[D][4], 3);
    drain();

    n = challenge(ch, 3, NULL);
    assert_int_equal(in(D, ch, n), NGX_FCFH_REDIR_OK);
    check_answer(3);
    drain();

    assert_int_equal(IN(D, success), NGX_FCFH_REDIR_OK);
    OUT(C, success);
    assert_true(ngx_fcfh_redir_transparent(&rd));
}


static void
test_basic(void **state)
{
    uint8_t  methods[] = { 0x14, 0, 0, 0, 0, 1, 0, 0, 0, 1 };
    uint8_t  shown[] = { 0x14, 0, 0, 0, 0, 1, 0, 0, 0, 1 };
    uint8_t  basic[] = { 0x13, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0 };
    uint8_t  ok[] = { 0x14, 0, 0, 0, 1, 0, 0, 0, 0 };
    uint8_t  want[] = {
        0x13, 0, 0, 0, 1, 15, 0, 0, 0, 5, 'a', 'd', 'm', 'i', 'n',
        8, 'P', '@', 's', 's', 'w', '0', 'r', 'd'
    };

    to_methods(methods, sizeof(methods));
    OUT(C, shown);
    drain();

    assert_int_equal(IN(C, basic), NGX_FCFH_REDIR_OK);
    OUT(D, want);
    assert_int_equal(sink.len[C], 0);
    drain();

    assert_int_equal(IN(D, ok), NGX_FCFH_REDIR_OK);
    OUT(C, ok);
    assert_true(ngx_fcfh_redir_transparent(&rd));
}


static void
test_no_query(void **state)
{
    size_t   n;
    uint8_t  ch[600];

    assert_int_equal(IN(C, start_kvm), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(D, start_reply), NGX_FCFH_REDIR_OK);
    drain();

    /* straight to a digest start: the console's method is used */
    assert_int_equal(IN(C, toolkit_digest), NGX_FCFH_REDIR_OK);
    assert_int_equal(sink.out[D][4], 4);
    drain();

    n = challenge(ch, 4, "auth-int, auth");
    assert_int_equal(in(D, ch, n), NGX_FCFH_REDIR_OK);
    check_answer(4);
    drain();

    assert_int_equal(IN(D, success_4), NGX_FCFH_REDIR_OK);
    assert_memory_equal(rd.session, "KVMR", 4);
}


static void
test_refused(void **state)
{
    size_t   n;
    uint8_t  ch[600];

    to_methods(methods_134, sizeof(methods_134));
    drain();
    assert_int_equal(IN(C, toolkit_digest), NGX_FCFH_REDIR_OK);
    drain();
    n = challenge(ch, 4, "auth");
    assert_int_equal(in(D, ch, n), NGX_FCFH_REDIR_OK);
    drain();

    /* AMT's failure looks like a challenge: the console gets a refusal */
    assert_int_equal(IN(D, failure_4), NGX_FCFH_REDIR_ERR_REFUSED);
    OUT(C, refused);
    assert_int_equal(rd.state, NGX_FCFH_REDIR_FAILED);
    drain();

    assert_int_equal(IN(C, toolkit_digest),
                     NGX_FCFH_REDIR_ERR_AFTER_FAILURE);
    assert_int_equal(sink.len[D], 0);

    /* a challenge for another method is a refusal too */
    setup(NULL);
    to_methods(methods_134, sizeof(methods_134));
    drain();
    assert_int_equal(IN(C, toolkit_digest), NGX_FCFH_REDIR_OK);
    drain();
    n = challenge(ch, 3, NULL);
    assert_int_equal(in(D, ch, n), NGX_FCFH_REDIR_ERR_REFUSED);
    OUT(C, refused);
    assert_int_equal(sink.len[D], 0);
}


static void
test_session_refused(void **state)
{
    uint8_t  no[] = { 0x11, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

    assert_int_equal(IN(C, start_sol), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(D, no), NGX_FCFH_REDIR_OK);
    OUT(C, no);
    assert_true(ngx_fcfh_redir_transparent(&rd));
    assert_false(rd.authenticated);
}


static void
test_no_methods(void **state)
{
    uint8_t  methods[] = { 0x14, 0, 0, 0, 0, 2, 0, 0, 0, 2, 9 };

    /* nothing the gateway speaks: the console sees AMT's list */
    to_methods(methods, sizeof(methods));
    OUT(C, methods);
    assert_int_equal(rd.state, NGX_FCFH_REDIR_AUTH);
}


/* the same conversation a byte at a time gives the same bytes */

static void
test_split(void **state)
{
    size_t   i, n;
    uint8_t  ch[600];

    for (i = 0; i < sizeof(start_sol); i++) {
        assert_int_equal(in(C, start_sol + i, 1), NGX_FCFH_REDIR_OK);
    }

    OUT(D, start_sol);

    for (i = 0; i < sizeof(start_reply); i++) {
        assert_int_equal(in(D, start_reply + i, 1), NGX_FCFH_REDIR_OK);
        assert_int_equal(sink.len[C],
                         i + 1 < sizeof(start_reply) ? 0
                                                     : sizeof(start_reply));
    }

    drain();

    for (i = 0; i < sizeof(query); i++) {
        assert_int_equal(in(C, query + i, 1), NGX_FCFH_REDIR_OK);
    }

    for (i = 0; i < sizeof(methods_134); i++) {
        assert_int_equal(in(D, methods_134 + i, 1), NGX_FCFH_REDIR_OK);
    }

    OUT(C, shown_4);
    drain();

    for (i = 0; i < sizeof(toolkit_digest); i++) {
        assert_int_equal(in(C, toolkit_digest + i, 1), NGX_FCFH_REDIR_OK);
    }

    drain();
    n = challenge(ch, 4, "auth");

    for (i = 0; i < n; i++) {
        assert_int_equal(in(D, ch + i, 1), NGX_FCFH_REDIR_OK);
    }

    check_answer(4);
    drain();

    for (i = 0; i < sizeof(success_4); i++) {
        assert_int_equal(in(D, success_4 + i, 1), NGX_FCFH_REDIR_OK);
    }

    OUT(C, success_4);
}


/* a console that does not wait: its bytes are held, then go in order */

static void
test_pipelined(void **state)
{
    size_t   n;
    uint8_t  ch[600], buf[256], rfb[] = { 0x41, 0, 0, 0, 0, 0, 0, 0,
                                          'R', 'F', 'B' };

    n = 0;
    memcpy(buf + n, start_sol, sizeof(start_sol));
    n += sizeof(start_sol);
    memcpy(buf + n, query, sizeof(query));
    n += sizeof(query);

    assert_int_equal(in(C, buf, n), NGX_FCFH_REDIR_OK);
    OUT(D, start_sol);
    drain();

    /* the reply lets the query go */
    assert_int_equal(IN(D, start_reply), NGX_FCFH_REDIR_OK);
    OUT(C, start_reply);
    OUT(D, query);
    drain();

    assert_int_equal(IN(D, methods_134), NGX_FCFH_REDIR_OK);
    drain();

    /* digest start and the settings right behind it */
    n = 0;
    memcpy(buf + n, toolkit_digest, sizeof(toolkit_digest));
    n += sizeof(toolkit_digest);
    memcpy(buf + n, sol_settings, sizeof(sol_settings));
    n += sizeof(sol_settings);

    assert_int_equal(in(C, buf, n), NGX_FCFH_REDIR_OK);
    /* the gateway's digest start only: 9 + user, URI and 8 lengths */
    assert_int_equal(sink.len[D], 9 + strlen(USER) + 19 + 8);
    drain();

    n = challenge(ch, 4, "auth");
    assert_int_equal(in(D, ch, n), NGX_FCFH_REDIR_OK);
    drain();

    /* success and data in one read: success, then the held settings */
    memcpy(buf, success_4, sizeof(success_4));
    memcpy(buf + sizeof(success_4), rfb, sizeof(rfb));

    assert_int_equal(in(D, buf, sizeof(success_4) + sizeof(rfb)),
                     NGX_FCFH_REDIR_OK);
    assert_int_equal(sink.len[C], sizeof(success_4) + sizeof(rfb));
    assert_memory_equal(sink.out[C], buf, sink.len[C]);
    OUT(D, sol_settings);
}


static void
test_console_errors(void **state)
{
    uint8_t  big[NGX_FCFH_REDIR_HOLD + 1];
    uint8_t  sol[] = { 0x20, 0, 0, 0 };
    uint8_t  huge[] = { 0x13, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff };
    uint8_t  over[] = { 0x13, 0, 0, 0, 4, 0xf8, 0x0f, 0, 0 };
    uint8_t  method2[] = { 0x13, 0, 0, 0, 2, 0, 0, 0, 0 };

    /* anything but a session start first */
    assert_int_equal(IN(C, sol), NGX_FCFH_REDIR_ERR_CONSOLE_MSG);
    assert_int_equal(sink.len[D], 0);

    setup(NULL);
    assert_int_equal(IN(C, query), NGX_FCFH_REDIR_ERR_CONSOLE_MSG);

    /* a second start */
    setup(NULL);
    assert_int_equal(IN(C, start_sol), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(D, start_reply), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(C, start_sol), NGX_FCFH_REDIR_ERR_CONSOLE_MSG);

    /* lengths: 4 GiB, and one byte over the limit, refused at once */
    setup(NULL);
    assert_int_equal(IN(C, start_sol), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(D, start_reply), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(C, huge), NGX_FCFH_REDIR_ERR_CONSOLE_LEN);

    setup(NULL);
    assert_int_equal(IN(C, start_sol), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(D, start_reply), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(C, over), NGX_FCFH_REDIR_ERR_CONSOLE_LEN);

    /* an unknown method */
    setup(NULL);
    assert_int_equal(IN(C, start_sol), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(D, start_reply), NGX_FCFH_REDIR_OK);
    drain();
    assert_int_equal(IN(C, method2), NGX_FCFH_REDIR_ERR_METHOD);
    assert_int_equal(sink.len[D], 0);

    /* more than the hold while the device has not answered */
    setup(NULL);
    memset(big, 0x13, sizeof(big));
    assert_int_equal(IN(C, start_sol), NGX_FCFH_REDIR_OK);
    assert_int_equal(in(C, big, NGX_FCFH_REDIR_HOLD),
                     NGX_FCFH_REDIR_OK);
    assert_int_equal(in(C, big, 1), NGX_FCFH_REDIR_ERR_CONSOLE_HOLD);
}


static void
test_device_errors(void **state)
{
    size_t   n;
    uint8_t  ch[600], big[NGX_FCFH_REDIR_HOLD + 1];
    uint8_t  bad[] = { 0x2a, 0, 0, 0 };
    uint8_t  huge[] = { 0x14, 0, 0, 0, 0, 0, 0, 1, 0 };
    uint8_t  cut[] = { 0x14, 1, 0, 0, 4, 3, 0, 0, 0, 40, 'a', 'b' };
    uint8_t  noqop[] = { 0x14, 1, 0, 0, 4, 4, 0, 0, 0, 1, 'r', 1, 'n' };

    /* a device that answers the start with something else */
    assert_int_equal(IN(C, start_sol), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(D, bad), NGX_FCFH_REDIR_ERR_DEVICE_MSG);

    setup(NULL);
    assert_int_equal(IN(C, start_sol), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(D, methods_134), NGX_FCFH_REDIR_ERR_DEVICE_MSG);

    /* a start reply to the query */
    setup(NULL);
    assert_int_equal(IN(C, start_sol), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(D, start_reply), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(C, query), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(D, start_reply), NGX_FCFH_REDIR_ERR_DEVICE_MSG);

    /* 16 MiB announced */
    setup(NULL);
    assert_int_equal(IN(C, start_sol), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(D, start_reply), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(C, query), NGX_FCFH_REDIR_OK);
    assert_int_equal(IN(D, huge), NGX_FCFH_REDIR_ERR_DEVICE_LEN);

    /* challenges: a realm past the end, no qop field, no "auth" */
    setup(NULL);
    to_methods(methods_134, sizeof(methods_134));
    assert_int_equal(IN(C, toolkit_digest), NGX_FCFH_REDIR_OK);
    drain();
    assert_int_equal(IN(D, cut), NGX_FCFH_REDIR_ERR_CHALLENGE);
    assert_int_equal(sink.len[D], 0);

    setup(NULL);
    to_methods(methods_134, sizeof(methods_134));
    assert_int_equal(IN(C, toolkit_digest), NGX_FCFH_REDIR_OK);
    drain();
    assert_int_equal(IN(D, noqop), NGX_FCFH_REDIR_ERR_CHALLENGE);

    setup(NULL);
    to_methods(methods_134, sizeof(methods_134));
    assert_int_equal(IN(C, toolkit_digest), NGX_FCFH_REDIR_OK);
    drain();
    n = challenge(ch, 4, "auth-int");
    assert_int_equal(in(D, ch, n), NGX_FCFH_REDIR_ERR_QOP);
    assert_int_equal(sink.len[D], 0);

    setup(NULL);
    to_methods(methods_134, sizeof(methods_134));
    assert_int_equal(IN(C, toolkit_digest), NGX_FCFH_REDIR_OK);
    drain();
    n = challenge(ch, 4, "authx,xauth, aut");
    assert_int_equal(in(D, ch, n), NGX_FCFH_REDIR_ERR_QOP);

    /* a device that floods before the console asked anything */
    setup(NULL);
    memset(big, 0x14, sizeof(big));
    assert_int_equal(in(D, big, NGX_FCFH_REDIR_HOLD), NGX_FCFH_REDIR_OK);
    assert_int_equal(in(D, big, 1), NGX_FCFH_REDIR_ERR_DEVICE_HOLD);
}


static void
test_send_fails(void **state)
{
    sink.fail = 1;
    assert_int_equal(IN(C, start_sol), NGX_FCFH_REDIR_ERR_SEND);
}


static void
test_init(void **state)
{
    uint8_t  long_user[256];

    memset(long_user, 'u', sizeof(long_user));

    assert_int_equal(ngx_fcfh_redir_init(&rd, (uint8_t *) "", 0,
                                         (uint8_t *) "p", 1, capture, &sink),
                     -1);
    assert_int_equal(ngx_fcfh_redir_init(&rd, (uint8_t *) "u", 1,
                                         (uint8_t *) "", 0, capture, &sink),
                     -1);
    assert_int_equal(ngx_fcfh_redir_init(&rd, long_user, 256,
                                         (uint8_t *) "p", 1, capture, &sink),
                     -1);
    assert_int_equal(ngx_fcfh_redir_init(&rd, long_user, 255,
                                         (uint8_t *) "p", 1, capture, &sink),
                     0);
}


static void
test_strerror(void **state)
{
    int  rc;

    for (rc = NGX_FCFH_REDIR_OK; rc >= NGX_FCFH_REDIR_ERR_LAST; rc--) {
        assert_string_not_equal(ngx_fcfh_redir_strerror(rc), "unknown");
        assert_false(strstr(ngx_fcfh_redir_strerror(rc), PASSWORD));
    }

    assert_string_equal(ngx_fcfh_redir_strerror(NGX_FCFH_REDIR_ERR_LAST - 1),
                        "unknown");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup(test_toolkit, setup),
        cmocka_unit_test_setup(test_meshcentral, setup),
        cmocka_unit_test_setup(test_digest_no_qop, setup),
        cmocka_unit_test_setup(test_basic, setup),
        cmocka_unit_test_setup(test_no_query, setup),
        cmocka_unit_test_setup(test_refused, setup),
        cmocka_unit_test_setup(test_session_refused, setup),
        cmocka_unit_test_setup(test_no_methods, setup),
        cmocka_unit_test_setup(test_split, setup),
        cmocka_unit_test_setup(test_pipelined, setup),
        cmocka_unit_test_setup(test_console_errors, setup),
        cmocka_unit_test_setup(test_device_errors, setup),
        cmocka_unit_test_setup(test_send_fails, setup),
        cmocka_unit_test_setup(test_init, setup),
        cmocka_unit_test_setup(test_strerror, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
