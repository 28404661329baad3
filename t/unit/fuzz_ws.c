
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * libFuzzer target for the WebSocket layer:
 *
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -I ngx_fcfh_module t/unit/fuzz_ws.c \
 *       ngx_fcfh_module/ngx_fcfh_ws.c -lcrypto -o /tmp/fuzz_ws
 *
 * Input: one byte of limits and flags, one byte of read size, then the
 * bytes a client sends.  Whatever they are, the parser takes no more than
 * it is given, hands over data that lies inside what it took, control
 * payloads of at most 125 bytes, close codes a peer may send and errors
 * with the codes the relay closes with; after an error it takes nothing
 * more; and the events are the same whether the bytes come at once or in
 * reads of any size.  The handshake helpers and the writers run on the
 * same bytes: a subprotocol lies inside the header value, a valid key is
 * 24 bytes, a close frame is at most 127 bytes and its reason stays
 * UTF-8 when it was.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_fcfh_ws.h"
#include "fuzz.h"


#define TRACE_MAX  65536


typedef struct {
    uint8_t   bytes[TRACE_MAX];
    size_t    len;
    unsigned  error;
    int       overflow;
} trace_t;


static void trace_add(trace_t *t, const void *p, size_t n);
static void run(const uint8_t *data, size_t size, size_t step,
    uint64_t max_frame, uint64_t max_message, unsigned flags, trace_t *t);
static void helpers(const uint8_t *data, size_t size);


static trace_t  whole, pieces;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t    step;
    unsigned  flags;
    uint64_t  max_frame, max_message;

    if (size < 2) {
        return 0;
    }

    max_frame = (uint64_t) 1 << (data[0] & 0x0f);
    max_message = max_frame << ((data[0] >> 4) & 0x03);
    flags = (data[0] & 0x40) ? 0 : NGX_FCFH_WS_MASKED;
    step = (data[1] & 0x3f) + 1;

    data += 2;
    size -= 2;

    run(data, size, 0, max_frame, max_message, flags, &whole);
    run(data, size, step, max_frame, max_message, flags, &pieces);

    if (!whole.overflow && !pieces.overflow) {
        CHECK(whole.error == pieces.error);
        CHECK(whole.len == pieces.len);
        CHECK(memcmp(whole.bytes, pieces.bytes, whole.len) == 0);
    }

    helpers(data, size);

    return 0;
}


static void
trace_add(trace_t *t, const void *p, size_t n)
{
    if (n > sizeof(t->bytes) - t->len) {
        t->overflow = 1;
        return;
    }

    memcpy(t->bytes + t->len, p, n);
    t->len += n;
}


static void
run(const uint8_t *data, size_t size, size_t step, uint64_t max_frame,
    uint64_t max_message, unsigned flags, trace_t *t)
{
    size_t                 off, end, n;
    uint8_t               *buf, tag[4];
    ngx_fcfh_ws_event_t    ev;
    ngx_fcfh_ws_parser_t   p;

    t->len = 0;
    t->error = 0;
    t->overflow = 0;

    buf = malloc(size ? size : 1);
    CHECK(buf != NULL);
    memcpy(buf, data, size);

    ngx_fcfh_ws_parser_init(&p, max_frame, max_message, flags);

    off = 0;

    while (off < size) {
        end = (step && off + step < size) ? off + step : size;

        do {
            n = ngx_fcfh_ws_parse(&p, buf + off, end - off, &ev);

            CHECK(n <= end - off);

            switch (ev.type) {

            case NGX_FCFH_WS_EV_NONE:
                CHECK(off + n == end);
                break;

            case NGX_FCFH_WS_EV_DATA:
                CHECK(ev.opcode == NGX_FCFH_WS_TEXT
                      || ev.opcode == NGX_FCFH_WS_BINARY);
                CHECK(ev.len <= n);
                CHECK(ev.len == 0
                      || (ev.data >= buf + off
                          && ev.data + ev.len <= buf + off + n));
                CHECK(ev.len <= max_message);
                /* data frames add up, messages stay separate */
                trace_add(t, ev.data, ev.len);
                if (ev.last) {
                    tag[0] = 'M';
                    tag[1] = (uint8_t) ev.opcode;
                    trace_add(t, tag, 2);
                }
                break;

            case NGX_FCFH_WS_EV_PING:
            case NGX_FCFH_WS_EV_PONG:
                CHECK(ev.len <= NGX_FCFH_WS_CONTROL_MAX);
                tag[0] = ev.type == NGX_FCFH_WS_EV_PING ? 'P' : 'O';
                tag[1] = (uint8_t) ev.len;
                trace_add(t, tag, 2);
                trace_add(t, ev.data, ev.len);
                break;

            case NGX_FCFH_WS_EV_CLOSE:
                CHECK(ev.len <= NGX_FCFH_WS_CONTROL_MAX - 2);
                CHECK(ev.code == NGX_FCFH_WS_NO_STATUS
                      || ngx_fcfh_ws_close_code_valid(ev.code));
                CHECK(ngx_fcfh_ws_utf8_valid(ev.data, ev.len));
                tag[0] = 'C';
                tag[1] = (uint8_t) (ev.code >> 8);
                tag[2] = (uint8_t) ev.code;
                trace_add(t, tag, 3);
                trace_add(t, ev.data, ev.len);
                break;

            case NGX_FCFH_WS_EV_ERROR:
                CHECK(ev.error != NULL);
                CHECK(ev.code == NGX_FCFH_WS_PROTOCOL_ERROR
                      || ev.code == NGX_FCFH_WS_INVALID_DATA
                      || ev.code == NGX_FCFH_WS_TOO_BIG);
                t->error = ev.code;

                /* stuck in the error, whatever comes */
                CHECK(ngx_fcfh_ws_parse(&p, buf + off + n, end - off - n,
                                        &ev) == 0);
                CHECK(ev.type == NGX_FCFH_WS_EV_ERROR
                      && ev.code == t->error);
                free(buf);
                return;

            default:
                CHECK(0);
            }

            off += n;

        } while (ev.type != NGX_FCFH_WS_EV_NONE);
    }

    free(buf);
}


