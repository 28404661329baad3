
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh_wsman.h"


static ngx_int_t ngx_fcfh_wsman_unchunk(u_char *p, u_char *last,
    ngx_str_t *body);


/*
 * One HTTP/1.x response in buf[0..len).  NGX_OK: complete (a body without
 * length ends at eof); NGX_AGAIN: more to read; NGX_ERROR: not a response
 * this client takes.  A chunked body is decoded in place, once whole.
 */

ngx_int_t
ngx_fcfh_wsman_response(u_char *buf, size_t len, ngx_uint_t eof,
    ngx_fcfh_wsman_response_t *rsp)
{
    u_char     *p, *last, *head_end, *line, *eol, *colon;
    size_t      name_len;
    off_t       length;
    ngx_int_t   status;
    ngx_str_t   value;
    ngx_uint_t  chunked;

    p = buf;
    last = buf + len;

    head_end = ngx_strlcasestrn(p, last, (u_char *) "\r\n\r\n", 4 - 1);

    if (head_end == NULL) {
        return NGX_AGAIN;
    }

    if (head_end - p < 12 || ngx_strncmp(p, "HTTP/1.", 7) != 0
        || p[8] != ' ')
    {
        return NGX_ERROR;
    }

    status = ngx_atoi(p + 9, 3);

    if (status == NGX_ERROR || status < 100) {
        return NGX_ERROR;
    }

    rsp->status = (ngx_uint_t) status;

    length = -1;
    chunked = 0;
    ngx_str_null(&rsp->challenge);

    line = ngx_strlchr(p, head_end, LF);
    line = line ? line + 1 : head_end;

    while (line < head_end) {
        eol = ngx_strlchr(line, head_end + 2, CR);

        if (eol == NULL || eol[1] != LF) {
            return NGX_ERROR;
        }

        colon = ngx_strlchr(line, eol, ':');

        if (colon) {
            name_len = colon - line;

            value.data = colon + 1;
            while (value.data < eol && *value.data == ' ') {
                value.data++;
            }

            value.len = eol - value.data;

            if (name_len == 14
                && ngx_strncasecmp(line, (u_char *) "Content-Length", 14)
                   == 0)
            {
                length = ngx_atoof(value.data, value.len);
                if (length < 0) {
                    return NGX_ERROR;
                }

            } else if (name_len == 17
                       && ngx_strncasecmp(line,
                              (u_char *) "Transfer-Encoding", 17) == 0)
            {
                chunked = (ngx_strlcasestrn(value.data,
                                            value.data + value.len,
                                            (u_char *) "chunked", 7 - 1)
                           != NULL);

            } else if (name_len == 16
                       && ngx_strncasecmp(line,
                              (u_char *) "WWW-Authenticate", 16) == 0
                       && value.len > 7
                       && ngx_strncasecmp(value.data, (u_char *) "Digest ",
                                          7) == 0)
            {
                rsp->challenge = value;
            }
        }

        line = eol + 2;
    }

    p = head_end + 4;

    if (chunked) {
        return ngx_fcfh_wsman_unchunk(p, last, &rsp->body);
    }

    if (length >= 0) {
        if (last - p < length) {
            return NGX_AGAIN;
        }

        rsp->body.data = p;
        rsp->body.len = (size_t) length;
        return NGX_OK;
    }

    if (!eof) {
        return NGX_AGAIN;
    }

    rsp->body.data = p;
    rsp->body.len = last - p;

    return NGX_OK;
}


/*
 * A chunked body: checked whole first (NGX_AGAIN leaves the buffer as it
 * was, for the next read to parse again), then decoded in place.  AMT
 * sends neither chunk extensions nor trailers; neither is taken.
 */

