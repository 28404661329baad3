
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ngx_fcfh_redir.h"


#define NGX_FCFH_REDIR_START_SESSION     0x10
#define NGX_FCFH_REDIR_START_REPLY_MSG   0x11
#define NGX_FCFH_REDIR_END_SESSION       0x12
#define NGX_FCFH_REDIR_AUTHENTICATE      0x13
#define NGX_FCFH_REDIR_AUTH_REPLY        0x14

#define NGX_FCFH_REDIR_AUTH_HEADER       9      /* type .. u32 length */
#define NGX_FCFH_REDIR_NC                "00000001"
#define NGX_FCFH_REDIR_QOP_AUTH          "auth"
#define NGX_FCFH_REDIR_CNONCE_LEN        32
#define NGX_FCFH_REDIR_MD5_HEX           32

/* the longest message the gateway writes: its digest answer */
#define NGX_FCFH_REDIR_OUT_SIZE          1024


typedef struct {
    const uint8_t                *data;
    size_t                        len;
} ngx_fcfh_redir_str_t;


static int ngx_fcfh_redir_run(ngx_fcfh_redir_t *rd);
static long ngx_fcfh_redir_size(ngx_fcfh_redir_t *rd, int side);
static int ngx_fcfh_redir_console(ngx_fcfh_redir_t *rd, const uint8_t *m,
    size_t n);
static int ngx_fcfh_redir_device(ngx_fcfh_redir_t *rd, const uint8_t *m,
    size_t n);
static int ngx_fcfh_redir_methods(ngx_fcfh_redir_t *rd, const uint8_t *m,
    size_t n);
static uint8_t ngx_fcfh_redir_pick(ngx_fcfh_redir_t *rd, uint8_t asked);
static int ngx_fcfh_redir_begin(ngx_fcfh_redir_t *rd);
static int ngx_fcfh_redir_answer(ngx_fcfh_redir_t *rd, const uint8_t *d,
    size_t len);
static int ngx_fcfh_redir_qop_auth(const ngx_fcfh_redir_str_t *qop);
static int ngx_fcfh_redir_field(const uint8_t *d, size_t len, size_t *off,
    ngx_fcfh_redir_str_t *s);
static int ngx_fcfh_redir_refused(ngx_fcfh_redir_t *rd, uint8_t status);
static int ngx_fcfh_redir_transparent_now(ngx_fcfh_redir_t *rd);
static int ngx_fcfh_redir_send(ngx_fcfh_redir_t *rd, int to,
    const uint8_t *buf, size_t len);
static int ngx_fcfh_redir_md5_hex(const uint8_t *in, size_t len, char *hex);
static uint8_t *ngx_fcfh_redir_put(uint8_t *p, const void *s, size_t len);
static uint8_t *ngx_fcfh_redir_put_field(uint8_t *p, const void *s,
    size_t len);
static uint8_t *ngx_fcfh_redir_auth_header(uint8_t *p, uint8_t type,
    uint8_t status, uint8_t method, uint32_t len);
static uint32_t ngx_fcfh_redir_le32(const uint8_t *p);


static const char  *ngx_fcfh_redir_errors[] = {
    "ok",
    "console sent an unexpected redirection message",
    "console sent an authentication message over 4096 bytes",
    "console sent more than 4096 bytes before authentication",
    "console asked for an unknown authentication method",
    "device sent an unexpected redirection message",
    "device sent an authentication reply over 4096 bytes",
    "device sent more than 4096 bytes before authentication",
    "device sent a malformed digest challenge",
    "device offers no digest qop \"auth\"",
    "AMT refused the gateway's redirection credentials",
    "console sent data after a failed authentication",
    "cannot pass the bytes on",
    "MD5 or random bytes unavailable"
};


