
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Unit tests of the WebSocket layer (cmocka): the handshake's checks and
 * answer (RFC 6455's own example), every frame the parser must refuse and
 * with which close code, fragmentation with control frames in between,
 * text turned into bytes, limits judged from the header, the same events
 * whatever the reads' sizes, and the writers.  libwslay (an independent
 * implementation) writes client frames for the parser and reads the
 * gateway's frames back:
 *
 *   cc -O2 -Wall -Wextra -Wpointer-arith -Wno-unused-parameter -Werror \
 *       -I ngx_fcfh_module t/unit/test_ws.c ngx_fcfh_module/ngx_fcfh_ws.c \
 *       -lcmocka -lcrypto -lwslay
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <wslay/wslay.h>

#include "ngx_fcfh_ws.h"


#define MAX_FRAME    1000
#define MAX_MESSAGE  3000


/* everything one parse of a whole input produced */
typedef struct {
    uint8_t    data[80000];
    size_t     data_len;
    unsigned   messages;       /* DATA events with last */
    unsigned   last_opcode;
    unsigned   pings;
    unsigned   pongs;
    uint8_t    ping[NGX_FCFH_WS_CONTROL_MAX];
    size_t     ping_len;
    unsigned   closes;
    unsigned   close_code;
    uint8_t    reason[NGX_FCFH_WS_CONTROL_MAX];
    size_t     reason_len;
    unsigned   error;          /* the close code of an ERROR, or 0 */
    size_t     error_at;       /* input offset after the ERROR call */
} result_t;


static void
mask_frame(uint8_t *out, size_t *len, unsigned b0, const uint8_t *payload,
    size_t plen, int masked)
{
    size_t         n, i;
    const uint8_t  key[4] = { 0x37, 0xfa, 0x21, 0x3d };

    out[0] = (uint8_t) b0;

    if (plen < 126) {
        out[1] = (uint8_t) plen;
        n = 2;

    } else if (plen <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t) (plen >> 8);
        out[3] = (uint8_t) plen;
        n = 4;

    } else {
        out[1] = 127;
        for (i = 0; i < 8; i++) {
            out[2 + i] = (uint8_t) ((uint64_t) plen >> (56 - 8 * i));
        }
        n = 10;
    }

    if (masked) {
        out[1] |= 0x80;
        memcpy(out + n, key, 4);
        n += 4;
    }

    for (i = 0; i < plen; i++) {
        out[n + i] = payload[i] ^ (masked ? key[i & 3] : 0);
    }

    *len = n + plen;
}


/* appends a masked frame to buf at *len */
static void
add(uint8_t *buf, size_t *len, unsigned b0, const char *payload, size_t plen)
{
    size_t  n;

    mask_frame(buf + *len, &n, b0, (const uint8_t *) payload, plen, 1);
    *len += n;
}


/* one event into the result; 0 once an error ended the parse */
static int
record(result_t *r, ngx_fcfh_ws_event_t *ev)
{
    switch (ev->type) {

    case NGX_FCFH_WS_EV_DATA:
        assert_true(r->data_len + ev->len <= sizeof(r->data));
        memcpy(r->data + r->data_len, ev->data, ev->len);
        r->data_len += ev->len;
        if (ev->last) {
            r->messages++;
            r->last_opcode = ev->opcode;
        }
        return 1;

    case NGX_FCFH_WS_EV_PING:
        r->pings++;
        memcpy(r->ping, ev->data, ev->len);
        r->ping_len = ev->len;
        return 1;

    case NGX_FCFH_WS_EV_PONG:
        r->pongs++;
        return 1;

    case NGX_FCFH_WS_EV_CLOSE:
        r->closes++;
        r->close_code = ev->code;
        memcpy(r->reason, ev->data, ev->len);
        r->reason_len = ev->len;
        return 1;

    case NGX_FCFH_WS_EV_ERROR:
        assert_non_null(ev->error);
        r->error = ev->code;
        return 0;

    default:
        return 1;
    }
}


