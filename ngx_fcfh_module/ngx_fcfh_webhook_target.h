
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Which addresses a webhook may be POSTed to.
 *
 * Pure C99 on plain sockaddrs: no nginx headers, no allocation, no I/O,
 * so that the unit tests check every rule without nginx.  The module
 * turns fcfh_webhook_allow and the cycle's listening sockets into the
 * two rule lists.
 */


#ifndef _NGX_FCFH_WEBHOOK_TARGET_H_INCLUDED_
#define _NGX_FCFH_WEBHOOK_TARGET_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>


/*
 * The answers of ngx_fcfh_webhook_target_allowed(); below LOOPBACK no
 * fcfh_webhook_allow entry lets the target through.
 */
#define NGX_FCFH_TARGET_OK                 0
#define NGX_FCFH_TARGET_FAMILY             1  /* not IPv4 or IPv6 */
#define NGX_FCFH_TARGET_UNSPECIFIED        2  /* 0.0.0.0/8, :: */
#define NGX_FCFH_TARGET_MULTICAST          3  /* 224.0.0.0/4, ff00::/8 */
#define NGX_FCFH_TARGET_BROADCAST          4  /* 255.255.255.255 */
#define NGX_FCFH_TARGET_LISTENER           5  /* the gateway itself */
#define NGX_FCFH_TARGET_LOOPBACK           6  /* 127.0.0.0/8, ::1 */
#define NGX_FCFH_TARGET_LINK_LOCAL         7  /* 169.254.0.0/16, fe80::/10 */
#define NGX_FCFH_TARGET_NOT_ALLOWED        8  /* outside the allow list */


/*
 * A network and a port range: an fcfh_webhook_allow entry, or an
 * address and port the gateway listens on.  family AF_UNSPEC matches
 * any address ("all"); an IPv4-mapped IPv6 network (::ffff:0:0/96 and
 * narrower) is taken as the IPv4 network it maps.
 */
typedef struct {
    int                  family;
    unsigned             prefix;     /* leading bits of addr that count */
    uint16_t             port_lo;
    uint16_t             port_hi;
    uint8_t              addr[16];   /* network byte order; 4 for IPv4 */
} ngx_fcfh_target_rule_t;


/*
 * NGX_FCFH_TARGET_OK, or why the target is refused (*why: a static
 * text to follow the address, e.g. "is a loopback address; ...").
 *
 * Refused always: the gateway's own listeners (own), unspecified,
 * multicast and broadcast addresses.  Without an allow list, loopback
 * and link-local addresses are refused too, anything else is allowed.
 * With one, the target must match an entry, and a loopback or link-local
 * target only matches an entry inside that range (127.0.0.1/32 does,
 * "all" or 0.0.0.0/0 does not).  IPv4-mapped IPv6 targets are checked
 * as the IPv4 address they map.
 */
int ngx_fcfh_webhook_target_allowed(const struct sockaddr *sa,
    socklen_t len, const ngx_fcfh_target_rule_t *allow, size_t nallow,
    const ngx_fcfh_target_rule_t *own, size_t nown, const char **why);


#endif /* _NGX_FCFH_WEBHOOK_TARGET_H_INCLUDED_ */
