
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Unit tests of the webhook target filter (cmocka):
 *
 *   cc -O2 -Wall -Wextra -Wpointer-arith -Wno-unused-parameter -Werror \
 *       -I ngx_fcfh_module t/unit/test_webhook_target.c \
 *       ngx_fcfh_module/ngx_fcfh_webhook_target.c -lcmocka
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <cmocka.h>

#include "ngx_fcfh_webhook_target.h"


#define ANY_PORT     0, 65535
#define NONE         NULL, 0


typedef struct {
    const char              *addr;
    int                      rc;
} expect_t;


static struct sockaddr_storage  ss;
static socklen_t                sslen;


/* the target "addr" (IPv4 or IPv6 text) and port, in ss */

static const struct sockaddr *
sa(const char *addr, unsigned port)
{
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;

    memset(&ss, 0, sizeof(ss));

    if (strchr(addr, ':')) {
        sin6 = (struct sockaddr_in6 *) &ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t) port);
        assert_int_equal(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
        sslen = sizeof(struct sockaddr_in6);

    } else {
        sin = (struct sockaddr_in *) &ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t) port);
        assert_int_equal(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
        sslen = sizeof(struct sockaddr_in);
    }

    return (const struct sockaddr *) &ss;
}


/* a rule: "all", or an address text and prefix */

static ngx_fcfh_target_rule_t
rule(const char *addr, unsigned prefix, unsigned lo, unsigned hi)
{
    ngx_fcfh_target_rule_t  r;

    memset(&r, 0, sizeof(r));
    r.port_lo = (uint16_t) lo;
    r.port_hi = (uint16_t) hi;
    r.prefix = prefix;

    if (strcmp(addr, "all") == 0) {
        r.family = AF_UNSPEC;

    } else if (strchr(addr, ':')) {
        r.family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, addr, r.addr), 1);

    } else {
        r.family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, addr, r.addr), 1);
    }

    return r;
}


static int
check(const char *addr, unsigned port, const ngx_fcfh_target_rule_t *allow,
    size_t nallow, const ngx_fcfh_target_rule_t *own, size_t nown)
{
    int                     rc;
    const char             *why;
    const struct sockaddr  *s;

    why = NULL;
    s = sa(addr, port);
    rc = ngx_fcfh_webhook_target_allowed(s, sslen, allow, nallow, own, nown,
                                         &why);
    assert_non_null(why);

    return rc;
}


static void
expect_all(const expect_t *e, size_t n, const ngx_fcfh_target_rule_t *allow,
    size_t nallow)
{
    size_t  i;
    int     rc;

    for (i = 0; i < n; i++) {
        rc = check(e[i].addr, 8080, allow, nallow, NONE);

        if (rc != e[i].rc) {
            fail_msg("%s: %d, expected %d", e[i].addr, rc, e[i].rc);
        }
    }
}


/* every refused class, as IPv4, IPv6 and IPv4-mapped IPv6 */

static void
test_default_refused(void **state)
{
    static const expect_t  e[] = {
        { "127.0.0.1", NGX_FCFH_TARGET_LOOPBACK },
        { "127.255.255.254", NGX_FCFH_TARGET_LOOPBACK },
        { "0.0.0.0", NGX_FCFH_TARGET_UNSPECIFIED },
        { "0.1.2.3", NGX_FCFH_TARGET_UNSPECIFIED },
        { "169.254.0.1", NGX_FCFH_TARGET_LINK_LOCAL },
        { "169.254.169.254", NGX_FCFH_TARGET_LINK_LOCAL },
        { "224.0.0.1", NGX_FCFH_TARGET_MULTICAST },
        { "239.255.255.250", NGX_FCFH_TARGET_MULTICAST },
        { "255.255.255.255", NGX_FCFH_TARGET_BROADCAST },

        { "::1", NGX_FCFH_TARGET_LOOPBACK },
        { "::", NGX_FCFH_TARGET_UNSPECIFIED },
        { "fe80::1", NGX_FCFH_TARGET_LINK_LOCAL },
        { "febf:ffff::1", NGX_FCFH_TARGET_LINK_LOCAL },
        { "ff02::1", NGX_FCFH_TARGET_MULTICAST },
        { "ff0e::101", NGX_FCFH_TARGET_MULTICAST },

        { "::ffff:127.0.0.1", NGX_FCFH_TARGET_LOOPBACK },
        { "::ffff:127.1.2.3", NGX_FCFH_TARGET_LOOPBACK },
        { "::ffff:0.0.0.0", NGX_FCFH_TARGET_UNSPECIFIED },
        { "::ffff:169.254.169.254", NGX_FCFH_TARGET_LINK_LOCAL },
        { "::ffff:224.0.0.251", NGX_FCFH_TARGET_MULTICAST },
        { "::ffff:255.255.255.255", NGX_FCFH_TARGET_BROADCAST },
    };

    expect_all(e, sizeof(e) / sizeof(e[0]), NONE);
}


