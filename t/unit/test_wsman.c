
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Unit tests of what the gateway reads of a device's WS-Management
 * answers (cmocka): the HTTP response framed by Content-Length, chunks or
 * the end of the connection, the Digest challenge's parameters, element
 * texts, and what is refused.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <setjmp.h>
#include <cmocka.h>

#include "ngx_fcfh_wsman.h"


#define HEAD200  "HTTP/1.1 200 OK\r\n"


static u_char  buf[4096];


/* parses a copy of text: a chunked body is decoded in place */

static ngx_int_t
response(const char *text, size_t len, ngx_uint_t eof,
    ngx_fcfh_wsman_response_t *rsp)
{
    assert_true(len <= sizeof(buf));
    ngx_memcpy(buf, text, len);

    return ngx_fcfh_wsman_response(buf, len, eof, rsp);
}


#define RESPONSE(lit, eof)  response(lit, sizeof(lit) - 1, eof, &rsp)


static void
assert_str(ngx_str_t *s, const char *want)
{
    assert_int_equal(s->len, strlen(want));
    assert_memory_equal(s->data, want, s->len);
}


/* head, n bytes of 'x', tail into dst: the length */

static size_t
filled(u_char *dst, const char *head, size_t n, const char *tail)
{
    u_char  *p;

    p = ngx_cpymem(dst, head, strlen(head));
    ngx_memset(p, 'x', n);
    p = ngx_cpymem(p + n, tail, strlen(tail));

    return p - dst;
}


/* every proper prefix of a whole response is "more to read" */

static void
assert_prefixes_again(const char *text)
{
    size_t                     len, n;
    ngx_fcfh_wsman_response_t  rsp;

    len = strlen(text);

    for (n = 0; n < len; n++) {
        assert_int_equal(response(text, n, 0, &rsp), NGX_AGAIN);
    }
}


static void
test_content_length(void **state)
{
    ngx_fcfh_wsman_response_t  rsp;

    static const char  text[] = HEAD200
                                "Content-Type: application/soap+xml\r\n"
                                "content-length: 5\r\n"
                                "\r\n"
                                "hello";

    assert_int_equal(response(text, sizeof(text) - 1, 0, &rsp), NGX_OK);
    assert_int_equal(rsp.status, 200);
    assert_str(&rsp.body, "hello");
    assert_int_equal(rsp.challenge.len, 0);
    assert_ptr_equal(rsp.body.data, buf + sizeof(text) - 1 - 5);

    assert_prefixes_again(text);

    /* what follows the body is not part of it */
    assert_int_equal(RESPONSE(HEAD200 "Content-Length: 2\r\n\r\nhello", 0),
                     NGX_OK);
    assert_str(&rsp.body, "he");

    /* no body at all */
    assert_int_equal(RESPONSE(HEAD200 "Content-Length: 0\r\n\r\n", 0),
                     NGX_OK);
    assert_int_equal(rsp.body.len, 0);
}


static void
test_chunked(void **state)
{
    ngx_fcfh_wsman_response_t  rsp;

    static const char  text[] = HEAD200
                                "Transfer-Encoding: Chunked\r\n"
                                "\r\n"
                                "5\r\nhello\r\n"
                                "A\r\n, chunked!\r\n"
                                "0\r\n\r\n";

    assert_int_equal(response(text, sizeof(text) - 1, 0, &rsp), NGX_OK);
    assert_int_equal(rsp.status, 200);
    assert_str(&rsp.body, "hello, chunked!");

    /* a part leaves the buffer as the whole parse needs it */
    assert_prefixes_again(text);

    /* sizes with bare LF, as some devices send */
    assert_int_equal(RESPONSE(HEAD200 "Transfer-Encoding: chunked\r\n\r\n"
                              "3\nabc\r\n0\n\r\n", 0),
                     NGX_OK);
    assert_str(&rsp.body, "abc");
}


static void
test_chunked_malformed(void **state)
{
    ngx_fcfh_wsman_response_t  rsp;

#define CHUNKED  HEAD200 "Transfer-Encoding: chunked\r\n\r\n"

    /* not a hex size */
    assert_int_equal(RESPONSE(CHUNKED "zz\r\nabc\r\n0\r\n\r\n", 0),
                     NGX_ERROR);

    /* data longer than its size */
    assert_int_equal(RESPONSE(CHUNKED "2\r\nabc\r\n0\r\n\r\n", 0),
                     NGX_ERROR);

    /* a trailer after the last chunk */
    assert_int_equal(RESPONSE(CHUNKED "1\r\na\r\n0\r\nX: y\r\n\r\n", 0),
                     NGX_ERROR);

    /* a chunk extension */
    assert_int_equal(RESPONSE(CHUNKED "1;x=y\r\na\r\n0\r\n\r\n", 0),
                     NGX_ERROR);

    /* the end of the connection does not complete a chunked body */
    assert_int_equal(RESPONSE(CHUNKED "1\r\na\r\n", 1), NGX_AGAIN);

#undef CHUNKED
}


