
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * libFuzzer target for the console front door parsers:
 *
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -I ngx_fcfh_module t/unit/fuzz_proxy_parse.c \
 *       ngx_fcfh_module/ngx_fcfh_proxy_parse.c \
 *       ngx_fcfh_module/ngx_fcfh_apf.c -o /tmp/fuzz_proxy
 *
 * Every parser sees the input.  Checks: results are in the documented
 * set, sizes and strings lie inside the input, a prefix of the input
 * answers "need more" or the same error (and "need more" before a good
 * message ends), hosts round-trip through their binary form, base64
 * round-trips through an encoder, credentials rebuild the decoded text,
 * an accepted answer head has no CR but before LF, no other CTL but HTAB,
 * no line starting with SP or HTAB, one framing, and its Digest challenge
 * (if any) inside one of its lines.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "ngx_fcfh_proxy_parse.h"
#include "fuzz.h"


/* prefixes tried per parser: all when the input is short, else a sample */
#define PREFIXES_ALL  300
#define PREFIXES_MAX  64


typedef ssize_t (*parse_pt)(const uint8_t *buf, size_t len, void *ctx);


typedef struct {
    size_t    max_head;
    unsigned  max_headers;
} limits_t;


static void check_str(const ngx_fcfh_proxy_str_t *s, const uint8_t *b,
    size_t n);
static void check_prefixes(parse_pt parse, void *ctx, const uint8_t *b,
    size_t len, ssize_t rc);
static void check_host(const ngx_fcfh_proxy_host_t *h);
static void check_inet(const uint8_t *b, size_t len,
    const ngx_fcfh_proxy_host_t *h);
static void fuzz_socks5(const uint8_t *b, size_t len);
static void fuzz_connect(const uint8_t *b, size_t len, const limits_t *l);
static void fuzz_answer(const uint8_t *b, size_t len, size_t max_head);
static void fuzz_basic(const uint8_t *b, size_t len);
static void fuzz_target(const uint8_t *b, size_t len);
static size_t b64_encode(const uint8_t *in, size_t len, uint8_t *out);


static uint8_t  scratch[8192];


static void
check_str(const ngx_fcfh_proxy_str_t *s, const uint8_t *b, size_t n)
{
    if (s->len == 0) {
        return;
    }

    CHECK(s->data != NULL);
    CHECK(s->data >= b && s->data + s->len <= b + n);
}


static void
check_prefixes(parse_pt parse, void *ctx, const uint8_t *b, size_t len,
    ssize_t rc)
{
    size_t   i, n, step;
    ssize_t  r;

    n = (rc > 0) ? (size_t) rc : len;
    step = (n <= PREFIXES_ALL) ? 1 : n / PREFIXES_MAX;

    for (i = 0; i < n; i += step) {
        r = parse(b, i, ctx);

        if (rc > 0) {
            CHECK(r == 0);

        } else {
            CHECK(r == 0 || r == rc);
        }
    }

    if (n > 0) {
        r = parse(b, n - 1, ctx);
        CHECK(rc > 0 ? r == 0 : (r == 0 || r == rc));
    }
}


