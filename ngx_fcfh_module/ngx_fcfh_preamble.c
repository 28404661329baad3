
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_fcfh_preamble.h"


static ssize_t ngx_fcfh_preamble_head(const uint8_t *buf, size_t len);
static void ngx_fcfh_preamble_fields(const uint8_t *buf,
    ngx_fcfh_preamble_t *pre);
static int ngx_fcfh_preamble_mac(const uint8_t *buf, const uint8_t *secret,
    uint32_t owner, uint8_t *mac);


/*
 * Writes NGX_FCFH_RELAY_PREAMBLE_SIZE bytes.  With secret NULL (toward
 * another node) the MAC is zero; a MAC that could not be computed is
 * zero too, and the owner refuses it.
 */

void
ngx_fcfh_preamble_write(uint8_t *buf, const ngx_fcfh_preamble_t *pre,
    const uint8_t *secret, uint32_t owner)
{
    size_t    len;
    uint8_t  *p, *mac;
    unsigned  i;

    memset(buf, 0, NGX_FCFH_RELAY_PREAMBLE_SIZE);

    p = buf;
    memcpy(p, NGX_FCFH_RELAY_MAGIC, 4);
    p += 4;
    *p++ = NGX_FCFH_RELAY_VERSION;
    *p++ = (uint8_t) pre->op;
    *p++ = (uint8_t) (pre->port >> 8);
    *p++ = (uint8_t) pre->port;
    memcpy(p, pre->guid, NGX_FCFH_APF_GUID_SIZE);
    p += NGX_FCFH_APF_GUID_SIZE;

    for (i = 0; i < 8; i++) {
        *p++ = (uint8_t) (pre->serial >> (56 - 8 * i));
    }

    *p++ = (uint8_t) (pre->console_port >> 8);
    *p = (uint8_t) pre->console_port;

    /* the text keeps a NUL after it */
    len = pre->console_len;

    if (len > NGX_FCFH_RELAY_CONSOLE_SIZE - 1) {
        len = NGX_FCFH_RELAY_CONSOLE_SIZE - 1;
    }

    if (len) {
        memcpy(buf + NGX_FCFH_RELAY_CONSOLE_OFF, pre->console, len);
    }

    mac = buf + NGX_FCFH_RELAY_SIGNED_SIZE;

    if (secret && ngx_fcfh_preamble_mac(buf, secret, owner, mac) != 0) {
        memset(mac, 0, NGX_FCFH_RELAY_MAC_SIZE);
    }
}


/*
 * Checks and decodes a preamble meant for worker "owner": 0 when more
 * bytes are needed, NGX_FCFH_RELAY_PREAMBLE_SIZE when it is whole and
 * its MAC is right, or an NGX_FCFH_PREAMBLE_ERR_*.  Each field is
 * checked as soon as its bytes are there, so that a peer speaking
 * another version is refused without waiting for the rest.  There is no
 * way to skip the MAC: secret NULL refuses every preamble.
 */

ssize_t
ngx_fcfh_preamble_parse(const uint8_t *buf, size_t len,
    ngx_fcfh_preamble_t *pre, const uint8_t *secret, uint32_t owner)
{
    ssize_t  rc;
    uint8_t  mac[NGX_FCFH_RELAY_MAC_SIZE];

    rc = ngx_fcfh_preamble_head(buf, len);

    if (rc <= 0) {
        return rc;
    }

    if (secret == NULL
        || ngx_fcfh_preamble_mac(buf, secret, owner, mac) != 0
        || CRYPTO_memcmp(mac, buf + NGX_FCFH_RELAY_SIGNED_SIZE,
                         NGX_FCFH_RELAY_MAC_SIZE) != 0)
    {
        return NGX_FCFH_PREAMBLE_ERR_MAC;
    }

    ngx_fcfh_preamble_fields(buf, pre);

    return NGX_FCFH_RELAY_PREAMBLE_SIZE;
}


/*
 * The same, from another gateway node: mutual TLS proved the peer, and
 * the MAC field, which no node's secret could check, must be zero.
 */

