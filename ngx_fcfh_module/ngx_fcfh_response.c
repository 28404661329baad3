
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <string.h>

#include "ngx_fcfh_response.h"


#define NGX_FCFH_RESPONSE_HEAD        0
#define NGX_FCFH_RESPONSE_LENGTH      1
#define NGX_FCFH_RESPONSE_CLOSE       2
#define NGX_FCFH_RESPONSE_CHUNK_SIZE  3
#define NGX_FCFH_RESPONSE_CHUNK_DATA  4
#define NGX_FCFH_RESPONSE_CHUNK_END   5   /* the line end after data */
#define NGX_FCFH_RESPONSE_LAST_END    6   /* the empty line after "0" */
#define NGX_FCFH_RESPONSE_DONE        7


static ssize_t ngx_fcfh_response_body(ngx_fcfh_response_t *r, uint8_t *buf,
    size_t len, int eof);
static ssize_t ngx_fcfh_response_chunk_size(ngx_fcfh_response_t *r,
    const uint8_t *p, size_t avail);
static int ngx_fcfh_response_eol(const uint8_t *p, size_t avail);
static ssize_t ngx_fcfh_response_end(ngx_fcfh_response_t *r, ssize_t rc);


void
ngx_fcfh_response_init(ngx_fcfh_response_t *r, size_t max_head,
    uint64_t max_body, unsigned head_only)
{
    memset(r, 0, sizeof(*r));

    r->max_head = max_head;
    r->max_body = max_body;
    r->head_only = head_only;
    r->state = NGX_FCFH_RESPONSE_HEAD;
}


ssize_t
ngx_fcfh_response_read(ngx_fcfh_response_t *r, uint8_t *buf, size_t len,
    int eof)
{
    ssize_t  rc;

    if (r->state == NGX_FCFH_RESPONSE_DONE) {
        return r->result;
    }

    if (r->state == NGX_FCFH_RESPONSE_HEAD) {

        rc = ngx_fcfh_proxy_response_parse(buf, len, r->max_head, &r->head);

        if (rc < 0) {
            return ngx_fcfh_response_end(r, rc);
        }

        if (rc == NGX_FCFH_PROXY_AGAIN) {
            return eof ? ngx_fcfh_response_end(r,
                                               NGX_FCFH_RESPONSE_ERR_TRUNCATED)
                       : NGX_FCFH_PROXY_AGAIN;
        }

        r->head_len = (size_t) rc;
        r->pos = (size_t) rc;

        if (r->head_only) {
            return ngx_fcfh_response_end(r, rc);
        }

        if (r->head.status < 200) {
            return ngx_fcfh_response_end(r, NGX_FCFH_RESPONSE_ERR_INTERIM);
        }

        /* RFC 9110 sections 15.3.5 and 15.4.5: never a body */

        if (r->head.status == 204 || r->head.status == 304) {
            return ngx_fcfh_response_end(r, rc);
        }

        switch (r->head.framing) {

        case NGX_FCFH_PROXY_FRAMING_LENGTH:

            if (r->head.content_length > r->max_body) {
                return ngx_fcfh_response_end(r,
                                       NGX_FCFH_RESPONSE_ERR_BODY_TOO_LARGE);
            }

            r->left = r->head.content_length;
            r->state = NGX_FCFH_RESPONSE_LENGTH;
            break;

        case NGX_FCFH_PROXY_FRAMING_CHUNKED:
            r->state = NGX_FCFH_RESPONSE_CHUNK_SIZE;
            break;

        default:
            r->state = NGX_FCFH_RESPONSE_CLOSE;
        }
    }

    return ngx_fcfh_response_body(r, buf, len, eof);
}