int
ngx_fcfh_redir_init(ngx_fcfh_redir_t *rd, const uint8_t *user,
    size_t user_len, const uint8_t *password, size_t password_len,
    ngx_fcfh_redir_send_pt send, void *data)
{
    memset(rd, 0, offsetof(ngx_fcfh_redir_t, hold));

    if (user_len == 0 || user_len > NGX_FCFH_REDIR_MAX_CRED
        || password_len == 0 || password_len > NGX_FCFH_REDIR_MAX_CRED)
    {
        return -1;
    }

    memcpy(rd->user, user, user_len);
    memcpy(rd->password, password, password_len);
    rd->user_len = (uint8_t) user_len;
    rd->password_len = (uint8_t) password_len;

    rd->send = send;
    rd->data = data;
    rd->state = NGX_FCFH_REDIR_START;

    return 0;
}


int
ngx_fcfh_redir_input(ngx_fcfh_redir_t *rd, int from, const uint8_t *buf,
    size_t len)
{
    int     rc;
    size_t  n;

    while (len) {

        if (rd->state == NGX_FCFH_REDIR_TRANSPARENT) {
            return ngx_fcfh_redir_send(rd, !from, buf, len);
        }

        if (rd->state == NGX_FCFH_REDIR_FAILED) {
            /* the device has nothing left to say to this console */
            return (from == NGX_FCFH_REDIR_CONSOLE)
                   ? NGX_FCFH_REDIR_ERR_AFTER_FAILURE : NGX_FCFH_REDIR_OK;
        }

        n = NGX_FCFH_REDIR_HOLD - rd->held[from];

        if (n == 0) {
            return (from == NGX_FCFH_REDIR_CONSOLE)
                   ? NGX_FCFH_REDIR_ERR_CONSOLE_HOLD
                   : NGX_FCFH_REDIR_ERR_DEVICE_HOLD;
        }

        if (n > len) {
            n = len;
        }

        memcpy(rd->hold[from] + rd->held[from], buf, n);
        rd->held[from] += n;
        buf += n;
        len -= n;

        rc = ngx_fcfh_redir_run(rd);
        if (rc != NGX_FCFH_REDIR_OK) {
            return rc;
        }
    }

    return NGX_FCFH_REDIR_OK;
}


/* every complete message the state waits for, from the side it waits on */

static int
ngx_fcfh_redir_run(ngx_fcfh_redir_t *rd)
{
    int    rc, side;
    long   size;
    size_t n;

    for ( ;; ) {

        switch (rd->state) {

        case NGX_FCFH_REDIR_START:
        case NGX_FCFH_REDIR_AUTH:
            side = NGX_FCFH_REDIR_CONSOLE;
            break;

        case NGX_FCFH_REDIR_TRANSPARENT:
            return ngx_fcfh_redir_transparent_now(rd);

        case NGX_FCFH_REDIR_FAILED:
            return NGX_FCFH_REDIR_OK;

        default:
            side = NGX_FCFH_REDIR_DEVICE;
        }

        size = ngx_fcfh_redir_size(rd, side);

        if (size <= 0) {
            return (int) size;
        }

        n = (size_t) size;

        if (side == NGX_FCFH_REDIR_CONSOLE) {
            rc = ngx_fcfh_redir_console(rd, rd->hold[side], n);

        } else {
            rc = ngx_fcfh_redir_device(rd, rd->hold[side], n);
        }

        rd->held[side] -= n;
        memmove(rd->hold[side], rd->hold[side] + n, rd->held[side]);

        if (rc != NGX_FCFH_REDIR_OK) {
            return rc;
        }
    }
}


/* the size of the message held from that side: 0 for "need more" */

