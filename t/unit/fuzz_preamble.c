
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * libFuzzer target for the relay preamble decoder:
 *
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -I ngx_fcfh_module t/unit/fuzz_preamble.c \
 *       ngx_fcfh_module/ngx_fcfh_preamble.c -lcrypto -o /tmp/fuzz_preamble
 *
 * Whatever the input, both decoders answer need-more, an error or the
 * whole size; a decoded preamble's console address lies inside it and
 * stops at the field's end; what the node decoder takes, written again,
 * decodes to the same fields, and only the worker decoder with the right
 * secret and owner takes what the encoder signed.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_fcfh_preamble.h"
#include "fuzz.h"


static void check(const uint8_t *buf, size_t len, ssize_t rc,
    const ngx_fcfh_preamble_t *pre);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ssize_t              rc;
    uint8_t              secret[NGX_FCFH_RELAY_SECRET_SIZE];
    uint8_t              again[NGX_FCFH_RELAY_PREAMBLE_SIZE];
    ngx_fcfh_preamble_t  pre, out;

    memset(secret, 0x5a, sizeof(secret));

    rc = ngx_fcfh_preamble_parse(data, size, &pre, secret, 7);
    check(data, size, rc, &pre);

    rc = ngx_fcfh_preamble_parse_node(data, size, &pre);
    check(data, size, rc, &pre);

    if (rc != NGX_FCFH_RELAY_PREAMBLE_SIZE) {
        return 0;
    }

    ngx_fcfh_preamble_write(again, &pre, secret, 7);

    CHECK(ngx_fcfh_preamble_parse(again, sizeof(again), &out, secret, 7)
          == NGX_FCFH_RELAY_PREAMBLE_SIZE);
    CHECK(ngx_fcfh_preamble_parse(again, sizeof(again), &out, secret, 8)
          == NGX_FCFH_PREAMBLE_ERR_MAC);
    CHECK(ngx_fcfh_preamble_parse_node(again, sizeof(again), &out)
          == NGX_FCFH_PREAMBLE_ERR_MAC);

    ngx_fcfh_preamble_parse(again, sizeof(again), &out, secret, 7);

    CHECK(out.op == pre.op && out.port == pre.port
          && out.serial == pre.serial
          && out.console_port == pre.console_port);
    CHECK(memcmp(out.guid, pre.guid, sizeof(pre.guid)) == 0);

    /* the encoder keeps at most a field's worth less its NUL */
    CHECK(out.console_len <= pre.console_len);
    CHECK(memcmp(out.console, pre.console, out.console_len) == 0);

    return 0;
}


static void
check(const uint8_t *buf, size_t len, ssize_t rc,
    const ngx_fcfh_preamble_t *pre)
{
    CHECK(rc == 0 || rc == NGX_FCFH_RELAY_PREAMBLE_SIZE
          || rc == NGX_FCFH_PREAMBLE_ERR_MAGIC
          || rc == NGX_FCFH_PREAMBLE_ERR_VERSION
          || rc == NGX_FCFH_PREAMBLE_ERR_OP
          || rc == NGX_FCFH_PREAMBLE_ERR_MAC);

    CHECK(ngx_fcfh_preamble_error(rc) != NULL);

    if (rc != NGX_FCFH_RELAY_PREAMBLE_SIZE) {
        return;
    }

    CHECK(len >= NGX_FCFH_RELAY_PREAMBLE_SIZE);
    CHECK(pre->console == buf + NGX_FCFH_RELAY_CONSOLE_OFF);
    CHECK(pre->console_len <= NGX_FCFH_RELAY_CONSOLE_SIZE);
    CHECK(pre->op >= NGX_FCFH_RELAY_OP_OPEN
          && pre->op <= NGX_FCFH_RELAY_OP_REPLACED);
}