static ngx_int_t
ngx_fcfh_wsman_unchunk(u_char *p, u_char *last, ngx_str_t *body)
{
    u_char      *start, *eol, *out;
    ngx_int_t    size;
    ngx_uint_t   decode;

    start = p;

    for (decode = 0; decode < 2; decode++) {
        p = start;
        out = start;

        for ( ;; ) {
            eol = ngx_strlchr(p, last, LF);
            if (eol == NULL) {
                return NGX_AGAIN;
            }

            size = ngx_hextoi(p, (eol > p && eol[-1] == CR ? eol - 1 : eol)
                                 - p);

            if (size == NGX_ERROR) {
                return NGX_ERROR;
            }

            p = eol + 1;

            if (size == 0) {
                if (last - p < 2) {
                    return NGX_AGAIN;
                }

                if (p[0] != CR || p[1] != LF) {
                    return NGX_ERROR;
                }

                break;
            }

            if (size > last - p - 2) {
                return NGX_AGAIN;
            }

            if (p[size] != CR || p[size + 1] != LF) {
                return NGX_ERROR;
            }

            if (decode) {
                ngx_memmove(out, p, size);
                out += size;
            }

            p += size + 2;
        }
    }

    body->data = start;
    body->len = out - start;

    return NGX_OK;
}


/*
 * A parameter of a challenge, quoted or not.  Values go back into a
 * request header: anything but printable ASCII without quotes or
 * backslashes, or longer than NGX_FCFH_WSMAN_MAX_VALUE, is refused.
 */

ngx_int_t
ngx_fcfh_wsman_param(ngx_str_t *header, char *name, ngx_str_t *value)
{
    u_char  *p, *last, *start, *end;
    size_t   len;

    len = ngx_strlen(name);
    p = header->data + sizeof("Digest ") - 1;
    last = header->data + header->len;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != '=') {
            p++;
        }

        if (p == last) {
            return NGX_DECLINED;
        }

        end = p++;

        while (end > start && end[-1] == ' ') {
            end--;
        }

        while (p < last && *p == ' ') {
            p++;
        }

        if (p < last && *p == '"') {
            value->data = ++p;

            while (p < last && *p != '"') {
                p++;
            }

            value->len = p - value->data;

            if (p < last) {
                p++;
            }

        } else {
            value->data = p;

            while (p < last && *p != ',' && *p != ' ') {
                p++;
            }

            value->len = p - value->data;
        }

        if ((size_t) (end - start) == len
            && ngx_strncasecmp(start, (u_char *) name, len) == 0)
        {
            goto found;
        }
    }

    return NGX_DECLINED;

found:

    if (value->len == 0 || value->len > NGX_FCFH_WSMAN_MAX_VALUE) {
        return NGX_ERROR;
    }

    for (p = value->data; p < value->data + value->len; p++) {
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\') {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The text of up to max elements whose local name is name, in order.
 * Each is bounded and printable ASCII without '"' (it may go into a
 * selector or a JSON error); element text stays XML-escaped as sent, so
 * it can go back into XML as it is.
 */

ngx_uint_t
ngx_fcfh_wsman_values(ngx_str_t *xml, const char *name,
    ngx_str_t *values, ngx_uint_t max)
{
    u_char      *p, *last, *tag, *end, *local;
    size_t       len;
    ngx_uint_t   n;

    len = ngx_strlen(name);
    p = xml->data;
    last = xml->data + xml->len;
    n = 0;

    while (n < max && p < last) {
        p = ngx_strlchr(p, last, '<');
        if (p == NULL) {
            break;
        }

        tag = ++p;

        while (p < last && *p != '>' && *p != ' ' && *p != '/') {
            p++;
        }

        end = p;

        p = ngx_strlchr(p, last, '>');
        if (p == NULL) {
            break;
        }

        if (p[-1] == '/' || *tag == '/' || *tag == '?' || *tag == '!') {
            continue;
        }

        local = ngx_strlchr(tag, end, ':');
        local = local ? local + 1 : tag;

        if ((size_t) (end - local) != len
            || ngx_strncmp(local, name, len) != 0)
        {
            continue;
        }

        values[n].data = ++p;

        while (p < last && *p != '<') {
            if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\') {
                return n;
            }

            p++;
        }

        values[n].len = p - values[n].data;

        if (values[n].len > NGX_FCFH_WSMAN_MAX_VALUE) {
            return n;
        }

        n++;
    }

    return n;
}
