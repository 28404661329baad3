
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "ngx_fcfh_ws.h"


#define NGX_FCFH_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* parser states */
#define NGX_FCFH_WS_S_HEAD           0
#define NGX_FCFH_WS_S_PAYLOAD        1
#define NGX_FCFH_WS_S_CONTROL        2
#define NGX_FCFH_WS_S_CLOSED         3
#define NGX_FCFH_WS_S_ERROR          4


static size_t ngx_fcfh_ws_head(ngx_fcfh_ws_parser_t *p, const uint8_t *buf,
    size_t len, ngx_fcfh_ws_event_t *ev);
static int ngx_fcfh_ws_head_first(ngx_fcfh_ws_parser_t *p);
static int ngx_fcfh_ws_head_length(ngx_fcfh_ws_parser_t *p);
static size_t ngx_fcfh_ws_payload(ngx_fcfh_ws_parser_t *p, uint8_t *buf,
    size_t len, ngx_fcfh_ws_event_t *ev);
static size_t ngx_fcfh_ws_control(ngx_fcfh_ws_parser_t *p,
    const uint8_t *buf, size_t len, ngx_fcfh_ws_event_t *ev);
static void ngx_fcfh_ws_control_end(ngx_fcfh_ws_parser_t *p,
    ngx_fcfh_ws_event_t *ev);
static void ngx_fcfh_ws_fail(ngx_fcfh_ws_parser_t *p, unsigned code,
    const char *why, ngx_fcfh_ws_event_t *ev);
static int ngx_fcfh_ws_b64_value(uint8_t c);
static void ngx_fcfh_ws_list_item(const uint8_t *value, size_t len,
    size_t *i, size_t *start, size_t *end);


void
ngx_fcfh_ws_parser_init(ngx_fcfh_ws_parser_t *p, uint64_t max_frame,
    uint64_t max_message, unsigned flags)
{
    memset(p, 0, sizeof(ngx_fcfh_ws_parser_t));

    p->max_frame = max_frame;
    p->max_message = max_message;
    p->flags = flags;
    p->head_need = 2;
}


size_t
ngx_fcfh_ws_parse(ngx_fcfh_ws_parser_t *p, uint8_t *buf, size_t len,
    ngx_fcfh_ws_event_t *ev)
{
    size_t  n, used;

    memset(ev, 0, sizeof(ngx_fcfh_ws_event_t));

    used = 0;

    while (used < len || p->state == NGX_FCFH_WS_S_ERROR) {

        switch (p->state) {

        case NGX_FCFH_WS_S_HEAD:
            n = ngx_fcfh_ws_head(p, buf + used, len - used, ev);
            break;

        case NGX_FCFH_WS_S_PAYLOAD:
            n = ngx_fcfh_ws_payload(p, buf + used, len - used, ev);
            break;

        case NGX_FCFH_WS_S_CONTROL:
            n = ngx_fcfh_ws_control(p, buf + used, len - used, ev);
            break;

        case NGX_FCFH_WS_S_CLOSED:
            /* nothing may follow a close frame: it is not looked at */
            return len;

        default: /* NGX_FCFH_WS_S_ERROR */
            ev->type = NGX_FCFH_WS_EV_ERROR;
            ev->code = p->error_code;
            ev->error = p->error;
            return used;
        }

        used += n;

        if (ev->type != NGX_FCFH_WS_EV_NONE) {
            return used;
        }
    }

    return used;
}


int
ngx_fcfh_ws_in_message(const ngx_fcfh_ws_parser_t *p)
{
    return p->message != 0;
}


/* header bytes; a frame with nothing to carry ends here too */

