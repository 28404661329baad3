
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * HS256 console tokens with libjwt 1.10.  What libjwt's jwt_decode() does
 * and does not do decides the order of the checks here:
 *
 *   - it verifies a signature only when given a key, and then refuses
 *     "alg":"none" (EINVAL); but it accepts a token signed with any HMAC
 *     or public key algorithm the header names, so the algorithm is
 *     checked here, exactly HS256;
 *   - decoded without a key it keeps the header but reports every token
 *     as JWT_ALG_NONE: that pass (on a private copy) only tells an
 *     unsigned or other-algorithm token from a bad signature for the log;
 *     no claim is ever read from it;
 *   - it reads the token up to a NUL (strdup), and decodes base64
 *     leniently: the length and alphabet are checked here first;
 *   - jwt_get_grant_int() answers 0 for a claim that is not an integer and
 *     sets errno only when the claim is absent: "exp" <= 0 is refused.
 */


#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jwt.h>

#include "ngx_fcfh_jwt.h"


static int ngx_fcfh_jwt_syntax(const uint8_t *token, size_t len);
static int ngx_fcfh_jwt_header_alg(const char *token);
static int ngx_fcfh_jwt_claims(jwt_t *jwt, const char *guid, time_t now,
    ngx_fcfh_jwt_claims_t *claims);
static int ngx_fcfh_jwt_subject_ok(const char *s, size_t len);


static const char  *ngx_fcfh_jwt_reasons[] = {
    "valid",
    "no token",
    "token longer than 4096 bytes",
    "not a JWT (three base64url parts)",
    "header or payload is not a JWT's JSON",
    "unsigned token (alg none)",
    "algorithm is not HS256",
    "bad signature",
    "no exp claim (an integer)",
    "token expired",
    "token not valid yet (nbf)",
    "no deviceId claim (a string)",
    "token is for another device",
    "user claim too long or not printable",
    "token secret missing or shorter than 32 bytes",
    "out of memory"
};


int
ngx_fcfh_jwt_verify(const uint8_t *token, size_t len, const uint8_t *secret,
    size_t secret_len, const char *guid, time_t now,
    ngx_fcfh_jwt_claims_t *claims)
{
    int     rc;
    char    buf[NGX_FCFH_JWT_MAX_TOKEN + 1];
    jwt_t  *jwt;

    memset(claims, 0, sizeof(ngx_fcfh_jwt_claims_t));

    if (secret_len < NGX_FCFH_JWT_MIN_SECRET
        || secret_len > NGX_FCFH_JWT_MAX_SECRET)
    {
        return NGX_FCFH_JWT_ERR_SECRET;
    }

    rc = ngx_fcfh_jwt_syntax(token, len);
    if (rc != NGX_FCFH_JWT_OK) {
        return rc;
    }

    memcpy(buf, token, len);
    buf[len] = '\0';

    rc = ngx_fcfh_jwt_header_alg(buf);
    if (rc != NGX_FCFH_JWT_OK) {
        return rc;
    }

    jwt = NULL;

    rc = jwt_decode(&jwt, buf, secret, (int) secret_len);

    if (rc == ENOMEM) {
        return NGX_FCFH_JWT_ERR_NOMEM;
    }

    if (rc != 0 || jwt == NULL) {
        /* the header passed without a key: the signature is what failed */
        return NGX_FCFH_JWT_ERR_SIGNATURE;
    }

    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        rc = NGX_FCFH_JWT_ERR_ALG;

    } else {
        rc = ngx_fcfh_jwt_claims(jwt, guid, now, claims);
    }

    jwt_free(jwt);

    return rc;
}


/* three parts of base64url, the first two non-empty; no padding */

static int
ngx_fcfh_jwt_syntax(const uint8_t *token, size_t len)
{
    size_t   i, dots, part;
    uint8_t  c;

    if (len == 0) {
        return NGX_FCFH_JWT_ERR_EMPTY;
    }

    if (len > NGX_FCFH_JWT_MAX_TOKEN) {
        return NGX_FCFH_JWT_ERR_SIZE;
    }

    dots = 0;
    part = 0;

    for (i = 0; i < len; i++) {
        c = token[i];

        if (c == '.') {
            if (part == 0 || ++dots > 2) {
                return NGX_FCFH_JWT_ERR_FORMAT;
            }

            part = 0;
            continue;
        }

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return NGX_FCFH_JWT_ERR_FORMAT;
        }

        part++;
    }

    /* an empty signature is left to the algorithm checks: "none" or not */

    return dots == 2 ? NGX_FCFH_JWT_OK : NGX_FCFH_JWT_ERR_FORMAT;
}


/* the header's algorithm, from a decode without a key (see above) */

static int
ngx_fcfh_jwt_header_alg(const char *token)
{
    int          rc;
    jwt_t       *jwt;
    jwt_alg_t    alg;
    const char  *name;

    jwt = NULL;

    rc = jwt_decode(&jwt, token, NULL, 0);

    if (rc == ENOMEM) {
        return NGX_FCFH_JWT_ERR_NOMEM;
    }

    if (rc != 0 || jwt == NULL) {
        return NGX_FCFH_JWT_ERR_MALFORMED;
    }

    name = jwt_get_header(jwt, "alg");
    alg = (name != NULL) ? jwt_str_alg(name) : JWT_ALG_INVAL;

    jwt_free(jwt);

    if (alg == JWT_ALG_NONE) {
        return NGX_FCFH_JWT_ERR_ALG_NONE;
    }

    if (alg != JWT_ALG_HS256) {
        return NGX_FCFH_JWT_ERR_ALG;
    }

    if (token[strlen(token) - 1] == '.') {
        /* HS256 with no signature at all */
        return NGX_FCFH_JWT_ERR_SIGNATURE;
    }

    return NGX_FCFH_JWT_OK;
}


