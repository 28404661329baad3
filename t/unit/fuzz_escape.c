
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * libFuzzer target for the output escapers:
 *
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -I ngx_fcfh_module t/unit/fuzz_escape.c \
 *       ngx_fcfh_module/ngx_fcfh_escape.c -o /tmp/fuzz_escape
 *
 * Whatever the input: JSON output stays within its bound, is valid UTF-8
 * with no control byte, no unescaped quote and no lone backslash; a log
 * view is printable ASCII within its size, and the same input gives the
 * same view; a Prometheus label value is valid UTF-8 with no raw quote,
 * LF or control byte.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_fcfh_escape.h"
#include "fuzz.h"


static void check_utf8(const uint8_t *p, size_t n);
static void check_escaped(const uint8_t *p, size_t n, const char *valid);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t    n, m, cut;
    uint8_t  *out, *end;

    /* room for two log views side by side, too */
    out = malloc(2 * NGX_FCFH_ESCAPE_JSON_MAX * size + 8);
    CHECK(out != NULL);

    end = ngx_fcfh_escape_json(out, data, size);
    n = end - out;
    CHECK(n <= NGX_FCFH_ESCAPE_JSON_MAX * size);
    check_utf8(out, n);
    check_escaped(out, n, "\"\\/bfnrtu");

    end = ngx_fcfh_escape_prom(out, data, size);
    n = end - out;
    CHECK(n <= NGX_FCFH_ESCAPE_PROM_MAX * size);
    check_utf8(out, n);
    check_escaped(out, n, "\"\\n");

    /* every cut size, up to a little past the whole view */
    for (cut = 0; cut <= NGX_FCFH_ESCAPE_LOG_MAX * size + 1 && cut < 4096;
         cut += (cut < 64 ? 1 : 61))
    {
        n = ngx_fcfh_escape_log(out, cut, data, size);
        CHECK(n <= cut);

        for (m = 0; m < n; m++) {
            CHECK(out[m] >= 0x20 && out[m] <= 0x7e);
        }

        CHECK(ngx_fcfh_escape_log(out + n, cut, data, size) == n);
        CHECK(memcmp(out, out + n, n) == 0);
    }

    free(out);

    return 0;
}


static void
check_utf8(const uint8_t *p, size_t n)
{
    size_t  i, len;

    for (i = 0; i < n; i += len) {
        CHECK(p[i] >= 0x20 && p[i] != 0x7f);
        len = ngx_fcfh_utf8_len(p + i, n - i);
        CHECK(len > 0);
    }
}


/* every backslash starts an escape the format has; no raw quote */

static void
check_escaped(const uint8_t *p, size_t n, const char *valid)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        CHECK(p[i] != '"');
        CHECK(p[i] != '\n');

        if (p[i] == '\\') {
            CHECK(i + 1 < n && strchr(valid, p[i + 1]) != NULL);
            i++;
        }
    }
}
