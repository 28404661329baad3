
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * libFuzzer target for the answer reader of the module's own HTTP
 * clients (ngx_fcfh_response.c, on ngx_fcfh_proxy_response_parse()):
 *
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -I ngx_fcfh_module t/unit/fuzz_response.c \
 *       ngx_fcfh_module/ngx_fcfh_response.c \
 *       ngx_fcfh_module/ngx_fcfh_proxy_parse.c \
 *       ngx_fcfh_module/ngx_fcfh_apf.c -o /tmp/fuzz_response
 *
 * Input: byte 0: bit 0 the connection ended after the bytes, bit 1 the
 * head only (webhooks); byte 1: max_head (64 << (b & 7)); byte 2:
 * max_body (b * 64); byte 3: how the bytes are cut into reads; the rest
 * is what the peer sent.
 *
 * Checks: results in the documented set, never "more" at the end of the
 * connection; a complete answer lies inside the bytes, within the
 * bounds, framed as its head says (a chunked body the same as a plain,
 * separate decoder makes of the bytes as sent); the same answer, or the
 * same error, whatever the reads the bytes come in; a prefix of the
 * bytes read on its own is "more" or the same error; the result is kept.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_fcfh_response.h"
#include "fuzz.h"


#define PREFIXES_ALL  200
#define PREFIXES_MAX  48


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


typedef struct {
    size_t    max_head;
    uint64_t  max_body;
    unsigned  head_only;
    int       eof;
} limits_t;


/* a fresh reader and a fresh copy: the bytes at once */

static ssize_t
read_once(const uint8_t *b, size_t len, const limits_t *l, int eof,
    uint8_t *copy, ngx_fcfh_response_t *r)
{
    memcpy(copy, b, len);

    ngx_fcfh_response_init(r, l->max_head, l->max_body, l->head_only);

    return ngx_fcfh_response_read(r, copy, len, eof);
}


/* the bytes in reads of 1 to 16 bytes, picked by seed */

static ssize_t
read_cut(const uint8_t *b, size_t len, const limits_t *l, uint8_t seed,
    uint8_t *copy, ngx_fcfh_response_t *r)
{
    size_t    got, n;
    ssize_t   rc;
    uint32_t  x;

    ngx_fcfh_response_init(r, l->max_head, l->max_body, l->head_only);

    x = seed | 0x100;
    got = 0;
    rc = NGX_FCFH_PROXY_AGAIN;

    while (got < len && rc == NGX_FCFH_PROXY_AGAIN) {
        x = x * 1103515245 + 12345;
        n = 1 + ((x >> 16) & 15);

        if (n > len - got) {
            n = len - got;
        }

        memcpy(copy + got, b + got, n);
        got += n;

        rc = ngx_fcfh_response_read(r, copy, got, l->eof && got == len);
    }

    if (len == 0) {
        rc = ngx_fcfh_response_read(r, copy, 0, l->eof);
    }

    return rc;
}


/*
 * A separate, plain decoder of chunks from p: 1 and the decoded body in
 * out when whole (*used: the bytes it took), 0 or -1 otherwise.
 */

static int
ref_unchunk(const uint8_t *p, size_t n, uint8_t *out, size_t *out_len,
    size_t *used)
{
    int       d;
    size_t    pos, digits, o;
    uint64_t  size;

    pos = 0;
    o = 0;

    for ( ;; ) {
        size = 0;

        for (digits = 0; pos < n; digits++, pos++) {
            if (p[pos] >= '0' && p[pos] <= '9') {
                d = p[pos] - '0';

            } else if (p[pos] >= 'a' && p[pos] <= 'f') {
                d = p[pos] - 'a' + 10;

            } else if (p[pos] >= 'A' && p[pos] <= 'F') {
                d = p[pos] - 'A' + 10;

            } else {
                break;
            }

            size = size * 16 + (uint64_t) d;
        }

        if (digits == 0 || digits > 16 || pos == n) {
            return -1;
        }

        if (p[pos] == '\r') {
            pos++;
        }

        if (pos == n || p[pos++] != '\n') {
            return -1;
        }

        if (size > n - pos) {
            return -1;
        }

        if (size == 0) {
            break;
        }

        memcpy(out + o, p + pos, (size_t) size);
        o += (size_t) size;
        pos += (size_t) size;

        if (pos < n && p[pos] == '\r') {
            pos++;
        }

        if (pos == n || p[pos++] != '\n') {
            return -1;
        }
    }

    if (pos < n && p[pos] == '\r') {
        pos++;
    }

    if (pos == n || p[pos++] != '\n') {
        return -1;
    }

    *out_len = o;
    *used = pos;

    return 1;
}


static int
caseeq(const uint8_t *p, const char *lit, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if ((p[i] | 0x20) != (uint8_t) lit[i]) {
            return 0;
        }
    }

    return 1;
}