/* private ranges are the normal place of a receiver; public too */

static void
test_default_allowed(void **state)
{
    static const expect_t  e[] = {
        { "10.0.0.1", NGX_FCFH_TARGET_OK },
        { "10.255.255.255", NGX_FCFH_TARGET_OK },
        { "172.16.0.1", NGX_FCFH_TARGET_OK },
        { "172.31.255.254", NGX_FCFH_TARGET_OK },
        { "192.168.1.10", NGX_FCFH_TARGET_OK },
        { "fc00::1", NGX_FCFH_TARGET_OK },
        { "fd12:3456::1", NGX_FCFH_TARGET_OK },
        { "::ffff:10.1.2.3", NGX_FCFH_TARGET_OK },
        { "::ffff:192.168.0.1", NGX_FCFH_TARGET_OK },
        { "198.51.100.7", NGX_FCFH_TARGET_OK },
        { "2001:db8::7", NGX_FCFH_TARGET_OK },

        /* the neighbours of the refused ranges */
        { "1.0.0.0", NGX_FCFH_TARGET_OK },
        { "126.255.255.255", NGX_FCFH_TARGET_OK },
        { "128.0.0.0", NGX_FCFH_TARGET_OK },
        { "169.253.255.255", NGX_FCFH_TARGET_OK },
        { "169.255.0.0", NGX_FCFH_TARGET_OK },
        { "223.255.255.255", NGX_FCFH_TARGET_OK },
        { "255.255.255.254", NGX_FCFH_TARGET_OK },
        { "::2", NGX_FCFH_TARGET_OK },
        { "fe7f::1", NGX_FCFH_TARGET_OK },
        { "fec0::1", NGX_FCFH_TARGET_OK },
        { "feff::1", NGX_FCFH_TARGET_OK },
    };

    expect_all(e, sizeof(e) / sizeof(e[0]), NONE);
}


static void
test_why(void **state)
{
    const char             *why;
    const struct sockaddr  *s;

    s = sa("127.0.0.1", 80);
    assert_int_equal(ngx_fcfh_webhook_target_allowed(s, sslen, NONE, NONE,
                                                     &why),
                     NGX_FCFH_TARGET_LOOPBACK);
    assert_string_equal(why,
                        "is a loopback address; allow it with "
                        "fcfh_webhook_allow");

    s = sa("10.0.0.1", 80);
    assert_int_equal(ngx_fcfh_webhook_target_allowed(s, sslen, NONE, NONE,
                                                     &why),
                     NGX_FCFH_TARGET_OK);

    s = sa("fe80::1", 80);
    assert_int_equal(ngx_fcfh_webhook_target_allowed(s, sslen, NONE, NONE,
                                                     &why),
                     NGX_FCFH_TARGET_LINK_LOCAL);
    assert_non_null(strstr(why, "link-local"));

    s = sa("ff02::1", 80);
    assert_int_equal(ngx_fcfh_webhook_target_allowed(s, sslen, NONE, NONE,
                                                     NULL),
                     NGX_FCFH_TARGET_MULTICAST);
}


