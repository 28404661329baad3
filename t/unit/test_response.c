
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Unit tests of the answer reader of the module's own HTTP clients
 * (cmocka): webhook delivery (the head) and WS-Management (head and
 * body framed by Content-Length, chunks or the end of the connection,
 * the Digest challenge), what is refused, the bounds, and that an
 * answer read a byte at a time reads the same as one read at once.
 *
 * The answers of test_content_length to test_challenge are those the
 * WS-Management parser's tests took before the reader replaced it
 * (t/unit/test_wsman.c); where that parser said "more to read" at the
 * end of the connection, the reader says why nothing more will come.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ngx_fcfh_response.h"


#define HEAD200   "HTTP/1.1 200 OK\r\n"
#define CHUNKED   HEAD200 "Transfer-Encoding: chunked\r\n\r\n"

#define MAX_HEAD  4096
#define MAX_BODY  65536


static uint8_t  buf[8192];
static uint8_t  drip[8192];


/* the whole text at once, into a fresh reader */

static ssize_t
whole(const char *text, size_t len, int eof, ngx_fcfh_response_t *r)
{
    assert_true(len <= sizeof(buf));
    memcpy(buf, text, len);

    ngx_fcfh_response_init(r, MAX_HEAD, MAX_BODY, 0);

    return ngx_fcfh_response_read(r, buf, len, eof);
}


/*
 * The same text a byte at a time (eof with the last one): it must come
 * out the same as read at once, body included.
 */

static ssize_t
dripped(const char *text, size_t len, int eof, ngx_fcfh_response_t *r)
{
    size_t               i;
    ssize_t              rc, rc1;
    ngx_fcfh_response_t  r1;

    rc1 = whole(text, len, eof, &r1);

    ngx_fcfh_response_init(r, MAX_HEAD, MAX_BODY, 0);

    rc = ngx_fcfh_response_read(r, drip, 0, eof && len == 0);

    for (i = 1; i <= len && rc == NGX_FCFH_PROXY_AGAIN; i++) {
        drip[i - 1] = (uint8_t) text[i - 1];
        rc = ngx_fcfh_response_read(r, drip, i, eof && i == len);
    }

    assert_int_equal(rc, rc1);

    if (rc > 0) {
        assert_int_equal(r->head_len, r1.head_len);
        assert_int_equal(r->body_len, r1.body_len);
        assert_memory_equal(drip + r->head_len, buf + r1.head_len,
                            r->body_len);
    }

    /* and the end is kept */
    assert_int_equal(ngx_fcfh_response_read(r, drip, len, eof), rc);

    return rc;
}


#define READ(lit, eof)  dripped(lit, sizeof(lit) - 1, eof, &rsp)


static void
assert_body(ngx_fcfh_response_t *r, const char *want)
{
    assert_int_equal(r->body_len, strlen(want));
    assert_memory_equal(drip + r->head_len, want, r->body_len);
}


/* every proper prefix of a whole answer is "more to read" */

static void
assert_prefixes_again(const char *text)
{
    size_t               len, n;
    ngx_fcfh_response_t  rsp;

    len = strlen(text);

    for (n = 0; n < len; n++) {
        assert_int_equal(whole(text, n, 0, &rsp), NGX_FCFH_PROXY_AGAIN);
        assert_int_equal(dripped(text, n, 0, &rsp), NGX_FCFH_PROXY_AGAIN);
    }
}


static void
test_content_length(void **state)
{
    ngx_fcfh_response_t  rsp;

    static const char  text[] = HEAD200
                                "Content-Type: application/soap+xml\r\n"
                                "content-length: 5\r\n"
                                "\r\n"
                                "hello";

    assert_int_equal(READ(text, 0), sizeof(text) - 1);
    assert_int_equal(rsp.head.status, 200);
    assert_body(&rsp, "hello");
    assert_null(rsp.head.digest.data);
    assert_int_equal(rsp.head_len, sizeof(text) - 1 - 5);

    assert_prefixes_again(text);

    /* what follows the body is not part of it */
    assert_int_equal(READ(HEAD200 "Content-Length: 2\r\n\r\nhello", 0),
                     sizeof(HEAD200 "Content-Length: 2\r\n\r\nhe") - 1);
    assert_body(&rsp, "he");

    /* no body at all */
    assert_int_equal(READ(HEAD200 "Content-Length: 0\r\n\r\n", 0),
                     sizeof(HEAD200 "Content-Length: 0\r\n\r\n") - 1);
    assert_int_equal(rsp.body_len, 0);
}


