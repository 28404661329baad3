
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Console front door parsers: SOCKS5 (RFC 1928, RFC 1929), HTTP CONNECT
 * request heads, Basic proxy credentials and absolute-form request
 * targets; and the head of a device's HTTP answer to fcfh_pass.
 *
 * Pure C99: no nginx headers, no allocation, no I/O.  Nothing is read at
 * or past buf + len.  Strings in a result point into the caller's buffer
 * (or at a static string where said); they are valid only as long as
 * those bytes are, and are not NUL-terminated.
 *
 * The incremental parsers (SOCKS5 messages, CONNECT head, answer head)
 * return 0 when more bytes are needed, the size N > 0 of the message (the
 * caller keeps any bytes after it: a client may pipeline), or a negative
 * NGX_FCFH_PROXY_ERR_*.  They may be called again on the grown buffer;
 * an error is reported as soon as the bytes that prove it are present,
 * so a prefix of the input answers either 0 or the same error as the
 * whole input.  The other functions return >= 0 on success.
 */


#ifndef _NGX_FCFH_PROXY_PARSE_H_INCLUDED_
#define _NGX_FCFH_PROXY_PARSE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ngx_fcfh_apf.h"


/* result codes (all functions) */
#define NGX_FCFH_PROXY_AGAIN                   0

/* SOCKS5: wrong VER (greeting/request 05, RFC 1929 01); close */
#define NGX_FCFH_PROXY_ERR_VERSION             -1
/* SOCKS5 greeting NMETHODS is 0; close */
#define NGX_FCFH_PROXY_ERR_NO_METHODS          -2
/* RFC 1929 ULEN or PLEN is 0; reply status 01 and close */
#define NGX_FCFH_PROXY_ERR_EMPTY_FIELD         -3
/* SOCKS5 request: RSV not 0, domain length 0 or NUL in the name; close */
#define NGX_FCFH_PROXY_ERR_MALFORMED           -4
/* SOCKS5 request: CMD not CONNECT; reply 07 and close */
#define NGX_FCFH_PROXY_ERR_COMMAND             -5
/* SOCKS5 request: ATYP not 01, 03 or 04; reply 08 and close */
#define NGX_FCFH_PROXY_ERR_ADDRESS_TYPE        -6

/* CONNECT: no end of head within max_head bytes; 431 */
#define NGX_FCFH_PROXY_ERR_TOO_LARGE           -7
/* CONNECT: more than max_headers header lines; 431 */
#define NGX_FCFH_PROXY_ERR_TOO_MANY_HEADERS    -8
/* CONNECT: request line syntax (spaces, method token, version form); 400 */
#define NGX_FCFH_PROXY_ERR_BAD_REQUEST         -9
/* CONNECT: a well-formed method other than "CONNECT"; 405 */
#define NGX_FCFH_PROXY_ERR_METHOD              -10
/* CONNECT: well-formed HTTP/D.D other than 1.0 and 1.1; 505 */
#define NGX_FCFH_PROXY_ERR_HTTP_VERSION        -11
/* CONNECT, absolute-form: the host is not a GUID, name, IPv4 or [IPv6]; 400 */
#define NGX_FCFH_PROXY_ERR_BAD_HOST            -12
/* CONNECT, absolute-form: port missing, empty, not digits, 0 or > 65535 */
#define NGX_FCFH_PROXY_ERR_BAD_PORT            -13
/* CONNECT: header name/value syntax, NUL, control char, bare CR; 400 */
#define NGX_FCFH_PROXY_ERR_BAD_HEADER          -14
/* CONNECT: obsolete line folding (a line starting with SP/HTAB); 400 */
#define NGX_FCFH_PROXY_ERR_OBS_FOLD            -15
/* CONNECT: more than one Proxy-Authorization header; 400 */
#define NGX_FCFH_PROXY_ERR_DUPLICATE_AUTH      -16

