
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <string.h>
#include <netinet/in.h>

#include "ngx_fcfh_webhook_target.h"


typedef struct {
    int                  family;
    uint16_t             port;
    uint8_t              addr[16];
} ngx_fcfh_target_t;


typedef struct {
    int                  family;
    unsigned             prefix;
    uint8_t              addr[16];
    int                  code;
} ngx_fcfh_target_class_t;


static int ngx_fcfh_target_from_sockaddr(const struct sockaddr *sa,
    socklen_t len, ngx_fcfh_target_t *t);
static void ngx_fcfh_target_rule_norm(const ngx_fcfh_target_rule_t *r,
    ngx_fcfh_target_rule_t *out);
static int ngx_fcfh_target_prefix(const uint8_t *addr, const uint8_t *net,
    unsigned bits);
static int ngx_fcfh_target_match(const ngx_fcfh_target_rule_t *r,
    const ngx_fcfh_target_t *t, int any_port);
static const ngx_fcfh_target_class_t *ngx_fcfh_target_class(
    const ngx_fcfh_target_t *t);
static int ngx_fcfh_target_inside(const ngx_fcfh_target_rule_t *r,
    const ngx_fcfh_target_class_t *c);


static const uint8_t  ngx_fcfh_target_v4mapped[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};


/* addresses a webhook must not reach, or only when named explicitly */
static const ngx_fcfh_target_class_t  ngx_fcfh_target_classes[] = {
    { AF_INET, 8, { 0 }, NGX_FCFH_TARGET_UNSPECIFIED },
    { AF_INET, 32, { 255, 255, 255, 255 }, NGX_FCFH_TARGET_BROADCAST },
    { AF_INET, 4, { 224 }, NGX_FCFH_TARGET_MULTICAST },
    { AF_INET, 8, { 127 }, NGX_FCFH_TARGET_LOOPBACK },
    { AF_INET, 16, { 169, 254 }, NGX_FCFH_TARGET_LINK_LOCAL },
    { AF_INET6, 128, { 0 }, NGX_FCFH_TARGET_UNSPECIFIED },
    { AF_INET6, 8, { 0xff }, NGX_FCFH_TARGET_MULTICAST },
    { AF_INET6, 128, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
      NGX_FCFH_TARGET_LOOPBACK },
    { AF_INET6, 10, { 0xfe, 0x80 }, NGX_FCFH_TARGET_LINK_LOCAL },
};


#define NGX_FCFH_TARGET_NCLASSES                                              \
    (sizeof(ngx_fcfh_target_classes) / sizeof(ngx_fcfh_target_classes[0]))


static const char  *ngx_fcfh_target_why[] = {
    "is allowed",
    "is not an IPv4 or IPv6 address",
    "is an unspecified address",
    "is a multicast address",
    "is the broadcast address",
    "is a listening socket of this gateway",
    "is a loopback address; allow it with fcfh_webhook_allow",
    "is a link-local address; allow it with fcfh_webhook_allow",
    "is not allowed by fcfh_webhook_allow"
};


int
ngx_fcfh_webhook_target_allowed(const struct sockaddr *sa, socklen_t len,
    const ngx_fcfh_target_rule_t *allow, size_t nallow,
    const ngx_fcfh_target_rule_t *own, size_t nown, const char **why)
{
    int                             rc, covered;
    size_t                          i;
    ngx_fcfh_target_t               t;
    ngx_fcfh_target_rule_t          r;
    const ngx_fcfh_target_class_t  *c;

    if (ngx_fcfh_target_from_sockaddr(sa, len, &t) != 0) {
        rc = NGX_FCFH_TARGET_FAMILY;
        goto done;
    }

    for (i = 0; i < nown; i++) {
        ngx_fcfh_target_rule_norm(&own[i], &r);

        if (ngx_fcfh_target_match(&r, &t, 0)) {
            rc = NGX_FCFH_TARGET_LISTENER;
            goto done;
        }
    }

    c = ngx_fcfh_target_class(&t);

    if (c && c->code < NGX_FCFH_TARGET_LOOPBACK) {
        /* nothing listens there, or it is not one host: never useful */
        rc = c->code;
        goto done;
    }

    if (nallow == 0) {
        rc = c ? c->code : NGX_FCFH_TARGET_OK;
        goto done;
    }

    covered = 0;

    for (i = 0; i < nallow; i++) {
        ngx_fcfh_target_rule_norm(&allow[i], &r);

        /* "all" or 0.0.0.0/0 must not open loopback by accident */
        if (c && !ngx_fcfh_target_inside(&r, c)) {
            continue;
        }

        if (!ngx_fcfh_target_match(&r, &t, 1)) {
            continue;
        }

        covered = 1;

        if (t.port >= r.port_lo && t.port <= r.port_hi) {
            rc = NGX_FCFH_TARGET_OK;
            goto done;
        }
    }

    /* a loopback address no entry names: say so, not just "not allowed" */
    rc = (c && !covered) ? c->code : NGX_FCFH_TARGET_NOT_ALLOWED;

done:

    if (why) {
        *why = ngx_fcfh_target_why[rc];
    }

    return rc;
}


