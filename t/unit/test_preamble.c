
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Unit tests of the relay preamble (cmocka): its layout, the MAC that
 * proves the sender knows this nginx's secret and meant this worker, and
 * the refusal of everything else (version 1, a wrong or missing MAC,
 * any changed bit):
 *
 *   cc -O2 -Wall -Wextra -Wpointer-arith -Wno-unused-parameter -Werror \
 *       -I ngx_fcfh_module t/unit/test_preamble.c \
 *       ngx_fcfh_module/ngx_fcfh_preamble.c -lcmocka -lcrypto
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_fcfh_preamble.h"


#define SIZE       NGX_FCFH_RELAY_PREAMBLE_SIZE
#define OWNER      4242
#define CONSOLE    "192.0.2.7"


static const uint8_t  guid_wire[16] = {
    0x44, 0x45, 0x4c, 0x4c, 0x4b, 0x00, 0x10, 0x42,
    0x80, 0x33, 0xb6, 0xc0, 0x4f, 0x50, 0x46, 0x33
};

/* secret 01 02 .. 20; MAC computed with Python's hmac module */
static const uint8_t  known_mac[32] = {
    0x05, 0x09, 0x67, 0x45, 0x1d, 0x83, 0xbe, 0x79,
    0xbd, 0xd6, 0x59, 0x65, 0xd2, 0xa9, 0xf4, 0xa8,
    0x70, 0x14, 0x65, 0xa8, 0x9f, 0xa0, 0x03, 0xb5,
    0xd2, 0x7b, 0xfa, 0xf2, 0xcb, 0x20, 0xde, 0x90
};


static uint8_t  secret[NGX_FCFH_RELAY_SECRET_SIZE];


static void
sample(ngx_fcfh_preamble_t *pre)
{
    memset(pre, 0, sizeof(ngx_fcfh_preamble_t));

    pre->op = NGX_FCFH_RELAY_OP_OPEN;
    pre->port = 16992;
    memcpy(pre->guid, guid_wire, sizeof(guid_wire));
    pre->serial = 0x0102030405060708ULL;
    pre->console_port = 54321;
    pre->console = (const uint8_t *) CONSOLE;
    pre->console_len = sizeof(CONSOLE) - 1;
}


static int
setup(void **state)
{
    unsigned  i;

    for (i = 0; i < sizeof(secret); i++) {
        secret[i] = (uint8_t) (i + 1);
    }

    return 0;
}


static void
test_layout(void **state)
{
    uint8_t              buf[SIZE];
    unsigned             i;
    ngx_fcfh_preamble_t  pre;

    sample(&pre);
    ngx_fcfh_preamble_write(buf, &pre, secret, OWNER);

    assert_memory_equal(buf, "FCFH", 4);
    assert_int_equal(buf[4], 2);
    assert_int_equal(buf[5], NGX_FCFH_RELAY_OP_OPEN);
    assert_int_equal(buf[6], 16992 >> 8);
    assert_int_equal(buf[7], 16992 & 0xff);
    assert_memory_equal(buf + 8, guid_wire, 16);

    for (i = 0; i < 8; i++) {
        assert_int_equal(buf[24 + i], i + 1);
    }

    assert_int_equal(buf[32], 54321 >> 8);
    assert_int_equal(buf[33], 54321 & 0xff);
    assert_int_equal(buf[34], 0);
    assert_int_equal(buf[35], 0);
    assert_memory_equal(buf + 36, CONSOLE, sizeof(CONSOLE) - 1);

    for (i = 36 + sizeof(CONSOLE) - 1; i < 96; i++) {
        assert_int_equal(buf[i], 0);
    }

    assert_memory_equal(buf + 96, known_mac, 32);
}


static void
test_roundtrip(void **state)
{
    uint8_t              buf[SIZE];
    ngx_fcfh_preamble_t  pre, out;

    sample(&pre);
    ngx_fcfh_preamble_write(buf, &pre, secret, OWNER);

    memset(&out, 0xee, sizeof(out));

    assert_int_equal(ngx_fcfh_preamble_parse(buf, SIZE, &out, secret,
                                             OWNER),
                     SIZE);
    assert_int_equal(out.op, NGX_FCFH_RELAY_OP_OPEN);
    assert_int_equal(out.port, 16992);
    assert_memory_equal(out.guid, guid_wire, 16);
    assert_true(out.serial == 0x0102030405060708ULL);
    assert_int_equal(out.console_port, 54321);
    assert_int_equal(out.console_len, sizeof(CONSOLE) - 1);
    assert_memory_equal(out.console, CONSOLE, sizeof(CONSOLE) - 1);
    assert_ptr_equal(out.console, buf + 36);
}


