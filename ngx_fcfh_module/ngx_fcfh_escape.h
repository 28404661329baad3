
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Strings from outside (devices, consoles, other nodes, API callers) on
 * their way out: one escaper per output kind, so that whatever a peer
 * sends, every log line, JSON document and metrics label stays printable
 * and parses.  Pure C, no nginx headers: unit-tested and fuzzed alone.
 */


#ifndef _NGX_FCFH_ESCAPE_H_INCLUDED_
#define _NGX_FCFH_ESCAPE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* the most output bytes any escaper writes per input byte */
#define NGX_FCFH_ESCAPE_JSON_MAX     6
#define NGX_FCFH_ESCAPE_LOG_MAX      4
#define NGX_FCFH_ESCAPE_PROM_MAX     3


/*
 * JSON string contents (no quotes): '"' and '\' escaped, control bytes
 * as \u00XX, DEL as \u007f, valid UTF-8 copied, every byte of an invalid
 * sequence (overlong, surrogate, above U+10FFFF, truncated) as \ufffd.
 * Writes at most NGX_FCFH_ESCAPE_JSON_MAX * len bytes; returns the end.
 */
uint8_t *ngx_fcfh_escape_json(uint8_t *dst, const uint8_t *src, size_t len);

/*
 * A log line's view of a string: printable ASCII copied, '"' and '\'
 * escaped with '\', anything else as \xHH, so it can be neither a forged
 * line nor a terminal escape, and two different strings never look the
 * same.  Writes at most size bytes (a cut string ends in "..."); returns
 * the bytes written.
 */
size_t ngx_fcfh_escape_log(uint8_t *dst, size_t size, const uint8_t *src,
    size_t len);

/*
 * A Prometheus label value (text exposition format): '\', '"' and LF
 * escaped, other control bytes and invalid UTF-8 as U+FFFD (3 bytes).
 * Writes at most NGX_FCFH_ESCAPE_PROM_MAX * len bytes; returns the end.
 */
uint8_t *ngx_fcfh_escape_prom(uint8_t *dst, const uint8_t *src, size_t len);

/*
 * The length of the valid UTF-8 sequence at src (1 to 4), or 0 when the
 * bytes there do not start one (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF).
 */
size_t ngx_fcfh_utf8_len(const uint8_t *src, size_t len);


#endif /* _NGX_FCFH_ESCAPE_H_INCLUDED_ */
