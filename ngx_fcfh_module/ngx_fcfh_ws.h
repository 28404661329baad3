
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * WebSocket (RFC 6455), server side, for the browsers' console relay:
 * the handshake's checks and answer, an incremental parser of the frames
 * a browser sends, and writers of the frames the gateway sends.
 *
 * Pure C99 and OpenSSL's libcrypto (SHA-1 and base64 for the handshake):
 * no nginx headers, no allocation, no I/O, so that the unit tests and
 * the fuzz target check it on its own.
 *
 * Written here rather than taken from libwslay: wslay's event layer does
 * its own I/O through callbacks, copies every message it queues into
 * memory it allocates with malloc, and in its default mode gathers a
 * whole message before handing it over; the relay wants none of that.
 * It streams: payload bytes go on to the device as they arrive, a frame
 * is unmasked in the caller's buffer, and the only state kept between
 * reads is this structure (a frame header, the payload of a control
 * frame, one pending UTF-8 byte).  Memory per session is then the
 * relay's own fixed buffers, and the parser is small enough to be
 * checked whole by the fuzz target (t/unit/fuzz_ws.c).
 *
 * Text frames carry a console's "binary string" (each character one byte,
 * U+0000..U+00FF, as JavaScript consoles build them), which the browser
 * sends as UTF-8: the parser turns it back into those bytes, in place.
 * A character above U+00FF, or bytes that are not UTF-8, end the session
 * with 1007.
 */


#ifndef _NGX_FCFH_WS_H_INCLUDED_
#define _NGX_FCFH_WS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define NGX_FCFH_WS_CONT             0x0
#define NGX_FCFH_WS_TEXT             0x1
#define NGX_FCFH_WS_BINARY           0x2
#define NGX_FCFH_WS_CLOSE            0x8
#define NGX_FCFH_WS_PING             0x9
#define NGX_FCFH_WS_PONG             0xa

/* close codes (RFC 6455, 7.4.1) */
#define NGX_FCFH_WS_NORMAL           1000
#define NGX_FCFH_WS_GOING_AWAY       1001
#define NGX_FCFH_WS_PROTOCOL_ERROR   1002
#define NGX_FCFH_WS_UNSUPPORTED      1003
#define NGX_FCFH_WS_NO_STATUS        1005    /* never on the wire */
#define NGX_FCFH_WS_INVALID_DATA     1007
#define NGX_FCFH_WS_POLICY           1008
#define NGX_FCFH_WS_TOO_BIG          1009
#define NGX_FCFH_WS_INTERNAL_ERROR   1011

#define NGX_FCFH_WS_CONTROL_MAX      125     /* payload of a control frame */
#define NGX_FCFH_WS_HEADER_MAX       14      /* 2 + 8 length + 4 mask */
#define NGX_FCFH_WS_SERVER_HEADER_MAX 10     /* no mask */
/* a whole close frame: header, code, reason */
#define NGX_FCFH_WS_CLOSE_FRAME_MAX  (2 + NGX_FCFH_WS_CONTROL_MAX)

#define NGX_FCFH_WS_KEY_LEN          24      /* base64 of 16 bytes */
#define NGX_FCFH_WS_ACCEPT_LEN       28      /* base64 of a SHA-1 */

/* parser flags */
#define NGX_FCFH_WS_MASKED           0x1     /* frames must be masked */


/* what one call of ngx_fcfh_ws_parse() found */
typedef enum {
    NGX_FCFH_WS_EV_NONE = 0,         /* every byte given taken, need more */
    NGX_FCFH_WS_EV_DATA,             /* payload bytes of a message */
    NGX_FCFH_WS_EV_PING,
    NGX_FCFH_WS_EV_PONG,
    NGX_FCFH_WS_EV_CLOSE,            /* code (1005: none), reason */
    NGX_FCFH_WS_EV_ERROR             /* code to close with, text */
} ngx_fcfh_ws_event_e;