static void
test_eof(void **state)
{
    ngx_fcfh_wsman_response_t  rsp;

    static const char  text[] = "HTTP/1.0 200 OK\r\n"
                                "Connection: close\r\n"
                                "\r\n"
                                "<a>until the end</a>";

    assert_int_equal(response(text, sizeof(text) - 1, 0, &rsp), NGX_AGAIN);
    assert_int_equal(response(text, sizeof(text) - 1, 1, &rsp), NGX_OK);
    assert_str(&rsp.body, "<a>until the end</a>");

    /* the head itself is never cut short by the end */
    assert_int_equal(response(text, 20, 1, &rsp), NGX_AGAIN);

    /* a length still wins over the end */
    assert_int_equal(RESPONSE(HEAD200 "Content-Length: 9\r\n\r\nshort", 1),
                     NGX_AGAIN);
}


static void
test_malformed(void **state)
{
    ngx_fcfh_wsman_response_t  rsp;

#define BAD(text)                                                            \
    assert_int_equal(RESPONSE(text, 1), NGX_ERROR)

    BAD("HTTP/2.0 200 OK\r\n\r\n");
    BAD("HTTP/1.1 abc OK\r\n\r\n");
    BAD("HTTP/1.1 099 Early\r\n\r\n");
    BAD("HTTP/1.1 20\r\n\r\n");
    BAD("SSH-2.0-OpenSSH\r\n\r\n");
    BAD("\r\n\r\n");

    /* a CR inside a header line */
    BAD(HEAD200 "X: a\rb\r\n\r\n");

    /* a length that is no number */
    BAD(HEAD200 "Content-Length: -1\r\n\r\n");
    BAD(HEAD200 "Content-Length: 12a\r\n\r\n");
    BAD(HEAD200 "Content-Length:\r\n\r\n");

#undef BAD

    /* no end of head yet: more to read, whatever it is */
    assert_int_equal(RESPONSE("garbage", 0), NGX_AGAIN);
    assert_int_equal(RESPONSE("", 1), NGX_AGAIN);
}


static void
test_challenge(void **state)
{
    ngx_str_t                  v;
    ngx_fcfh_wsman_response_t  rsp;

    static const char  text[] =
        "HTTP/1.1 401 Unauthorized\r\n"
        "WWW-Authenticate: Basic realm=\"not this\"\r\n"
        "WWW-Authenticate: Digest realm=\"Digest:A1B2\", "
        "nonce=\"n0nce/+=\",stale=\"false\" , qop = \"auth\", "
        "opaque=abc123, algorithm=MD5\r\n"
        "Content-Length: 0\r\n"
        "\r\n";

    assert_int_equal(response(text, sizeof(text) - 1, 0, &rsp), NGX_OK);
    assert_int_equal(rsp.status, 401);
    assert_true(rsp.challenge.len > 7);
    assert_memory_equal(rsp.challenge.data, "Digest ", 7);

    assert_int_equal(ngx_fcfh_wsman_param(&rsp.challenge, "realm", &v),
                     NGX_OK);
    assert_str(&v, "Digest:A1B2");
    assert_int_equal(ngx_fcfh_wsman_param(&rsp.challenge, "nonce", &v),
                     NGX_OK);
    assert_str(&v, "n0nce/+=");
    assert_int_equal(ngx_fcfh_wsman_param(&rsp.challenge, "QOP", &v),
                     NGX_OK);
    assert_str(&v, "auth");
    assert_int_equal(ngx_fcfh_wsman_param(&rsp.challenge, "opaque", &v),
                     NGX_OK);
    assert_str(&v, "abc123");
    assert_int_equal(ngx_fcfh_wsman_param(&rsp.challenge, "algorithm", &v),
                     NGX_OK);
    assert_str(&v, "MD5");
    assert_int_equal(ngx_fcfh_wsman_param(&rsp.challenge, "stale", &v),
                     NGX_OK);
    assert_str(&v, "false");

    assert_int_equal(ngx_fcfh_wsman_param(&rsp.challenge, "domain", &v),
                     NGX_DECLINED);
    assert_int_equal(ngx_fcfh_wsman_param(&rsp.challenge, "real", &v),
                     NGX_DECLINED);

    /* only a Digest challenge is taken */
    assert_int_equal(RESPONSE("HTTP/1.1 401 No\r\n"
                              "WWW-Authenticate: Basic realm=\"x\"\r\n"
                              "Content-Length: 0\r\n\r\n", 0),
                     NGX_OK);
    assert_int_equal(rsp.challenge.len, 0);

    assert_int_equal(RESPONSE("HTTP/1.1 401 No\r\n"
                              "WWW-Authenticate: Digest\r\n"
                              "Content-Length: 0\r\n\r\n", 0),
                     NGX_OK);
    assert_int_equal(rsp.challenge.len, 0);
}