static void
test_family(void **state)
{
    const char          *why;
    struct sockaddr_un   sun;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;

    assert_int_equal(ngx_fcfh_webhook_target_allowed(
                         (struct sockaddr *) &sun, sizeof(sun), NONE, NONE,
                         &why),
                     NGX_FCFH_TARGET_FAMILY);

    /* a length too short for the family */
    assert_int_equal(ngx_fcfh_webhook_target_allowed(sa("10.0.0.1", 80), 4,
                         NONE, NONE, &why),
                     NGX_FCFH_TARGET_FAMILY);
    assert_int_equal(ngx_fcfh_webhook_target_allowed(sa("fc00::1", 80),
                         sizeof(struct sockaddr_in), NONE, NONE, &why),
                     NGX_FCFH_TARGET_FAMILY);

    assert_int_equal(ngx_fcfh_webhook_target_allowed(NULL, 0, NONE, NONE,
                                                     &why),
                     NGX_FCFH_TARGET_FAMILY);
}


/* an allow list: the target must match an entry, address and port */

static void
test_allow_list(void **state)
{
    ngx_fcfh_target_rule_t  allow[3];

    allow[0] = rule("127.0.0.1", 32, 9000, 9000);
    allow[1] = rule("10.0.0.0", 8, 8000, 8999);
    allow[2] = rule("2001:db8::", 32, ANY_PORT);

    assert_int_equal(check("127.0.0.1", 9000, allow, 3, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("::ffff:127.0.0.1", 9000, allow, 3, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("127.0.0.1", 9001, allow, 3, NONE),
                     NGX_FCFH_TARGET_NOT_ALLOWED);
    /* a loopback address no entry names */
    assert_int_equal(check("127.0.0.2", 9000, allow, 3, NONE),
                     NGX_FCFH_TARGET_LOOPBACK);
    assert_int_equal(check("::1", 9000, allow, 3, NONE),
                     NGX_FCFH_TARGET_LOOPBACK);

    assert_int_equal(check("10.1.2.3", 8000, allow, 3, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("10.1.2.3", 8999, allow, 3, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("::ffff:10.1.2.3", 8500, allow, 3, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("10.1.2.3", 7999, allow, 3, NONE),
                     NGX_FCFH_TARGET_NOT_ALLOWED);
    assert_int_equal(check("10.1.2.3", 9000, allow, 3, NONE),
                     NGX_FCFH_TARGET_NOT_ALLOWED);
    assert_int_equal(check("11.0.0.1", 8000, allow, 3, NONE),
                     NGX_FCFH_TARGET_NOT_ALLOWED);
    /* private, but no entry: with a list, the default no longer applies */
    assert_int_equal(check("192.168.1.1", 8000, allow, 3, NONE),
                     NGX_FCFH_TARGET_NOT_ALLOWED);

    assert_int_equal(check("2001:db8:1::1", 1, allow, 3, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("2001:db8:ffff::1", 65535, allow, 3, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("2001:db9::1", 80, allow, 3, NONE),
                     NGX_FCFH_TARGET_NOT_ALLOWED);
    assert_int_equal(check("fc00::1", 80, allow, 3, NONE),
                     NGX_FCFH_TARGET_NOT_ALLOWED);

    /* classes no entry opens */
    assert_int_equal(check("0.0.0.0", 9000, allow, 3, NONE),
                     NGX_FCFH_TARGET_UNSPECIFIED);
    assert_int_equal(check("224.0.0.1", 8000, allow, 3, NONE),
                     NGX_FCFH_TARGET_MULTICAST);
}


/* a prefix that does not end on a byte */

static void
test_allow_prefix(void **state)
{
    ngx_fcfh_target_rule_t  allow[2];

    allow[0] = rule("172.16.0.0", 12, ANY_PORT);
    allow[1] = rule("fc00::", 7, 443, 443);

    assert_int_equal(check("172.16.0.1", 80, allow, 2, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("172.31.255.255", 80, allow, 2, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("172.32.0.1", 80, allow, 2, NONE),
                     NGX_FCFH_TARGET_NOT_ALLOWED);
    assert_int_equal(check("172.15.255.255", 80, allow, 2, NONE),
                     NGX_FCFH_TARGET_NOT_ALLOWED);
    assert_int_equal(check("fdff::1", 443, allow, 2, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("fdff::1", 444, allow, 2, NONE),
                     NGX_FCFH_TARGET_NOT_ALLOWED);
    assert_int_equal(check("fe00::1", 443, allow, 2, NONE),
                     NGX_FCFH_TARGET_NOT_ALLOWED);
}


/* "all" and 0.0.0.0/0 restrict ports but do not open loopback */

static void
test_allow_all(void **state)
{
    ngx_fcfh_target_rule_t  allow[3];

    allow[0] = rule("all", 0, 80, 80);

    assert_int_equal(check("198.51.100.1", 80, allow, 1, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("2001:db8::1", 80, allow, 1, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("10.0.0.1", 81, allow, 1, NONE),
                     NGX_FCFH_TARGET_NOT_ALLOWED);
    assert_int_equal(check("127.0.0.1", 80, allow, 1, NONE),
                     NGX_FCFH_TARGET_LOOPBACK);
    assert_int_equal(check("::1", 80, allow, 1, NONE),
                     NGX_FCFH_TARGET_LOOPBACK);
    assert_int_equal(check("169.254.169.254", 80, allow, 1, NONE),
                     NGX_FCFH_TARGET_LINK_LOCAL);
    assert_int_equal(check("255.255.255.255", 80, allow, 1, NONE),
                     NGX_FCFH_TARGET_BROADCAST);

    allow[0] = rule("0.0.0.0", 0, ANY_PORT);
    allow[1] = rule("::", 0, ANY_PORT);
    allow[2] = rule("::ffff:0.0.0.0", 96, ANY_PORT);

    assert_int_equal(check("198.51.100.1", 80, allow, 3, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("127.0.0.1", 80, allow, 3, NONE),
                     NGX_FCFH_TARGET_LOOPBACK);
    assert_int_equal(check("::ffff:127.0.0.1", 80, allow, 3, NONE),
                     NGX_FCFH_TARGET_LOOPBACK);
    assert_int_equal(check("::1", 80, allow, 3, NONE),
                     NGX_FCFH_TARGET_LOOPBACK);
    assert_int_equal(check("fe80::1", 80, allow, 3, NONE),
                     NGX_FCFH_TARGET_LINK_LOCAL);
}


/* loopback and link-local open to an entry inside their range */

static void
test_allow_local(void **state)
{
    ngx_fcfh_target_rule_t  allow[4];

    allow[0] = rule("127.0.0.0", 8, ANY_PORT);
    allow[1] = rule("::1", 128, 9000, 9100);
    allow[2] = rule("169.254.10.0", 24, 80, 80);
    allow[3] = rule("::ffff:169.254.20.1", 128, 80, 80);

    assert_int_equal(check("127.0.0.1", 1, allow, 4, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("127.9.9.9", 65535, allow, 4, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("::ffff:127.0.0.1", 80, allow, 4, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("::1", 9050, allow, 4, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("::1", 80, allow, 4, NONE),
                     NGX_FCFH_TARGET_NOT_ALLOWED);
    assert_int_equal(check("169.254.10.9", 80, allow, 4, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("169.254.20.1", 80, allow, 4, NONE),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("169.254.11.9", 80, allow, 4, NONE),
                     NGX_FCFH_TARGET_LINK_LOCAL);
    assert_int_equal(check("fe80::1", 80, allow, 4, NONE),
                     NGX_FCFH_TARGET_LINK_LOCAL);

    /* still never: unspecified, multicast, broadcast */
    assert_int_equal(check("0.0.0.0", 80, allow, 4, NONE),
                     NGX_FCFH_TARGET_UNSPECIFIED);
    assert_int_equal(check("::", 80, allow, 4, NONE),
                     NGX_FCFH_TARGET_UNSPECIFIED);
    assert_int_equal(check("ff02::1", 80, allow, 4, NONE),
                     NGX_FCFH_TARGET_MULTICAST);

    allow[0] = rule("0.0.0.0", 8, ANY_PORT);
    allow[1] = rule("224.0.0.0", 4, ANY_PORT);
    allow[2] = rule("255.255.255.255", 32, ANY_PORT);
    allow[3] = rule("ff00::", 8, ANY_PORT);

    assert_int_equal(check("0.0.0.0", 80, allow, 4, NONE),
                     NGX_FCFH_TARGET_UNSPECIFIED);
    assert_int_equal(check("224.0.0.1", 80, allow, 4, NONE),
                     NGX_FCFH_TARGET_MULTICAST);
    assert_int_equal(check("255.255.255.255", 80, allow, 4, NONE),
                     NGX_FCFH_TARGET_BROADCAST);
    assert_int_equal(check("ff02::1", 80, allow, 4, NONE),
                     NGX_FCFH_TARGET_MULTICAST);
}


/* the gateway's own listening sockets: never, whatever the allow list */

static void
test_listeners(void **state)
{
    ngx_fcfh_target_rule_t  own[4], allow[2];

    own[0] = rule("127.0.0.1", 32, 8080, 8080);
    own[1] = rule("10.0.0.5", 32, 443, 443);
    own[2] = rule("::1", 128, 8443, 8443);
    /* what the module makes of a wildcard listener: its loopback range */
    own[3] = rule("127.0.0.0", 8, 4433, 4433);

    allow[0] = rule("127.0.0.0", 8, ANY_PORT);
    allow[1] = rule("all", 0, ANY_PORT);

    /* by default */
    assert_int_equal(check("10.0.0.5", 443, NONE, own, 4),
                     NGX_FCFH_TARGET_LISTENER);
    assert_int_equal(check("::ffff:10.0.0.5", 443, NONE, own, 4),
                     NGX_FCFH_TARGET_LISTENER);
    assert_int_equal(check("10.0.0.5", 444, NONE, own, 4),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("10.0.0.6", 443, NONE, own, 4),
                     NGX_FCFH_TARGET_OK);

    /* with loopback allowed */
    assert_int_equal(check("127.0.0.1", 8080, allow, 2, own, 4),
                     NGX_FCFH_TARGET_LISTENER);
    assert_int_equal(check("::ffff:127.0.0.1", 8080, allow, 2, own, 4),
                     NGX_FCFH_TARGET_LISTENER);
    assert_int_equal(check("127.0.0.1", 8081, allow, 2, own, 4),
                     NGX_FCFH_TARGET_OK);
    assert_int_equal(check("127.0.0.2", 4433, allow, 2, own, 4),
                     NGX_FCFH_TARGET_LISTENER);
    assert_int_equal(check("10.0.0.5", 443, allow, 2, own, 4),
                     NGX_FCFH_TARGET_LISTENER);
    assert_int_equal(check("10.0.0.5", 80, allow, 2, own, 4),
                     NGX_FCFH_TARGET_OK);

    allow[0] = rule("::1", 128, ANY_PORT);

    assert_int_equal(check("::1", 8443, allow, 1, own, 4),
                     NGX_FCFH_TARGET_LISTENER);
    assert_int_equal(check("::1", 8444, allow, 1, own, 4),
                     NGX_FCFH_TARGET_OK);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_default_refused),
        cmocka_unit_test(test_default_allowed),
        cmocka_unit_test(test_why),
        cmocka_unit_test(test_family),
        cmocka_unit_test(test_allow_list),
        cmocka_unit_test(test_allow_prefix),
        cmocka_unit_test(test_allow_all),
        cmocka_unit_test(test_allow_local),
        cmocka_unit_test(test_listeners),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
