
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * libFuzzer target for the console tokens (ngx_fcfh_jwt.c with libjwt).
 * Built by "make fuzz".
 *
 * Byte 0 picks what the rest is:
 *   0: a token as a console sends it;
 *   1: "header JSON\npayload JSON": signed here with HMAC-SHA256 and the
 *      secret, so that the claim checks see every JSON libjwt takes;
 *   2: a user name: a token is issued with it and verified.
 * Checks: results in the documented set, reasons fixed texts; a verified
 * token's subject is bounded, printable, NUL-terminated; the same input
 * gives the same answer twice; a token for one device is never accepted
 * for another; an issued token verifies with its subject, for its device
 * only.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_fcfh_jwt.h"
#include "fuzz.h"


#define SECRET  "fuzz-secret-fuzz-secret-fuzz-secret!"
#define GUID    "12345678-9abc-def0-1234-56789abcdef0"
#define OTHER   "87654321-9abc-def0-1234-56789abcdef0"
#define NOW     1700000000L


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static char  tok[3 * NGX_FCFH_JWT_MAX_TOKEN];


static size_t
b64url(const uint8_t *in, size_t len, char *out)
{
    int     n;
    size_t  i, j;

    n = EVP_EncodeBlock((unsigned char *) out, in, (int) len);

    for (i = 0, j = 0; i < (size_t) n; i++) {
        if (out[i] == '=') {
            break;
        }

        out[j++] = (out[i] == '+') ? '-' : (out[i] == '/') ? '_' : out[i];
    }

    out[j] = '\0';

    return j;
}


static int
verify(const uint8_t *t, size_t len, const char *guid,
    ngx_fcfh_jwt_claims_t *c)
{
    int  rc;

    rc = ngx_fcfh_jwt_verify(t, len, (const uint8_t *) SECRET,
                             strlen(SECRET), guid, NOW, c);

    CHECK(rc <= 0 && rc >= NGX_FCFH_JWT_ERR_LAST);
    CHECK(strcmp(ngx_fcfh_jwt_reason(rc), "unknown") != 0);

    if (rc == NGX_FCFH_JWT_OK) {
        size_t  i;

        CHECK(c->subject_len <= NGX_FCFH_JWT_MAX_SUBJECT);
        CHECK(c->subject[c->subject_len] == '\0');
        CHECK(strlen(c->subject) == c->subject_len);
        CHECK(c->exp > NOW - NGX_FCFH_JWT_LEEWAY);

        for (i = 0; i < c->subject_len; i++) {
            CHECK((uint8_t) c->subject[i] >= 0x20
                  && (uint8_t) c->subject[i] != 0x7f);
        }
    }

    return rc;
}


static void
check_token(const uint8_t *t, size_t len)
{
    int                    rc, rc2;
    ngx_fcfh_jwt_claims_t  c, c2;

    rc = verify(t, len, GUID, &c);
    rc2 = verify(t, len, GUID, &c2);
    CHECK(rc == rc2);

    if (rc == NGX_FCFH_JWT_OK) {
        CHECK(memcmp(&c, &c2, sizeof(c)) == 0);
        CHECK(verify(t, len, OTHER, &c2) == NGX_FCFH_JWT_ERR_DEVICE);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    n;
    size_t                 len, hlen;
    unsigned int           mlen;
    const uint8_t         *nl;
    unsigned char          mac[EVP_MAX_MD_SIZE];
    ngx_fcfh_jwt_claims_t  c;

    if (size == 0) {
        return 0;
    }

    switch (data[0] % 3) {

    case 0:
        check_token(data + 1, size - 1);
        break;

    case 1:
        if (size - 1 > NGX_FCFH_JWT_MAX_TOKEN) {
            break;
        }

        nl = memchr(data + 1, '\n', size - 1);
        if (nl == NULL) {
            break;
        }

        hlen = nl - (data + 1);

        len = b64url(data + 1, hlen, tok);
        tok[len++] = '.';
        len += b64url(nl + 1, size - 1 - hlen - 1, tok + len);

        HMAC(EVP_sha256(), SECRET, (int) strlen(SECRET),
             (unsigned char *) tok, len, mac, &mlen);

        tok[len++] = '.';
        len += b64url(mac, mlen, tok + len);

        check_token((uint8_t *) tok, len);
        break;

    default:
        n = ngx_fcfh_jwt_issue((const uint8_t *) SECRET, strlen(SECRET),
                               GUID, (const char *) data + 1, size - 1, NOW,
                               300, tok, sizeof(tok));

        CHECK(n == NGX_FCFH_JWT_ERR_SUBJECT || n > 0);

        if (n > 0) {
            CHECK((size_t) n == strlen(tok));
            CHECK(verify((uint8_t *) tok, n, GUID, &c) == NGX_FCFH_JWT_OK);
            CHECK(c.subject_len == size - 1);
            CHECK(memcmp(c.subject, data + 1, size - 1) == 0);
            CHECK(c.exp == NOW + 300);
            CHECK(verify((uint8_t *) tok, n, OTHER, &c)
                  == NGX_FCFH_JWT_ERR_DEVICE);
        }
    }

    return 0;
}