/* absolute-form: scheme not http or https (or no "://"); 400 */
#define NGX_FCFH_PROXY_ERR_SCHEME              -17
/* absolute-form: userinfo ("user@") in the authority; 400 */
#define NGX_FCFH_PROXY_ERR_USERINFO            -18
/*
 * absolute-form: bad path/query byte (CTL, SP, DEL), bad %XX, a fragment,
 * or a query without a path ("http://h?q"); 400
 */
#define NGX_FCFH_PROXY_ERR_BAD_TARGET          -19

/* Basic: the scheme is not "Basic" or no credentials follow it */
#define NGX_FCFH_PROXY_ERR_AUTH_SCHEME         -20
/* Basic: not strict base64 (alphabet, padding, length, trailing bits) */
#define NGX_FCFH_PROXY_ERR_BASE64              -21
/* Basic: no ':' in the decoded credentials */
#define NGX_FCFH_PROXY_ERR_NO_COLON            -22
/* Basic: a control character (NUL included) in user or password */
#define NGX_FCFH_PROXY_ERR_BAD_CREDENTIALS     -23
/* Basic, base64: the output buffer is too small */
#define NGX_FCFH_PROXY_ERR_BUFFER              -24

/* answer: status line not "HTTP/1.x DDD[ reason]", a CTL, code not 1xx-5xx */
#define NGX_FCFH_PROXY_ERR_STATUS_LINE         -25
/* answer: a CR not followed by LF in the status line or a header line */
#define NGX_FCFH_PROXY_ERR_BARE_CR             -26
/* answer: Content-Length not 1*DIGIT (empty, a sign) or over 2^63 - 1 */
#define NGX_FCFH_PROXY_ERR_BAD_LENGTH          -27
/* answer: Content-Length given twice or as a list, even of equal values */
#define NGX_FCFH_PROXY_ERR_LENGTH_CONFLICT     -28
/* answer: Content-Length and Transfer-Encoding together */
#define NGX_FCFH_PROXY_ERR_LENGTH_AND_CODING   -29
/*
 * answer: Transfer-Encoding other than exactly "chunked", given twice, or
 * in an HTTP/1.0 answer
 */
#define NGX_FCFH_PROXY_ERR_TRANSFER_CODING     -30


/* first byte dispatch: ngx_fcfh_proxy_sniff() */
#define NGX_FCFH_PROXY_UNKNOWN                 0
#define NGX_FCFH_PROXY_SOCKS5                  1
#define NGX_FCFH_PROXY_CONNECT                 2


/* SOCKS5 methods (RFC 1928 section 3) */
#define NGX_FCFH_PROXY_SOCKS5_NO_AUTH          0x00
#define NGX_FCFH_PROXY_SOCKS5_GSSAPI           0x01
#define NGX_FCFH_PROXY_SOCKS5_USERPASS         0x02
#define NGX_FCFH_PROXY_SOCKS5_NO_ACCEPTABLE    0xff

/* ngx_fcfh_proxy_socks5_greeting_t.offered bits */
#define NGX_FCFH_PROXY_OFFER_NO_AUTH           0x01
#define NGX_FCFH_PROXY_OFFER_USERPASS          0x02
#define NGX_FCFH_PROXY_OFFER_OTHER             0x04

/* SOCKS5 commands and address types */
#define NGX_FCFH_PROXY_SOCKS5_CMD_CONNECT      0x01
#define NGX_FCFH_PROXY_SOCKS5_CMD_BIND         0x02
#define NGX_FCFH_PROXY_SOCKS5_CMD_UDP          0x03
#define NGX_FCFH_PROXY_SOCKS5_ATYP_IPV4        0x01
#define NGX_FCFH_PROXY_SOCKS5_ATYP_DOMAIN      0x03
#define NGX_FCFH_PROXY_SOCKS5_ATYP_IPV6        0x04

