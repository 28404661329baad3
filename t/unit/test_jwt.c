
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Unit tests of the console tokens (cmocka): what ngx_fcfh_jwt_verify()
 * accepts and refuses, and that what ngx_fcfh_jwt_issue() writes is a
 * token it accepts for that device only.  Tokens other than the issued
 * ones are built here from their JSON with OpenSSL's HMAC, so that every
 * header and claim can be what a hostile console would send.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_fcfh_jwt.h"


#define SECRET  "0123456789abcdef0123456789abcdef-test-secret"
#define GUID    "12345678-9abc-def0-1234-56789abcdef0"
#define OTHER   "12345678-9abc-def0-1234-56789abcdef1"
#define NOW     1700000000L

#define HS256   "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"


static char  tok[8192];


static size_t
b64url(const void *in, size_t len, char *out)
{
    int     n;
    size_t  i, j;

    n = EVP_EncodeBlock((unsigned char *) out, in, (int) len);

    for (i = 0, j = 0; i < (size_t) n; i++) {
        switch (out[i]) {
        case '+':
            out[j++] = '-';
            break;
        case '/':
            out[j++] = '_';
            break;
        case '=':
            break;
        default:
            out[j++] = out[i];
        }
    }

    out[j] = '\0';

    return j;
}


/* header.payload.signature; md NULL: no signature */

static const char *
make(const char *header, const char *payload, const EVP_MD *md,
    const char *secret)
{
    size_t         n;
    unsigned int   mlen;
    unsigned char  mac[EVP_MAX_MD_SIZE];

    n = b64url(header, strlen(header), tok);
    tok[n++] = '.';
    n += b64url(payload, strlen(payload), tok + n);

    if (md) {
        HMAC(md, secret, (int) strlen(secret), (unsigned char *) tok, n,
             mac, &mlen);
        tok[n++] = '.';
        b64url(mac, mlen, tok + n);

    } else {
        tok[n++] = '.';
        tok[n] = '\0';
    }

    return tok;
}


static const char *
payload(const char *device, long exp, const char *extra)
{
    static char  buf[4096];

    snprintf(buf, sizeof(buf), "{\"deviceId\":\"%s\",\"exp\":%ld%s}",
             device, exp, extra ? extra : "");

    return buf;
}


static int
verify(const char *token, const char *guid, ngx_fcfh_jwt_claims_t *c)
{
    return ngx_fcfh_jwt_verify((const uint8_t *) token, strlen(token),
                               (const uint8_t *) SECRET, strlen(SECRET),
                               guid, NOW, c);
}


static void
test_good(void **state)
{
    ngx_fcfh_jwt_claims_t  c;

    make(HS256, payload(GUID, NOW + 300, NULL), EVP_sha256(), SECRET);

    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_OK);
    assert_int_equal(c.exp, NOW + 300);
    assert_int_equal(c.subject_len, 0);

    /* GUIDs compare without case, both ways */
    assert_int_equal(verify(tok, "12345678-9ABC-DEF0-1234-56789ABCDEF0", &c),
                     NGX_FCFH_JWT_OK);

    make(HS256, payload("12345678-9ABC-DEF0-1234-56789ABCDEF0", NOW + 300,
                        NULL),
         EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_OK);

    /* no typ, as some issuers write it */
    make("{\"alg\":\"HS256\"}", payload(GUID, NOW + 300, NULL), EVP_sha256(),
         SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_OK);
}


static void
test_subject(void **state)
{
    char                   big[512];
    ngx_fcfh_jwt_claims_t  c;

    make(HS256, payload(GUID, NOW + 300, ",\"sub\":\"alice\",\"user\":\"bob\""),
         EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_OK);
    assert_string_equal(c.subject, "alice");
    assert_int_equal(c.subject_len, 5);

    make(HS256, payload(GUID, NOW + 300, ",\"user\":\"bob\",\"tenantId\":\"\""),
         EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_OK);
    assert_string_equal(c.subject, "bob");

    /* a control character, or longer than 128 bytes */
    make(HS256, payload(GUID, NOW + 300, ",\"sub\":\"a\\nb\""), EVP_sha256(),
         SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_SUBJECT);

    memset(big, 'u', 129);
    strcpy(big + 129, "\"");
    {
        char  extra[600];

        snprintf(extra, sizeof(extra), ",\"sub\":\"%s", big);
        make(HS256, payload(GUID, NOW + 300, extra), EVP_sha256(), SECRET);
        assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_SUBJECT);

        big[128] = '"';
        big[129] = '\0';
        snprintf(extra, sizeof(extra), ",\"sub\":\"%s", big);
        make(HS256, payload(GUID, NOW + 300, extra), EVP_sha256(), SECRET);
        assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_OK);
        assert_int_equal(c.subject_len, 128);
    }

    /* a sub that is not a string is no subject */
    make(HS256, payload(GUID, NOW + 300, ",\"sub\":42"), EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_OK);
    assert_int_equal(c.subject_len, 0);
}