/* parses in reads of step bytes (0: all at once) */
static void
run(const uint8_t *input, size_t len, size_t step, result_t *r,
    uint64_t max_frame, uint64_t max_message)
{
    size_t                 off, end, n;
    uint8_t               *buf;
    ngx_fcfh_ws_event_t    ev;
    ngx_fcfh_ws_parser_t   p;

    memset(r, 0, sizeof(result_t));

    buf = malloc(len + 1);
    assert_non_null(buf);
    memcpy(buf, input, len);

    ngx_fcfh_ws_parser_init(&p, max_frame, max_message, NGX_FCFH_WS_MASKED);

    off = 0;

    while (off < len) {
        end = (step && off + step < len) ? off + step : len;

        do {
            n = ngx_fcfh_ws_parse(&p, buf + off, end - off, &ev);
            assert_true(n <= end - off);
            assert_true(ev.type != NGX_FCFH_WS_EV_DATA || ev.len <= n);
            off += n;

            if (ev.type == NGX_FCFH_WS_EV_NONE) {
                assert_int_equal(off, end);
            }

            if (!record(r, &ev)) {
                r->error_at = off;

                /* the same error again, nothing taken */
                n = ngx_fcfh_ws_parse(&p, buf + off, end - off, &ev);
                assert_int_equal(n, 0);
                assert_int_equal(ev.type, NGX_FCFH_WS_EV_ERROR);
                assert_int_equal(ev.code, r->error);

                free(buf);
                return;
            }

        } while (ev.type != NGX_FCFH_WS_EV_NONE);
    }

    free(buf);
}


static void
run_all_steps(const uint8_t *input, size_t len, result_t *r)
{
    size_t    step;
    result_t  other;

    run(input, len, 0, r, MAX_FRAME, MAX_MESSAGE);

    for (step = 1; step <= 17; step++) {
        run(input, len, step, &other, MAX_FRAME, MAX_MESSAGE);

        assert_int_equal(other.data_len, r->data_len);
        assert_memory_equal(other.data, r->data, r->data_len);
        assert_int_equal(other.messages, r->messages);
        assert_int_equal(other.pings, r->pings);
        assert_int_equal(other.pongs, r->pongs);
        assert_int_equal(other.closes, r->closes);
        assert_int_equal(other.close_code, r->close_code);
        assert_int_equal(other.error, r->error);
    }
}


static void
test_handshake_key(void **state)
{
    uint8_t      out[NGX_FCFH_WS_ACCEPT_LEN];
    const char  *key = "dGhlIHNhbXBsZSBub25jZQ==";

    assert_int_equal(ngx_fcfh_ws_key_check((const uint8_t *) key, 24), 0);

    /* RFC 6455, 1.3 */
    assert_int_equal(ngx_fcfh_ws_accept((const uint8_t *) key, 24, out), 0);
    assert_memory_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 28);

    assert_int_not_equal(ngx_fcfh_ws_key_check(
                             (const uint8_t *) "dGhlIHNhbXBsZSBub25jZQ=", 23),
                         0);
    assert_int_not_equal(ngx_fcfh_ws_key_check(
                             (const uint8_t *) "dGhlIHNhbXBsZSBub25jZQ===", 25),
                         0);
    /* trailing bits set: not the encoding of any 16 bytes */
    assert_int_not_equal(ngx_fcfh_ws_key_check(
                             (const uint8_t *) "dGhlIHNhbXBsZSBub25jZR==", 24),
                         0);
    assert_int_not_equal(ngx_fcfh_ws_key_check(
                             (const uint8_t *) "dGhlIHNhbXBsZSBub25j*Q==", 24),
                         0);
    /* 18 bytes: 24 digits without padding */
    assert_int_not_equal(ngx_fcfh_ws_key_check(
                             (const uint8_t *) "dGhlIHNhbXBsZSBub25jZQAA", 24),
                         0);
    assert_int_not_equal(ngx_fcfh_ws_key_check((const uint8_t *) "", 0), 0);
}