/* SOCKS5 reply codes (REP) */
#define NGX_FCFH_PROXY_SOCKS5_SUCCEEDED        0x00
#define NGX_FCFH_PROXY_SOCKS5_FAILURE          0x01
#define NGX_FCFH_PROXY_SOCKS5_NOT_ALLOWED      0x02
#define NGX_FCFH_PROXY_SOCKS5_NET_UNREACHABLE  0x03
#define NGX_FCFH_PROXY_SOCKS5_HOST_UNREACHABLE 0x04
#define NGX_FCFH_PROXY_SOCKS5_REFUSED          0x05
#define NGX_FCFH_PROXY_SOCKS5_TTL_EXPIRED      0x06
#define NGX_FCFH_PROXY_SOCKS5_CMD_UNSUPPORTED  0x07
#define NGX_FCFH_PROXY_SOCKS5_ATYP_UNSUPPORTED 0x08

/* RFC 1929 status */
#define NGX_FCFH_PROXY_SOCKS5_AUTH_OK          0x00
#define NGX_FCFH_PROXY_SOCKS5_AUTH_FAILED      0x01

/* message sizes */
#define NGX_FCFH_PROXY_SOCKS5_GREETING_MAX     257
#define NGX_FCFH_PROXY_SOCKS5_AUTH_MAX         513
#define NGX_FCFH_PROXY_SOCKS5_REQUEST_MAX      262
#define NGX_FCFH_PROXY_SOCKS5_REPLY_SIZE       10
#define NGX_FCFH_PROXY_SOCKS5_METHOD_SIZE      2
#define NGX_FCFH_PROXY_SOCKS5_STATUS_SIZE      2


/* host kinds */
#define NGX_FCFH_PROXY_HOST_INVALID            0
#define NGX_FCFH_PROXY_HOST_GUID               1
#define NGX_FCFH_PROXY_HOST_NAME               2
#define NGX_FCFH_PROXY_HOST_IPV4               3
#define NGX_FCFH_PROXY_HOST_IPV6               4

/* longest host text accepted (a name is at most 253) */
#define NGX_FCFH_PROXY_HOST_MAX                255


/* absolute-form schemes */
#define NGX_FCFH_PROXY_SCHEME_HTTP             1
#define NGX_FCFH_PROXY_SCHEME_HTTPS            2


/* how an answer's body ends (RFC 9112 section 6.3) */
#define NGX_FCFH_PROXY_FRAMING_CLOSE           0
#define NGX_FCFH_PROXY_FRAMING_LENGTH          1
#define NGX_FCFH_PROXY_FRAMING_CHUNKED         2

/* the largest Content-Length accepted: what an off_t holds */
#define NGX_FCFH_PROXY_LENGTH_MAX              0x7fffffffffffffffULL


/* suggested CONNECT limits */
#define NGX_FCFH_PROXY_DEFAULT_MAX_HEAD        4096
#define NGX_FCFH_PROXY_DEFAULT_MAX_HEADERS     32


typedef struct {
    size_t                   len;
    const uint8_t           *data;
} ngx_fcfh_proxy_str_t;


typedef struct {
    int                      kind;     /* NGX_FCFH_PROXY_HOST_* */
    /* the text without brackets for [IPv6] */
    ngx_fcfh_proxy_str_t     text;
    /*
     * IPV4: addr[0..4) in network order; IPV6: addr[0..16);
     * GUID: the 16 wire bytes (as ngx_fcfh_apf_guid_from_text())
     */
    uint8_t                  addr[16];
} ngx_fcfh_proxy_host_t;


typedef struct {
    unsigned                 offered;   /* NGX_FCFH_PROXY_OFFER_* */
    unsigned                 nmethods;
    const uint8_t           *methods;   /* nmethods bytes */
} ngx_fcfh_proxy_socks5_greeting_t;


typedef struct {
    /* 1..255 bytes each, any byte value (NUL included) */
    ngx_fcfh_proxy_str_t     user;
    ngx_fcfh_proxy_str_t     password;
} ngx_fcfh_proxy_socks5_auth_t;


