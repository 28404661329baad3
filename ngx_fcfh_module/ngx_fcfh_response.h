
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * One HTTP/1.x answer as the module's own clients read it: the webhook
 * delivery (the head only) and the WS-Management client of fcfh_api
 * (head and body).  The head is ngx_fcfh_proxy_response_parse()'s, as
 * strict as for fcfh_pass; the body is framed by Content-Length, chunks
 * or the end of the connection, and bounded.
 *
 * Pure C99 like the console parsers: no nginx headers, no allocation, no
 * I/O.  Incremental: the caller reads into one buffer and calls
 * ngx_fcfh_response_read() with everything read so far; the reader
 * resumes where it stopped, so a peer that sends a byte at a time costs
 * no more than one that sends it all at once (the head aside: it is
 * parsed again until whole, within max_head).  A chunked body is decoded
 * in place, to buf + head_len, as its chunks arrive.
 */


#ifndef _NGX_FCFH_RESPONSE_H_INCLUDED_
#define _NGX_FCFH_RESPONSE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ngx_fcfh_proxy_parse.h"


/*
 * Errors of the body and of the connection, beside the head's
 * NGX_FCFH_PROXY_ERR_* (from -64 down, so that the two sets never meet)
 */

/* the connection ended before the answer did */
#define NGX_FCFH_RESPONSE_ERR_TRUNCATED        -64
/* a 1xx answer: neither client asks for one (no Expect, no Upgrade) */
#define NGX_FCFH_RESPONSE_ERR_INTERIM          -65
/* the body (decoded) is or would be over max_body */
#define NGX_FCFH_RESPONSE_ERR_BODY_TOO_LARGE   -66
/*
 * a chunk size line that is not 1*HEXDIG (at most 16) then CRLF or LF
 * (chunk extensions are refused), chunk data not followed by CRLF or LF,
 * or a trailer field after the last chunk
 */
#define NGX_FCFH_RESPONSE_ERR_CHUNK            -67


/* hex digits of a chunk size, leading zeros included */
#define NGX_FCFH_RESPONSE_CHUNK_DIGITS         16


typedef struct {
    /* limits, from ngx_fcfh_response_init() */
    size_t                       max_head;
    uint64_t                     max_body;
    unsigned                     head_only;

    /* the answer: set once the head is whole (head_len > 0) */
    ngx_fcfh_proxy_response_t    head;      /* status, framing, digest */
    size_t                       head_len;
    uint64_t                     body_len;  /* decoded, at buf + head_len */

    /* where the reader stands in the caller's buffer */
    int                          state;
    size_t                       pos;       /* the next raw byte */
    uint64_t                     left;      /* of the body or the chunk */
    ssize_t                      result;    /* at the end: N or an error */
} ngx_fcfh_response_t;


/*
 * Before the first read of an answer.  head_only: the answer is complete
 * with its head (the caller needs the status only, and closes).
 */
void ngx_fcfh_response_init(ngx_fcfh_response_t *r, size_t max_head,
    uint64_t max_body, unsigned head_only);

/*
 * buf[0..len) is every byte of the answer read so far, at the same
 * address on every call (the reader rewrites the bytes of a chunked body
 * it has passed); eof: the connection ended after them.  Returns:
 *   0 (NGX_FCFH_PROXY_AGAIN)  more to read (never with eof)
 *   N > 0                     the answer is complete in buf[0..N): head
 *                             in [0..head_len), body in [head_len ..
 *                             head_len + body_len); bytes past N are not
 *                             part of it; further calls return N again
 *   an NGX_FCFH_PROXY_ERR_*   of the head (ngx_fcfh_proxy_response_parse)
 *   an NGX_FCFH_RESPONSE_ERR_*
 * An error is reported as soon as the bytes that prove it are there, and
 * again on further calls.  No body: a 204 or 304, or head_only.  The
 * Digest challenge, if any, is head.digest, inside the head.
 */
ssize_t ngx_fcfh_response_read(ngx_fcfh_response_t *r, uint8_t *buf,
    size_t len, int eof);

/* a text for any result of ngx_fcfh_response_read() */
const char *ngx_fcfh_response_strerror(ssize_t rc);


#endif /* _NGX_FCFH_RESPONSE_H_INCLUDED_ */