ssize_t
ngx_fcfh_preamble_parse_node(const uint8_t *buf, size_t len,
    ngx_fcfh_preamble_t *pre)
{
    ssize_t   rc;
    unsigned  i;

    rc = ngx_fcfh_preamble_head(buf, len);

    if (rc <= 0) {
        return rc;
    }

    for (i = 0; i < NGX_FCFH_RELAY_MAC_SIZE; i++) {
        if (buf[NGX_FCFH_RELAY_SIGNED_SIZE + i] != 0) {
            return NGX_FCFH_PREAMBLE_ERR_MAC;
        }
    }

    ngx_fcfh_preamble_fields(buf, pre);

    return NGX_FCFH_RELAY_PREAMBLE_SIZE;
}


/* magic, version, op as their bytes arrive; then 1 once it is whole */

static ssize_t
ngx_fcfh_preamble_head(const uint8_t *buf, size_t len)
{
    if (memcmp(buf, NGX_FCFH_RELAY_MAGIC, len < 4 ? len : 4) != 0) {
        return NGX_FCFH_PREAMBLE_ERR_MAGIC;
    }

    if (len > 4 && buf[4] != NGX_FCFH_RELAY_VERSION) {
        return NGX_FCFH_PREAMBLE_ERR_VERSION;
    }

    if (len > 5
        && (buf[5] < NGX_FCFH_RELAY_OP_OPEN
            || buf[5] > NGX_FCFH_RELAY_OP_REPLACED))
    {
        return NGX_FCFH_PREAMBLE_ERR_OP;
    }

    return (len < NGX_FCFH_RELAY_PREAMBLE_SIZE) ? 0 : 1;
}


static void
ngx_fcfh_preamble_fields(const uint8_t *buf, ngx_fcfh_preamble_t *pre)
{
    unsigned        i;
    const uint8_t  *p;

    p = buf + 5;

    pre->op = *p++;
    pre->port = (p[0] << 8) | p[1];
    p += 2;
    memcpy(pre->guid, p, NGX_FCFH_APF_GUID_SIZE);
    p += NGX_FCFH_APF_GUID_SIZE;

    pre->serial = 0;

    for (i = 0; i < 8; i++) {
        pre->serial = (pre->serial << 8) | *p++;
    }

    pre->console_port = (p[0] << 8) | p[1];

    p = buf + NGX_FCFH_RELAY_CONSOLE_OFF;
    pre->console = p;

    for (i = 0; i < NGX_FCFH_RELAY_CONSOLE_SIZE && p[i]; i++) {
        /* void */
    }

    pre->console_len = i;
}


const char *
ngx_fcfh_preamble_error(ssize_t rc)
{
    switch (rc) {

    case NGX_FCFH_PREAMBLE_ERR_MAGIC:
        return "not a relay preamble";

    case NGX_FCFH_PREAMBLE_ERR_VERSION:
        return "another preamble version (1 had no MAC)";

    case NGX_FCFH_PREAMBLE_ERR_OP:
        return "unknown operation";

    case NGX_FCFH_PREAMBLE_ERR_MAC:
        return "wrong MAC";

    default:
        return "incomplete";
    }
}


/* HMAC-SHA-256 under the secret of the signed bytes and the owner's pid */

static int
ngx_fcfh_preamble_mac(const uint8_t *buf, const uint8_t *secret,
    uint32_t owner, uint8_t *mac)
{
    uint8_t       data[NGX_FCFH_RELAY_SIGNED_SIZE + 4];
    unsigned int  len;

    memcpy(data, buf, NGX_FCFH_RELAY_SIGNED_SIZE);
    data[NGX_FCFH_RELAY_SIGNED_SIZE] = (uint8_t) (owner >> 24);
    data[NGX_FCFH_RELAY_SIGNED_SIZE + 1] = (uint8_t) (owner >> 16);
    data[NGX_FCFH_RELAY_SIGNED_SIZE + 2] = (uint8_t) (owner >> 8);
    data[NGX_FCFH_RELAY_SIGNED_SIZE + 3] = (uint8_t) owner;

    len = 0;

    if (HMAC(EVP_sha256(), secret, NGX_FCFH_RELAY_SECRET_SIZE, data,
             sizeof(data), mac, &len)
        == NULL
        || len != NGX_FCFH_RELAY_MAC_SIZE)
    {
        return -1;
    }

    return 0;
}