static size_t
ngx_fcfh_ws_head(ngx_fcfh_ws_parser_t *p, const uint8_t *buf, size_t len,
    ngx_fcfh_ws_event_t *ev)
{
    size_t  n, used, target;

    used = 0;

    while (used < len && p->head_len < p->head_need) {

        /* stop where the length can be judged, before the mask */
        target = p->head_need;

        if (p->head_len >= 2 && !p->len_known && p->masked) {
            target -= 4;
        }

        n = target - p->head_len;
        if (n > len - used) {
            n = len - used;
        }

        memcpy(p->head + p->head_len, buf + used, n);
        p->head_len += n;
        used += n;

        if (p->head_len == 2 && ngx_fcfh_ws_head_first(p) != 0) {
            ngx_fcfh_ws_fail(p, p->error_code, p->error, ev);
            return used;
        }

        if (p->head_len >= 2 && !p->len_known
            && p->head_len == p->head_need - (p->masked ? 4 : 0))
        {
            if (ngx_fcfh_ws_head_length(p) != 0) {
                ngx_fcfh_ws_fail(p, p->error_code, p->error, ev);
                return used;
            }

            p->len_known = 1;
        }
    }

    if (p->head_len < p->head_need) {
        return used;
    }

    if (p->masked) {
        memcpy(p->mask, p->head + p->head_len - 4, 4);
    }

    p->mask_pos = 0;
    p->head_len = 0;
    p->head_need = 2;
    p->len_known = 0;

    if (p->opcode >= NGX_FCFH_WS_CLOSE) {
        p->control_len = 0;

        if (p->remaining == 0) {
            ngx_fcfh_ws_control_end(p, ev);

        } else {
            p->state = NGX_FCFH_WS_S_CONTROL;
        }

        return used;
    }

    if (p->remaining) {
        p->state = NGX_FCFH_WS_S_PAYLOAD;
        return used;
    }

    if (p->fin) {
        /* an empty last frame ends its message */

        if (p->utf8_lead) {
            ngx_fcfh_ws_fail(p, NGX_FCFH_WS_INVALID_DATA,
                             "text message ends inside a UTF-8 character",
                             ev);
            return used;
        }

        ev->type = NGX_FCFH_WS_EV_DATA;
        ev->opcode = p->message;
        ev->data = buf + used;
        ev->len = 0;
        ev->last = 1;

        p->message = 0;
        p->message_len = 0;
    }

    return used;
}


/* the first two bytes: everything but the length's size */

static int
ngx_fcfh_ws_head_first(ngx_fcfh_ws_parser_t *p)
{
    unsigned  b0, b1, len7;

    b0 = p->head[0];
    b1 = p->head[1];

    p->fin = (b0 & 0x80) ? 1 : 0;
    p->opcode = b0 & 0x0f;
    p->masked = (b1 & 0x80) ? 1 : 0;
    len7 = b1 & 0x7f;

    p->error_code = NGX_FCFH_WS_PROTOCOL_ERROR;

    if (b0 & 0x70) {
        p->error = "reserved bits set (no extension was agreed)";
        return -1;
    }

    switch (p->opcode) {

    case NGX_FCFH_WS_CONT:
        if (p->message == 0) {
            p->error = "continuation frame outside a message";
            return -1;
        }
        break;

    case NGX_FCFH_WS_TEXT:
    case NGX_FCFH_WS_BINARY:
        if (p->message) {
            p->error = "new message before the last one ended";
            return -1;
        }
        break;

    case NGX_FCFH_WS_CLOSE:
    case NGX_FCFH_WS_PING:
    case NGX_FCFH_WS_PONG:
        if (!p->fin) {
            p->error = "fragmented control frame";
            return -1;
        }

        if (len7 > NGX_FCFH_WS_CONTROL_MAX) {
            p->error = "control frame over 125 bytes";
            return -1;
        }
        break;

    default:
        p->error = "unknown opcode";
        return -1;
    }

    if ((p->flags & NGX_FCFH_WS_MASKED) && !p->masked) {
        p->error = "unmasked frame from the client";
        return -1;
    }

    p->head_need = 2 + (len7 == 126 ? 2 : (len7 == 127 ? 8 : 0))
                   + (p->masked ? 4 : 0);

    return 0;
}


static int
ngx_fcfh_ws_head_length(ngx_fcfh_ws_parser_t *p)
{
    unsigned  i, len7;
    uint64_t  len;

    len7 = p->head[1] & 0x7f;

    p->error_code = NGX_FCFH_WS_PROTOCOL_ERROR;

    if (len7 == 126) {
        len = ((uint64_t) p->head[2] << 8) | p->head[3];

        if (len < 126) {
            p->error = "frame length not in its shortest form";
            return -1;
        }

    } else if (len7 == 127) {
        if (p->head[2] & 0x80) {
            p->error = "frame length with its top bit set";
            return -1;
        }

        len = 0;

        for (i = 2; i < 10; i++) {
            len = (len << 8) | p->head[i];
        }

        if (len <= 0xffff) {
            p->error = "frame length not in its shortest form";
            return -1;
        }

    } else {
        len = len7;
    }

    p->error_code = NGX_FCFH_WS_TOO_BIG;

    if (len > p->max_frame) {
        p->error = "frame too big";
        return -1;
    }

    if (p->opcode < NGX_FCFH_WS_CLOSE) {
        if (len > p->max_message - p->message_len) {
            p->error = "message too big";
            return -1;
        }

        p->message_len += len;

        if (p->opcode != NGX_FCFH_WS_CONT) {
            p->message = p->opcode;
        }
    }

    p->remaining = len;

    return 0;
}