static void
test_chunked(void **state)
{
    ngx_fcfh_response_t  rsp;

    static const char  text[] = HEAD200
                                "Transfer-Encoding: Chunked\r\n"
                                "\r\n"
                                "5\r\nhello\r\n"
                                "A\r\n, chunked!\r\n"
                                "0\r\n\r\n";

    assert_int_equal(READ(text, 0), sizeof(text) - 1);
    assert_int_equal(rsp.head.status, 200);
    assert_body(&rsp, "hello, chunked!");

    assert_prefixes_again(text);

    /* sizes with bare LF, as some devices send */
    assert_int_equal(READ(CHUNKED "3\nabc\r\n0\n\r\n", 0),
                     sizeof(CHUNKED "3\nabc\r\n0\n\r\n") - 1);
    assert_body(&rsp, "abc");

    /* leading zeros, upper and lower case, empty body */
    assert_true(READ(CHUNKED "000a\r\n0123456789\r\n0\r\n\r\n", 0) > 0);
    assert_body(&rsp, "0123456789");
    assert_true(READ(CHUNKED "0\r\n\r\n", 0) > 0);
    assert_int_equal(rsp.body_len, 0);

    /* bytes after the answer are not part of it */
    assert_int_equal(READ(CHUNKED "1\r\na\r\n0\r\n\r\nHTTP/1.1", 0),
                     sizeof(CHUNKED "1\r\na\r\n0\r\n\r\n") - 1);
    assert_body(&rsp, "a");
}


static void
test_chunked_malformed(void **state)
{
    ngx_fcfh_response_t  rsp;

#define CHUNK_ERR(text)                                                      \
    assert_int_equal(READ(CHUNKED text, 0), NGX_FCFH_RESPONSE_ERR_CHUNK)

    /* not a hex size */
    CHUNK_ERR("zz\r\nabc\r\n0\r\n\r\n");
    CHUNK_ERR("\r\nabc\r\n0\r\n\r\n");

    /* data longer than its size */
    CHUNK_ERR("2\r\nabc\r\n0\r\n\r\n");

    /* a trailer after the last chunk */
    CHUNK_ERR("1\r\na\r\n0\r\nX: y\r\n\r\n");

    /* a chunk extension, blanks, a sign, a bare CR */
    CHUNK_ERR("1;x=y\r\na\r\n0\r\n\r\n");
    CHUNK_ERR("1 \r\na\r\n0\r\n\r\n");
    CHUNK_ERR(" 1\r\na\r\n0\r\n\r\n");
    CHUNK_ERR("+1\r\na\r\n0\r\n\r\n");
    CHUNK_ERR("1\ra\r\n0\r\n\r\n");
    CHUNK_ERR("1\r\na\rb0\r\n\r\n");

    /* more than 16 hex digits, even zeros */
    CHUNK_ERR("00000000000000001\r\na\r\n0\r\n\r\n");
    assert_true(READ(CHUNKED "0000000000000001\r\na\r\n0\r\n\r\n", 0) > 0);

#undef CHUNK_ERR

    /* the end of the connection does not complete a chunked body */
    assert_int_equal(READ(CHUNKED "1\r\na\r\n", 1),
                     NGX_FCFH_RESPONSE_ERR_TRUNCATED);
    assert_int_equal(READ(CHUNKED "1\r\na\r\n", 0), NGX_FCFH_PROXY_AGAIN);
    assert_int_equal(READ(CHUNKED "1\r\na\r\n0\r\n", 1),
                     NGX_FCFH_RESPONSE_ERR_TRUNCATED);
}