typedef struct {
    uint8_t                  cmd;       /* set once byte 1 is seen */
    uint8_t                  atyp;      /* set once byte 3 is seen */
    uint16_t                 port;      /* may be 0: the caller decides */
    /*
     * ATYP 03: the name (1..255 bytes, no NUL); ATYP 01/04: the raw
     * 4/16 address bytes
     */
    ngx_fcfh_proxy_str_t     addr;
    /*
     * ATYP 01/04: kind IPV4/IPV6; ATYP 03: ngx_fcfh_proxy_parse_host() of
     * the name, kind INVALID when it is none of GUID, name, IPv4, IPv6
     * (not an error here: reply 04 or 02 as policy says)
     */
    ngx_fcfh_proxy_host_t    host;
} ngx_fcfh_proxy_socks5_request_t;


typedef struct {
    ngx_fcfh_proxy_host_t    host;
    uint16_t                 port;      /* 1..65535 */
    unsigned                 http_minor;   /* HTTP/1.0 or HTTP/1.1 */
    unsigned                 nheaders;
    /* OWS-trimmed value; data is NULL when the header is absent */
    ngx_fcfh_proxy_str_t     proxy_authorization;
} ngx_fcfh_proxy_connect_t;


typedef struct {
    unsigned                 status;       /* 100..599 */
    unsigned                 http_minor;   /* HTTP/1.0 or HTTP/1.1 */
    unsigned                 nheaders;
    int                      framing;      /* NGX_FCFH_PROXY_FRAMING_* */
    uint64_t                 content_length;   /* FRAMING_LENGTH */
    /*
     * the first WWW-Authenticate value of the Digest scheme ("Digest",
     * any case, SP, then parameters), OWS-trimmed; data NULL when none
     */
    ngx_fcfh_proxy_str_t     digest;
} ngx_fcfh_proxy_response_t;


typedef struct {
    int                      scheme;    /* NGX_FCFH_PROXY_SCHEME_* */
    ngx_fcfh_proxy_host_t    host;
    uint16_t                 port;      /* explicit, or 80 / 443 */
    unsigned                 explicit_port;
    /* origin-form path and query; the static "/" when the target has none */
    ngx_fcfh_proxy_str_t     path;
} ngx_fcfh_proxy_target_t;


typedef struct {
    /* into the caller's output buffer; either may be empty */
    ngx_fcfh_proxy_str_t     user;
    ngx_fcfh_proxy_str_t     password;
} ngx_fcfh_proxy_credentials_t;


/*
 * First byte dispatch: 0x05 -> NGX_FCFH_PROXY_SOCKS5, 'C' ->
 * NGX_FCFH_PROXY_CONNECT, anything else -> NGX_FCFH_PROXY_UNKNOWN.
 */
int ngx_fcfh_proxy_sniff(uint8_t first);


/*
 * SOCKS5 greeting "05 NMETHODS METHODS".  Returns 0 (need more), its size
 * 2 + NMETHODS, or ERR_VERSION (byte 0 not 05), ERR_NO_METHODS.
 */
ssize_t ngx_fcfh_proxy_socks5_greeting(const uint8_t *buf, size_t len,
    ngx_fcfh_proxy_socks5_greeting_t *g);

/*
 * Picks the method to answer with: when auth_required, USERPASS if
 * offered; otherwise NO_AUTH if offered, else USERPASS if offered.
 * NO_ACCEPTABLE (0xff) when none fits.
 */
uint8_t ngx_fcfh_proxy_socks5_select_method(unsigned offered,
    int auth_required);

/*
 * RFC 1929 "01 ULEN UNAME PLEN PASSWD".  Returns 0 (need more), its size
 * 3 + ULEN + PLEN, or ERR_VERSION (byte 0 not 01), ERR_EMPTY_FIELD
 * (ULEN or PLEN 0).
 */
ssize_t ngx_fcfh_proxy_socks5_auth(const uint8_t *buf, size_t len,
    ngx_fcfh_proxy_socks5_auth_t *a);