static void
test_expired(void **state)
{
    ngx_fcfh_jwt_claims_t  c;

    make(HS256, payload(GUID, NOW - 3600, NULL), EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_EXPIRED);

    /* the leeway, to the second */
    make(HS256, payload(GUID, NOW - NGX_FCFH_JWT_LEEWAY, NULL), EVP_sha256(),
         SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_EXPIRED);

    make(HS256, payload(GUID, NOW - NGX_FCFH_JWT_LEEWAY + 1, NULL),
         EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_OK);

    /* not valid yet */
    make(HS256, payload(GUID, NOW + 300, ",\"nbf\":1800000000"), EVP_sha256(),
         SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_NBF);

    make(HS256, payload(GUID, NOW + 300, ",\"nbf\":1700000010"), EVP_sha256(),
         SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_OK);
}


static void
test_other_device(void **state)
{
    ngx_fcfh_jwt_claims_t  c;

    make(HS256, payload(OTHER, NOW + 300, NULL), EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_DEVICE);

    /* a prefix or a longer string is another device too */
    make(HS256, payload("12345678-9abc-def0-1234-56789abcdef", NOW + 300,
                        NULL),
         EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_DEVICE);

    make(HS256, payload(GUID "0", NOW + 300, NULL), EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_DEVICE);

    make(HS256, payload("", NOW + 300, NULL), EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_DEVICE);
}


static void
test_alg_none(void **state)
{
    ngx_fcfh_jwt_claims_t  c;

    /* unsigned, with and without a signature part */
    make("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload(GUID, NOW + 300, NULL),
         NULL, NULL);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_ALG_NONE);

    make("{\"alg\":\"none\"}", payload(GUID, NOW + 300, NULL), EVP_sha256(),
         SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_ALG_NONE);

    /* other spellings are no algorithm libjwt knows */
    make("{\"alg\":\"None\"}", payload(GUID, NOW + 300, NULL), NULL, NULL);
    assert_int_not_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_OK);

    /* no alg at all */
    make("{\"typ\":\"JWT\"}", payload(GUID, NOW + 300, NULL), EVP_sha256(),
         SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_MALFORMED);

    /* HS256 with the signature left out */
    make(HS256, payload(GUID, NOW + 300, NULL), NULL, NULL);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_SIGNATURE);
}


static void
test_other_alg(void **state)
{
    ngx_fcfh_jwt_claims_t  c;

    /* HS512 and HS384 signed with the right secret: refused all the same */
    make("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload(GUID, NOW + 300, NULL),
         EVP_sha512(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_ALG);

    make("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", payload(GUID, NOW + 300, NULL),
         EVP_sha384(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_ALG);

    /* RS256 with an HMAC of the secret as "signature" (key confusion) */
    make("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload(GUID, NOW + 300, NULL),
         EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_ALG);

    make("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", payload(GUID, NOW + 300, NULL),
         EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_ALG);

    /* an HS256 header with a typ other than JWT */
    make("{\"alg\":\"HS256\",\"typ\":\"JOSE+x\"}",
         payload(GUID, NOW + 300, NULL), EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_MALFORMED);
}


static void
test_tampered(void **state)
{
    char                   *dot, copy[8192];
    const char             *other;
    ngx_fcfh_jwt_claims_t   c;

    /* another secret */
    make(HS256, payload(GUID, NOW + 300, NULL), EVP_sha256(),
         "another secret, long enough, really long");
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_SIGNATURE);

    /* the payload of another device with the signature of this one */
    make(HS256, payload(GUID, NOW + 300, NULL), EVP_sha256(), SECRET);
    strcpy(copy, tok);
    dot = strrchr(copy, '.');

    other = make(HS256, payload(OTHER, NOW + 300, NULL), EVP_sha256(), SECRET);
    (void) other;
    strcpy(strrchr(tok, '.'), dot);
    assert_int_equal(verify(tok, OTHER, &c), NGX_FCFH_JWT_ERR_SIGNATURE);

    /* one character of the signature changed */
    strcpy(tok, copy);
    dot = strrchr(tok, '.');
    dot[5] = (dot[5] == 'A') ? 'B' : 'A';
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_SIGNATURE);

    /* the signature cut short, or one character longer */
    strcpy(tok, copy);
    tok[strlen(tok) - 1] = '\0';
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_SIGNATURE);

    strcpy(tok, copy);
    strcat(tok, "A");
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_SIGNATURE);

    /* a payload character changed */
    strcpy(tok, copy);
    dot = strchr(tok, '.');
    dot[3] = (dot[3] == 'x') ? 'y' : 'x';
    assert_int_not_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_OK);

    /* the good one still passes */
    assert_int_equal(verify(copy, GUID, &c), NGX_FCFH_JWT_OK);
}