static ssize_t
ngx_fcfh_response_body(ngx_fcfh_response_t *r, uint8_t *buf, size_t len,
    int eof)
{
    int       n;
    size_t    avail, k;
    ssize_t   rc;
    uint8_t  *out;

    for ( ;; ) {
        avail = len - r->pos;

        switch (r->state) {

        case NGX_FCFH_RESPONSE_LENGTH:

            k = (r->left < avail) ? (size_t) r->left : avail;

            r->pos += k;
            r->body_len += k;
            r->left -= k;

            if (r->left == 0) {
                return ngx_fcfh_response_end(r, (ssize_t) r->pos);
            }

            goto again;

        case NGX_FCFH_RESPONSE_CLOSE:

            if (avail > r->max_body - r->body_len) {
                return ngx_fcfh_response_end(r,
                                       NGX_FCFH_RESPONSE_ERR_BODY_TOO_LARGE);
            }

            r->pos += avail;
            r->body_len += avail;

            if (eof) {
                return ngx_fcfh_response_end(r, (ssize_t) r->pos);
            }

            return NGX_FCFH_PROXY_AGAIN;

        case NGX_FCFH_RESPONSE_CHUNK_SIZE:

            rc = ngx_fcfh_response_chunk_size(r, buf + r->pos, avail);

            if (rc < 0) {
                return ngx_fcfh_response_end(r, rc);
            }

            if (rc == 0) {
                goto again;
            }

            r->pos += (size_t) rc;
            r->state = r->left ? NGX_FCFH_RESPONSE_CHUNK_DATA
                               : NGX_FCFH_RESPONSE_LAST_END;
            break;

        case NGX_FCFH_RESPONSE_CHUNK_DATA:

            k = (r->left < avail) ? (size_t) r->left : avail;

            /* decoded in place: the size lines passed make room */

            out = buf + r->head_len + r->body_len;

            if (k && out != buf + r->pos) {
                memmove(out, buf + r->pos, k);
            }

            r->pos += k;
            r->body_len += k;
            r->left -= k;

            if (r->left) {
                goto again;
            }

            r->state = NGX_FCFH_RESPONSE_CHUNK_END;
            break;

        default: /* CHUNK_END, LAST_END */

            n = ngx_fcfh_response_eol(buf + r->pos, avail);

            if (n < 0) {
                /* after the last chunk: a trailer field, not taken */
                return ngx_fcfh_response_end(r, NGX_FCFH_RESPONSE_ERR_CHUNK);
            }

            if (n == 0) {
                goto again;
            }

            r->pos += (size_t) n;

            if (r->state == NGX_FCFH_RESPONSE_LAST_END) {
                return ngx_fcfh_response_end(r, (ssize_t) r->pos);
            }

            r->state = NGX_FCFH_RESPONSE_CHUNK_SIZE;
        }
    }

again:

    return eof ? ngx_fcfh_response_end(r, NGX_FCFH_RESPONSE_ERR_TRUNCATED)
               : NGX_FCFH_PROXY_AGAIN;
}


/*
 * A chunk size line at p: its length once whole (the size in r->left),
 * 0 for more, or an error.  Read again from its start on each call: it
 * is at most NGX_FCFH_RESPONSE_CHUNK_DIGITS + 2 bytes.
 */

static ssize_t
ngx_fcfh_response_chunk_size(ngx_fcfh_response_t *r, const uint8_t *p,
    size_t avail)
{
    int       n;
    size_t    i;
    uint8_t   ch;
    uint64_t  size, d;

    size = 0;

    for (i = 0; i < avail; i++) {
        ch = p[i];

        if (ch >= '0' && ch <= '9') {
            d = (uint64_t) (ch - '0');

        } else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') {
            d = (uint64_t) ((ch | 0x20) - 'a' + 10);

        } else {
            break;
        }

        if (i == NGX_FCFH_RESPONSE_CHUNK_DIGITS) {
            return NGX_FCFH_RESPONSE_ERR_CHUNK;
        }

        size = size * 16 + d;

        /* a partial size only grows: too large is known at once */

        if (size > r->max_body - r->body_len) {
            return NGX_FCFH_RESPONSE_ERR_BODY_TOO_LARGE;
        }
    }

    if (i == avail) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    if (i == 0) {
        return NGX_FCFH_RESPONSE_ERR_CHUNK;
    }

    /* no chunk extension (";"), no blanks: the line ends here */

    n = ngx_fcfh_response_eol(p + i, avail - i);

    if (n < 0) {
        return NGX_FCFH_RESPONSE_ERR_CHUNK;
    }

    if (n == 0) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    r->left = size;

    return (ssize_t) (i + (size_t) n);
}


/* a line end at p, as in the head: CRLF or LF; 0: more; -1: none */

static int
ngx_fcfh_response_eol(const uint8_t *p, size_t avail)
{
    if (avail == 0) {
        return 0;
    }

    if (p[0] == '\n') {
        return 1;
    }

    if (p[0] != '\r') {
        return -1;
    }

    if (avail == 1) {
        return 0;
    }

    return (p[1] == '\n') ? 2 : -1;
}


/* the result, kept for further calls */

static ssize_t
ngx_fcfh_response_end(ngx_fcfh_response_t *r, ssize_t rc)
{
    r->state = NGX_FCFH_RESPONSE_DONE;
    r->result = rc;

    return rc;
}


const char *
ngx_fcfh_response_strerror(ssize_t rc)
{
    switch (rc) {

    case NGX_FCFH_RESPONSE_ERR_TRUNCATED:
        return "the connection ended before the answer";

    case NGX_FCFH_RESPONSE_ERR_INTERIM:
        return "an interim (1xx) answer";

    case NGX_FCFH_RESPONSE_ERR_BODY_TOO_LARGE:
        return "body too large";

    case NGX_FCFH_RESPONSE_ERR_CHUNK:
        return "malformed chunked body";

    default:
        return ngx_fcfh_proxy_strerror(rc);
    }
}