/*
 * SOCKS5 request "05 CMD 00 ATYP DST.ADDR DST.PORT".  Returns 0 (need
 * more), its size, or, checked in byte order: ERR_VERSION (byte 0),
 * ERR_COMMAND (CMD not 01: reply 07), ERR_MALFORMED (RSV not 0),
 * ERR_ADDRESS_TYPE (ATYP not 01/03/04: reply 08), ERR_MALFORMED (domain
 * length 0, or a NUL in the name).  Fields are filled as they are read.
 */
ssize_t ngx_fcfh_proxy_socks5_request(const uint8_t *buf, size_t len,
    ngx_fcfh_proxy_socks5_request_t *r);

/*
 * For a negative result of ngx_fcfh_proxy_socks5_request(): the REP code
 * to send before closing (07 or 08), or -1 to close without a reply.
 */
int ngx_fcfh_proxy_socks5_error_reply(ssize_t rc);

/*
 * Writers: return the bytes written (2, 2, 10), or 0 when size is too
 * small.  The reply is "05 REP 00 01 0.0.0.0 0".
 */
size_t ngx_fcfh_proxy_socks5_write_method(uint8_t *buf, size_t size,
    uint8_t method);
size_t ngx_fcfh_proxy_socks5_write_auth_status(uint8_t *buf, size_t size,
    uint8_t status);
size_t ngx_fcfh_proxy_socks5_write_reply(uint8_t *buf, size_t size,
    uint8_t rep);


/*
 * HTTP CONNECT request head, from the first byte of the connection.
 * Lines end in CRLF or a bare LF; the head ends at the first empty line.
 * Returns 0 (need more), the head size N (<= max_head; bytes after it
 * are tunnel data), or:
 *   ERR_TOO_LARGE        no end of head in the first max_head bytes
 *   ERR_BAD_REQUEST      request line not "TOKEN SP TARGET SP HTTP/D.D",
 *                        or a CTL (NUL, bare CR, ...) in it
 *   ERR_METHOD           the method token is not "CONNECT" (405)
 *   ERR_BAD_HOST         target host not a GUID, name, IPv4 or [IPv6]
 *   ERR_BAD_PORT         target port missing, not 1..65535
 *   ERR_HTTP_VERSION     HTTP/D.D but not 1.0 or 1.1 (505)
 *   ERR_OBS_FOLD         a header line starting with SP or HTAB
 *   ERR_BAD_HEADER       empty or non-token name, space before ':',
 *                        no ':', a CTL other than HTAB in the value
 *   ERR_TOO_MANY_HEADERS more than max_headers header lines
 *   ERR_DUPLICATE_AUTH   Proxy-Authorization given twice
 * Errors are found line by line, in order.
 */
ssize_t ngx_fcfh_proxy_connect_parse(const uint8_t *buf, size_t len,
    size_t max_head, unsigned max_headers, ngx_fcfh_proxy_connect_t *c);

/*
 * HTTP/1.1 answer head (RFC 9112), as a device sends it back, with the
 * framing of its body.  Lines end in CRLF or a bare LF; the head ends at
 * the first empty line.  Returns 0 (need more), the head size N (<=
 * max_head; bytes after it are body), or:
 *   ERR_TOO_LARGE          no end of head in the first max_head bytes
 *   ERR_BARE_CR            a CR not followed by LF (CR CR LF included)
 *   ERR_STATUS_LINE        not "HTTP/D.D SP DDD [SP reason]", a CTL other
 *                          than HTAB in the reason, a code outside 100..599
 *   ERR_HTTP_VERSION       HTTP/D.D but not 1.0 or 1.1
 *   ERR_OBS_FOLD           a header line starting with SP or HTAB
 *   ERR_BAD_HEADER         empty or non-token name, space before ':',
 *                          no ':', a CTL other than HTAB in the value
 *   ERR_BAD_LENGTH         a Content-Length that is not 1*DIGIT, or too big
 *   ERR_LENGTH_CONFLICT    Content-Length twice, or a comma list
 *   ERR_LENGTH_AND_CODING  Content-Length and Transfer-Encoding
 *   ERR_TRANSFER_CODING    Transfer-Encoding not exactly "chunked" (any
 *                          case, OWS around it), twice, or in HTTP/1.0
 * Errors are found line by line, in order.  Without either header the
 * body runs until the connection closes (FRAMING_CLOSE); the caller
 * applies what the method and status say (HEAD, 1xx, 204, 304).  A
 * whole answer with its body: ngx_fcfh_response_read()
 * (ngx_fcfh_response.h), built on this.
 */