static void
test_missing_claims(void **state)
{
    ngx_fcfh_jwt_claims_t  c;

    make(HS256, "{\"deviceId\":\"" GUID "\"}", EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_EXP);

    make(HS256, "{\"deviceId\":\"" GUID "\",\"exp\":\"1800000000\"}",
         EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_EXP);

    make(HS256, "{\"deviceId\":\"" GUID "\",\"exp\":1.8e9}", EVP_sha256(),
         SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_EXP);

    make(HS256, "{\"deviceId\":\"" GUID "\",\"exp\":-5}", EVP_sha256(),
         SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_EXP);

    make(HS256, "{\"exp\":1800000000}", EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_DEVICE_ID);

    make(HS256, "{\"deviceId\":7,\"exp\":1800000000}", EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_DEVICE_ID);

    make(HS256, "{\"deviceid\":\"" GUID "\",\"exp\":1800000000}",
         EVP_sha256(), SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_DEVICE_ID);

    /* a payload that is no object */
    make(HS256, "[1,2]", EVP_sha256(), SECRET);
    assert_int_not_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_OK);
}


static void
test_garbage(void **state)
{
    char                   long_tok[NGX_FCFH_JWT_MAX_TOKEN + 2];
    ngx_fcfh_jwt_claims_t  c;

    assert_int_equal(verify("", GUID, &c), NGX_FCFH_JWT_ERR_EMPTY);
    assert_int_equal(verify("abc", GUID, &c), NGX_FCFH_JWT_ERR_FORMAT);
    assert_int_equal(verify("a.b", GUID, &c), NGX_FCFH_JWT_ERR_FORMAT);
    assert_int_equal(verify("a.b.c.d", GUID, &c), NGX_FCFH_JWT_ERR_FORMAT);
    assert_int_equal(verify(".b.c", GUID, &c), NGX_FCFH_JWT_ERR_FORMAT);
    assert_int_equal(verify("a..c", GUID, &c), NGX_FCFH_JWT_ERR_FORMAT);
    assert_int_equal(verify("a.b.c=", GUID, &c), NGX_FCFH_JWT_ERR_FORMAT);
    assert_int_equal(verify("a b.c.d", GUID, &c), NGX_FCFH_JWT_ERR_FORMAT);
    assert_int_equal(verify("a+b.c.d", GUID, &c), NGX_FCFH_JWT_ERR_FORMAT);
    assert_int_equal(verify("x.y.z", GUID, &c), NGX_FCFH_JWT_ERR_MALFORMED);
    assert_int_equal(verify("Bearer x.y.z", GUID, &c),
                     NGX_FCFH_JWT_ERR_FORMAT);

    /* a NUL inside: the length counts, not the C string */
    make(HS256, payload(GUID, NOW + 300, NULL), EVP_sha256(), SECRET);
    {
        char    withnul[8192];
        size_t  n;

        n = strlen(tok);
        memcpy(withnul, tok, n);
        withnul[n] = '\0';
        memcpy(withnul + n + 1, "xx", 2);
        assert_int_equal(ngx_fcfh_jwt_verify((uint8_t *) withnul, n + 3,
                                             (uint8_t *) SECRET,
                                             strlen(SECRET), GUID, NOW, &c),
                         NGX_FCFH_JWT_ERR_FORMAT);
    }

    /* the JSON of the header is not JSON */
    make("{\"alg\":\"HS256\"", payload(GUID, NOW + 300, NULL), EVP_sha256(),
         SECRET);
    assert_int_equal(verify(tok, GUID, &c), NGX_FCFH_JWT_ERR_MALFORMED);

    memset(long_tok, 'a', sizeof(long_tok) - 1);
    long_tok[10] = '.';
    long_tok[20] = '.';
    long_tok[NGX_FCFH_JWT_MAX_TOKEN + 1] = '\0';
    assert_int_equal(verify(long_tok, GUID, &c), NGX_FCFH_JWT_ERR_SIZE);

    long_tok[NGX_FCFH_JWT_MAX_TOKEN] = '\0';
    assert_int_equal(verify(long_tok, GUID, &c), NGX_FCFH_JWT_ERR_MALFORMED);
}