static void
test_tokens(void **state)
{
    const char     *v;
    size_t          len;
    const uint8_t  *first;

#define HAS(s, t) ngx_fcfh_ws_has_token((const uint8_t *) s, strlen(s), t)

    assert_true(HAS("Upgrade", "upgrade"));
    assert_true(HAS("keep-alive, Upgrade", "upgrade"));
    assert_true(HAS(" upgrade ,keep-alive", "upgrade"));
    assert_true(HAS("websocket", "websocket"));
    assert_false(HAS("Upgradex", "upgrade"));
    assert_false(HAS("keep-alive", "upgrade"));
    assert_false(HAS("", "upgrade"));
    assert_false(HAS("up grade", "upgrade"));

    v = "eyJhbGciOiJIUzI1NiJ9.eyJkZXZpY2VJZCI6IjEifQ.sig-_";
    assert_int_equal(ngx_fcfh_ws_subprotocol((const uint8_t *) v, strlen(v),
                                             &first, &len), 0);
    assert_int_equal(len, strlen(v));
    assert_memory_equal(first, v, len);

    v = " binary , base64";
    assert_int_equal(ngx_fcfh_ws_subprotocol((const uint8_t *) v, strlen(v),
                                             &first, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(first, "binary", 6);

    v = "a,,b";
    assert_int_equal(ngx_fcfh_ws_subprotocol((const uint8_t *) v, strlen(v),
                                             &first, &len), -1);
    v = "a b";
    assert_int_equal(ngx_fcfh_ws_subprotocol((const uint8_t *) v, strlen(v),
                                             &first, &len), -1);
    v = "a\"b";
    assert_int_equal(ngx_fcfh_ws_subprotocol((const uint8_t *) v, strlen(v),
                                             &first, &len), -1);
    assert_int_equal(ngx_fcfh_ws_subprotocol((const uint8_t *) "", 0,
                                             &first, &len), -1);
#undef HAS
}


/* RFC 6455, 5.7: a masked "Hello" */
static void
test_rfc_example(void **state)
{
    result_t       r;
    const uint8_t  hello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                               0x9f, 0x4d, 0x51, 0x58 };
    const uint8_t  unmasked[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c,
                                  0x6f };

    run_all_steps(hello, sizeof(hello), &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.messages, 1);
    assert_int_equal(r.last_opcode, NGX_FCFH_WS_TEXT);
    assert_int_equal(r.data_len, 5);
    assert_memory_equal(r.data, "Hello", 5);

    run_all_steps(unmasked, sizeof(unmasked), &r);
    assert_int_equal(r.error, NGX_FCFH_WS_PROTOCOL_ERROR);
    assert_int_equal(r.data_len, 0);
}


static void
test_fragments_and_controls(void **state)
{
    size_t    len;
    uint8_t   in[512];
    result_t  r;

    len = 0;
    add(in, &len, 0x02, "\x00\x01", 2);             /* binary, not fin */
    add(in, &len, 0x89, "ping!", 5);                /* ping in between */
    add(in, &len, 0x00, "", 0);                     /* empty continuation */
    add(in, &len, 0x8a, "", 0);                     /* unsolicited pong */
    add(in, &len, 0x80, "\xff\xfe", 2);             /* last */
    add(in, &len, 0x82, "", 0);                     /* empty message */
    add(in, &len, 0x88, "\x03\xe8" "bye", 5);       /* close 1000 */

    run_all_steps(in, len, &r);

    assert_int_equal(r.error, 0);
    assert_int_equal(r.data_len, 4);
    assert_memory_equal(r.data, "\x00\x01\xff\xfe", 4);
    assert_int_equal(r.messages, 2);
    assert_int_equal(r.last_opcode, NGX_FCFH_WS_BINARY);
    assert_int_equal(r.pings, 1);
    assert_int_equal(r.ping_len, 5);
    assert_memory_equal(r.ping, "ping!", 5);
    assert_int_equal(r.pongs, 1);
    assert_int_equal(r.closes, 1);
    assert_int_equal(r.close_code, 1000);
    assert_int_equal(r.reason_len, 3);
    assert_memory_equal(r.reason, "bye", 3);

    /* a close without a code */
    len = 0;
    add(in, &len, 0x88, "", 0);
    run_all_steps(in, len, &r);
    assert_int_equal(r.closes, 1);
    assert_int_equal(r.close_code, NGX_FCFH_WS_NO_STATUS);
}


static void
test_text_bytes(void **state)
{
    size_t    len;
    uint8_t   in[512];
    result_t  r;

    /* "A\u00e9\u00ff\u0000", the é split between two frames */
    len = 0;
    add(in, &len, 0x01, "A\xc3", 2);
    add(in, &len, 0x80, "\xa9\xc3\xbf\x00", 4);
    run_all_steps(in, len, &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.messages, 1);
    assert_int_equal(r.last_opcode, NGX_FCFH_WS_TEXT);
    assert_int_equal(r.data_len, 4);
    assert_memory_equal(r.data, "A\xe9\xff\x00", 4);

    /* U+0100 */
    len = 0;
    add(in, &len, 0x81, "ok\xc4\x80", 4);
    run_all_steps(in, len, &r);
    assert_int_equal(r.error, NGX_FCFH_WS_INVALID_DATA);

    /* not UTF-8: a lone continuation, an overlong form, a bad follower */
    len = 0;
    add(in, &len, 0x81, "\x80", 1);
    run_all_steps(in, len, &r);
    assert_int_equal(r.error, NGX_FCFH_WS_INVALID_DATA);

    len = 0;
    add(in, &len, 0x81, "\xc1\x81", 2);
    run_all_steps(in, len, &r);
    assert_int_equal(r.error, NGX_FCFH_WS_INVALID_DATA);

    len = 0;
    add(in, &len, 0x81, "\xc3\x41", 2);
    run_all_steps(in, len, &r);
    assert_int_equal(r.error, NGX_FCFH_WS_INVALID_DATA);

    /* a message that ends inside a character, also by an empty frame */
    len = 0;
    add(in, &len, 0x81, "a\xc3", 2);
    run_all_steps(in, len, &r);
    assert_int_equal(r.error, NGX_FCFH_WS_INVALID_DATA);

    len = 0;
    add(in, &len, 0x01, "a\xc3", 2);
    add(in, &len, 0x80, "", 0);
    run_all_steps(in, len, &r);
    assert_int_equal(r.error, NGX_FCFH_WS_INVALID_DATA);

    /* binary is taken as it is */
    len = 0;
    add(in, &len, 0x82, "\xc4\x80\x80", 3);
    run_all_steps(in, len, &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.data_len, 3);
}


static void
expect_error(const uint8_t *in, size_t len, unsigned code)
{
    result_t  r;

    run_all_steps(in, len, &r);
    assert_int_equal(r.error, code);
}


static void
test_protocol_errors(void **state)
{
    size_t   len;
    uint8_t  in[512];
    char     big[200];

    memset(big, 'x', sizeof(big));

    len = 0;
    add(in, &len, 0xc2, "a", 1);                   /* RSV1 */
    expect_error(in, len, NGX_FCFH_WS_PROTOCOL_ERROR);

    len = 0;
    add(in, &len, 0x83, "a", 1);                   /* opcode 3 */
    expect_error(in, len, NGX_FCFH_WS_PROTOCOL_ERROR);

    len = 0;
    add(in, &len, 0x8b, "a", 1);                   /* opcode 0xb */
    expect_error(in, len, NGX_FCFH_WS_PROTOCOL_ERROR);

    len = 0;
    add(in, &len, 0x80, "a", 1);                   /* lone continuation */
    expect_error(in, len, NGX_FCFH_WS_PROTOCOL_ERROR);

    len = 0;
    add(in, &len, 0x02, "a", 1);
    add(in, &len, 0x82, "b", 1);                   /* new before the end */
    expect_error(in, len, NGX_FCFH_WS_PROTOCOL_ERROR);

    len = 0;
    add(in, &len, 0x09, "a", 1);                   /* fragmented ping */
    expect_error(in, len, NGX_FCFH_WS_PROTOCOL_ERROR);

    len = 0;
    add(in, &len, 0x89, big, 126);                 /* control over 125 */
    expect_error(in, len, NGX_FCFH_WS_PROTOCOL_ERROR);

    len = 0;
    add(in, &len, 0x88, "\x03", 1);                /* close of one byte */
    expect_error(in, len, NGX_FCFH_WS_PROTOCOL_ERROR);

    len = 0;
    add(in, &len, 0x88, "\x03\xed", 2);            /* 1005 on the wire */
    expect_error(in, len, NGX_FCFH_WS_PROTOCOL_ERROR);

    len = 0;
    add(in, &len, 0x88, "\x03\xe8\xc3", 3);        /* reason not UTF-8 */
    expect_error(in, len, NGX_FCFH_WS_INVALID_DATA);

    /* non-minimal lengths and the top bit */
    {
        const uint8_t  l16[] = { 0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4 };
        const uint8_t  l64[] = { 0x82, 0xff, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
                                 1, 2, 3, 4 };
        const uint8_t  top[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0 };

        expect_error(l16, sizeof(l16), NGX_FCFH_WS_PROTOCOL_ERROR);
        expect_error(l64, sizeof(l64), NGX_FCFH_WS_PROTOCOL_ERROR);
        expect_error(top, sizeof(top), NGX_FCFH_WS_PROTOCOL_ERROR);
    }
}


static void
test_limits(void **state)
{
    size_t    len;
    uint8_t   in[8];
    result_t  r;

    /* judged from the header alone: no payload needed */
    in[0] = 0x82;
    in[1] = 0xfe;
    in[2] = (MAX_FRAME + 1) >> 8;
    in[3] = (MAX_FRAME + 1) & 0xff;
    run(in, 4, 0, &r, MAX_FRAME, MAX_MESSAGE);
    assert_int_equal(r.error, NGX_FCFH_WS_TOO_BIG);
    assert_int_equal(r.error_at, 4);

    in[0] = 0x82;
    in[1] = 0xff;
    memset(in + 2, 0x7f, 1);
    memset(in + 3, 0xff, 5);
    run(in, 8, 1, &r, MAX_FRAME, MAX_MESSAGE);
    assert_int_equal(r.error, 0);       /* not all length bytes yet */

    /* three frames of a message within, the fourth beyond */
    len = 0;
    {
        uint8_t  *all = malloc(5 * (MAX_FRAME + 20));
        char     *payload = malloc(MAX_FRAME);

        assert_non_null(all);
        assert_non_null(payload);
        memset(payload, 'z', MAX_FRAME);

        add(all, &len, 0x02, payload, MAX_FRAME);
        add(all, &len, 0x00, payload, MAX_FRAME);
        add(all, &len, 0x00, payload, MAX_FRAME);
        add(all, &len, 0x80, payload, 1);

        run(all, len, 0, &r, MAX_FRAME, MAX_MESSAGE);
        assert_int_equal(r.error, NGX_FCFH_WS_TOO_BIG);
        assert_int_equal(r.data_len, 3 * MAX_FRAME);

        /* exactly the limit is allowed */
        len = 0;
        add(all, &len, 0x02, payload, MAX_FRAME);
        add(all, &len, 0x00, payload, MAX_FRAME);
        add(all, &len, 0x80, payload, MAX_FRAME);
        run(all, len, 0, &r, MAX_FRAME, MAX_MESSAGE);
        assert_int_equal(r.error, 0);
        assert_int_equal(r.messages, 1);

        /* a control frame does not count toward the message */
        len = 0;
        add(all, &len, 0x02, payload, MAX_FRAME);
        add(all, &len, 0x89, payload, 100);
        add(all, &len, 0x00, payload, MAX_FRAME);
        add(all, &len, 0x80, payload, MAX_FRAME);
        run(all, len, 0, &r, MAX_FRAME, MAX_MESSAGE);
        assert_int_equal(r.error, 0);
        assert_int_equal(r.pings, 1);

        free(all);
        free(payload);
    }
}


static void
test_writers(void **state)
{
    size_t   n, i;
    uint8_t  buf[200];
    char     reason[300];

    n = ngx_fcfh_ws_frame_header(buf, NGX_FCFH_WS_BINARY, 1, 125);
    assert_int_equal(n, 2);
    assert_int_equal(buf[0], 0x82);
    assert_int_equal(buf[1], 125);

    n = ngx_fcfh_ws_frame_header(buf, NGX_FCFH_WS_BINARY, 1, 126);
    assert_int_equal(n, 4);
    assert_int_equal(buf[1], 126);
    assert_int_equal(buf[2], 0);
    assert_int_equal(buf[3], 126);

    n = ngx_fcfh_ws_frame_header(buf, NGX_FCFH_WS_BINARY, 0, 65536);
    assert_int_equal(n, 10);
    assert_int_equal(buf[0], 0x02);
    assert_int_equal(buf[1], 127);
    assert_memory_equal(buf + 2, "\x00\x00\x00\x00\x00\x01\x00\x00", 8);

    n = ngx_fcfh_ws_control_frame(buf, NGX_FCFH_WS_PONG,
                                  (const uint8_t *) "abc", 3);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "\x8a\x03" "abc", 5);

    n = ngx_fcfh_ws_close_frame(buf, 1001, "device disconnected", 19);
    assert_int_equal(n, 23);
    assert_memory_equal(buf, "\x88\x15\x03\xe9" "device disconnected", 23);

    /* a long reason is cut at a character boundary, wherever it falls */
    reason[0] = 'x';

    for (i = 1; i + 1 < sizeof(reason); i += 2) {
        reason[i] = (char) 0xc3;
        reason[i + 1] = (char) 0xa9;
    }

    n = ngx_fcfh_ws_close_frame(buf, 1000, reason, sizeof(reason) - 1);
    assert_true(n <= NGX_FCFH_WS_CLOSE_FRAME_MAX);
    assert_int_equal(buf[1], n - 2);
    assert_true(ngx_fcfh_ws_utf8_valid(buf + 4, n - 4));

    n = ngx_fcfh_ws_close_frame(buf, 1000, reason + 1, sizeof(reason) - 2);
    assert_true(n <= NGX_FCFH_WS_CLOSE_FRAME_MAX);
    assert_true(ngx_fcfh_ws_utf8_valid(buf + 4, n - 4));
}