ssize_t ngx_fcfh_proxy_response_parse(const uint8_t *buf, size_t len,
    size_t max_head, ngx_fcfh_proxy_response_t *r);

/*
 * The HTTP status for a negative result of ngx_fcfh_proxy_connect_parse()
 * or ngx_fcfh_proxy_target_parse(): 400, 405, 431 or 505.
 */
int ngx_fcfh_proxy_http_status(ssize_t rc);


/*
 * Proxy-Authorization value "Basic <base64>" (scheme case-insensitive,
 * 1+ SP or HTAB before the token, trailing SP/HTAB ignored).  Decodes into
 * out[0..size) and splits at the first ':'.  Returns the decoded size, or
 * ERR_AUTH_SCHEME, ERR_BASE64, ERR_BUFFER, ERR_NO_COLON,
 * ERR_BAD_CREDENTIALS (a byte < 0x20 or 0x7f in user or password).
 */
ssize_t ngx_fcfh_proxy_basic_decode(const uint8_t *value, size_t len,
    uint8_t *out, size_t size, ngx_fcfh_proxy_credentials_t *cred);

/*
 * Strict base64 (RFC 4648 section 4): length a multiple of 4, "=" only
 * as the last one or two characters, zero unused bits.  Returns the
 * decoded size (0 for empty input), ERR_BASE64 or ERR_BUFFER.  Nothing
 * is written on error.
 */
ssize_t ngx_fcfh_proxy_base64_decode(const uint8_t *in, size_t len,
    uint8_t *out, size_t size);


/*
 * Absolute-form request target "http[s]://host[:port][/path][?query]"
 * (scheme case-insensitive).  Returns 0 on success, or ERR_SCHEME,
 * ERR_USERINFO, ERR_BAD_HOST, ERR_BAD_PORT, ERR_BAD_TARGET.
 */
ssize_t ngx_fcfh_proxy_target_parse(const uint8_t *buf, size_t len,
    ngx_fcfh_proxy_target_t *t);


/*
 * Classifies host text (at most NGX_FCFH_PROXY_HOST_MAX bytes):
 *   "[v6]" or a bare IPv6 address            -> IPV6 (text: no brackets)
 *   canonical 8-4-4-4-12 hex, any case       -> GUID
 *   dotted quad, 0..255, no leading zeros    -> IPV4
 *   labels of [A-Za-z0-9_-], 1..63 bytes, not starting or ending in '-',
 *   at most 253 bytes, no trailing dot, last label not all digits
 *                                            -> NAME (compare
 *                                               case-insensitively)
 * and returns the kind; NGX_FCFH_PROXY_HOST_INVALID (0) for anything else
 * (IPv6 zone ids included).  h may be NULL.
 */
int ngx_fcfh_proxy_parse_host(const uint8_t *text, size_t len,
    ngx_fcfh_proxy_host_t *h);

/* 1 when text is a canonical GUID (8-4-4-4-12 hex, any case), else 0 */
int ngx_fcfh_proxy_is_guid(const uint8_t *text, size_t len);


const char *ngx_fcfh_proxy_strerror(ssize_t rc);


#endif /* _NGX_FCFH_PROXY_PARSE_H_INCLUDED_ */