static void
check_answer(const uint8_t *b, size_t len, const limits_t *l, ssize_t rc,
    const uint8_t *copy, ngx_fcfh_response_t *r, uint8_t *ref)
{
    size_t                      n, ref_len, used;
    const ngx_fcfh_proxy_str_t  *dg;

    CHECK(rc >= NGX_FCFH_PROXY_ERR_TRANSFER_CODING
          || (rc >= NGX_FCFH_RESPONSE_ERR_CHUNK
              && rc <= NGX_FCFH_RESPONSE_ERR_TRUNCATED));
    CHECK(!(l->eof && rc == NGX_FCFH_PROXY_AGAIN));
    CHECK(ngx_fcfh_response_strerror(rc) != NULL);

    if (rc <= 0) {
        return;
    }

    n = (size_t) rc;

    CHECK(n <= len);
    CHECK(r->head_len > 0 && r->head_len <= l->max_head);
    CHECK(r->head_len <= n && r->head_len + r->body_len <= n);
    CHECK(r->body_len <= l->max_body);
    CHECK(b[r->head_len - 1] == '\n');
    CHECK(memcmp(copy, b, r->head_len) == 0);
    CHECK(r->head.status >= 100 && r->head.status <= 599);

    dg = &r->head.digest;

    if (dg->data) {
        CHECK(dg->len > 7);
        CHECK(dg->data >= copy && dg->data + dg->len <= copy + r->head_len);
        CHECK(caseeq(dg->data, "digest ", 7));

    } else {
        CHECK(dg->len == 0);
    }

    if (l->head_only) {
        CHECK(n == r->head_len && r->body_len == 0);
        return;
    }

    CHECK(r->head.status >= 200);

    if (r->head.status == 204 || r->head.status == 304) {
        CHECK(n == r->head_len && r->body_len == 0);
        return;
    }

    switch (r->head.framing) {

    case NGX_FCFH_PROXY_FRAMING_LENGTH:
        CHECK(r->body_len == r->head.content_length);
        CHECK(n == r->head_len + r->body_len);
        CHECK(memcmp(copy + r->head_len, b + r->head_len, r->body_len)
              == 0);
        break;

    case NGX_FCFH_PROXY_FRAMING_CHUNKED:
        CHECK(ref_unchunk(b + r->head_len, len - r->head_len, ref, &ref_len,
                          &used)
              == 1);
        CHECK(used == n - r->head_len);
        CHECK(ref_len == r->body_len);
        CHECK(memcmp(copy + r->head_len, ref, ref_len) == 0);
        break;

    default:
        CHECK(r->head.framing == NGX_FCFH_PROXY_FRAMING_CLOSE);
        CHECK(l->eof && n == len && r->body_len == len - r->head_len);
        CHECK(memcmp(copy + r->head_len, b + r->head_len, r->body_len)
              == 0);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t               len, i, m, step;
    ssize_t              rc, rc2;
    uint8_t             *b, *copy, *copy2, *ref;
    limits_t             l;
    const uint8_t       *in;
    ngx_fcfh_response_t  r, r2;

    if (size < 4) {
        return 0;
    }

    l.eof = data[0] & 1;
    l.head_only = (data[0] >> 1) & 1;
    l.max_head = (size_t) 64 << (data[1] & 7);
    l.max_body = (uint64_t) data[2] * 64;

    in = data + 4;
    len = size - 4;

    /* exact-size buffers: ASan sees any access past the peer's bytes */

    b = malloc(len ? len : 1);
    copy = malloc(len ? len : 1);
    copy2 = malloc(len ? len : 1);
    ref = malloc(len ? len : 1);
    CHECK(b && copy && copy2 && ref);

    memcpy(b, in, len);

    rc = read_once(b, len, &l, l.eof, copy, &r);
    check_answer(b, len, &l, rc, copy, &r, ref);

    /* the end is kept */
    CHECK(rc == NGX_FCFH_PROXY_AGAIN
          || ngx_fcfh_response_read(&r, copy, len, l.eof) == rc);

    /* any reads: the same answer or error */

    rc2 = read_cut(b, len, &l, data[3], copy2, &r2);
    CHECK(rc2 == rc);

    if (rc > 0) {
        CHECK(r2.head_len == r.head_len && r2.body_len == r.body_len);
        CHECK(r2.head.status == r.head.status);
        CHECK(memcmp(copy2 + r2.head_len, copy + r.head_len,
                     (size_t) r.body_len)
              == 0);
    }

    /* a prefix on its own, the connection open: more, or the same error */

    m = (rc > 0) ? (size_t) rc : len;
    step = (m <= PREFIXES_ALL) ? 1 : m / PREFIXES_MAX;

    for (i = 0; i < m; i += step) {
        rc2 = read_once(b, i, &l, 0, copy2, &r2);

        if (rc > 0) {
            CHECK(rc2 == NGX_FCFH_PROXY_AGAIN);

        } else {
            CHECK(rc2 == NGX_FCFH_PROXY_AGAIN || rc2 == rc);
        }
    }

    free(b);
    free(copy);
    free(copy2);
    free(ref);

    return 0;
}