static void
test_secret(void **state)
{
    ngx_fcfh_jwt_claims_t  c;

    make(HS256, payload(GUID, NOW + 300, NULL), EVP_sha256(), "short");
    assert_int_equal(ngx_fcfh_jwt_verify((uint8_t *) tok, strlen(tok),
                                         (uint8_t *) "short", 5, GUID, NOW,
                                         &c),
                     NGX_FCFH_JWT_ERR_SECRET);
    assert_int_equal(ngx_fcfh_jwt_issue((uint8_t *) "short", 5, GUID, NULL, 0,
                                        NOW, 300, tok, sizeof(tok)),
                     NGX_FCFH_JWT_ERR_SECRET);
}


static void
test_issue(void **state)
{
    int                    n;
    char                   out[1024];
    ngx_fcfh_jwt_claims_t  c;

    n = ngx_fcfh_jwt_issue((uint8_t *) SECRET, strlen(SECRET), GUID, "alice",
                           5, NOW, 300, out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal((size_t) n, strlen(out));

    assert_int_equal(ngx_fcfh_jwt_verify((uint8_t *) out, n,
                                         (uint8_t *) SECRET, strlen(SECRET),
                                         GUID, NOW, &c),
                     NGX_FCFH_JWT_OK);
    assert_int_equal(c.exp, NOW + 300);
    assert_string_equal(c.subject, "alice");

    /* that device only, not after its lifetime, not with another secret */
    assert_int_equal(ngx_fcfh_jwt_verify((uint8_t *) out, n,
                                         (uint8_t *) SECRET, strlen(SECRET),
                                         OTHER, NOW, &c),
                     NGX_FCFH_JWT_ERR_DEVICE);
    assert_int_equal(ngx_fcfh_jwt_verify((uint8_t *) out, n,
                                         (uint8_t *) SECRET, strlen(SECRET),
                                         GUID, NOW + 300 + NGX_FCFH_JWT_LEEWAY,
                                         &c),
                     NGX_FCFH_JWT_ERR_EXPIRED);
    assert_int_equal(ngx_fcfh_jwt_verify((uint8_t *) out, n,
                                         (uint8_t *) SECRET "x",
                                         strlen(SECRET) + 1, GUID, NOW, &c),
                     NGX_FCFH_JWT_ERR_SIGNATURE);

    /* no subject */
    n = ngx_fcfh_jwt_issue((uint8_t *) SECRET, strlen(SECRET), GUID, NULL, 0,
                           NOW, 60, out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal(ngx_fcfh_jwt_verify((uint8_t *) out, n,
                                         (uint8_t *) SECRET, strlen(SECRET),
                                         GUID, NOW, &c),
                     NGX_FCFH_JWT_OK);
    assert_int_equal(c.subject_len, 0);

    /* a user name that is no printable UTF-8 is not put in a token */
    assert_int_equal(ngx_fcfh_jwt_issue((uint8_t *) SECRET, strlen(SECRET),
                                        GUID, "a\001b", 3, NOW, 60, out,
                                        sizeof(out)),
                     NGX_FCFH_JWT_ERR_SUBJECT);
    assert_int_equal(ngx_fcfh_jwt_issue((uint8_t *) SECRET, strlen(SECRET),
                                        GUID, "a\xff" "b", 3, NOW, 60, out,
                                        sizeof(out)),
                     NGX_FCFH_JWT_ERR_SUBJECT);

    /* too small a buffer */
    assert_int_equal(ngx_fcfh_jwt_issue((uint8_t *) SECRET, strlen(SECRET),
                                        GUID, NULL, 0, NOW, 60, out, 32),
                     NGX_FCFH_JWT_ERR_SIZE);
}


static void
test_reasons(void **state)
{
    int  rc;

    for (rc = NGX_FCFH_JWT_OK; rc >= NGX_FCFH_JWT_ERR_LAST; rc--) {
        assert_non_null(ngx_fcfh_jwt_reason(rc));
        assert_string_not_equal(ngx_fcfh_jwt_reason(rc), "unknown");
    }

    assert_string_equal(ngx_fcfh_jwt_reason(NGX_FCFH_JWT_ERR_LAST - 1),
                        "unknown");
    assert_string_equal(ngx_fcfh_jwt_reason(1), "unknown");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_subject),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_other_device),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_other_alg),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_missing_claims),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_issue),
        cmocka_unit_test(test_reasons),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