static long
ngx_fcfh_redir_size(ngx_fcfh_redir_t *rd, int side)
{
    size_t          held;
    uint32_t        len;
    const uint8_t  *m;

    m = rd->hold[side];
    held = rd->held[side];

    if (held == 0) {
        return 0;
    }

    if (side == NGX_FCFH_REDIR_CONSOLE) {

        switch (m[0]) {

        case NGX_FCFH_REDIR_START_SESSION:
            return (held >= 8) ? 8 : 0;

        case NGX_FCFH_REDIR_END_SESSION:
            return (held >= 4) ? 4 : 0;

        case NGX_FCFH_REDIR_AUTHENTICATE:
            break;

        default:
            return NGX_FCFH_REDIR_ERR_CONSOLE_MSG;
        }

    } else {

        switch (m[0]) {

        case NGX_FCFH_REDIR_START_REPLY_MSG:
            if (held < 13) {
                return 0;
            }

            /* byte 12: the length of the OEM data that follows */
            return (held >= 13 + (size_t) m[12]) ? 13 + (long) m[12] : 0;

        case NGX_FCFH_REDIR_AUTH_REPLY:
            break;

        default:
            return NGX_FCFH_REDIR_ERR_DEVICE_MSG;
        }
    }

    if (held < NGX_FCFH_REDIR_AUTH_HEADER) {
        return 0;
    }

    len = ngx_fcfh_redir_le32(m + 5);

    if (len > NGX_FCFH_REDIR_MAX_MESSAGE - NGX_FCFH_REDIR_AUTH_HEADER) {
        return (side == NGX_FCFH_REDIR_CONSOLE)
               ? NGX_FCFH_REDIR_ERR_CONSOLE_LEN
               : NGX_FCFH_REDIR_ERR_DEVICE_LEN;
    }

    if (held < NGX_FCFH_REDIR_AUTH_HEADER + (size_t) len) {
        return 0;
    }

    return NGX_FCFH_REDIR_AUTH_HEADER + (long) len;
}


static int
ngx_fcfh_redir_console(ngx_fcfh_redir_t *rd, const uint8_t *m, size_t n)
{
    uint8_t  type;

    switch (m[0]) {

    case NGX_FCFH_REDIR_START_SESSION:
        if (rd->state != NGX_FCFH_REDIR_START) {
            return NGX_FCFH_REDIR_ERR_CONSOLE_MSG;
        }

        memcpy(rd->session, m + 4, 4);
        rd->state = NGX_FCFH_REDIR_START_REPLY;

        return ngx_fcfh_redir_send(rd, NGX_FCFH_REDIR_DEVICE, m, n);

    case NGX_FCFH_REDIR_END_SESSION:
        /* the console leaves: nothing more to do here */
        rd->state = NGX_FCFH_REDIR_TRANSPARENT;

        return ngx_fcfh_redir_send(rd, NGX_FCFH_REDIR_DEVICE, m, n);

    default: /* NGX_FCFH_REDIR_AUTHENTICATE */
        break;
    }

    if (rd->state != NGX_FCFH_REDIR_AUTH) {
        return NGX_FCFH_REDIR_ERR_CONSOLE_MSG;
    }

    type = m[4];

    switch (type) {

    case NGX_FCFH_REDIR_QUERY:
        rd->state = NGX_FCFH_REDIR_METHODS;
        return ngx_fcfh_redir_send(rd, NGX_FCFH_REDIR_DEVICE, m, n);

    case NGX_FCFH_REDIR_BASIC:
    case NGX_FCFH_REDIR_DIGEST:
    case NGX_FCFH_REDIR_DIGEST_QOP:
        /* whatever the console's credentials, the gateway's are used */
        rd->method = ngx_fcfh_redir_pick(rd, type);
        return ngx_fcfh_redir_begin(rd);

    default:
        return NGX_FCFH_REDIR_ERR_METHOD;
    }
}


static int
ngx_fcfh_redir_device(ngx_fcfh_redir_t *rd, const uint8_t *m, size_t n)
{
    uint8_t  status, type;

    if (rd->state == NGX_FCFH_REDIR_START_REPLY) {
        if (m[0] != NGX_FCFH_REDIR_START_REPLY_MSG) {
            return NGX_FCFH_REDIR_ERR_DEVICE_MSG;
        }

        /* a refused session has nothing to authenticate */
        rd->state = (m[1] == 0) ? NGX_FCFH_REDIR_AUTH
                                : NGX_FCFH_REDIR_TRANSPARENT;

        return ngx_fcfh_redir_send(rd, NGX_FCFH_REDIR_CONSOLE, m, n);
    }

    if (m[0] != NGX_FCFH_REDIR_AUTH_REPLY) {
        return NGX_FCFH_REDIR_ERR_DEVICE_MSG;
    }

    status = m[1];
    type = m[4];

    switch (rd->state) {

    case NGX_FCFH_REDIR_METHODS:
        if (type != NGX_FCFH_REDIR_QUERY) {
            return NGX_FCFH_REDIR_ERR_DEVICE_MSG;
        }

        return ngx_fcfh_redir_methods(rd, m, n);

    case NGX_FCFH_REDIR_CHALLENGE:
        if (status == 1 && type == rd->method) {
            rd->state = NGX_FCFH_REDIR_RESULT;
            return ngx_fcfh_redir_answer(rd, m + NGX_FCFH_REDIR_AUTH_HEADER,
                                         n - NGX_FCFH_REDIR_AUTH_HEADER);
        }

        break;

    default: /* NGX_FCFH_REDIR_RESULT */
        break;
    }

    if (status != 0) {
        return ngx_fcfh_redir_refused(rd, status);
    }

    /* success: the console gets it as AMT sent it */
    rd->state = NGX_FCFH_REDIR_TRANSPARENT;
    rd->authenticated = 1;

    return ngx_fcfh_redir_send(rd, NGX_FCFH_REDIR_CONSOLE, m, n);
}