static int
ngx_fcfh_target_from_sockaddr(const struct sockaddr *sa, socklen_t len,
    ngx_fcfh_target_t *t)
{
    const struct sockaddr_in   *sin;
    const struct sockaddr_in6  *sin6;

    memset(t, 0, sizeof(ngx_fcfh_target_t));

    if (sa == NULL) {
        return -1;
    }

    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        sin = (const struct sockaddr_in *) sa;
        t->family = AF_INET;
        t->port = ntohs(sin->sin_port);
        memcpy(t->addr, &sin->sin_addr, 4);
        return 0;
    }

    if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        sin6 = (const struct sockaddr_in6 *) sa;
        t->port = ntohs(sin6->sin6_port);

        /* the kernel connects ::ffff:a.b.c.d to a.b.c.d */
        if (memcmp(sin6->sin6_addr.s6_addr, ngx_fcfh_target_v4mapped, 12)
            == 0)
        {
            t->family = AF_INET;
            memcpy(t->addr, &sin6->sin6_addr.s6_addr[12], 4);
            return 0;
        }

        t->family = AF_INET6;
        memcpy(t->addr, sin6->sin6_addr.s6_addr, 16);
        return 0;
    }

    return -1;
}


static void
ngx_fcfh_target_rule_norm(const ngx_fcfh_target_rule_t *r,
    ngx_fcfh_target_rule_t *out)
{
    *out = *r;

    if (r->family == AF_INET6 && r->prefix >= 96
        && memcmp(r->addr, ngx_fcfh_target_v4mapped, 12) == 0)
    {
        out->family = AF_INET;
        out->prefix = r->prefix - 96;
        memset(out->addr, 0, sizeof(out->addr));
        memcpy(out->addr, &r->addr[12], 4);
    }
}


static int
ngx_fcfh_target_prefix(const uint8_t *addr, const uint8_t *net,
    unsigned bits)
{
    unsigned  n;
    uint8_t   mask;

    n = bits / 8;

    if (memcmp(addr, net, n) != 0) {
        return 0;
    }

    if (bits % 8 == 0) {
        return 1;
    }

    mask = (uint8_t) (0xff << (8 - bits % 8));

    return (addr[n] & mask) == (net[n] & mask);
}


static int
ngx_fcfh_target_match(const ngx_fcfh_target_rule_t *r,
    const ngx_fcfh_target_t *t, int any_port)
{
    if (!any_port && (t->port < r->port_lo || t->port > r->port_hi)) {
        return 0;
    }

    if (r->family == AF_UNSPEC) {
        return 1;
    }

    if (r->family != t->family
        || r->prefix > (t->family == AF_INET ? 32u : 128u))
    {
        return 0;
    }

    return ngx_fcfh_target_prefix(t->addr, r->addr, r->prefix);
}


static const ngx_fcfh_target_class_t *
ngx_fcfh_target_class(const ngx_fcfh_target_t *t)
{
    size_t                          i;
    const ngx_fcfh_target_class_t  *c;

    for (i = 0; i < NGX_FCFH_TARGET_NCLASSES; i++) {
        c = &ngx_fcfh_target_classes[i];

        if (c->family == t->family
            && ngx_fcfh_target_prefix(t->addr, c->addr, c->prefix))
        {
            return c;
        }
    }

    return NULL;
}


/* the entry's network lies within the class: it names that range */

static int
ngx_fcfh_target_inside(const ngx_fcfh_target_rule_t *r,
    const ngx_fcfh_target_class_t *c)
{
    return r->family == c->family && r->prefix >= c->prefix
           && ngx_fcfh_target_prefix(r->addr, c->addr, c->prefix);
}