static void
test_utf8_and_codes(void **state)
{
#define U(s) ngx_fcfh_ws_utf8_valid((const uint8_t *) s, sizeof(s) - 1)

    assert_true(U("plain"));
    assert_true(U("\xc3\xa9"));
    assert_true(U("\xe2\x82\xac"));
    assert_true(U("\xf0\x9f\x98\x80"));
    assert_true(U(""));
    assert_false(U("\xc0\x80"));
    assert_false(U("\xe0\x80\x80"));
    assert_false(U("\xed\xa0\x80"));
    assert_false(U("\xf4\x90\x80\x80"));
    assert_false(U("\xe2\x82"));
    assert_false(U("\xff"));
#undef U

    assert_true(ngx_fcfh_ws_close_code_valid(1000));
    assert_true(ngx_fcfh_ws_close_code_valid(1001));
    assert_true(ngx_fcfh_ws_close_code_valid(1011));
    assert_true(ngx_fcfh_ws_close_code_valid(4999));
    assert_false(ngx_fcfh_ws_close_code_valid(999));
    assert_false(ngx_fcfh_ws_close_code_valid(1004));
    assert_false(ngx_fcfh_ws_close_code_valid(1005));
    assert_false(ngx_fcfh_ws_close_code_valid(1006));
    assert_false(ngx_fcfh_ws_close_code_valid(1015));
    assert_false(ngx_fcfh_ws_close_code_valid(2999));
    assert_false(ngx_fcfh_ws_close_code_valid(5000));
}


