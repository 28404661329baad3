
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Device-scoped console tokens: HS256 JSON Web Tokens (RFC 7519) as Open
 * AMT's MPS issues them for its web UI, verified and issued with libjwt.
 *
 * Pure C99 and libjwt: no nginx headers, no I/O.  libjwt allocates with
 * malloc() and frees before every function here returns.
 *
 * A token is accepted only when
 *   - it is at most NGX_FCFH_JWT_MAX_TOKEN bytes of base64url in three
 *     non-empty parts,
 *   - its header says "alg":"HS256" (never "none", HS384/512, RS*, ES*),
 *   - its signature is the HMAC-SHA256 of the first two parts with the
 *     secret,
 *   - "exp" is an integer and now < exp + NGX_FCFH_JWT_LEEWAY, and "nbf",
 *     if present, is before now + NGX_FCFH_JWT_LEEWAY,
 *   - "deviceId" is a string equal to the device's GUID (case-insensitive),
 *   - "sub" (or, without it, "user"), if present, is a printable string of
 *     at most NGX_FCFH_JWT_MAX_SUBJECT bytes: the console user for audit.
 *
 * The reasons (ngx_fcfh_jwt_reason()) are fixed texts for logs: they never
 * contain the token or anything taken from it.
 */


#ifndef _NGX_FCFH_JWT_H_INCLUDED_
#define _NGX_FCFH_JWT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>


#define NGX_FCFH_JWT_MAX_TOKEN       4096
#define NGX_FCFH_JWT_MIN_SECRET      32     /* RFC 7518 3.2: 256 bits */
#define NGX_FCFH_JWT_MAX_SECRET      4096
#define NGX_FCFH_JWT_MAX_SUBJECT     128
#define NGX_FCFH_JWT_GUID_LEN        36

/* clock difference tolerated between the issuer and the gateway, s */
#define NGX_FCFH_JWT_LEEWAY          30


#define NGX_FCFH_JWT_OK               0
#define NGX_FCFH_JWT_ERR_EMPTY       -1
#define NGX_FCFH_JWT_ERR_SIZE        -2
#define NGX_FCFH_JWT_ERR_FORMAT      -3
#define NGX_FCFH_JWT_ERR_MALFORMED   -4
#define NGX_FCFH_JWT_ERR_ALG_NONE    -5
#define NGX_FCFH_JWT_ERR_ALG         -6
#define NGX_FCFH_JWT_ERR_SIGNATURE   -7
#define NGX_FCFH_JWT_ERR_EXP         -8
#define NGX_FCFH_JWT_ERR_EXPIRED     -9
#define NGX_FCFH_JWT_ERR_NBF         -10
#define NGX_FCFH_JWT_ERR_DEVICE_ID   -11
#define NGX_FCFH_JWT_ERR_DEVICE      -12
#define NGX_FCFH_JWT_ERR_SUBJECT     -13
#define NGX_FCFH_JWT_ERR_SECRET      -14
#define NGX_FCFH_JWT_ERR_NOMEM       -15
#define NGX_FCFH_JWT_ERR_LAST        -15


typedef struct {
    long                          exp;
    size_t                        subject_len;   /* 0: no user claim */
    char                          subject[NGX_FCFH_JWT_MAX_SUBJECT + 1];
} ngx_fcfh_jwt_claims_t;


/*
 * NGX_FCFH_JWT_OK and the claims, or a negative NGX_FCFH_JWT_ERR_*.
 * guid: the device's GUID as text (36 characters, any case): the one the
 * console named, or the one its name resolved to.
 */
int ngx_fcfh_jwt_verify(const uint8_t *token, size_t len,
    const uint8_t *secret, size_t secret_len, const char *guid, time_t now,
    ngx_fcfh_jwt_claims_t *claims);

/*
 * A token for the device: the length written to out (NUL-terminated, so
 * size must exceed it), or a negative NGX_FCFH_JWT_ERR_*.  subject may be
 * NULL; otherwise it must be printable and at most
 * NGX_FCFH_JWT_MAX_SUBJECT bytes (NGX_FCFH_JWT_ERR_SUBJECT).
 */
int ngx_fcfh_jwt_issue(const uint8_t *secret, size_t secret_len,
    const char *guid, const char *subject, size_t subject_len, time_t now,
    time_t lifetime, char *out, size_t size);

/* a fixed text for logs and answers */
const char *ngx_fcfh_jwt_reason(int rc);


#endif /* _NGX_FCFH_JWT_H_INCLUDED_ */
