
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Unit tests of the output escapers (cmocka): whatever bytes come in,
 * JSON stays valid UTF-8 JSON, log views stay printable and distinct,
 * Prometheus label values stay parseable.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_fcfh_escape.h"


#define V(lit)  (const uint8_t *) (lit), sizeof(lit) - 1


static char  out[4096];


static const char *
json(const uint8_t *src, size_t len)
{
    uint8_t  *end;

    end = ngx_fcfh_escape_json((uint8_t *) out, src, len);
    assert_true((size_t) (end - (uint8_t *) out)
                <= NGX_FCFH_ESCAPE_JSON_MAX * len);
    *end = '\0';

    return out;
}


static const char *
prom(const uint8_t *src, size_t len)
{
    uint8_t  *end;

    end = ngx_fcfh_escape_prom((uint8_t *) out, src, len);
    assert_true((size_t) (end - (uint8_t *) out)
                <= NGX_FCFH_ESCAPE_PROM_MAX * len);
    *end = '\0';

    return out;
}


static const char *
logv(size_t size, const uint8_t *src, size_t len)
{
    size_t  n;

    memset(out, 'Z', sizeof(out));
    n = ngx_fcfh_escape_log((uint8_t *) out, size, src, len);
    assert_true(n <= size);
    /* nothing written past the limit */
    assert_int_equal(out[size], 'Z');
    out[n] = '\0';

    return out;
}


static void
test_utf8_len(void **state)
{
    assert_int_equal(ngx_fcfh_utf8_len(V("a")), 1);
    assert_int_equal(ngx_fcfh_utf8_len(V("\xc3\xa9")), 2);
    assert_int_equal(ngx_fcfh_utf8_len(V("\xe2\x82\xac")), 3);
    assert_int_equal(ngx_fcfh_utf8_len(V("\xf0\x9f\x98\x80")), 4);
    assert_int_equal(ngx_fcfh_utf8_len(V("\xf4\x8f\xbf\xbf")), 4);

    /* overlong, surrogate, too large, truncated, stray continuation */
    assert_int_equal(ngx_fcfh_utf8_len(V("\xc0\xaf")), 0);
    assert_int_equal(ngx_fcfh_utf8_len(V("\xc1\xbf")), 0);
    assert_int_equal(ngx_fcfh_utf8_len(V("\xe0\x80\xaf")), 0);
    assert_int_equal(ngx_fcfh_utf8_len(V("\xed\xa0\x80")), 0);
    assert_int_equal(ngx_fcfh_utf8_len(V("\xf0\x80\x80\xaf")), 0);
    assert_int_equal(ngx_fcfh_utf8_len(V("\xf4\x90\x80\x80")), 0);
    assert_int_equal(ngx_fcfh_utf8_len(V("\xf5\x80\x80\x80")), 0);
    assert_int_equal(ngx_fcfh_utf8_len(V("\xe2\x82")), 0);
    assert_int_equal(ngx_fcfh_utf8_len(V("\x80")), 0);
    assert_int_equal(ngx_fcfh_utf8_len(V("\xff")), 0);
    assert_int_equal(ngx_fcfh_utf8_len((const uint8_t *) "", 0), 0);
}


static void
test_json(void **state)
{
    assert_string_equal(json(V("dev1.example.test")), "dev1.example.test");
    assert_string_equal(json(V("a\"b\\c")), "a\\\"b\\\\c");
    assert_string_equal(json(V("\r\n\x1b[31m\x00\x7f")),
                        "\\u000d\\u000a\\u001b[31m\\u0000\\u007f");
    /* valid UTF-8 kept, 4-byte sequences too */
    assert_string_equal(json(V("caf\xc3\xa9 \xf0\x9f\x98\x80")),
                        "caf\xc3\xa9 \xf0\x9f\x98\x80");
    /* each byte of an invalid sequence replaced */
    assert_string_equal(json(V("\xff\xfe\xc3")),
                        "\\ufffd\\ufffd\\ufffd");
    assert_string_equal(json(V("\xed\xa0\x80x")),
                        "\\ufffd\\ufffd\\ufffdx");
    assert_string_equal(json(V("\xf0\x9f\x98")), "\\ufffd\\ufffd\\ufffd");
}


static void
test_json_every_byte(void **state)
{
    size_t    i, n;
    uint8_t   in[256];
    uint8_t  *end;

    for (i = 0; i < 256; i++) {
        in[i] = (uint8_t) i;
    }

    end = ngx_fcfh_escape_json((uint8_t *) out, in, 256);
    n = end - (uint8_t *) out;

    assert_true(n <= 6 * 256);

    /* no raw control byte and valid UTF-8 throughout */
    for (i = 0; i < n; ) {
        assert_true((uint8_t) out[i] >= 0x20 && (uint8_t) out[i] != 0x7f);
        assert_true(ngx_fcfh_utf8_len((uint8_t *) out + i, n - i) > 0);
        i += ngx_fcfh_utf8_len((uint8_t *) out + i, n - i);
    }
}


static void
test_log(void **state)
{
    assert_string_equal(logv(64, V("dev1")), "dev1");
    assert_string_equal(logv(64, V("a\r\nb")), "a\\x0d\\x0ab");
    assert_string_equal(logv(64, V("\x1b[2J\"\\")), "\\x1b[2J\\\"\\\\");
    assert_string_equal(logv(64, V("\xc3\xa9")), "\\xc3\\xa9");

    /* distinct inputs stay distinct: "?" is not what a CR becomes */
    assert_string_equal(logv(64, V("a?")), "a?");
    assert_string_equal(logv(64, V("a\x01")), "a\\x01");

    /* cut: whole escapes, then "...", never past size */
    assert_string_equal(logv(5, V("abcde")), "abcde");
    assert_string_equal(logv(5, V("abcdef")), "ab...");
    assert_string_equal(logv(6, V("a\r\nb")), "a...");
    assert_string_equal(logv(2, V("abc")), "");
    assert_string_equal(logv(3, V("abcd")), "...");
    assert_string_equal(logv(0, V("abcd")), "");
}


static void
test_prom(void **state)
{
    assert_string_equal(prom(V("gw-1")), "gw-1");
    assert_string_equal(prom(V("a\"b\\c\nd")), "a\\\"b\\\\c\\nd");
    assert_string_equal(prom(V("\r\x1b")), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(prom(V("\xff" "ok")), "\xef\xbf\xbdok");
    assert_string_equal(prom(V("\xc3\xa9")), "\xc3\xa9");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_utf8_len),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_every_byte),
        cmocka_unit_test(test_log),
        cmocka_unit_test(test_prom),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