/* every prefix of a good preamble asks for more, never more than SIZE */
static void
test_prefixes(void **state)
{
    size_t               len;
    uint8_t              buf[SIZE];
    ngx_fcfh_preamble_t  pre, out;

    sample(&pre);
    ngx_fcfh_preamble_write(buf, &pre, secret, OWNER);

    for (len = 0; len < SIZE; len++) {
        assert_int_equal(ngx_fcfh_preamble_parse(buf, len, &out, secret,
                                                 OWNER),
                         0);
    }
}


/* what the module sent before the MAC: refused at its fifth byte */
static void
test_version_1(void **state)
{
    size_t               len;
    uint8_t              old[SIZE];
    ngx_fcfh_preamble_t  out;

    memset(old, 0, sizeof(old));
    memcpy(old, "FCFH\x01\x01\x42\x70", 8);
    memcpy(old + 8, guid_wire, 16);
    memcpy(old + 36, CONSOLE, sizeof(CONSOLE) - 1);

    for (len = 0; len < 5; len++) {
        assert_int_equal(ngx_fcfh_preamble_parse(old, len, &out, secret,
                                                 OWNER),
                         0);
    }

    for (len = 5; len <= SIZE; len++) {
        assert_int_equal(ngx_fcfh_preamble_parse(old, len, &out, secret,
                                                 OWNER),
                         NGX_FCFH_PREAMBLE_ERR_VERSION);
    }
}


static void
test_magic_and_op(void **state)
{
    uint8_t              buf[SIZE];
    ngx_fcfh_preamble_t  pre, out;

    assert_int_equal(ngx_fcfh_preamble_parse((const uint8_t *) "G", 1, &out,
                                             secret, OWNER),
                     NGX_FCFH_PREAMBLE_ERR_MAGIC);
    assert_int_equal(ngx_fcfh_preamble_parse((const uint8_t *) "FCF\0", 4,
                                             &out, secret, OWNER),
                     NGX_FCFH_PREAMBLE_ERR_MAGIC);

    sample(&pre);

    pre.op = 0;
    ngx_fcfh_preamble_write(buf, &pre, secret, OWNER);
    assert_int_equal(ngx_fcfh_preamble_parse(buf, 6, &out, secret, OWNER),
                     NGX_FCFH_PREAMBLE_ERR_OP);

    pre.op = NGX_FCFH_RELAY_OP_REPLACED + 1;
    ngx_fcfh_preamble_write(buf, &pre, secret, OWNER);
    assert_int_equal(ngx_fcfh_preamble_parse(buf, SIZE, &out, secret,
                                             OWNER),
                     NGX_FCFH_PREAMBLE_ERR_OP);

    /* the other operations decode (between nodes), the owner refuses */
    pre.op = NGX_FCFH_RELAY_OP_CLOSE;
    ngx_fcfh_preamble_write(buf, &pre, secret, OWNER);
    assert_int_equal(ngx_fcfh_preamble_parse(buf, SIZE, &out, secret,
                                             OWNER),
                     SIZE);
    assert_int_equal(out.op, NGX_FCFH_RELAY_OP_CLOSE);
}


static void
test_wrong_secret_or_owner(void **state)
{
    uint8_t              buf[SIZE], other[NGX_FCFH_RELAY_SECRET_SIZE];
    ngx_fcfh_preamble_t  pre, out;

    sample(&pre);
    ngx_fcfh_preamble_write(buf, &pre, secret, OWNER);

    memcpy(other, secret, sizeof(other));
    other[31] ^= 1;

    assert_int_equal(ngx_fcfh_preamble_parse(buf, SIZE, &out, other, OWNER),
                     NGX_FCFH_PREAMBLE_ERR_MAC);

    /* meant for another worker */
    assert_int_equal(ngx_fcfh_preamble_parse(buf, SIZE, &out, secret,
                                             OWNER + 1),
                     NGX_FCFH_PREAMBLE_ERR_MAC);

    /* no secret, no way in */
    assert_int_equal(ngx_fcfh_preamble_parse(buf, SIZE, &out, NULL, OWNER),
                     NGX_FCFH_PREAMBLE_ERR_MAC);
}


/* toward another node: zero MAC, which no worker accepts */
static void
test_unsigned(void **state)
{
    uint8_t              buf[SIZE], zero[NGX_FCFH_RELAY_MAC_SIZE];
    ngx_fcfh_preamble_t  pre, out;

    sample(&pre);
    ngx_fcfh_preamble_write(buf, &pre, NULL, 0);

    memset(zero, 0, sizeof(zero));
    assert_memory_equal(buf + 96, zero, sizeof(zero));

    assert_int_equal(ngx_fcfh_preamble_parse(buf, SIZE, &out, secret, 0),
                     NGX_FCFH_PREAMBLE_ERR_MAC);
    assert_int_equal(ngx_fcfh_preamble_parse(buf, SIZE, &out, secret,
                                             OWNER),
                     NGX_FCFH_PREAMBLE_ERR_MAC);
}