/* the device's methods: the console is offered the one the gateway uses */

static int
ngx_fcfh_redir_methods(ngx_fcfh_redir_t *rd, const uint8_t *m, size_t n)
{
    size_t   i;
    uint8_t  best, *p, out[NGX_FCFH_REDIR_AUTH_HEADER + 1];

    rd->state = NGX_FCFH_REDIR_AUTH;

    if (m[1] == 0) {
        for (i = NGX_FCFH_REDIR_AUTH_HEADER; i < n; i++) {
            if (m[i] == NGX_FCFH_REDIR_BASIC || m[i] == NGX_FCFH_REDIR_DIGEST
                || m[i] == NGX_FCFH_REDIR_DIGEST_QOP)
            {
                rd->offered |= (uint8_t) (1 << m[i]);
            }
        }
    }

    if (rd->offered == 0) {
        /* nothing the gateway speaks: the console sees AMT's answer */
        return ngx_fcfh_redir_send(rd, NGX_FCFH_REDIR_CONSOLE, m, n);
    }

    best = ngx_fcfh_redir_pick(rd, NGX_FCFH_REDIR_DIGEST_QOP);

    p = ngx_fcfh_redir_auth_header(out, NGX_FCFH_REDIR_AUTH_REPLY, 0,
                                   NGX_FCFH_REDIR_QUERY, 1);
    *p++ = best;

    return ngx_fcfh_redir_send(rd, NGX_FCFH_REDIR_CONSOLE, out, p - out);
}


static uint8_t
ngx_fcfh_redir_pick(ngx_fcfh_redir_t *rd, uint8_t asked)
{
    static const uint8_t  order[] = {
        NGX_FCFH_REDIR_DIGEST_QOP, NGX_FCFH_REDIR_DIGEST, NGX_FCFH_REDIR_BASIC
    };

    size_t  i;

    for (i = 0; i < sizeof(order); i++) {
        if (rd->offered & (1 << order[i])) {
            return order[i];
        }
    }

    return asked;
}


/* the gateway's first AuthenticateSession: basic, or a digest start */

static int
ngx_fcfh_redir_begin(ngx_fcfh_redir_t *rd)
{
    size_t    len;
    uint8_t  *p, out[NGX_FCFH_REDIR_OUT_SIZE];

    if (rd->method == NGX_FCFH_REDIR_BASIC) {
        len = 2 + rd->user_len + rd->password_len;

        p = ngx_fcfh_redir_auth_header(out, NGX_FCFH_REDIR_AUTHENTICATE, 0,
                                       rd->method, (uint32_t) len);
        p = ngx_fcfh_redir_put_field(p, rd->user, rd->user_len);
        p = ngx_fcfh_redir_put_field(p, rd->password, rd->password_len);

        rd->state = NGX_FCFH_REDIR_RESULT;

        return ngx_fcfh_redir_send(rd, NGX_FCFH_REDIR_DEVICE, out, p - out);
    }

    /* user, realm, nonce, URI, cnonce, nc, response[, qop]: all but two
     * empty */
    len = rd->user_len + sizeof(NGX_FCFH_REDIR_URI) - 1
          + ((rd->method == NGX_FCFH_REDIR_DIGEST_QOP) ? 8 : 7);

    p = ngx_fcfh_redir_auth_header(out, NGX_FCFH_REDIR_AUTHENTICATE, 0,
                                   rd->method, (uint32_t) len);
    p = ngx_fcfh_redir_put_field(p, rd->user, rd->user_len);
    *p++ = 0;
    *p++ = 0;
    p = ngx_fcfh_redir_put_field(p, NGX_FCFH_REDIR_URI,
                                 sizeof(NGX_FCFH_REDIR_URI) - 1);
    *p++ = 0;
    *p++ = 0;
    *p++ = 0;

    if (rd->method == NGX_FCFH_REDIR_DIGEST_QOP) {
        *p++ = 0;
    }

    rd->state = NGX_FCFH_REDIR_CHALLENGE;

    return ngx_fcfh_redir_send(rd, NGX_FCFH_REDIR_DEVICE, out, p - out);
}


