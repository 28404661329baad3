
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * libFuzzer target for what the gateway reads of a device's
 * WS-Management answers: the HTTP answer as the client reads it
 * (ngx_fcfh_response_read(), on its own in fuzz_response.c), the Digest
 * challenge's parameters and SOAP element texts (ngx_fcfh_wsman.c).
 * Built by "make fuzz" (see the Makefile for the command).
 *
 * Input: byte 0 bit 0 = the connection ended after the bytes; the rest
 * is what the device sent.  Checks: results are in the documented set;
 * body, challenge and values lie inside the buffer and are bounded and
 * printable where documented; a complete answer read in two parts is
 * never an error after the first, and reads the same as in one.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh_wsman.h"
#include "ngx_fcfh_response.h"
#include "fuzz.h"


#define INSIDE(s, b, n)                                                      \
    ((s).len == 0 || ((s).data >= (b) && (s).data + (s).len <= (b) + (n)))


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
check_values(ngx_str_t *xml, const char *name)
{
    size_t      j;
    ngx_str_t   v[16];
    ngx_uint_t  i, n;

    n = ngx_fcfh_wsman_values(xml, name, v, 16);
    CHECK(n <= 16);

    for (i = 0; i < n; i++) {
        CHECK(INSIDE(v[i], xml->data, xml->len));
        CHECK(v[i].len <= NGX_FCFH_WSMAN_MAX_VALUE);

        for (j = 0; j < v[i].len; j++) {
            CHECK(v[i].data[j] >= 0x20 && v[i].data[j] <= 0x7e
                  && v[i].data[j] != '"' && v[i].data[j] != '\\'
                  && v[i].data[j] != '<');
        }
    }
}


static void
check_param(ngx_str_t *challenge, char *name)
{
    size_t     j;
    ngx_int_t  rc;
    ngx_str_t  v;

    rc = ngx_fcfh_wsman_param(challenge, name, &v);
    CHECK(rc == NGX_OK || rc == NGX_DECLINED || rc == NGX_ERROR);

    if (rc != NGX_OK) {
        return;
    }

    CHECK(v.len > 0 && v.len <= NGX_FCFH_WSMAN_MAX_VALUE);
    CHECK(INSIDE(v, challenge->data, challenge->len));

    for (j = 0; j < v.len; j++) {
        CHECK(v.data[j] >= 0x20 && v.data[j] <= 0x7e && v.data[j] != '"'
              && v.data[j] != '\\');
    }
}


/* the answer read as the WS-Management client reads it */

static ssize_t
answer(u_char *buf, size_t len, ngx_uint_t eof, ngx_fcfh_response_t *rsp,
    ngx_str_t *body, ngx_str_t *challenge)
{
    ssize_t  rc;

    ngx_fcfh_response_init(rsp, 4096, 65536, 0);

    rc = ngx_fcfh_response_read(rsp, buf, len, eof);

    body->data = buf + rsp->head_len;
    body->len = (size_t) rsp->body_len;
    challenge->data = (u_char *) rsp->head.digest.data;
    challenge->len = rsp->head.digest.len;

    return rc;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char               *buf, *again;
    size_t                len, cut;
    ssize_t               rc, rc2;
    ngx_str_t             xml, body, challenge, body2, challenge2;
    ngx_uint_t            eof;
    ngx_fcfh_response_t   rsp, rsp2;

    if (size == 0) {
        return 0;
    }

    eof = data[0] & 1;
    len = size - 1;

    /* exact-size copies: ASan sees any read past the device's bytes */

    buf = malloc(len ? len : 1);
    again = malloc(len ? len : 1);
    CHECK(buf && again);

    ngx_memcpy(buf, data + 1, len);

    rc = answer(buf, len, eof, &rsp, &body, &challenge);
    CHECK(rc >= NGX_FCFH_PROXY_ERR_TRANSFER_CODING
          || (rc >= NGX_FCFH_RESPONSE_ERR_CHUNK
              && rc <= NGX_FCFH_RESPONSE_ERR_TRUNCATED));
    CHECK(!(eof && rc == 0));

    if (rc > 0) {
        CHECK((size_t) rc <= len);
        CHECK(rsp.head.status >= 200 && rsp.head.status <= 599);
        CHECK(rsp.head_len > 0 && rsp.head_len + body.len <= (size_t) rc);
        CHECK(INSIDE(body, buf, len));
        CHECK(INSIDE(challenge, buf, rsp.head_len));

        if (challenge.len) {
            CHECK(challenge.len > 7);
            check_param(&challenge, "realm");
            check_param(&challenge, "nonce");
            check_param(&challenge, "qop");
            check_param(&challenge, "opaque");
            check_param(&challenge, "stale");
        }

        check_values(&body, "EnumerationContext");
        check_values(&body, "Name");
        check_values(&body, "RecordArray");

        if (!eof) {
            /*
             * Read in two parts: the first is never an error, and the
             * second reads the same answer as one read did.
             */
            cut = len / 2;
            ngx_memcpy(again, data + 1, len);

            ngx_fcfh_response_init(&rsp2, 4096, 65536, 0);

            rc2 = ngx_fcfh_response_read(&rsp2, again, cut, 0);
            CHECK(rc2 >= 0);

            if (rc2 > 0) {
                /* the answer ended early */
                CHECK(rc2 == rc);
                goto raw;
            }

            rc2 = ngx_fcfh_response_read(&rsp2, again, len, 0);
            CHECK(rc2 == rc);

            body2.data = again + rsp2.head_len;
            body2.len = (size_t) rsp2.body_len;
            challenge2.len = rsp2.head.digest.len;

            CHECK(rsp2.head.status == rsp.head.status);
            CHECK(body2.len == body.len);
            CHECK(body2.data - again == body.data - buf);
            CHECK(challenge2.len == challenge.len);
            CHECK(ngx_memcmp(body2.data, body.data, body.len) == 0);
        }
    }

raw:

    /* the raw bytes as XML too */
    ngx_memcpy(buf, data + 1, len);
    xml.data = buf;
    xml.len = len;
    check_values(&xml, "Text");
    check_values(&xml, "PolicyRuleName");

    if (len > 7 && ngx_strncasecmp(buf, (u_char *) "Digest ", 7) == 0) {
        check_param(&xml, "realm");
        check_param(&xml, "nonce");
    }

    free(buf);
    free(again);

    return 0;
}