static int
ngx_fcfh_jwt_claims(jwt_t *jwt, const char *guid, time_t now,
    ngx_fcfh_jwt_claims_t *claims)
{
    long         exp, nbf;
    size_t       n;
    const char  *s;

    errno = 0;
    exp = jwt_get_grant_int(jwt, "exp");

    if (errno != 0 || exp <= 0) {
        return NGX_FCFH_JWT_ERR_EXP;
    }

    /* now - exp >= leeway, without overflow for any exp */
    if (exp <= (long) now - NGX_FCFH_JWT_LEEWAY) {
        return NGX_FCFH_JWT_ERR_EXPIRED;
    }

    errno = 0;
    nbf = jwt_get_grant_int(jwt, "nbf");

    if (errno == 0 && nbf > (long) now + NGX_FCFH_JWT_LEEWAY) {
        return NGX_FCFH_JWT_ERR_NBF;
    }

    s = jwt_get_grant(jwt, "deviceId");

    if (s == NULL) {
        return NGX_FCFH_JWT_ERR_DEVICE_ID;
    }

    if (strlen(s) != NGX_FCFH_JWT_GUID_LEN
        || strncasecmp(s, guid, NGX_FCFH_JWT_GUID_LEN) != 0)
    {
        return NGX_FCFH_JWT_ERR_DEVICE;
    }

    s = jwt_get_grant(jwt, "sub");

    if (s == NULL) {
        s = jwt_get_grant(jwt, "user");
    }

    if (s != NULL) {
        n = strlen(s);

        if (!ngx_fcfh_jwt_subject_ok(s, n)) {
            return NGX_FCFH_JWT_ERR_SUBJECT;
        }

        memcpy(claims->subject, s, n);
        claims->subject[n] = '\0';
        claims->subject_len = n;
    }

    claims->exp = exp;

    return NGX_FCFH_JWT_OK;
}


/* at most NGX_FCFH_JWT_MAX_SUBJECT bytes, no control characters */

static int
ngx_fcfh_jwt_subject_ok(const char *s, size_t len)
{
    size_t   i;
    uint8_t  c;

    if (len > NGX_FCFH_JWT_MAX_SUBJECT) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (uint8_t) s[i];

        if (c < 0x20 || c == 0x7f) {
            return 0;
        }
    }

    return 1;
}


int
ngx_fcfh_jwt_issue(const uint8_t *secret, size_t secret_len,
    const char *guid, const char *subject, size_t subject_len, time_t now,
    time_t lifetime, char *out, size_t size)
{
    int     rc;
    char   *token, dev[NGX_FCFH_JWT_GUID_LEN + 1];
    char    sub[NGX_FCFH_JWT_MAX_SUBJECT + 1];
    jwt_t  *jwt;
    size_t  n;

    if (secret_len < NGX_FCFH_JWT_MIN_SECRET
        || secret_len > NGX_FCFH_JWT_MAX_SECRET)
    {
        return NGX_FCFH_JWT_ERR_SECRET;
    }

    if (subject != NULL) {
        if (!ngx_fcfh_jwt_subject_ok(subject, subject_len)
            || memchr(subject, '\0', subject_len) != NULL)
        {
            return NGX_FCFH_JWT_ERR_SUBJECT;
        }

        memcpy(sub, subject, subject_len);
        sub[subject_len] = '\0';
    }

    memcpy(dev, guid, NGX_FCFH_JWT_GUID_LEN);
    dev[NGX_FCFH_JWT_GUID_LEN] = '\0';

    if (strlen(dev) != NGX_FCFH_JWT_GUID_LEN) {
        return NGX_FCFH_JWT_ERR_DEVICE_ID;
    }

    if (jwt_new(&jwt) != 0) {
        return NGX_FCFH_JWT_ERR_NOMEM;
    }

    rc = NGX_FCFH_JWT_ERR_NOMEM;
    token = NULL;

    if (jwt_add_grant(jwt, "deviceId", dev) != 0
        || jwt_add_grant_int(jwt, "iat", (long) now) != 0
        || jwt_add_grant_int(jwt, "exp", (long) (now + lifetime)) != 0)
    {
        goto done;
    }

    /* jansson takes only UTF-8: another user name cannot be a claim */
    if (subject != NULL && jwt_add_grant(jwt, "sub", sub) != 0) {
        rc = NGX_FCFH_JWT_ERR_SUBJECT;
        goto done;
    }

    if (jwt_set_alg(jwt, JWT_ALG_HS256, secret, (int) secret_len) != 0) {
        goto done;
    }

    token = jwt_encode_str(jwt);
    if (token == NULL) {
        goto done;
    }

    n = strlen(token);

    if (n >= size) {
        rc = NGX_FCFH_JWT_ERR_SIZE;
        goto done;
    }

    memcpy(out, token, n + 1);
    rc = (int) n;

done:

    free(token);
    jwt_free(jwt);

    return rc;
}


const char *
ngx_fcfh_jwt_reason(int rc)
{
    if (rc > 0 || rc < NGX_FCFH_JWT_ERR_LAST) {
        return "unknown";
    }

    return ngx_fcfh_jwt_reasons[-rc];
}