static void
check_host(const ngx_fcfh_proxy_host_t *h)
{
    char                   text[64], up[64];
    size_t                 i;
    uint8_t                a[16];
    const uint8_t         *t;
    ngx_fcfh_proxy_host_t  h2;

    t = h->text.data;

    switch (h->kind) {

    case NGX_FCFH_PROXY_HOST_GUID:
        CHECK(h->text.len == 36);
        CHECK(ngx_fcfh_proxy_is_guid(t, 36));
        ngx_fcfh_apf_guid_to_text(h->addr, text);

        for (i = 0; i < 36; i++) {
            up[i] = (char) ((t[i] >= 'A' && t[i] <= 'F') ? t[i] | 0x20 : t[i]);
        }

        CHECK(memcmp(text, up, 36) == 0);
        break;

    case NGX_FCFH_PROXY_HOST_IPV4:
        /* the accepted text is canonical: it prints back the same */
        snprintf(text, sizeof(text), "%u.%u.%u.%u", h->addr[0], h->addr[1],
                 h->addr[2], h->addr[3]);
        CHECK(strlen(text) == h->text.len);
        CHECK(memcmp(text, t, h->text.len) == 0);
        break;

    case NGX_FCFH_PROXY_HOST_IPV6:
        CHECK(h->text.len < sizeof(text));
        memcpy(text, t, h->text.len);
        text[h->text.len] = '\0';
        CHECK(inet_pton(AF_INET6, text, a) == 1);
        CHECK(memcmp(a, h->addr, 16) == 0);

        CHECK(inet_ntop(AF_INET6, h->addr, text, sizeof(text)) != NULL);
        CHECK(ngx_fcfh_proxy_parse_host((const uint8_t *) text, strlen(text),
                                        &h2)
              == NGX_FCFH_PROXY_HOST_IPV6);
        CHECK(memcmp(h2.addr, h->addr, 16) == 0);
        break;

    case NGX_FCFH_PROXY_HOST_NAME:
        CHECK(h->text.len >= 1 && h->text.len <= 253);
        CHECK(!ngx_fcfh_proxy_is_guid(t, h->text.len));

        for (i = 0; i < h->text.len; i++) {
            CHECK((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z')
                  || (t[i] >= '0' && t[i] <= '9') || t[i] == '-'
                  || t[i] == '_' || t[i] == '.');
        }

        break;

    default:
        CHECK(h->kind == NGX_FCFH_PROXY_HOST_INVALID);
        CHECK(h->text.len == 0);
    }
}


/* what inet_pton() takes, the classifier takes as well */

static void
check_inet(const uint8_t *b, size_t len, const ngx_fcfh_proxy_host_t *h)
{
    char     text[64];
    uint8_t  a[16];

    if (len == 0 || len >= sizeof(text) || memchr(b, '\0', len) != NULL) {
        return;
    }

    memcpy(text, b, len);
    text[len] = '\0';

    if (inet_pton(AF_INET, text, a) == 1) {
        CHECK(h->kind == NGX_FCFH_PROXY_HOST_IPV4);
        CHECK(memcmp(a, h->addr, 4) == 0);
    }

    if (inet_pton(AF_INET6, text, a) == 1) {
        CHECK(h->kind == NGX_FCFH_PROXY_HOST_IPV6);
        CHECK(memcmp(a, h->addr, 16) == 0);
    }
}


static ssize_t
greeting(const uint8_t *b, size_t len, void *ctx)
{
    ngx_fcfh_proxy_socks5_greeting_t  g;

    return ngx_fcfh_proxy_socks5_greeting(b, len, &g);
}


static ssize_t
auth(const uint8_t *b, size_t len, void *ctx)
{
    ngx_fcfh_proxy_socks5_auth_t  a;

    return ngx_fcfh_proxy_socks5_auth(b, len, &a);
}


static ssize_t
request(const uint8_t *b, size_t len, void *ctx)
{
    ngx_fcfh_proxy_socks5_request_t  r;

    return ngx_fcfh_proxy_socks5_request(b, len, &r);
}


static ssize_t
connect_head(const uint8_t *b, size_t len, void *ctx)
{
    limits_t                  *l = ctx;
    ngx_fcfh_proxy_connect_t   c;

    return ngx_fcfh_proxy_connect_parse(b, len, l->max_head, l->max_headers,
                                        &c);
}


static ssize_t
answer_head(const uint8_t *b, size_t len, void *ctx)
{
    size_t                     *max_head = ctx;
    ngx_fcfh_proxy_response_t   r;

    return ngx_fcfh_proxy_response_parse(b, len, *max_head, &r);
}


static void
fuzz_socks5(const uint8_t *b, size_t len)
{
    int                               rep;
    size_t                            i;
    ssize_t                           rc;
    ngx_fcfh_proxy_socks5_auth_t      a;
    ngx_fcfh_proxy_socks5_request_t   r;
    ngx_fcfh_proxy_socks5_greeting_t  g;

    rc = ngx_fcfh_proxy_socks5_greeting(b, len, &g);
    CHECK(rc >= 0 || rc == NGX_FCFH_PROXY_ERR_VERSION
          || rc == NGX_FCFH_PROXY_ERR_NO_METHODS);

    if (rc > 0) {
        CHECK((size_t) rc <= len && rc <= NGX_FCFH_PROXY_SOCKS5_GREETING_MAX);
        CHECK((size_t) rc == 2 + g.nmethods && g.nmethods >= 1);
        CHECK(g.methods == b + 2);
        CHECK(g.offered != 0);

        for (i = 0; i < g.nmethods; i++) {
            CHECK(g.methods[i] != 0x00
                  || (g.offered & NGX_FCFH_PROXY_OFFER_NO_AUTH));
            CHECK(g.methods[i] != 0x02
                  || (g.offered & NGX_FCFH_PROXY_OFFER_USERPASS));
        }

        CHECK(ngx_fcfh_proxy_socks5_select_method(g.offered, 1) != 0x00);
    }

    check_prefixes(greeting, NULL, b, len, rc);

    rc = ngx_fcfh_proxy_socks5_auth(b, len, &a);
    CHECK(rc >= 0 || rc == NGX_FCFH_PROXY_ERR_VERSION
          || rc == NGX_FCFH_PROXY_ERR_EMPTY_FIELD);

    if (rc > 0) {
        CHECK((size_t) rc <= len && rc <= NGX_FCFH_PROXY_SOCKS5_AUTH_MAX);
        CHECK(a.user.len >= 1 && a.user.len <= 255);
        CHECK(a.password.len >= 1 && a.password.len <= 255);
        CHECK((size_t) rc == 3 + a.user.len + a.password.len);
        check_str(&a.user, b, (size_t) rc);
        check_str(&a.password, b, (size_t) rc);
    }

    check_prefixes(auth, NULL, b, len, rc);

    rc = ngx_fcfh_proxy_socks5_request(b, len, &r);
    CHECK(rc >= 0 || rc == NGX_FCFH_PROXY_ERR_VERSION
          || rc == NGX_FCFH_PROXY_ERR_COMMAND
          || rc == NGX_FCFH_PROXY_ERR_MALFORMED
          || rc == NGX_FCFH_PROXY_ERR_ADDRESS_TYPE);

    rep = ngx_fcfh_proxy_socks5_error_reply(rc);
    CHECK(rep == -1 || rep == 7 || rep == 8);

    if (rc > 0) {
        CHECK((size_t) rc <= len && rc <= NGX_FCFH_PROXY_SOCKS5_REQUEST_MAX);
        CHECK(r.cmd == 1);
        check_str(&r.addr, b, (size_t) rc);
        CHECK(r.port == (b[rc - 2] << 8 | b[rc - 1]));

        switch (r.atyp) {

        case 1:
            CHECK(rc == 10 && r.addr.len == 4);
            CHECK(r.host.kind == NGX_FCFH_PROXY_HOST_IPV4);
            break;

        case 4:
            CHECK(rc == 22 && r.addr.len == 16);
            CHECK(r.host.kind == NGX_FCFH_PROXY_HOST_IPV6);
            break;

        case 3:
            CHECK((size_t) rc == 7 + r.addr.len && r.addr.len >= 1);
            CHECK(memchr(r.addr.data, '\0', r.addr.len) == NULL);
            check_str(&r.host.text, b, (size_t) rc);
            check_host(&r.host);
            break;

        default:
            CHECK(0);
        }
    }

    check_prefixes(request, NULL, b, len, rc);

    /* writers */
    CHECK(ngx_fcfh_proxy_socks5_write_reply(scratch, 10, len & 0xff) == 10);
    CHECK(scratch[0] == 5 && scratch[1] == (len & 0xff) && scratch[3] == 1);
    CHECK(ngx_fcfh_proxy_socks5_write_reply(scratch, len % 10, 0) == 0);
}


static void
fuzz_connect(const uint8_t *b, size_t len, const limits_t *l)
{
    int                       status;
    ssize_t                   rc;
    ngx_fcfh_proxy_connect_t  c;

    rc = ngx_fcfh_proxy_connect_parse(b, len, l->max_head, l->max_headers,
                                      &c);

    CHECK(rc >= NGX_FCFH_PROXY_ERR_DUPLICATE_AUTH);
    CHECK(rc != NGX_FCFH_PROXY_ERR_NO_METHODS
          && rc != NGX_FCFH_PROXY_ERR_EMPTY_FIELD
          && rc != NGX_FCFH_PROXY_ERR_MALFORMED
          && rc != NGX_FCFH_PROXY_ERR_COMMAND
          && rc != NGX_FCFH_PROXY_ERR_ADDRESS_TYPE
          && rc != NGX_FCFH_PROXY_ERR_VERSION);

    if (rc < 0) {
        status = ngx_fcfh_proxy_http_status(rc);
        CHECK(status == 400 || status == 405 || status == 431
              || status == 505);
    }

    if (rc == 0) {
        CHECK(len < l->max_head);
    }

    if (rc > 0) {
        CHECK((size_t) rc <= len && (size_t) rc <= l->max_head);
        CHECK(b[rc - 1] == '\n');
        CHECK(memcmp(b, "CONNECT ", 8) == 0);
        CHECK(c.port >= 1);
        CHECK(c.http_minor <= 1);
        CHECK(c.nheaders <= l->max_headers);
        check_str(&c.host.text, b, (size_t) rc);
        check_str(&c.proxy_authorization, b, (size_t) rc);
        CHECK(c.host.kind != NGX_FCFH_PROXY_HOST_INVALID);
        check_host(&c.host);

        if (c.proxy_authorization.data) {
            CHECK(c.proxy_authorization.data >= b
                  && c.proxy_authorization.data < b + rc);
            fuzz_basic(c.proxy_authorization.data,
                       c.proxy_authorization.len);
        }
    }

    check_prefixes(connect_head, (void *) l, b, len, rc);
}


static void
fuzz_answer(const uint8_t *b, size_t len, size_t max_head)
{
    size_t                     i, n;
    ssize_t                    rc;
    ngx_fcfh_proxy_response_t  r;

    rc = ngx_fcfh_proxy_response_parse(b, len, max_head, &r);

    CHECK(rc >= NGX_FCFH_PROXY_ERR_TRANSFER_CODING);
    CHECK(rc >= 0 || rc <= NGX_FCFH_PROXY_ERR_STATUS_LINE
          || rc == NGX_FCFH_PROXY_ERR_TOO_LARGE
          || rc == NGX_FCFH_PROXY_ERR_HTTP_VERSION
          || rc == NGX_FCFH_PROXY_ERR_BAD_HEADER
          || rc == NGX_FCFH_PROXY_ERR_OBS_FOLD);

    if (rc == 0) {
        CHECK(len < max_head);
    }

    if (rc > 0) {
        n = (size_t) rc;
        CHECK(n <= len && n <= max_head);
        CHECK(b[n - 1] == '\n');
        CHECK(memcmp(b, "HTTP/1.", 7) == 0);
        CHECK(r.status >= 100 && r.status <= 599);
        CHECK(r.http_minor <= 1);
        CHECK(r.framing == NGX_FCFH_PROXY_FRAMING_CLOSE
              || r.framing == NGX_FCFH_PROXY_FRAMING_LENGTH
              || (r.framing == NGX_FCFH_PROXY_FRAMING_CHUNKED
                  && r.http_minor == 1));
        CHECK(r.framing == NGX_FCFH_PROXY_FRAMING_LENGTH
              || r.content_length == 0);
        CHECK(r.content_length <= NGX_FCFH_PROXY_LENGTH_MAX);

        /* a Digest challenge: inside the head, one line's value */
        check_str(&r.digest, b, n);

        if (r.digest.data) {
            CHECK(r.digest.len > 7);
            CHECK((r.digest.data[0] | 0x20) == 'd' && r.digest.data[6] == ' ');
            CHECK(memchr(r.digest.data, '\n', r.digest.len) == NULL);

        } else {
            CHECK(r.digest.len == 0);
        }

        for (i = 0; i < n; i++) {
            CHECK(b[i] != '\r' || (i + 1 < n && b[i + 1] == '\n'));
            CHECK(b[i] >= 0x20 || b[i] == '\t' || b[i] == '\r'
                  || b[i] == '\n');
            CHECK(b[i] != 0x7f);

            if (b[i] == '\n' && i + 1 < n) {
                CHECK(b[i + 1] != ' ' && b[i + 1] != '\t');
            }
        }
    }

    check_prefixes(answer_head, &max_head, b, len, rc);
}


static void
fuzz_basic(const uint8_t *b, size_t len)
{
    size_t                        i, n, size;
    ssize_t                       rc;
    uint8_t                      *out;
    ngx_fcfh_proxy_credentials_t  cr;

    size = len;     /* more than enough: decoded < encoded */
    out = malloc(size ? size : 1);
    CHECK(out != NULL);

    rc = ngx_fcfh_proxy_basic_decode(b, len, out, size, &cr);
    CHECK(rc > 0 || rc == NGX_FCFH_PROXY_ERR_AUTH_SCHEME
          || rc == NGX_FCFH_PROXY_ERR_BASE64
          || rc == NGX_FCFH_PROXY_ERR_NO_COLON
          || rc == NGX_FCFH_PROXY_ERR_BAD_CREDENTIALS);

    if (rc > 0) {
        n = (size_t) rc;
        CHECK(n <= size);
        CHECK(cr.user.data == out);
        CHECK(cr.user.len + 1 + cr.password.len == n);
        CHECK(out[cr.user.len] == ':');
        CHECK(memchr(cr.user.data, ':', cr.user.len) == NULL);

        for (i = 0; i < n; i++) {
            CHECK(out[i] >= 0x20 && out[i] != 0x7f);
        }

        /* one byte short fails cleanly */
        CHECK(ngx_fcfh_proxy_basic_decode(b, len, out, n - 1, &cr)
              == NGX_FCFH_PROXY_ERR_BUFFER);
    }

    free(out);
}


static void
fuzz_base64(const uint8_t *b, size_t len)
{
    size_t    n;
    ssize_t   rc;
    uint8_t  *out, *enc;

    out = malloc(len + 1);
    enc = malloc(len + 8);
    CHECK(out != NULL && enc != NULL);

    rc = ngx_fcfh_proxy_base64_decode(b, len, out, len);
    CHECK(rc >= 0 || rc == NGX_FCFH_PROXY_ERR_BASE64);

    if (rc >= 0) {
        /* strict base64 is canonical: encoding gives the input back */
        n = b64_encode(out, (size_t) rc, enc);
        CHECK(n == len && memcmp(enc, b, len) == 0);

        if (rc > 0) {
            CHECK(ngx_fcfh_proxy_base64_decode(b, len, out, (size_t) rc - 1)
                  == NGX_FCFH_PROXY_ERR_BUFFER);
        }
    }

    /* and every encoding decodes back */
    n = b64_encode(b, len < 1000 ? len : 1000, scratch);
    rc = ngx_fcfh_proxy_base64_decode(scratch, n, out, len);
    CHECK(rc == (ssize_t) (len < 1000 ? len : 1000));
    CHECK(memcmp(out, b, (size_t) rc) == 0);

    free(out);
    free(enc);
}


static void
fuzz_target(const uint8_t *b, size_t len)
{
    size_t                   i;
    ssize_t                  rc;
    ngx_fcfh_proxy_target_t  t;

    rc = ngx_fcfh_proxy_target_parse(b, len, &t);
    CHECK(rc == 0 || rc == NGX_FCFH_PROXY_ERR_SCHEME
          || rc == NGX_FCFH_PROXY_ERR_USERINFO
          || rc == NGX_FCFH_PROXY_ERR_BAD_HOST
          || rc == NGX_FCFH_PROXY_ERR_BAD_PORT
          || rc == NGX_FCFH_PROXY_ERR_BAD_TARGET);

    if (rc != 0) {
        CHECK(ngx_fcfh_proxy_http_status(rc) == 400);
        return;
    }

    CHECK(t.scheme == NGX_FCFH_PROXY_SCHEME_HTTP
          || t.scheme == NGX_FCFH_PROXY_SCHEME_HTTPS);
    CHECK(t.port >= 1);
    CHECK(t.explicit_port
          || t.port == (t.scheme == NGX_FCFH_PROXY_SCHEME_HTTP ? 80 : 443));
    check_str(&t.host.text, b, len);
    check_host(&t.host);
    CHECK(t.host.kind != NGX_FCFH_PROXY_HOST_INVALID);
    CHECK(t.path.len >= 1 && t.path.data[0] == '/');

    if ((uintptr_t) t.path.data >= (uintptr_t) b
        && (uintptr_t) t.path.data < (uintptr_t) (b + len))
    {
        check_str(&t.path, b, len);
        CHECK(t.path.data + t.path.len == b + len);

    } else {
        /* the static "/" */
        CHECK(t.path.len == 1);
    }

    for (i = 0; i < t.path.len; i++) {
        CHECK(t.path.data[i] > 0x20 && t.path.data[i] != 0x7f
              && t.path.data[i] != '#');
    }

    /* no userinfo: no '@' before the path */
    i = ((uintptr_t) t.path.data >= (uintptr_t) b
         && (uintptr_t) t.path.data < (uintptr_t) (b + len))
        ? (size_t) (t.path.data - b) : len;
    CHECK(memchr(b, '@', i) == NULL);
}


static const char  b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


static size_t
b64_encode(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t    i, j;
    uint32_t  v;

    j = 0;

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[j++] = (uint8_t) b64_alphabet[v >> 18];
        out[j++] = (uint8_t) b64_alphabet[(v >> 12) & 0x3f];
        out[j++] = (uint8_t) b64_alphabet[(v >> 6) & 0x3f];
        out[j++] = (uint8_t) b64_alphabet[v & 0x3f];
    }

    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[j++] = (uint8_t) b64_alphabet[v >> 18];
        out[j++] = (uint8_t) b64_alphabet[(v >> 12) & 0x3f];
        out[j++] = '=';
        out[j++] = '=';

    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[j++] = (uint8_t) b64_alphabet[v >> 18];
        out[j++] = (uint8_t) b64_alphabet[(v >> 12) & 0x3f];
        out[j++] = (uint8_t) b64_alphabet[(v >> 6) & 0x3f];
        out[j++] = '=';
    }

    return j;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t                *copy;
    limits_t                l;
    ngx_fcfh_proxy_host_t   h;

    /* an exact-size copy: ASan sees any read past the end */
    copy = malloc(size ? size : 1);
    CHECK(copy != NULL);
    memcpy(copy, data, size);

    fuzz_socks5(copy, size);

    l.max_head = NGX_FCFH_PROXY_DEFAULT_MAX_HEAD;
    l.max_headers = NGX_FCFH_PROXY_DEFAULT_MAX_HEADERS;
    fuzz_connect(copy, size, &l);

    /* small limits taken from the last bytes */
    if (size >= 2) {
        l.max_head = copy[size - 1] * 2u;
        l.max_headers = copy[size - 2] % 8;
        fuzz_connect(copy, size, &l);
    }

    fuzz_answer(copy, size, NGX_FCFH_PROXY_DEFAULT_MAX_HEAD);

    if (size >= 1) {
        fuzz_answer(copy, size, copy[size - 1] * 2u);
    }

    fuzz_basic(copy, size);
    fuzz_base64(copy, size);
    fuzz_target(copy, size);

    (void) ngx_fcfh_proxy_parse_host(copy, size, &h);
    check_host(&h);
    check_inet(copy, size, &h);
    CHECK(ngx_fcfh_proxy_is_guid(copy, size)
          == (h.kind == NGX_FCFH_PROXY_HOST_GUID));

    (void) ngx_fcfh_proxy_sniff(size ? copy[0] : 0);

    free(copy);

    return 0;
}