static void
test_eof(void **state)
{
    ngx_fcfh_response_t  rsp;

    static const char  text[] = "HTTP/1.0 200 OK\r\n"
                                "Connection: close\r\n"
                                "\r\n"
                                "<a>until the end</a>";

    assert_int_equal(READ(text, 0), NGX_FCFH_PROXY_AGAIN);
    assert_int_equal(READ(text, 1), sizeof(text) - 1);
    assert_body(&rsp, "<a>until the end</a>");

    /* the head itself is never cut short by the end */
    assert_int_equal(dripped(text, 20, 1, &rsp),
                     NGX_FCFH_RESPONSE_ERR_TRUNCATED);

    /* a length still wins over the end */
    assert_int_equal(READ(HEAD200 "Content-Length: 9\r\n\r\nshort", 1),
                     NGX_FCFH_RESPONSE_ERR_TRUNCATED);

    /* nothing at all */
    assert_int_equal(READ("", 1), NGX_FCFH_RESPONSE_ERR_TRUNCATED);
}


static void
test_malformed(void **state)
{
    ngx_fcfh_response_t  rsp;

#define BAD(text, err)                                                       \
    assert_int_equal(READ(text, 1), err)

    BAD("HTTP/2.0 200 OK\r\n\r\n", NGX_FCFH_PROXY_ERR_HTTP_VERSION);
    BAD("HTTP/1.1 abc OK\r\n\r\n", NGX_FCFH_PROXY_ERR_STATUS_LINE);
    BAD("HTTP/1.1 099 Early\r\n\r\n", NGX_FCFH_PROXY_ERR_STATUS_LINE);
    BAD("HTTP/1.1 20\r\n\r\n", NGX_FCFH_PROXY_ERR_STATUS_LINE);
    BAD("SSH-2.0-OpenSSH\r\n\r\n", NGX_FCFH_PROXY_ERR_STATUS_LINE);
    BAD("\r\n\r\n", NGX_FCFH_PROXY_ERR_STATUS_LINE);

    /* a CR inside a header line */
    BAD(HEAD200 "X: a\rb\r\n\r\n", NGX_FCFH_PROXY_ERR_BARE_CR);

    /* a length that is no number */
    BAD(HEAD200 "Content-Length: -1\r\n\r\n", NGX_FCFH_PROXY_ERR_BAD_LENGTH);
    BAD(HEAD200 "Content-Length: 12a\r\n\r\n", NGX_FCFH_PROXY_ERR_BAD_LENGTH);
    BAD(HEAD200 "Content-Length:\r\n\r\n", NGX_FCFH_PROXY_ERR_BAD_LENGTH);

    /* framing that two readers could take differently */
    BAD(HEAD200 "Content-Length: 1\r\nContent-Length: 1\r\n\r\na",
        NGX_FCFH_PROXY_ERR_LENGTH_CONFLICT);
    BAD(HEAD200 "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        NGX_FCFH_PROXY_ERR_LENGTH_AND_CODING);
    BAD(HEAD200 "Transfer-Encoding: gzip, chunked\r\n\r\n",
        NGX_FCFH_PROXY_ERR_TRANSFER_CODING);
    BAD("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        NGX_FCFH_PROXY_ERR_TRANSFER_CODING);
    BAD(HEAD200 "X: a\r\n b\r\n\r\n", NGX_FCFH_PROXY_ERR_OBS_FOLD);
    BAD(HEAD200 "X : a\r\n\r\n", NGX_FCFH_PROXY_ERR_BAD_HEADER);

#undef BAD

    /* no end of head yet: more to read, whatever it is */
    assert_int_equal(READ("garbage", 0), NGX_FCFH_PROXY_AGAIN);
}


static void
test_challenge(void **state)
{
    ngx_fcfh_response_t  rsp;

    static const char  text[] =
        "HTTP/1.1 401 Unauthorized\r\n"
        "WWW-Authenticate: Basic realm=\"not this\"\r\n"
        "WWW-Authenticate: Digest realm=\"Digest:A1B2\", "
        "nonce=\"n0nce/+=\",stale=\"false\" , qop = \"auth\", "
        "opaque=abc123, algorithm=MD5 \r\n"
        "WWW-Authenticate: Digest realm=\"nor this\"\r\n"
        "Content-Length: 0\r\n"
        "\r\n";

    assert_int_equal(READ(text, 0), sizeof(text) - 1);
    assert_int_equal(rsp.head.status, 401);
    assert_non_null(rsp.head.digest.data);
    assert_true(rsp.head.digest.len > 7);
    assert_memory_equal(rsp.head.digest.data, "Digest realm=\"Digest:A1B2\"",
                        26);

    /* inside the head, trailing blanks trimmed */
    assert_true(rsp.head.digest.data > drip
                && rsp.head.digest.data + rsp.head.digest.len
                   <= drip + rsp.head_len);
    assert_memory_equal(rsp.head.digest.data + rsp.head.digest.len - 13,
                        "algorithm=MD5", 13);

    /* only a Digest challenge is taken */
    assert_true(READ("HTTP/1.1 401 No\r\n"
                     "WWW-Authenticate: Basic realm=\"x\"\r\n"
                     "Content-Length: 0\r\n\r\n", 0) > 0);
    assert_null(rsp.head.digest.data);

    assert_true(READ("HTTP/1.1 401 No\r\n"
                     "WWW-Authenticate: Digest\r\n"
                     "Content-Length: 0\r\n\r\n", 0) > 0);
    assert_null(rsp.head.digest.data);

    assert_true(READ("HTTP/1.1 401 No\r\n"
                     "www-authenticate:DIGEST nonce=1\r\n"
                     "Content-Length: 0\r\n\r\n", 0) > 0);
    assert_int_equal(rsp.head.digest.len, sizeof("DIGEST nonce=1") - 1);
}


static void
test_no_body(void **state)
{
    ngx_fcfh_response_t  rsp;

    /* 204 and 304 have none, whatever the head says */
    assert_int_equal(READ("HTTP/1.1 204 No Content\r\n"
                          "Content-Length: 5\r\n\r\nhello", 0),
                     sizeof("HTTP/1.1 204 No Content\r\n"
                            "Content-Length: 5\r\n\r\n") - 1);
    assert_int_equal(rsp.body_len, 0);

    assert_int_equal(READ("HTTP/1.1 304 Not Modified\r\n\r\n", 0),
                     sizeof("HTTP/1.1 304 Not Modified\r\n\r\n") - 1);

    /* neither client asks for an interim answer */
    assert_int_equal(READ("HTTP/1.1 100 Continue\r\n\r\n"
                          HEAD200 "Content-Length: 0\r\n\r\n", 0),
                     NGX_FCFH_RESPONSE_ERR_INTERIM);
}


static void
test_head_only(void **state)
{
    ssize_t              rc;
    ngx_fcfh_response_t  rsp;

    static const char  text[] = "HTTP/1.1 500 Oops\r\n"
                                "Content-Length: 100000\r\n"
                                "\r\n"
                                "<html>";

    memcpy(buf, text, sizeof(text) - 1);
    ngx_fcfh_response_init(&rsp, 64, 0, 1);

    /* the status needs the whole head */
    assert_int_equal(ngx_fcfh_response_read(&rsp, buf, 19, 0),
                     NGX_FCFH_PROXY_AGAIN);

    rc = ngx_fcfh_response_read(&rsp, buf, sizeof(text) - 1, 0);
    assert_int_equal(rc, sizeof(text) - 1 - 6);
    assert_int_equal(rsp.head.status, 500);
    assert_int_equal(rsp.body_len, 0);

    /* an interim answer is the caller's to judge */
    memcpy(buf, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    ngx_fcfh_response_init(&rsp, 64, 0, 1);
    assert_int_equal(ngx_fcfh_response_read(&rsp, buf, 25, 0), 25);
    assert_int_equal(rsp.head.status, 100);

    /* a head cut short is still an error */
    ngx_fcfh_response_init(&rsp, 64, 0, 1);
    assert_int_equal(ngx_fcfh_response_read(&rsp, buf, 12, 1),
                     NGX_FCFH_RESPONSE_ERR_TRUNCATED);
}


static void
test_limits(void **state)
{
    size_t               n;
    ngx_fcfh_response_t  rsp;

    /* the head: max_head bytes at most */
    n = (size_t) snprintf((char *) buf, sizeof(buf),
                          HEAD200 "X: %0*d\r\n\r\n", 100, 0);
    ngx_fcfh_response_init(&rsp, n, 0, 1);
    assert_int_equal(ngx_fcfh_response_read(&rsp, buf, n, 0), (ssize_t) n);

    ngx_fcfh_response_init(&rsp, n - 1, 0, 1);
    assert_int_equal(ngx_fcfh_response_read(&rsp, buf, n, 0),
                     NGX_FCFH_PROXY_ERR_TOO_LARGE);

    /* the body: a length over max_body is refused before any of it */
    n = sizeof(HEAD200 "Content-Length: 11\r\n\r\n") - 1;
    memcpy(buf, HEAD200 "Content-Length: 11\r\n\r\n", n);
    ngx_fcfh_response_init(&rsp, MAX_HEAD, 10, 0);
    assert_int_equal(ngx_fcfh_response_read(&rsp, buf, n, 0),
                     NGX_FCFH_RESPONSE_ERR_BODY_TOO_LARGE);

    memcpy(buf, HEAD200 "Content-Length: 10\r\n\r\n0123456789", n + 10);
    ngx_fcfh_response_init(&rsp, MAX_HEAD, 10, 0);
    assert_int_equal(ngx_fcfh_response_read(&rsp, buf, n + 10, 0), n + 10);

    /* chunks: a size that would go over, as soon as its digits say so */
    n = sizeof(CHUNKED "6\r\nabcdef\r\n") - 1;
    memcpy(buf, CHUNKED "6\r\nabcdef\r\n5", n + 1);
    ngx_fcfh_response_init(&rsp, MAX_HEAD, 10, 0);
    assert_int_equal(ngx_fcfh_response_read(&rsp, buf, n + 1, 0),
                     NGX_FCFH_RESPONSE_ERR_BODY_TOO_LARGE);

    /* (the first read decoded in place: the same bytes again) */
    memcpy(buf, CHUNKED "6\r\nabcdef\r\n", n);
    ngx_fcfh_response_init(&rsp, MAX_HEAD, 10, 0);
    assert_int_equal(ngx_fcfh_response_read(&rsp, buf, n, 0),
                     NGX_FCFH_PROXY_AGAIN);
    memcpy(buf + n, "4\r\nghij\r\n0\r\n\r\n", 14);
    assert_int_equal(ngx_fcfh_response_read(&rsp, buf, n + 14, 0), n + 14);
    assert_int_equal(rsp.body_len, 10);
    assert_memory_equal(buf + rsp.head_len, "abcdefghij", 10);

    /* the end of the connection: up to max_body */
    n = sizeof("HTTP/1.0 200 OK\r\n\r\n") - 1;
    memcpy(buf, "HTTP/1.0 200 OK\r\n\r\n0123456789X", n + 11);
    ngx_fcfh_response_init(&rsp, MAX_HEAD, 10, 0);
    assert_int_equal(ngx_fcfh_response_read(&rsp, buf, n + 10, 1), n + 10);
    ngx_fcfh_response_init(&rsp, MAX_HEAD, 10, 0);
    assert_int_equal(ngx_fcfh_response_read(&rsp, buf, n + 11, 0),
                     NGX_FCFH_RESPONSE_ERR_BODY_TOO_LARGE);
}


static void
test_strerror(void **state)
{
    ssize_t  rc;

    for (rc = -80; rc <= 1; rc++) {
        assert_non_null(ngx_fcfh_response_strerror(rc));
    }

    assert_string_equal(
        ngx_fcfh_response_strerror(NGX_FCFH_RESPONSE_ERR_CHUNK),
        "malformed chunked body");
    assert_string_equal(
        ngx_fcfh_response_strerror(NGX_FCFH_PROXY_ERR_BARE_CR),
        "CR not followed by LF");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_chunked_malformed),
        cmocka_unit_test(test_eof),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_challenge),
        cmocka_unit_test(test_no_body),
        cmocka_unit_test(test_head_only),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
