
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Unit tests of the webhook signatures (cmocka): the Standard Webhooks
 * specification's own test vector, and the secrets a subscriber may be
 * given.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_fcfh_webhook_sign.h"


#define S(s)  (const uint8_t *) (s), strlen(s)


/* from the specification's reference libraries */
static const char  *vector_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const char  *vector_id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
static const char  *vector_body = "{\"test\": 2432232314}";
static const char  *vector_signature =
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";


static void
test_vector(void **state)
{
    ssize_t  n, k;
    uint8_t  key[NGX_FCFH_WEBHOOK_KEY_MAX];
    char     sig[NGX_FCFH_WEBHOOK_SIGNATURE_LEN];

    k = ngx_fcfh_webhook_secret_parse(S(vector_secret), key);
    assert_int_equal(k, 24);

    n = ngx_fcfh_webhook_sign(key, (size_t) k, S(vector_id), 1614265330,
                              S(vector_body), sig);

    assert_int_equal(n, strlen(vector_signature));
    assert_string_equal(sig, vector_signature);
}


static void
test_tampered(void **state)
{
    ssize_t  k;
    uint8_t  key[NGX_FCFH_WEBHOOK_KEY_MAX];
    char     sig[NGX_FCFH_WEBHOOK_SIGNATURE_LEN];

    k = ngx_fcfh_webhook_secret_parse(S(vector_secret), key);
    assert_int_equal(k, 24);

    /* each part of the signed content counts */

    assert_true(ngx_fcfh_webhook_sign(key, (size_t) k, S(vector_id),
                                      1614265331, S(vector_body), sig) > 0);
    assert_string_not_equal(sig, vector_signature);

    assert_true(ngx_fcfh_webhook_sign(key, (size_t) k,
                                      S("msg_p5jXN8AQM9LWM0D4loKWxJeK"),
                                      1614265330, S(vector_body), sig) > 0);
    assert_string_not_equal(sig, vector_signature);

    assert_true(ngx_fcfh_webhook_sign(key, (size_t) k, S(vector_id),
                                      1614265330,
                                      S("{\"test\": 2432232315}"), sig) > 0);
    assert_string_not_equal(sig, vector_signature);

    key[0] ^= 1;
    assert_true(ngx_fcfh_webhook_sign(key, (size_t) k, S(vector_id),
                                      1614265330, S(vector_body), sig) > 0);
    assert_string_not_equal(sig, vector_signature);
}


static void
test_secret_forms(void **state)
{
    ssize_t  k, n;
    uint8_t  key[NGX_FCFH_WEBHOOK_KEY_MAX], key2[NGX_FCFH_WEBHOOK_KEY_MAX];
    char     text[NGX_FCFH_WEBHOOK_SECRET_LEN];

    /* without the prefix, as the libraries take it too */
    k = ngx_fcfh_webhook_secret_parse(S("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                                      key);
    assert_int_equal(k, 24);

    /* formatted back, the same text */
    n = ngx_fcfh_webhook_secret_format(key, (size_t) k, text);
    assert_int_equal(n, strlen(vector_secret));
    assert_string_equal(text, vector_secret);

    /* the longest key: 64 bytes, 88 characters */
    memset(key, 0xa5, 64);
    n = ngx_fcfh_webhook_secret_format(key, 64, text);
    assert_int_equal(n, 6 + 88);
    assert_int_equal(strlen(text), 6 + 88);
    assert_true((size_t) n < NGX_FCFH_WEBHOOK_SECRET_LEN);

    k = ngx_fcfh_webhook_secret_parse((uint8_t *) text, (size_t) n, key2);
    assert_int_equal(k, 64);
    assert_memory_equal(key, key2, 64);

    /* the size the gateway makes */
    memset(key, 0x5a, NGX_FCFH_WEBHOOK_KEY_SIZE);
    n = ngx_fcfh_webhook_secret_format(key, NGX_FCFH_WEBHOOK_KEY_SIZE, text);
    assert_int_equal(n, 6 + 44);
    k = ngx_fcfh_webhook_secret_parse((uint8_t *) text, (size_t) n, key2);
    assert_int_equal(k, NGX_FCFH_WEBHOOK_KEY_SIZE);

    /* out of range keys are not formatted */
    assert_int_equal(ngx_fcfh_webhook_secret_format(key, 23, text), -1);
    assert_int_equal(ngx_fcfh_webhook_secret_format(key, 65, text), -1);
}


static void
test_secret_refused(void **state)
{
    size_t       i;
    uint8_t      key[NGX_FCFH_WEBHOOK_KEY_MAX];
    char         big[200];

    static const char  *bad[] = {
        "",
        "whsec_",
        /* 23 bytes: too short a key */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLQ==",
        /* not base64 */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",
        "whsec_MfKQ9r8GKYqrTwjUPD8I LPZIo2LaLaSw",
        /* unpadded */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAB",
        /* base64url is not the specification's alphabet */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa_w",
        /* the prefix twice */
        "whsec_whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ngx_fcfh_webhook_secret_parse(S(bad[i]), key), -1);
    }

    /* over 64 bytes: refused, and key is never written past its end */
    memset(big, 'A', sizeof(big));
    memcpy(big, "whsec_", 6);
    assert_int_equal(ngx_fcfh_webhook_secret_parse((uint8_t *) big, 6 + 88,
                                                   key),
                     -1);
    assert_int_equal(ngx_fcfh_webhook_secret_parse((uint8_t *) big, 6 + 92,
                                                   key),
                     -1);
    assert_int_equal(ngx_fcfh_webhook_secret_parse((uint8_t *) big,
                                                   sizeof(big), key),
                     -1);
}


static void
test_sign_bounds(void **state)
{
    uint8_t   key[NGX_FCFH_WEBHOOK_KEY_MAX];
    char      sig[NGX_FCFH_WEBHOOK_SIGNATURE_LEN];
    uint8_t  *body;

    memset(key, 1, sizeof(key));

    body = calloc(1, NGX_FCFH_WEBHOOK_BODY_MAX + 1);
    assert_non_null(body);

    assert_int_equal(ngx_fcfh_webhook_sign(key, 32, S("id"), 1, body,
                                           NGX_FCFH_WEBHOOK_BODY_MAX, sig),
                     47);
    assert_int_equal(ngx_fcfh_webhook_sign(key, 32, S("id"), 1, body,
                                           NGX_FCFH_WEBHOOK_BODY_MAX + 1,
                                           sig),
                     -1);
    assert_int_equal(ngx_fcfh_webhook_sign(key, 32, body,
                                           NGX_FCFH_WEBHOOK_ID_MAX + 1, 1,
                                           S("{}"), sig),
                     -1);
    assert_int_equal(ngx_fcfh_webhook_sign(key, 23, S("id"), 1, S("{}"),
                                           sig),
                     -1);
    assert_int_equal(ngx_fcfh_webhook_sign(key, 65, S("id"), 1, S("{}"),
                                           sig),
                     -1);

    /* the largest timestamp fits */
    assert_int_equal(ngx_fcfh_webhook_sign(key, 64, S("id"), UINT64_MAX,
                                           S("{}"), sig),
                     47);

    free(body);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_vector),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_secret_forms),
        cmocka_unit_test(test_secret_refused),
        cmocka_unit_test(test_sign_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