/* ---- libwslay as the other side ---------------------------------------- */


typedef struct {
    uint8_t   buf[70000];
    size_t    len;
    size_t    pos;
} wire_t;


static ssize_t
wire_send(const uint8_t *data, size_t len, int flags, void *user)
{
    wire_t  *w = user;

    if (len > sizeof(w->buf) - w->len) {
        len = sizeof(w->buf) - w->len;
    }

    memcpy(w->buf + w->len, data, len);
    w->len += len;

    return (ssize_t) len;
}


static ssize_t
wire_recv(uint8_t *buf, size_t len, int flags, void *user)
{
    wire_t  *w = user;

    if (len > w->len - w->pos) {
        len = w->len - w->pos;
    }

    memcpy(buf, w->buf + w->pos, len);
    w->pos += len;

    return (ssize_t) len;
}


static int
wire_mask(uint8_t *buf, size_t len, void *user)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        buf[i] = (uint8_t) (0xa5 + 17 * i);
    }

    return 0;
}


static void
wslay_frame(wslay_frame_context_ptr ctx, unsigned fin, unsigned opcode,
    const uint8_t *data, size_t len)
{
    struct wslay_frame_iocb  iocb;

    memset(&iocb, 0, sizeof(iocb));
    iocb.fin = (uint8_t) fin;
    iocb.opcode = (uint8_t) opcode;
    iocb.mask = 1;
    iocb.payload_length = len;
    iocb.data = data;
    iocb.data_length = len;

    assert_int_equal(wslay_frame_send(ctx, &iocb), (ssize_t) len);
}