typedef struct {
    ngx_fcfh_ws_event_e              type;
    /*
     * DATA: the message's opcode (text or binary); the bytes (text
     * already turned into its characters' bytes), in the caller's buffer,
     * maybe none; last: the message ends with them.
     * PING, PONG: the payload; CLOSE: the reason; both in the parser.
     */
    unsigned                         opcode;
    unsigned                         last;
    const uint8_t                   *data;
    size_t                           len;
    unsigned                         code;
    const char                      *error;  /* ERROR: why, for logs and
                                                the close frame's reason */
} ngx_fcfh_ws_event_t;


typedef struct {
    uint64_t                         max_frame;    /* payload, per frame */
    uint64_t                         max_message;  /* payload, per message */
    unsigned                         flags;

    /* private */
    unsigned                         state;
    unsigned                         opcode;       /* of the current frame */
    unsigned                         fin;
    unsigned                         masked;
    unsigned                         message;      /* 0, TEXT or BINARY */
    unsigned                         mask_pos;
    unsigned                         utf8_lead;    /* a pending lead byte */
    unsigned                         len_known;    /* judged, this frame */
    size_t                           head_len;
    size_t                           head_need;
    uint64_t                         remaining;    /* of the frame payload */
    uint64_t                         message_len;
    uint8_t                          mask[4];
    uint8_t                          head[NGX_FCFH_WS_HEADER_MAX];
    size_t                           control_len;
    uint8_t                          control[NGX_FCFH_WS_CONTROL_MAX];
    const char                      *error;
    unsigned                         error_code;
} ngx_fcfh_ws_parser_t;


void ngx_fcfh_ws_parser_init(ngx_fcfh_ws_parser_t *p, uint64_t max_frame,
    uint64_t max_message, unsigned flags);

/*
 * Takes bytes from buf until one event, and answers how many it took;
 * the payload of data frames is unmasked (and text decoded) in place, so
 * buf must be writable.  NONE means all of it was taken.  After an
 * ERROR, every call answers the same ERROR and takes nothing.  Loop:
 * parse, advance, handle the event, until NONE (an error can come after
 * the last byte's event, with len 0).
 */
size_t ngx_fcfh_ws_parse(ngx_fcfh_ws_parser_t *p, uint8_t *buf, size_t len,
    ngx_fcfh_ws_event_t *ev);

/* a message has begun and not ended (a fragmented one, say) */
int ngx_fcfh_ws_in_message(const ngx_fcfh_ws_parser_t *p);


/* server frames (never masked): header size, 2, 4 or 10 bytes */
size_t ngx_fcfh_ws_frame_header(uint8_t *buf, unsigned opcode, int fin,
    uint64_t len);

/* a whole control frame; payload cut at NGX_FCFH_WS_CONTROL_MAX */
size_t ngx_fcfh_ws_control_frame(uint8_t *buf, unsigned opcode,
    const uint8_t *payload, size_t len);

/*
 * A whole close frame, at most NGX_FCFH_WS_CLOSE_FRAME_MAX bytes: the
 * code, then the reason cut to fit at a UTF-8 character boundary.
 */
size_t ngx_fcfh_ws_close_frame(uint8_t *buf, unsigned code,
    const char *reason, size_t len);

/* a code a peer may send in a close frame */
int ngx_fcfh_ws_close_code_valid(unsigned code);

int ngx_fcfh_ws_utf8_valid(const uint8_t *s, size_t len);


/* Sec-WebSocket-Key: base64 of exactly 16 bytes, strict; 0 if it is */
int ngx_fcfh_ws_key_check(const uint8_t *key, size_t len);

/* Sec-WebSocket-Accept for a key: NGX_FCFH_WS_ACCEPT_LEN bytes; 0: done */
int ngx_fcfh_ws_accept(const uint8_t *key, size_t len, uint8_t *out);

/*
 * Whether a comma-separated header value (Connection, Upgrade) holds the
 * token, compared without case, optional white space around items.
 */
int ngx_fcfh_ws_has_token(const uint8_t *value, size_t len,
    const char *token);

/*
 * Sec-WebSocket-Protocol: the first protocol the browser offers, which
 * the gateway echoes (a browser aborts when the answer names none it
 * offered).  0: *first set; -1: the value is not a list of tokens.
 */
int ngx_fcfh_ws_subprotocol(const uint8_t *value, size_t len,
    const uint8_t **first, size_t *first_len);


#endif /* _NGX_FCFH_WS_H_INCLUDED_ */
