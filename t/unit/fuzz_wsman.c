
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * libFuzzer target for what the gateway reads of a device's
 * WS-Management answers (ngx_fcfh_wsman.c): the HTTP response, the
 * Digest challenge's parameters, SOAP element texts.  Built by
 * "make fuzz" (see the Makefile for the command).
 *
 * Input: byte 0 bit 0 = the connection ended after the bytes; the rest
 * is what the device sent.  Checks: results are in the documented set;
 * body, challenge and values lie inside the buffer and are bounded and
 * printable where documented; a complete response's every prefix is
 * "need more", never an error; a prefix parse leaves the buffer as the
 * whole parse needs it (the same answer afterwards).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh_wsman.h"
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


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                     *buf, *again;
    size_t                      len, cut;
    ngx_int_t                   rc, rc2;
    ngx_str_t                   xml;
    ngx_uint_t                  eof;
    ngx_fcfh_wsman_response_t   rsp, rsp2;

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

    rc = ngx_fcfh_wsman_response(buf, len, eof, &rsp);
    CHECK(rc == NGX_OK || rc == NGX_AGAIN || rc == NGX_ERROR);

    if (rc == NGX_OK) {
        CHECK(rsp.status >= 100 && rsp.status <= 999);
        CHECK(INSIDE(rsp.body, buf, len));
        CHECK(INSIDE(rsp.challenge, buf, len));

        if (rsp.challenge.len) {
            CHECK(rsp.challenge.len > 7);
            check_param(&rsp.challenge, "realm");
            check_param(&rsp.challenge, "nonce");
            check_param(&rsp.challenge, "qop");
            check_param(&rsp.challenge, "opaque");
            check_param(&rsp.challenge, "stale");
        }

        check_values(&rsp.body, "EnumerationContext");
        check_values(&rsp.body, "Name");
        check_values(&rsp.body, "RecordArray");

        if (!eof) {
            /*
             * Read in two parts: the first is never an error, and what
             * parsing it did leaves the whole parse unchanged.
             */
            cut = len / 2;
            ngx_memcpy(again, data + 1, len);

            rc2 = ngx_fcfh_wsman_response(again, cut, 0, &rsp2);
            CHECK(rc2 != NGX_ERROR);

            if (rc2 == NGX_OK) {
                /* the answer ended early; it was decoded, as for a read */
                goto raw;
            }

            rc2 = ngx_fcfh_wsman_response(again, len, 0, &rsp2);
            CHECK(rc2 == NGX_OK);
            CHECK(rsp2.status == rsp.status);
            CHECK(rsp2.body.len == rsp.body.len);
            CHECK(rsp2.body.data - again == rsp.body.data - buf);
            CHECK(ngx_memcmp(rsp2.body.data, rsp.body.data, rsp.body.len)
                  == 0);
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
