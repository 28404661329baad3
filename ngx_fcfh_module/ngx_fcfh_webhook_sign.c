
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_fcfh_proxy_parse.h"
#include "ngx_fcfh_webhook_sign.h"


#define NGX_FCFH_WEBHOOK_PREFIX_LEN                                           \
    (sizeof(NGX_FCFH_WEBHOOK_SECRET_PREFIX) - 1)


ssize_t
ngx_fcfh_webhook_secret_parse(const uint8_t *text, size_t len, uint8_t *key)
{
    ssize_t  n;

    if (len >= NGX_FCFH_WEBHOOK_PREFIX_LEN
        && memcmp(text, NGX_FCFH_WEBHOOK_SECRET_PREFIX,
                  NGX_FCFH_WEBHOOK_PREFIX_LEN)
           == 0)
    {
        text += NGX_FCFH_WEBHOOK_PREFIX_LEN;
        len -= NGX_FCFH_WEBHOOK_PREFIX_LEN;
    }

    /* longer text than the longest key encodes to: refused unread */
    if (len > 4 * ((NGX_FCFH_WEBHOOK_KEY_MAX + 2) / 3)) {
        return -1;
    }

    n = ngx_fcfh_proxy_base64_decode(text, len, key,
                                     NGX_FCFH_WEBHOOK_KEY_MAX);

    if (n < NGX_FCFH_WEBHOOK_KEY_MIN || n > NGX_FCFH_WEBHOOK_KEY_MAX) {
        return -1;
    }

    return n;
}


ssize_t
ngx_fcfh_webhook_secret_format(const uint8_t *key, size_t len, char *out)
{
    int  n;

    if (len < NGX_FCFH_WEBHOOK_KEY_MIN || len > NGX_FCFH_WEBHOOK_KEY_MAX) {
        return -1;
    }

    memcpy(out, NGX_FCFH_WEBHOOK_SECRET_PREFIX, NGX_FCFH_WEBHOOK_PREFIX_LEN);

    /* writes the NUL */
    n = EVP_EncodeBlock((unsigned char *) out + NGX_FCFH_WEBHOOK_PREFIX_LEN,
                        key, (int) len);

    return (ssize_t) (NGX_FCFH_WEBHOOK_PREFIX_LEN + (size_t) n);
}


ssize_t
ngx_fcfh_webhook_sign(const uint8_t *key, size_t key_len, const uint8_t *id,
    size_t id_len, uint64_t timestamp, const uint8_t *body, size_t body_len,
    char *out)
{
    int            n;
    size_t         len;
    unsigned int   mac_len;
    unsigned char  mac[EVP_MAX_MD_SIZE];
    uint8_t        content[NGX_FCFH_WEBHOOK_ID_MAX + 24
                           + NGX_FCFH_WEBHOOK_BODY_MAX];

    if (key_len < NGX_FCFH_WEBHOOK_KEY_MIN
        || key_len > NGX_FCFH_WEBHOOK_KEY_MAX
        || id_len > NGX_FCFH_WEBHOOK_ID_MAX
        || body_len > NGX_FCFH_WEBHOOK_BODY_MAX)
    {
        return -1;
    }

    /* "<id>.<timestamp>.<body>", byte for byte what the receiver gets */

    memcpy(content, id, id_len);
    len = id_len;

    n = snprintf((char *) content + len, 24, ".%llu.",
                 (unsigned long long) timestamp);
    if (n <= 0 || n >= 24) {
        return -1;
    }

    len += (size_t) n;

    memcpy(content + len, body, body_len);
    len += body_len;

    if (HMAC(EVP_sha256(), key, (int) key_len, content, len, mac, &mac_len)
        == NULL
        || mac_len != 32)
    {
        return -1;
    }

    memcpy(out, "v1,", 3);

    n = EVP_EncodeBlock((unsigned char *) out + 3, mac, (int) mac_len);

    return 3 + n;
}