/* between nodes (mutual TLS): the same decoder, the MAC field zero */
static void
test_node(void **state)
{
    uint8_t              buf[SIZE];
    size_t               n;
    ngx_fcfh_preamble_t  pre, out;

    sample(&pre);
    ngx_fcfh_preamble_write(buf, &pre, NULL, 0);

    for (n = 0; n < SIZE; n++) {
        assert_int_equal(ngx_fcfh_preamble_parse_node(buf, n, &out), 0);
    }

    assert_int_equal(ngx_fcfh_preamble_parse_node(buf, SIZE, &out), SIZE);
    assert_int_equal(out.op, pre.op);
    assert_int_equal(out.port, pre.port);
    assert_memory_equal(out.guid, pre.guid, sizeof(pre.guid));
    assert_true(out.serial == pre.serial);
    assert_int_equal(out.console_port, pre.console_port);
    assert_int_equal(out.console_len, pre.console_len);
    assert_memory_equal(out.console, pre.console, pre.console_len);

    /* a MAC is no MAC a node can check: refused, as is any other byte */
    ngx_fcfh_preamble_write(buf, &pre, secret, OWNER);
    assert_int_equal(ngx_fcfh_preamble_parse_node(buf, SIZE, &out),
                     NGX_FCFH_PREAMBLE_ERR_MAC);

    ngx_fcfh_preamble_write(buf, &pre, NULL, 0);
    buf[4] = 1;
    assert_int_equal(ngx_fcfh_preamble_parse_node(buf, SIZE, &out),
                     NGX_FCFH_PREAMBLE_ERR_VERSION);
}


/* no changed bit anywhere, MAC included, gets a preamble through */
static void
test_every_bit(void **state)
{
    uint8_t              buf[SIZE], bad[SIZE];
    unsigned             i, bit;
    ngx_fcfh_preamble_t  pre, out;

    sample(&pre);
    ngx_fcfh_preamble_write(buf, &pre, secret, OWNER);

    for (i = 0; i < SIZE; i++) {
        for (bit = 0; bit < 8; bit++) {
            memcpy(bad, buf, SIZE);
            bad[i] ^= (uint8_t) (1 << bit);

            assert_true(ngx_fcfh_preamble_parse(bad, SIZE, &out, secret,
                                                OWNER)
                        < 0);
        }
    }
}


static void
test_console_bounds(void **state)
{
    char                 text[100];
    uint8_t              buf[SIZE];
    ngx_fcfh_preamble_t  pre, out;

    memset(text, 'a', sizeof(text));

    sample(&pre);
    pre.console = (const uint8_t *) text;
    pre.console_len = sizeof(text);
    ngx_fcfh_preamble_write(buf, &pre, secret, OWNER);

    /* 59 bytes and a NUL, the MAC untouched */
    assert_int_equal(buf[36 + 58], 'a');
    assert_int_equal(buf[36 + 59], 0);

    assert_int_equal(ngx_fcfh_preamble_parse(buf, SIZE, &out, secret,
                                             OWNER),
                     SIZE);
    assert_int_equal(out.console_len, 59);

    pre.console = NULL;
    pre.console_len = 0;
    ngx_fcfh_preamble_write(buf, &pre, secret, OWNER);

    assert_int_equal(ngx_fcfh_preamble_parse(buf, SIZE, &out, secret,
                                             OWNER),
                     SIZE);
    assert_int_equal(out.console_len, 0);
}


static void
test_error_texts(void **state)
{
    assert_string_equal(ngx_fcfh_preamble_error(NGX_FCFH_PREAMBLE_ERR_MAC),
                        "wrong MAC");
    assert_non_null(ngx_fcfh_preamble_error(NGX_FCFH_PREAMBLE_ERR_MAGIC));
    assert_non_null(ngx_fcfh_preamble_error(NGX_FCFH_PREAMBLE_ERR_VERSION));
    assert_non_null(ngx_fcfh_preamble_error(NGX_FCFH_PREAMBLE_ERR_OP));
    assert_non_null(ngx_fcfh_preamble_error(0));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_version_1),
        cmocka_unit_test(test_magic_and_op),
        cmocka_unit_test(test_wrong_secret_or_owner),
        cmocka_unit_test(test_unsigned),
        cmocka_unit_test(test_node),
        cmocka_unit_test(test_every_bit),
        cmocka_unit_test(test_console_bounds),
        cmocka_unit_test(test_error_texts),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