/* the challenge's realm, nonce (and qop): the digest answer (RFC 2617) */

static int
ngx_fcfh_redir_answer(ngx_fcfh_redir_t *rd, const uint8_t *d, size_t len)
{
    char                   ha1[NGX_FCFH_REDIR_MD5_HEX + 1];
    char                   ha2[NGX_FCFH_REDIR_MD5_HEX + 1];
    char                   response[NGX_FCFH_REDIR_MD5_HEX + 1];
    char                   cnonce[NGX_FCFH_REDIR_CNONCE_LEN + 1];
    size_t                 off, i, total;
    uint8_t               *p, buf[NGX_FCFH_REDIR_OUT_SIZE];
    uint8_t                rnd[NGX_FCFH_REDIR_CNONCE_LEN / 2];
    ngx_fcfh_redir_str_t   realm, nonce, qop;

    static const char      hex[] = "0123456789abcdef";

    off = 0;

    if (ngx_fcfh_redir_field(d, len, &off, &realm) != 0
        || ngx_fcfh_redir_field(d, len, &off, &nonce) != 0)
    {
        return NGX_FCFH_REDIR_ERR_CHALLENGE;
    }

    if (rd->method == NGX_FCFH_REDIR_DIGEST_QOP) {
        if (ngx_fcfh_redir_field(d, len, &off, &qop) != 0) {
            return NGX_FCFH_REDIR_ERR_CHALLENGE;
        }

        if (!ngx_fcfh_redir_qop_auth(&qop)) {
            return NGX_FCFH_REDIR_ERR_QOP;
        }
    }

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NGX_FCFH_REDIR_ERR_CRYPTO;
    }

    for (i = 0; i < sizeof(rnd); i++) {
        cnonce[2 * i] = hex[rnd[i] >> 4];
        cnonce[2 * i + 1] = hex[rnd[i] & 0xf];
    }

    cnonce[NGX_FCFH_REDIR_CNONCE_LEN] = '\0';

    /* HA1 = MD5(user:realm:password), HA2 = MD5(POST:uri) */

    p = ngx_fcfh_redir_put(buf, rd->user, rd->user_len);
    *p++ = ':';
    p = ngx_fcfh_redir_put(p, realm.data, realm.len);
    *p++ = ':';
    p = ngx_fcfh_redir_put(p, rd->password, rd->password_len);

    if (ngx_fcfh_redir_md5_hex(buf, p - buf, ha1) != 0) {
        return NGX_FCFH_REDIR_ERR_CRYPTO;
    }

    p = ngx_fcfh_redir_put(buf, "POST:" NGX_FCFH_REDIR_URI,
                           sizeof("POST:" NGX_FCFH_REDIR_URI) - 1);

    if (ngx_fcfh_redir_md5_hex(buf, p - buf, ha2) != 0) {
        return NGX_FCFH_REDIR_ERR_CRYPTO;
    }

    /* qop auth: MD5(HA1:nonce:nc:cnonce:qop:HA2); else MD5(HA1:nonce:HA2) */

    p = ngx_fcfh_redir_put(buf, ha1, NGX_FCFH_REDIR_MD5_HEX);
    *p++ = ':';
    p = ngx_fcfh_redir_put(p, nonce.data, nonce.len);
    *p++ = ':';

    if (rd->method == NGX_FCFH_REDIR_DIGEST_QOP) {
        p = ngx_fcfh_redir_put(p, NGX_FCFH_REDIR_NC ":",
                               sizeof(NGX_FCFH_REDIR_NC ":") - 1);
        p = ngx_fcfh_redir_put(p, cnonce, NGX_FCFH_REDIR_CNONCE_LEN);
        p = ngx_fcfh_redir_put(p, ":" NGX_FCFH_REDIR_QOP_AUTH ":",
                               sizeof(":" NGX_FCFH_REDIR_QOP_AUTH ":") - 1);
    }

    p = ngx_fcfh_redir_put(p, ha2, NGX_FCFH_REDIR_MD5_HEX);

    if (ngx_fcfh_redir_md5_hex(buf, p - buf, response) != 0) {
        return NGX_FCFH_REDIR_ERR_CRYPTO;
    }

    total = 7 + rd->user_len + realm.len + nonce.len
            + sizeof(NGX_FCFH_REDIR_URI) - 1 + NGX_FCFH_REDIR_CNONCE_LEN
            + sizeof(NGX_FCFH_REDIR_NC) - 1 + NGX_FCFH_REDIR_MD5_HEX;

    if (rd->method == NGX_FCFH_REDIR_DIGEST_QOP) {
        total += 1 + sizeof(NGX_FCFH_REDIR_QOP_AUTH) - 1;
    }

    p = ngx_fcfh_redir_auth_header(buf, NGX_FCFH_REDIR_AUTHENTICATE, 0,
                                   rd->method, (uint32_t) total);
    p = ngx_fcfh_redir_put_field(p, rd->user, rd->user_len);
    p = ngx_fcfh_redir_put_field(p, realm.data, realm.len);
    p = ngx_fcfh_redir_put_field(p, nonce.data, nonce.len);
    p = ngx_fcfh_redir_put_field(p, NGX_FCFH_REDIR_URI,
                                 sizeof(NGX_FCFH_REDIR_URI) - 1);
    p = ngx_fcfh_redir_put_field(p, cnonce, NGX_FCFH_REDIR_CNONCE_LEN);
    p = ngx_fcfh_redir_put_field(p, NGX_FCFH_REDIR_NC,
                                 sizeof(NGX_FCFH_REDIR_NC) - 1);
    p = ngx_fcfh_redir_put_field(p, response, NGX_FCFH_REDIR_MD5_HEX);

    if (rd->method == NGX_FCFH_REDIR_DIGEST_QOP) {
        p = ngx_fcfh_redir_put_field(p, NGX_FCFH_REDIR_QOP_AUTH,
                                     sizeof(NGX_FCFH_REDIR_QOP_AUTH) - 1);
    }

    return ngx_fcfh_redir_send(rd, NGX_FCFH_REDIR_DEVICE, buf, p - buf);
}