/*
 * Data frame payload: unmasked, and for text turned from UTF-8 into the
 * bytes of its characters (U+0000..U+00FF), in place: the output never
 * runs ahead of the input.  Text before a bad byte is handed over first,
 * and the error comes with the next call, so that the events do not
 * depend on how the input was cut into reads.
 */

static size_t
ngx_fcfh_ws_payload(ngx_fcfh_ws_parser_t *p, uint8_t *buf, size_t len,
    ngx_fcfh_ws_event_t *ev)
{
    size_t       i, n, out;
    uint8_t      b;
    unsigned     m;
    const char  *bad;

    n = len;
    if (n > p->remaining) {
        n = (size_t) p->remaining;
    }

    m = p->mask_pos;
    bad = NULL;

    if (p->message != NGX_FCFH_WS_TEXT) {
        if (p->masked) {
            for (i = 0; i < n; i++) {
                buf[i] ^= p->mask[m];
                m = (m + 1) & 3;
            }
        }

        out = n;

    } else {
        out = 0;

        for (i = 0; i < n; i++) {
            b = buf[i] ^ (p->masked ? p->mask[m] : 0);

            if (p->utf8_lead) {
                if ((b & 0xc0) != 0x80) {
                    bad = "text frame is not UTF-8";
                    break;
                }

                buf[out++] = (uint8_t) (((p->utf8_lead & 0x1f) << 6)
                                        | (b & 0x3f));
                p->utf8_lead = 0;

            } else if (b < 0x80) {
                buf[out++] = b;

            } else if (b == 0xc2 || b == 0xc3) {
                p->utf8_lead = b;

            } else if (b >= 0xc4 && b <= 0xf4) {
                bad = "text frame with a character above U+00FF";
                break;

            } else {
                bad = "text frame is not UTF-8";
                break;
            }

            m = (m + 1) & 3;
        }

        if (bad) {
            if (out == 0) {
                ngx_fcfh_ws_fail(p, NGX_FCFH_WS_INVALID_DATA, bad, ev);
                return 0;
            }

            /* the bad byte stays, still masked, for the next call */
            n = i;
        }
    }

    p->mask_pos = m;
    p->remaining -= n;

    ev->type = NGX_FCFH_WS_EV_DATA;
    ev->opcode = p->message;
    ev->data = buf;
    ev->len = out;

    if (p->remaining == 0) {
        p->state = NGX_FCFH_WS_S_HEAD;

        if (p->fin) {
            if (p->utf8_lead) {
                if (out == 0) {
                    ngx_fcfh_ws_fail(p, NGX_FCFH_WS_INVALID_DATA,
                                     "text message ends inside a UTF-8 "
                                     "character", ev);
                    return n;
                }

                /* the text before it first, the error with the next call */
                p->state = NGX_FCFH_WS_S_ERROR;
                p->error_code = NGX_FCFH_WS_INVALID_DATA;
                p->error = "text message ends inside a UTF-8 character";

                return n;
            }

            ev->last = 1;
            p->message = 0;
            p->message_len = 0;
        }
    }

    if (out == 0 && !ev->last) {
        /* a lead byte alone: nothing to hand over yet */
        ev->type = NGX_FCFH_WS_EV_NONE;
    }

    return n;
}


static size_t
ngx_fcfh_ws_control(ngx_fcfh_ws_parser_t *p, const uint8_t *buf, size_t len,
    ngx_fcfh_ws_event_t *ev)
{
    size_t  i, n;

    n = len;
    if (n > p->remaining) {
        n = (size_t) p->remaining;
    }

    for (i = 0; i < n; i++) {
        p->control[p->control_len++] = buf[i]
                                       ^ (p->masked ? p->mask[p->mask_pos]
                                                    : 0);
        p->mask_pos = (p->mask_pos + 1) & 3;
    }

    p->remaining -= n;

    if (p->remaining == 0) {
        ngx_fcfh_ws_control_end(p, ev);
    }

    return n;
}