static void
helpers(const uint8_t *data, size_t size)
{
    size_t          n, len, i;
    uint8_t         frame[NGX_FCFH_WS_CLOSE_FRAME_MAX + 1];
    uint8_t         accept[NGX_FCFH_WS_ACCEPT_LEN];
    uint8_t         head[NGX_FCFH_WS_SERVER_HEADER_MAX];
    uint64_t        plen;
    const uint8_t  *first;

    if (ngx_fcfh_ws_subprotocol(data, size, &first, &len) == 0) {
        CHECK(len > 0 && first >= data && first + len <= data + size);

        for (i = 0; i < len; i++) {
            CHECK(first[i] > 0x20 && first[i] < 0x7f && first[i] != ',');
        }
    }

    (void) ngx_fcfh_ws_has_token(data, size, "upgrade");

    if (ngx_fcfh_ws_key_check(data, size) == 0) {
        CHECK(size == NGX_FCFH_WS_KEY_LEN);
        CHECK(ngx_fcfh_ws_accept(data, size, accept) == 0);
    }

    n = ngx_fcfh_ws_close_frame(frame, 1000, (const char *) data, size);
    CHECK(n >= 4 && n <= NGX_FCFH_WS_CLOSE_FRAME_MAX);
    CHECK(frame[0] == 0x88 && frame[1] == n - 2);

    if (ngx_fcfh_ws_utf8_valid(data, size)) {
        CHECK(ngx_fcfh_ws_utf8_valid(frame + 4, n - 4));
    }

    /* a header we write is read back as the same length, unmasked */
    plen = 0;

    for (i = 0; i < size && i < 8; i++) {
        plen = (plen << 8) | data[i];
    }

    plen &= 0x7fffffffffffffffULL;

    n = ngx_fcfh_ws_frame_header(head, NGX_FCFH_WS_BINARY, 1, plen);
    CHECK(n == (plen < 126 ? 2 : (plen <= 0xffff ? 4 : 10)));

    {
        ngx_fcfh_ws_event_t   ev;
        ngx_fcfh_ws_parser_t  p;

        ngx_fcfh_ws_parser_init(&p, plen, plen, 0);

        CHECK(ngx_fcfh_ws_parse(&p, head, n, &ev) == n);
        CHECK(plen == 0 ? (ev.type == NGX_FCFH_WS_EV_DATA && ev.last)
                        : ev.type == NGX_FCFH_WS_EV_NONE);

        if (plen) {
            ngx_fcfh_ws_parser_init(&p, plen - 1, plen, 0);
            ngx_fcfh_ws_parse(&p, head, n, &ev);
            CHECK(ev.type == NGX_FCFH_WS_EV_ERROR
                  && ev.code == NGX_FCFH_WS_TOO_BIG);
        }
    }
}