/* "auth" in a comma-separated list (RFC 2617: "auth", "auth-int") */

static int
ngx_fcfh_redir_qop_auth(const ngx_fcfh_redir_str_t *qop)
{
    size_t          i, start, end;
    const uint8_t  *s;

    s = qop->data;
    start = 0;

    for (i = 0; i <= qop->len; i++) {
        if (i < qop->len && s[i] != ',') {
            continue;
        }

        end = i;

        while (start < end && s[start] == ' ') {
            start++;
        }

        while (end > start && s[end - 1] == ' ') {
            end--;
        }

        if (end - start == sizeof(NGX_FCFH_REDIR_QOP_AUTH) - 1
            && memcmp(s + start, NGX_FCFH_REDIR_QOP_AUTH, end - start) == 0)
        {
            return 1;
        }

        start = i + 1;
    }

    return 0;
}


/* one length-prefixed field inside d[0..len) */

static int
ngx_fcfh_redir_field(const uint8_t *d, size_t len, size_t *off,
    ngx_fcfh_redir_str_t *s)
{
    size_t  n;

    if (*off >= len) {
        return -1;
    }

    n = d[(*off)++];

    if (n > len - *off) {
        return -1;
    }

    s->data = d + *off;
    s->len = n;
    *off += n;

    return 0;
}


