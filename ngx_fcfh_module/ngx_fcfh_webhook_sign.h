
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Webhook signatures as the Standard Webhooks specification has them
 * (https://www.standardwebhooks.com/), so that a receiver verifies them
 * with that project's libraries or a few lines of its own:
 *
 *   webhook-id:         the message's id, the same on every retry
 *   webhook-timestamp:  the attempt's time, Unix seconds
 *   webhook-signature:  "v1," base64(HMAC-SHA256(key,
 *                           "<webhook-id>.<webhook-timestamp>.<body>"))
 *
 * The key is a subscriber's secret, written "whsec_" base64(key) as the
 * specification's libraries take it: 24 to 64 random bytes.
 *
 * Pure C99 with OpenSSL's HMAC: no nginx headers, no allocation, no I/O,
 * so that the unit tests check it against the specification's vector.
 */


#ifndef _NGX_FCFH_WEBHOOK_SIGN_H_INCLUDED_
#define _NGX_FCFH_WEBHOOK_SIGN_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


/* key bytes: what the specification allows; the gateway makes 32 */
#define NGX_FCFH_WEBHOOK_KEY_MIN        24
#define NGX_FCFH_WEBHOOK_KEY_MAX        64
#define NGX_FCFH_WEBHOOK_KEY_SIZE       32

#define NGX_FCFH_WEBHOOK_SECRET_PREFIX  "whsec_"

/* "whsec_" base64(64 bytes), NUL */
#define NGX_FCFH_WEBHOOK_SECRET_LEN                                           \
    (sizeof(NGX_FCFH_WEBHOOK_SECRET_PREFIX) - 1                               \
     + 4 * ((NGX_FCFH_WEBHOOK_KEY_MAX + 2) / 3) + 1)

/* "v1," base64(32 bytes), NUL */
#define NGX_FCFH_WEBHOOK_SIGNATURE_LEN  (3 + 44 + 1)

/* the longest webhook-id */
#define NGX_FCFH_WEBHOOK_ID_MAX         64

/* the longest body signed */
#define NGX_FCFH_WEBHOOK_BODY_MAX       4096


/*
 * "whsec_<base64>", or the base64 alone (as the libraries accept it),
 * into key (NGX_FCFH_WEBHOOK_KEY_MAX bytes).  Returns the key's length,
 * or -1: not strict base64 (padded, no whitespace), or a key shorter
 * than NGX_FCFH_WEBHOOK_KEY_MIN or longer than NGX_FCFH_WEBHOOK_KEY_MAX
 * bytes.
 */
ssize_t ngx_fcfh_webhook_secret_parse(const uint8_t *text, size_t len,
    uint8_t *key);

/*
 * "whsec_<base64 of key>" and a NUL into out (NGX_FCFH_WEBHOOK_SECRET_LEN
 * bytes); returns the length without the NUL, or -1 for a key length
 * out of range.
 */
ssize_t ngx_fcfh_webhook_secret_format(const uint8_t *key, size_t len,
    char *out);

/*
 * The webhook-signature value "v1,<base64>" and a NUL into out
 * (NGX_FCFH_WEBHOOK_SIGNATURE_LEN bytes) for the message id (at most
 * NGX_FCFH_WEBHOOK_ID_MAX bytes), the timestamp and the body (at most
 * NGX_FCFH_WEBHOOK_BODY_MAX bytes).  Returns the length, or -1 (a bound
 * exceeded, a key length out of range, or HMAC failed).
 */
ssize_t ngx_fcfh_webhook_sign(const uint8_t *key, size_t key_len,
    const uint8_t *id, size_t id_len, uint64_t timestamp,
    const uint8_t *body, size_t body_len, char *out);


#endif /* _NGX_FCFH_WEBHOOK_SIGN_H_INCLUDED_ */
