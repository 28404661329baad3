
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <string.h>

#include "ngx_fcfh_escape.h"


static size_t ngx_fcfh_escape_log_char(uint8_t c, uint8_t *out);


static const char  ngx_fcfh_escape_hex[] = "0123456789abcdef";

/* U+FFFD REPLACEMENT CHARACTER */
static const uint8_t  ngx_fcfh_escape_fffd[] = { 0xef, 0xbf, 0xbd };


size_t
ngx_fcfh_utf8_len(const uint8_t *src, size_t len)
{
    size_t    n, i;
    uint8_t   c, lo, hi;

    if (len == 0) {
        return 0;
    }

    c = src[0];

    if (c < 0x80) {
        return 1;
    }

    /* the second byte's range rules out overlongs and surrogates */

    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;

        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;

        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        return 0;
    }

    if (len < n || src[1] < lo || src[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (src[i] < 0x80 || src[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


uint8_t *
ngx_fcfh_escape_json(uint8_t *dst, const uint8_t *src, size_t len)
{
    size_t   n;
    uint8_t  c;

    while (len) {
        c = *src;

        if (c >= 0x80) {
            n = ngx_fcfh_utf8_len(src, len);

            if (n == 0) {
                memcpy(dst, "\\ufffd", 6);
                dst += 6;
                src++;
                len--;
                continue;
            }

            memcpy(dst, src, n);
            dst += n;
            src += n;
            len -= n;
            continue;
        }

        if (c == '"' || c == '\\') {
            *dst++ = '\\';
            *dst++ = c;

        } else if (c < 0x20 || c == 0x7f) {
            *dst++ = '\\';
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = ngx_fcfh_escape_hex[c >> 4];
            *dst++ = ngx_fcfh_escape_hex[c & 0xf];

        } else {
            *dst++ = c;
        }

        src++;
        len--;
    }

    return dst;
}


size_t
ngx_fcfh_escape_log(uint8_t *dst, size_t size, const uint8_t *src,
    size_t len)
{
    size_t   i, w, need, total, room;
    uint8_t  c, tmp[4];

    total = 0;

    for (i = 0; i < len; i++) {
        total += ngx_fcfh_escape_log_char(src[i], NULL);
    }

    /* a string cut short ends in "...", after a whole escape */
    room = (total <= size) ? size : (size >= 3 ? size - 3 : 0);

    w = 0;

    for (i = 0; i < len; i++) {
        c = src[i];
        need = ngx_fcfh_escape_log_char(c, tmp);

        if (w + need > room) {
            break;
        }

        memcpy(dst + w, tmp, need);
        w += need;
    }

    if (total > size && size >= 3) {
        memcpy(dst + w, "...", 3);
        w += 3;
    }

    return w;
}


static size_t
ngx_fcfh_escape_log_char(uint8_t c, uint8_t *out)
{
    uint8_t  tmp[4];

    if (out == NULL) {
        out = tmp;
    }

    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = c;
        return 2;
    }

    if (c < 0x20 || c > 0x7e) {
        out[0] = '\\';
        out[1] = 'x';
        out[2] = ngx_fcfh_escape_hex[c >> 4];
        out[3] = ngx_fcfh_escape_hex[c & 0xf];
        return 4;
    }

    out[0] = c;
    return 1;
}


uint8_t *
ngx_fcfh_escape_prom(uint8_t *dst, const uint8_t *src, size_t len)
{
    size_t   n;
    uint8_t  c;

    while (len) {
        c = *src;
        n = 1;

        if (c >= 0x80) {
            n = ngx_fcfh_utf8_len(src, len);

            if (n == 0) {
                n = 1;
                memcpy(dst, ngx_fcfh_escape_fffd, 3);
                dst += 3;

            } else {
                memcpy(dst, src, n);
                dst += n;
            }

        } else if (c == '\\' || c == '"') {
            *dst++ = '\\';
            *dst++ = c;

        } else if (c == '\n') {
            *dst++ = '\\';
            *dst++ = 'n';

        } else if (c < 0x20 || c == 0x7f) {
            memcpy(dst, ngx_fcfh_escape_fffd, 3);
            dst += 3;

        } else {
            *dst++ = c;
        }

        src += n;
        len -= n;
    }

    return dst;
}