/*
 * AMT said no: the console gets status 1 for method 0 with no methods,
 * which no console can take for a challenge (status 1 with method 3 or
 * 4), and stops.
 */

static int
ngx_fcfh_redir_refused(ngx_fcfh_redir_t *rd, uint8_t status)
{
    int      rc;
    uint8_t  out[NGX_FCFH_REDIR_AUTH_HEADER];

    rd->status = status;
    rd->state = NGX_FCFH_REDIR_FAILED;

    (void) ngx_fcfh_redir_auth_header(out, NGX_FCFH_REDIR_AUTH_REPLY, 1,
                                      NGX_FCFH_REDIR_QUERY, 0);

    rc = ngx_fcfh_redir_send(rd, NGX_FCFH_REDIR_CONSOLE, out, sizeof(out));

    return (rc != NGX_FCFH_REDIR_OK) ? rc : NGX_FCFH_REDIR_ERR_REFUSED;
}


/* what either side sent ahead goes on, in order */

static int
ngx_fcfh_redir_transparent_now(ngx_fcfh_redir_t *rd)
{
    int     side, rc;
    size_t  n;

    for (side = NGX_FCFH_REDIR_CONSOLE; side <= NGX_FCFH_REDIR_DEVICE; side++)
    {
        n = rd->held[side];

        if (n == 0) {
            continue;
        }

        rd->held[side] = 0;

        rc = ngx_fcfh_redir_send(rd, !side, rd->hold[side], n);
        if (rc != NGX_FCFH_REDIR_OK) {
            return rc;
        }
    }

    return NGX_FCFH_REDIR_OK;
}


static int
ngx_fcfh_redir_send(ngx_fcfh_redir_t *rd, int to, const uint8_t *buf,
    size_t len)
{
    if (len == 0) {
        return NGX_FCFH_REDIR_OK;
    }

    return rd->send(rd->data, to, buf, len) == 0 ? NGX_FCFH_REDIR_OK
                                                 : NGX_FCFH_REDIR_ERR_SEND;
}


static int
ngx_fcfh_redir_md5_hex(const uint8_t *in, size_t len, char *hex)
{
    size_t         i;
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    static const char  digits[] = "0123456789abcdef";

    if (EVP_Digest(in, len, md, &n, EVP_md5(), NULL) != 1 || n != 16) {
        return -1;
    }

    for (i = 0; i < 16; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0xf];
    }

    hex[NGX_FCFH_REDIR_MD5_HEX] = '\0';

    return 0;
}


static uint8_t *
ngx_fcfh_redir_put(uint8_t *p, const void *s, size_t len)
{
    memcpy(p, s, len);
    return p + len;
}


/* len is at most 255 everywhere (credentials, fields of a challenge) */

static uint8_t *
ngx_fcfh_redir_put_field(uint8_t *p, const void *s, size_t len)
{
    *p++ = (uint8_t) len;
    memcpy(p, s, len);
    return p + len;
}


static uint8_t *
ngx_fcfh_redir_auth_header(uint8_t *p, uint8_t type, uint8_t status,
    uint8_t method, uint32_t len)
{
    p[0] = type;
    p[1] = status;
    p[2] = 0;
    p[3] = 0;
    p[4] = method;
    p[5] = (uint8_t) len;
    p[6] = (uint8_t) (len >> 8);
    p[7] = (uint8_t) (len >> 16);
    p[8] = (uint8_t) (len >> 24);

    return p + NGX_FCFH_REDIR_AUTH_HEADER;
}


static uint32_t
ngx_fcfh_redir_le32(const uint8_t *p)
{
    return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16)
           | ((uint32_t) p[3] << 24);
}


const char *
ngx_fcfh_redir_strerror(int rc)
{
    if (rc > 0 || rc < NGX_FCFH_REDIR_ERR_LAST) {
        return "unknown";
    }

    return ngx_fcfh_redir_errors[-rc];
}
