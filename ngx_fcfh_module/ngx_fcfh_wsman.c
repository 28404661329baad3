
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh_wsman.h"


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
