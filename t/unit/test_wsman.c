
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Unit tests of what the gateway reads of a device's WS-Management
 * answers (cmocka): the Digest challenge's parameters, element texts,
 * and what is refused.  The HTTP answer itself (framed by Content-Length,
 * chunks or the end of the connection) is ngx_fcfh_response_read()'s,
 * tested in t/unit/test_response.c with the answers this file took.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <setjmp.h>
#include <cmocka.h>

#include "ngx_fcfh_wsman.h"
#include "ngx_fcfh_response.h"


static u_char  buf[4096];


/*
 * Reads a copy of text as the WS-Management client does; the Digest
 * challenge, when the answer is whole, into challenge.
 */

static ssize_t
response(const char *text, size_t len, ngx_uint_t eof, ngx_str_t *challenge)
{
    ssize_t              rc;
    ngx_fcfh_response_t  rsp;

    assert_true(len <= sizeof(buf));
    ngx_memcpy(buf, text, len);

    ngx_fcfh_response_init(&rsp, sizeof(buf), sizeof(buf), 0);

    rc = ngx_fcfh_response_read(&rsp, buf, len, eof);

    challenge->data = (u_char *) rsp.head.digest.data;
    challenge->len = rsp.head.digest.len;

    return rc;
}


#define RESPONSE(lit, eof)  response(lit, sizeof(lit) - 1, eof, &challenge)


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


static void
test_challenge(void **state)
{
    ngx_str_t  v, challenge;

    static const char  text[] =
        "HTTP/1.1 401 Unauthorized\r\n"
        "WWW-Authenticate: Basic realm=\"not this\"\r\n"
        "WWW-Authenticate: Digest realm=\"Digest:A1B2\", "
        "nonce=\"n0nce/+=\",stale=\"false\" , qop = \"auth\", "
        "opaque=abc123, algorithm=MD5\r\n"
        "Content-Length: 0\r\n"
        "\r\n";

    assert_int_equal(RESPONSE(text, 0), sizeof(text) - 1);
    assert_true(challenge.len > 7);
    assert_memory_equal(challenge.data, "Digest ", 7);

    assert_int_equal(ngx_fcfh_wsman_param(&challenge, "realm", &v),
                     NGX_OK);
    assert_str(&v, "Digest:A1B2");
    assert_int_equal(ngx_fcfh_wsman_param(&challenge, "nonce", &v),
                     NGX_OK);
    assert_str(&v, "n0nce/+=");
    assert_int_equal(ngx_fcfh_wsman_param(&challenge, "QOP", &v),
                     NGX_OK);
    assert_str(&v, "auth");
    assert_int_equal(ngx_fcfh_wsman_param(&challenge, "opaque", &v),
                     NGX_OK);
    assert_str(&v, "abc123");
    assert_int_equal(ngx_fcfh_wsman_param(&challenge, "algorithm", &v),
                     NGX_OK);
    assert_str(&v, "MD5");
    assert_int_equal(ngx_fcfh_wsman_param(&challenge, "stale", &v),
                     NGX_OK);
    assert_str(&v, "false");

    assert_int_equal(ngx_fcfh_wsman_param(&challenge, "domain", &v),
                     NGX_DECLINED);
    assert_int_equal(ngx_fcfh_wsman_param(&challenge, "real", &v),
                     NGX_DECLINED);

    /* only a Digest challenge is taken */
    assert_true(RESPONSE("HTTP/1.1 401 No\r\n"
                         "WWW-Authenticate: Basic realm=\"x\"\r\n"
                         "Content-Length: 0\r\n\r\n", 0)
                > 0);
    assert_int_equal(challenge.len, 0);

    assert_true(RESPONSE("HTTP/1.1 401 No\r\n"
                         "WWW-Authenticate: Digest\r\n"
                         "Content-Length: 0\r\n\r\n", 0)
                > 0);
    assert_int_equal(challenge.len, 0);
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
        cmocka_unit_test(test_challenge),
        cmocka_unit_test(test_challenge_malformed),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_values_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