static void
test_challenge_malformed(void **state)
{
    u_char     long_value[sizeof("Digest nonce=\"\"")
                          + NGX_FCFH_WSMAN_MAX_VALUE + 1];
    ngx_str_t  h, v;

#define PARAM(text, name)                                                    \
    (h.data = (u_char *) (text), h.len = sizeof(text) - 1,                   \
     ngx_fcfh_wsman_param(&h, name, &v))

    /* values go back into a request header: none that could break it */
    assert_int_equal(PARAM("Digest realm=\"\"", "realm"), NGX_ERROR);
    assert_int_equal(PARAM("Digest realm=", "realm"), NGX_ERROR);
    assert_int_equal(PARAM("Digest realm=\"a\\\"b\"", "realm"), NGX_ERROR);
    assert_int_equal(PARAM("Digest realm=\"a\rb\"", "realm"), NGX_ERROR);
    assert_int_equal(PARAM("Digest realm=\"\xc3\xa9\"", "realm"),
                     NGX_ERROR);

    /* an unterminated quote ends at the header's end */
    assert_int_equal(PARAM("Digest realm=\"open", "realm"), NGX_OK);
    assert_str(&v, "open");

    /* a name without '=' ends the search */
    assert_int_equal(PARAM("Digest realm", "realm"), NGX_DECLINED);
    assert_int_equal(PARAM("Digest ", "realm"), NGX_DECLINED);

    /* the longest value taken, and one more */
    h.data = long_value;
    h.len = filled(long_value, "Digest nonce=\"", NGX_FCFH_WSMAN_MAX_VALUE,
                   "\"");
    assert_int_equal(ngx_fcfh_wsman_param(&h, "nonce", &v), NGX_OK);
    assert_int_equal(v.len, NGX_FCFH_WSMAN_MAX_VALUE);

    h.len = filled(long_value, "Digest nonce=\"",
                   NGX_FCFH_WSMAN_MAX_VALUE + 1, "\"");
    assert_int_equal(ngx_fcfh_wsman_param(&h, "nonce", &v), NGX_ERROR);

#undef PARAM
}


static void
test_values(void **state)
{
    ngx_str_t   xml, v[4];
    ngx_uint_t  n;

    static const char  text[] =
        "<?xml version=\"1.0\"?>"
        "<a:Envelope><a:Body>"
        "<g:Name>one</g:Name>"
        "<!-- a comment -->"
        "<Name/>"
        "<NameX>not this</NameX>"
        "<h:Name attr=\"1\">two &amp; more</h:Name>"
        "<g:Name></g:Name>"
        "<Name>four</Name>"
        "<Name>five</Name>"
        "</a:Body></a:Envelope>";

    xml.data = (u_char *) text;
    xml.len = sizeof(text) - 1;

    n = ngx_fcfh_wsman_values(&xml, "Name", v, 4);
    assert_int_equal(n, 4);
    assert_str(&v[0], "one");
    assert_str(&v[1], "two &amp; more");
    assert_str(&v[2], "");
    assert_str(&v[3], "four");

    assert_int_equal(ngx_fcfh_wsman_values(&xml, "Name", v, 1), 1);
    assert_int_equal(ngx_fcfh_wsman_values(&xml, "Missing", v, 4), 0);
    assert_int_equal(ngx_fcfh_wsman_values(&xml, "name", v, 4), 0);

    n = ngx_fcfh_wsman_values(&xml, "Envelope", v, 4);
    assert_int_equal(n, 1);
    assert_str(&v[0], "");
}


static void
test_values_malformed(void **state)
{
    u_char      long_text[NGX_FCFH_WSMAN_MAX_VALUE + 32];
    ngx_str_t   xml, v[4];

#define VALUES(text)                                                         \
    (xml.data = (u_char *) (text), xml.len = sizeof(text) - 1,              \
     ngx_fcfh_wsman_values(&xml, "T", v, 4))

    /* a text with a quote, a backslash or a control byte ends the list */
    assert_int_equal(VALUES("<T>a</T><T>b\"c</T><T>d</T>"), 1);
    assert_str(&v[0], "a");
    assert_int_equal(VALUES("<T>a\\b</T>"), 0);
    assert_int_equal(VALUES("<T>a\nb</T>"), 0);
    assert_int_equal(VALUES("<T>\xc3\xa9</T>"), 0);

    /* an open tag without its '>' */
    assert_int_equal(VALUES("<T>a</T><T"), 1);
    assert_int_equal(VALUES("<T"), 0);
    assert_int_equal(VALUES("<"), 0);

    /* a text to the end of the input is taken as it is */
    assert_int_equal(VALUES("<T>tail"), 1);
    assert_str(&v[0], "tail");

    /* the longest text taken, and one more */
    xml.data = long_text;
    xml.len = filled(long_text, "<T>", NGX_FCFH_WSMAN_MAX_VALUE, "</T>");
    assert_int_equal(ngx_fcfh_wsman_values(&xml, "T", v, 4), 1);
    assert_int_equal(v[0].len, NGX_FCFH_WSMAN_MAX_VALUE);

    xml.len = filled(long_text, "<T>", NGX_FCFH_WSMAN_MAX_VALUE + 1, "</T>");
    assert_int_equal(ngx_fcfh_wsman_values(&xml, "T", v, 4), 0);

#undef VALUES
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
        cmocka_unit_test(test_challenge_malformed),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_values_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