static void
test_wslay_client_frames(void **state)
{
    size_t                        i;
    wire_t                       *w;
    uint8_t                      *payload;
    result_t                      r;
    wslay_frame_context_ptr       ctx;
    struct wslay_frame_callbacks  cb = { wire_send, wire_recv, wire_mask };

    w = calloc(1, sizeof(wire_t));
    payload = malloc(70000);
    assert_non_null(w);
    assert_non_null(payload);

    for (i = 0; i < 70000; i++) {
        payload[i] = (uint8_t) (i * 7 + 3);
    }

    assert_int_equal(wslay_frame_context_init(&ctx, &cb, w), 0);

    wslay_frame(ctx, 0, NGX_FCFH_WS_BINARY, payload, 300);
    wslay_frame(ctx, 1, NGX_FCFH_WS_PING, (const uint8_t *) "p", 1);
    wslay_frame(ctx, 1, NGX_FCFH_WS_CONT, payload + 300, 700);
    wslay_frame(ctx, 1, NGX_FCFH_WS_TEXT, (const uint8_t *) "\xc3\xa9t\xc3\xa9",
                5);
    wslay_frame(ctx, 1, NGX_FCFH_WS_BINARY, payload, 66000);

    wslay_frame_context_free(ctx);

    run(w->buf, w->len, 0, &r, 70000, 70000);

    assert_int_equal(r.error, 0);
    assert_int_equal(r.messages, 3);
    assert_int_equal(r.pings, 1);
    assert_int_equal(r.data_len, 1000 + 3 + 66000);
    assert_memory_equal(r.data, payload, 1000);
    assert_memory_equal(r.data + 1000, "\xe9t\xe9", 3);
    assert_memory_equal(r.data + 1003, payload, 66000);

    /* the same with the limits just below: 1009 */
    run(w->buf, w->len, 0, &r, 65999, 70000);
    assert_int_equal(r.error, NGX_FCFH_WS_TOO_BIG);

    free(payload);
    free(w);
}