static void
ngx_fcfh_ws_control_end(ngx_fcfh_ws_parser_t *p, ngx_fcfh_ws_event_t *ev)
{
    unsigned  code;

    p->state = NGX_FCFH_WS_S_HEAD;

    switch (p->opcode) {

    case NGX_FCFH_WS_PING:
        ev->type = NGX_FCFH_WS_EV_PING;
        ev->data = p->control;
        ev->len = p->control_len;
        return;

    case NGX_FCFH_WS_PONG:
        ev->type = NGX_FCFH_WS_EV_PONG;
        ev->data = p->control;
        ev->len = p->control_len;
        return;

    default: /* NGX_FCFH_WS_CLOSE */
        break;
    }

    if (p->control_len == 0) {
        code = NGX_FCFH_WS_NO_STATUS;

    } else if (p->control_len == 1) {
        ngx_fcfh_ws_fail(p, NGX_FCFH_WS_PROTOCOL_ERROR,
                         "close frame of one byte", ev);
        return;

    } else {
        code = ((unsigned) p->control[0] << 8) | p->control[1];

        if (!ngx_fcfh_ws_close_code_valid(code)) {
            ngx_fcfh_ws_fail(p, NGX_FCFH_WS_PROTOCOL_ERROR,
                             "invalid close code", ev);
            return;
        }

        if (!ngx_fcfh_ws_utf8_valid(p->control + 2, p->control_len - 2)) {
            ngx_fcfh_ws_fail(p, NGX_FCFH_WS_INVALID_DATA,
                             "close reason is not UTF-8", ev);
            return;
        }
    }

    p->state = NGX_FCFH_WS_S_CLOSED;

    ev->type = NGX_FCFH_WS_EV_CLOSE;
    ev->code = code;
    ev->data = p->control_len ? p->control + 2 : p->control;
    ev->len = p->control_len ? p->control_len - 2 : 0;
}


static void
ngx_fcfh_ws_fail(ngx_fcfh_ws_parser_t *p, unsigned code, const char *why,
    ngx_fcfh_ws_event_t *ev)
{
    p->state = NGX_FCFH_WS_S_ERROR;
    p->error_code = code;
    p->error = why;

    ev->type = NGX_FCFH_WS_EV_ERROR;
    ev->code = code;
    ev->error = why;
    ev->data = NULL;
    ev->len = 0;
    ev->last = 0;
}


size_t
ngx_fcfh_ws_frame_header(uint8_t *buf, unsigned opcode, int fin,
    uint64_t len)
{
    unsigned  i;

    buf[0] = (uint8_t) ((fin ? 0x80 : 0) | (opcode & 0x0f));

    if (len < 126) {
        buf[1] = (uint8_t) len;
        return 2;
    }

    if (len <= 0xffff) {
        buf[1] = 126;
        buf[2] = (uint8_t) (len >> 8);
        buf[3] = (uint8_t) len;
        return 4;
    }

    buf[1] = 127;

    for (i = 0; i < 8; i++) {
        buf[2 + i] = (uint8_t) (len >> (56 - 8 * i));
    }

    return 10;
}


size_t
ngx_fcfh_ws_control_frame(uint8_t *buf, unsigned opcode,
    const uint8_t *payload, size_t len)
{
    size_t  n;

    if (len > NGX_FCFH_WS_CONTROL_MAX) {
        len = NGX_FCFH_WS_CONTROL_MAX;
    }

    n = ngx_fcfh_ws_frame_header(buf, opcode, 1, len);

    if (len) {
        memcpy(buf + n, payload, len);
    }

    return n + len;
}


size_t
ngx_fcfh_ws_close_frame(uint8_t *buf, unsigned code, const char *reason,
    size_t len)
{
    if (len > NGX_FCFH_WS_CONTROL_MAX - 2) {
        len = NGX_FCFH_WS_CONTROL_MAX - 2;

        /* not inside a character: back over its continuation bytes */
        while (len && ((uint8_t) reason[len] & 0xc0) == 0x80) {
            len--;
        }
    }

    buf[0] = 0x80 | NGX_FCFH_WS_CLOSE;
    buf[1] = (uint8_t) (2 + len);
    buf[2] = (uint8_t) (code >> 8);
    buf[3] = (uint8_t) code;

    if (len) {
        memcpy(buf + 4, reason, len);
    }

    return 4 + len;
}


int
ngx_fcfh_ws_close_code_valid(unsigned code)
{
    if (code >= 3000 && code <= 4999) {
        return 1;
    }

    /* 1004, 1005, 1006 and 1015 are never sent; 1012-1014: IANA's */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}


/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF */

int
ngx_fcfh_ws_utf8_valid(const uint8_t *s, size_t len)
{
    size_t    i, n, k;
    uint32_t  cp, min;

    i = 0;

    while (i < len) {
        cp = s[i];

        if (cp < 0x80) {
            i++;
            continue;
        }

        if (cp >= 0xc2 && cp <= 0xdf) {
            n = 1;
            cp &= 0x1f;
            min = 0x80;

        } else if (cp >= 0xe0 && cp <= 0xef) {
            n = 2;
            cp &= 0x0f;
            min = 0x800;

        } else if (cp >= 0xf0 && cp <= 0xf4) {
            n = 3;
            cp &= 0x07;
            min = 0x10000;

        } else {
            return 0;
        }

        if (n > len - i - 1) {
            return 0;
        }

        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (s[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }

        i += n + 1;
    }

    return 1;
}


static int
ngx_fcfh_ws_b64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '+') {
        return 62;
    }

    if (c == '/') {
        return 63;
    }

    return -1;
}


/*
 * 16 bytes are 22 base64 digits and "==": the last digit carries two
 * bits of data, so its four low bits must be zero (strict base64).
 */

int
ngx_fcfh_ws_key_check(const uint8_t *key, size_t len)
{
    int     v;
    size_t  i;

    v = 0;

    if (len != NGX_FCFH_WS_KEY_LEN || key[22] != '=' || key[23] != '=') {
        return -1;
    }

    for (i = 0; i < 22; i++) {
        v = ngx_fcfh_ws_b64_value(key[i]);

        if (v < 0) {
            return -1;
        }
    }

    return (v & 0x0f) ? -1 : 0;
}


int
ngx_fcfh_ws_accept(const uint8_t *key, size_t len, uint8_t *out)
{
    int           rc;
    unsigned int  n;
    uint8_t       md[EVP_MAX_MD_SIZE];
    uint8_t       text[NGX_FCFH_WS_ACCEPT_LEN + 1];
    EVP_MD_CTX   *ctx;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    n = 0;

    rc = (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1
          && EVP_DigestUpdate(ctx, key, len) == 1
          && EVP_DigestUpdate(ctx, NGX_FCFH_WS_GUID,
                              sizeof(NGX_FCFH_WS_GUID) - 1) == 1
          && EVP_DigestFinal_ex(ctx, md, &n) == 1
          && n == 20);

    EVP_MD_CTX_free(ctx);

    if (!rc) {
        return -1;
    }

    /* 20 bytes: 28 digits and a NUL */
    if (EVP_EncodeBlock(text, md, 20) != NGX_FCFH_WS_ACCEPT_LEN) {
        return -1;
    }

    memcpy(out, text, NGX_FCFH_WS_ACCEPT_LEN);

    return 0;
}


int
ngx_fcfh_ws_has_token(const uint8_t *value, size_t len, const char *token)
{
    size_t  i, start, end, tlen;

    tlen = strlen(token);
    i = 0;

    while (i <= len) {
        ngx_fcfh_ws_list_item(value, len, &i, &start, &end);

        if (end - start == tlen
            && strncasecmp((const char *) value + start, token, tlen) == 0)
        {
            return 1;
        }
    }

    return 0;
}


int
ngx_fcfh_ws_subprotocol(const uint8_t *value, size_t len,
    const uint8_t **first, size_t *first_len)
{
    size_t    i, k, start, end;
    unsigned  items;

    items = 0;
    i = 0;

    while (i <= len) {
        ngx_fcfh_ws_list_item(value, len, &i, &start, &end);

        if (start == end) {
            return -1;
        }

        /* RFC 9110 token characters */
        for (k = start; k < end; k++) {
            if (value[k] <= 0x20 || value[k] >= 0x7f
                || strchr("\"(),/:;<=>?@[\\]{}", value[k]) != NULL)
            {
                return -1;
            }
        }

        if (items++ == 0) {
            *first = value + start;
            *first_len = end - start;
        }
    }

    return items ? 0 : -1;
}


/*
 * The next element of a comma-separated header value (RFC 9110 5.6.1)
 * from *i, its optional white space trimmed; *i moves past its comma,
 * beyond len after the last element.
 */

static void
ngx_fcfh_ws_list_item(const uint8_t *value, size_t len, size_t *i,
    size_t *start, size_t *end)
{
    size_t  s, e;

    s = *i;

    while (*i < len && value[*i] != ',') {
        (*i)++;
    }

    e = *i;

    while (s < e && (value[s] == ' ' || value[s] == '\t')) {
        s++;
    }

    while (e > s && (value[e - 1] == ' ' || value[e - 1] == '\t')) {
        e--;
    }

    *start = s;
    *end = e;

    (*i)++;
}