static void
test_wslay_reads_ours(void **state)
{
    size_t                        n;
    wire_t                       *w;
    uint8_t                       buf[NGX_FCFH_WS_CLOSE_FRAME_MAX];
    uint8_t                      *payload;
    wslay_frame_context_ptr       ctx;
    struct wslay_frame_iocb       iocb;
    struct wslay_frame_callbacks  cb = { wire_send, wire_recv, wire_mask };

    w = calloc(1, sizeof(wire_t));
    payload = calloc(1, 66000);
    assert_non_null(w);
    assert_non_null(payload);

    n = ngx_fcfh_ws_frame_header(w->buf, NGX_FCFH_WS_BINARY, 1, 66000);
    memcpy(w->buf + n, payload, 66000);
    w->len = n + 66000;

    n = ngx_fcfh_ws_close_frame(buf, 1001, "device disconnected", 19);
    memcpy(w->buf + w->len, buf, n);
    w->len += n;

    assert_int_equal(wslay_frame_context_init(&ctx, &cb, w), 0);

    n = 0;

    while (n < 66000) {
        memset(&iocb, 0, sizeof(iocb));
        assert_true(wslay_frame_recv(ctx, &iocb) > 0);
        assert_int_equal(iocb.opcode, NGX_FCFH_WS_BINARY);
        assert_int_equal(iocb.mask, 0);
        assert_int_equal(iocb.payload_length, 66000);
        n += iocb.data_length;
    }

    assert_int_equal(iocb.fin, 1);

    memset(&iocb, 0, sizeof(iocb));
    assert_true(wslay_frame_recv(ctx, &iocb) > 0);
    assert_int_equal(iocb.opcode, NGX_FCFH_WS_CLOSE);
    assert_int_equal(iocb.data_length, 21);
    assert_memory_equal(iocb.data, "\x03\xe9" "device disconnected", 21);

    wslay_frame_context_free(ctx);

    free(payload);
    free(w);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_handshake_key),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_rfc_example),
        cmocka_unit_test(test_fragments_and_controls),
        cmocka_unit_test(test_text_bytes),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_writers),
        cmocka_unit_test(test_utf8_and_codes),
        cmocka_unit_test(test_wslay_client_frames),
        cmocka_unit_test(test_wslay_reads_ours),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
