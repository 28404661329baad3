
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Webhooks: events POSTed as JSON to subscribers that operators add and
 * remove through fcfh_api while nginx runs.  Subscribers live in the
 * zone (every worker sees them) and, when fcfh_webhooks_state names a
 * file, survive restarts.  One worker at a time delivers (the first to
 * claim the zone's owner field); each subscriber has a cursor into the
 * event ring, one delivery in flight, and exponential backoff on failure.
 * The ring bounds the queue: a subscriber unreachable for longer than
 * 1024 events loses the oldest, which is counted and logged.
 *
 * A receiver can trust what arrives: each POST is signed with the
 * subscriber's secret as Standard Webhooks has it (ngx_fcfh_webhook_sign.h),
 * an https URL is delivered over TLS verified against
 * fcfh_webhook_trusted_certificate and the URL's host, and a host name
 * is resolved with fcfh_webhook_resolver at each delivery, every address
 * it resolves to passing the same target rules as an address in the URL
 * (a name that moves to a refused address is refused then).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ifaddrs.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_webhook.h"
#include "ngx_fcfh_json.h"
#include "ngx_fcfh_proxy_parse.h"


#define NGX_FCFH_WEBHOOK_TIMEOUT     5000
#define NGX_FCFH_WEBHOOK_BACKOFF_MAX 300


static ngx_int_t ngx_fcfh_webhook_parse_url(ngx_fcfh_main_conf_t *fmcf,
    ngx_str_t *url, ngx_fcfh_webhook_t *wh, const char **err);
static ngx_int_t ngx_fcfh_webhook_check(ngx_fcfh_main_conf_t *fmcf,
    struct sockaddr *sa, socklen_t socklen, const char **err);
static u_char *ngx_fcfh_webhook_ip(struct sockaddr *sa);
static ngx_int_t ngx_fcfh_webhook_own(ngx_array_t *own, int family,
    u_char *addr, ngx_uint_t prefix, in_port_t port);
static ngx_uint_t ngx_fcfh_webhook_copy(ngx_fcfh_webhook_t *out,
    ngx_uint_t with_key);
static void ngx_fcfh_webhook_next(ngx_fcfh_main_conf_t *fmcf,
    ngx_fcfh_zone_t *zone, ngx_uint_t i);
static void ngx_fcfh_webhook_start(ngx_fcfh_main_conf_t *fmcf,
    ngx_fcfh_zone_t *zone, ngx_uint_t i, uint32_t id, ngx_fcfh_event_t *e);
static ngx_int_t ngx_fcfh_webhook_request(ngx_fcfh_hook_t *hook,
    ngx_fcfh_zone_t *zone, ngx_fcfh_webhook_t *wh, ngx_fcfh_event_t *e);
static void ngx_fcfh_webhook_resolve(ngx_fcfh_hook_t *hook);
static void ngx_fcfh_webhook_resolved(ngx_resolver_ctx_t *ctx);
static void ngx_fcfh_webhook_connect(ngx_fcfh_hook_t *hook);
static ngx_int_t ngx_fcfh_webhook_test_connect(ngx_fcfh_hook_t *hook);
static void ngx_fcfh_webhook_ssl_start(ngx_fcfh_hook_t *hook);
static void ngx_fcfh_webhook_ssl_handshaked(ngx_connection_t *c);
static ngx_int_t ngx_fcfh_webhook_check_host(ngx_fcfh_hook_t *hook);
static void ngx_fcfh_webhook_handler(ngx_event_t *ev);
static void ngx_fcfh_webhook_close(ngx_fcfh_hook_t *hook);
static void ngx_fcfh_webhook_done(ngx_fcfh_hook_t *hook, const char *error);


/* the text of the last refusal: a worker does one thing at a time */
static u_char  ngx_fcfh_webhook_refusal[NGX_SOCKADDR_STRLEN + 96];


/*
 * "http[s]://<host>[:<port>][/<path>]": an https URL needs
 * fcfh_webhook_trusted_certificate, a host name fcfh_webhook_resolver
 */

static ngx_int_t
ngx_fcfh_webhook_parse_url(ngx_fcfh_main_conf_t *fmcf, ngx_str_t *url,
    ngx_fcfh_webhook_t *wh, const char **err)
{
    ngx_fcfh_proxy_target_t  t;

    if (url->len == 0 || url->len > sizeof(wh->url)
        || ngx_fcfh_proxy_target_parse(url->data, url->len, &t) < 0
        || t.host.kind == NGX_FCFH_PROXY_HOST_GUID)
    {
        *err = "url must be http[s]://<host>[:<port>]/<path>, the host a "
               "name or an IP address";
        return NGX_ERROR;
    }

    if (t.scheme == NGX_FCFH_PROXY_SCHEME_HTTPS
        && fmcf->webhook_ssl == NULL)
    {
        *err = "an https url needs fcfh_webhook_trusted_certificate";
        return NGX_ERROR;
    }

    ngx_memzero(&wh->sockaddr, sizeof(ngx_sockaddr_t));
    wh->socklen = 0;

    if (t.host.kind == NGX_FCFH_PROXY_HOST_IPV4) {
        wh->sockaddr.sockaddr_in.sin_family = AF_INET;
        ngx_memcpy(&wh->sockaddr.sockaddr_in.sin_addr, t.host.addr, 4);
        wh->sockaddr.sockaddr_in.sin_port = htons(t.port);
        wh->socklen = sizeof(struct sockaddr_in);

#if (NGX_HAVE_INET6)
    } else if (t.host.kind == NGX_FCFH_PROXY_HOST_IPV6) {
        wh->sockaddr.sockaddr_in6.sin6_family = AF_INET6;
        ngx_memcpy(&wh->sockaddr.sockaddr_in6.sin6_addr, t.host.addr, 16);
        wh->sockaddr.sockaddr_in6.sin6_port = htons(t.port);
        wh->socklen = sizeof(struct sockaddr_in6);
#endif

    } else if (t.host.kind != NGX_FCFH_PROXY_HOST_NAME) {
        *err = "the url's host must be a name or an IP address";
        return NGX_ERROR;

    } else if (fmcf->webhook_resolver == NULL) {
        *err = "a host name in the url needs fcfh_webhook_resolver";
        return NGX_ERROR;
    }

    /* the URL's own length bounds these */

    wh->url_len = (uint16_t) url->len;
    ngx_memcpy(wh->url, url->data, url->len);

    wh->path_len = (uint16_t) t.path.len;
    ngx_memcpy(wh->path, t.path.data, t.path.len);

    wh->host_len = (uint16_t) t.host.text.len;
    ngx_memcpy(wh->host, t.host.text.data, t.host.text.len);

    wh->port = t.port;
    wh->tls = (t.scheme == NGX_FCFH_PROXY_SCHEME_HTTPS);

    return NGX_OK;
}


/*
 * NGX_OK, or NGX_DECLINED with *err saying which rule refuses the target
 * (see ngx_fcfh_webhook_target.h).
 */

static ngx_int_t
ngx_fcfh_webhook_check(ngx_fcfh_main_conf_t *fmcf, struct sockaddr *sa,
    socklen_t socklen, const char **err)
{
    int                      rc;
    u_char                  *p, text[NGX_SOCKADDR_STRLEN];
    size_t                   len, nallow, nown;
    const char              *why;
    ngx_fcfh_target_rule_t  *allow, *own;

    allow = NULL;
    nallow = 0;

    if (fmcf->webhook_allow) {
        allow = fmcf->webhook_allow->elts;
        nallow = fmcf->webhook_allow->nelts;
    }

    own = NULL;
    nown = 0;

    if (fmcf->webhook_own) {
        own = fmcf->webhook_own->elts;
        nown = fmcf->webhook_own->nelts;
    }

    rc = ngx_fcfh_webhook_target_allowed(sa, socklen, allow, nallow, own,
                                         nown, &why);

    if (rc == NGX_FCFH_TARGET_OK) {
        return NGX_OK;
    }

    /* the port matters only to these two */
    len = ngx_sock_ntop(sa, socklen, text, NGX_SOCKADDR_STRLEN,
                        rc == NGX_FCFH_TARGET_LISTENER
                        || rc == NGX_FCFH_TARGET_NOT_ALLOWED);

    p = ngx_snprintf(ngx_fcfh_webhook_refusal,
                     sizeof(ngx_fcfh_webhook_refusal) - 1,
                     "webhook target %*s %s", len, text, why);
    *p = '\0';

    *err = (const char *) ngx_fcfh_webhook_refusal;

    return NGX_DECLINED;
}


/*
 * "fcfh_webhook_allow <address>[/<bits>]|all [<port>[-<port>]|*]": when
 * any is given, a webhook target must match one (loopback and link-local
 * only an entry inside their range, see ngx_fcfh_webhook_target.h).
 */

char *
ngx_fcfh_webhook_allow(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_fcfh_main_conf_t  *fmcf = conf;

    u_char                  *mask, *dash;
    ngx_int_t                rc, lo, hi;
    ngx_str_t               *value;
    ngx_uint_t               i, n, bits;
    ngx_cidr_t               cidr;
    ngx_fcfh_target_rule_t  *r;

    value = cf->args->elts;

    if (fmcf->webhook_allow == NULL) {
        fmcf->webhook_allow = ngx_array_create(cf->pool, 4,
                                               sizeof(ngx_fcfh_target_rule_t));
        if (fmcf->webhook_allow == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    r = ngx_array_push(fmcf->webhook_allow);
    if (r == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(r, sizeof(ngx_fcfh_target_rule_t));

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "all", 3) == 0) {
        r->family = AF_UNSPEC;

    } else {
        rc = ngx_ptocidr(&value[1], &cidr);

        if (rc == NGX_ERROR
            || (cidr.family != AF_INET && cidr.family != AF_INET6))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid network \"%V\", expected an IP "
                               "address, address/bits or \"all\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless",
                               &value[1]);
        }

        r->family = cidr.family;

        if (cidr.family == AF_INET) {
            ngx_memcpy(r->addr, &cidr.u.in.addr, 4);
            mask = (u_char *) &cidr.u.in.mask;
            n = 4;

        } else {
#if (NGX_HAVE_INET6)
            ngx_memcpy(r->addr, cidr.u.in6.addr.s6_addr, 16);
            mask = cidr.u.in6.mask.s6_addr;
            n = 16;
#else
            return NGX_CONF_ERROR;
#endif
        }

        /* the mask is contiguous: its bits are the prefix */
        for (bits = 0, i = 0; i < n * 8; i++) {
            bits += (mask[i / 8] >> (7 - i % 8)) & 1;
        }

        r->prefix = bits;
    }

    lo = 1;
    hi = 65535;

    if (cf->args->nelts == 3
        && !(value[2].len == 1 && value[2].data[0] == '*'))
    {
        dash = ngx_strlchr(value[2].data, value[2].data + value[2].len, '-');

        if (dash) {
            lo = ngx_atoi(value[2].data, dash - value[2].data);
            hi = ngx_atoi(dash + 1, value[2].data + value[2].len - dash - 1);

        } else {
            lo = ngx_atoi(value[2].data, value[2].len);
            hi = lo;
        }

        if (lo < 1 || hi > 65535 || lo > hi) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid port \"%V\", expected a port, a "
                               "range such as 8000-8099, or \"*\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    r->port_lo = (uint16_t) lo;
    r->port_hi = (uint16_t) hi;

    return NGX_CONF_OK;
}


/* the address bytes of an IPv4 or IPv6 socket address, else NULL */

static u_char *
ngx_fcfh_webhook_ip(struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        return (u_char *) &((struct sockaddr_in *) sa)->sin_addr;
    }

#if (NGX_HAVE_INET6)
    if (sa->sa_family == AF_INET6) {
        return ((struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
    }
#endif

    return NULL;
}


/*
 * The addresses and ports this cycle listens on (http, stream, any
 * module), which no webhook may target: itself, or through a loop of
 * events, itself again.  A wildcard listener is reachable on loopback
 * and on every address of the host's interfaces, as they are now.
 */

ngx_int_t
ngx_fcfh_webhook_listeners(ngx_cycle_t *cycle, ngx_fcfh_main_conf_t *fmcf)
{
    u_char           *addr, loop4[4], loop6[16];
    in_port_t         port, *wport;
    ngx_uint_t        i, j;
    ngx_array_t      *own, wild;
    struct ifaddrs   *ifa, *ifs;
    ngx_listening_t  *ls;
    struct sockaddr  *sa;

    own = ngx_array_create(cycle->pool, cycle->listening.nelts + 4,
                           sizeof(ngx_fcfh_target_rule_t));
    if (own == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&wild, cycle->pool, 4, sizeof(in_port_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(loop4, 4);
    loop4[0] = 127;
    ngx_memzero(loop6, 16);
    loop6[15] = 1;

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {
        sa = ls[i].sockaddr;

        addr = ngx_fcfh_webhook_ip(sa);
        if (addr == NULL) {
            continue;
        }

        port = ngx_inet_get_port(sa);

        if (!ngx_inet_wildcard(sa)) {
            if (ngx_fcfh_webhook_own(own, sa->sa_family, addr,
                                     sa->sa_family == AF_INET ? 32 : 128,
                                     port)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (ngx_fcfh_webhook_own(own, AF_INET, loop4, 8, port) != NGX_OK
            || ngx_fcfh_webhook_own(own, AF_INET6, loop6, 128, port)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        wport = ngx_array_push(&wild);
        if (wport == NULL) {
            return NGX_ERROR;
        }

        *wport = port;
    }

    if (wild.nelts) {
        if (getifaddrs(&ifs) == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "getifaddrs() failed");
            return NGX_ERROR;
        }

        wport = wild.elts;

        for (ifa = ifs; ifa; ifa = ifa->ifa_next) {
            sa = ifa->ifa_addr;

            addr = sa ? ngx_fcfh_webhook_ip(sa) : NULL;
            if (addr == NULL) {
                continue;
            }

            for (j = 0; j < wild.nelts; j++) {
                if (ngx_fcfh_webhook_own(own, sa->sa_family, addr,
                                         sa->sa_family == AF_INET ? 32 : 128,
                                         wport[j])
                    != NGX_OK)
                {
                    freeifaddrs(ifs);
                    return NGX_ERROR;
                }
            }
        }

        freeifaddrs(ifs);
    }

    fmcf->webhook_own = own;

    return NGX_OK;
}


static ngx_int_t
ngx_fcfh_webhook_own(ngx_array_t *own, int family, u_char *addr,
    ngx_uint_t prefix, in_port_t port)
{
    ngx_fcfh_target_rule_t  *r;

    r = ngx_array_push(own);
    if (r == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(r, sizeof(ngx_fcfh_target_rule_t));

    r->family = family;
    r->prefix = prefix;
    r->port_lo = port;
    r->port_hi = port;
    ngx_memcpy(r->addr, addr, family == AF_INET ? 4 : 16);

    return NGX_OK;
}


/*
 * "fcfh_webhook_resolver <address> ... [valid=<time>] [ipv4=on|off]
 * [ipv6=on|off]": the module's own resolver, as nginx's "resolver" takes
 * it.  The delivering worker runs outside any request and any server
 * block, and the core module must not reach into http's.
 */

char *
ngx_fcfh_webhook_resolver(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_fcfh_main_conf_t  *fmcf = conf;

    ngx_str_t  *value;

    if (fmcf->webhook_resolver) {
        return "is duplicate";
    }

    value = cf->args->elts;

    fmcf->webhook_resolver = ngx_resolver_create(cf, &value[1],
                                                 cf->args->nelts - 1);
    if (fmcf->webhook_resolver == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The client side of https webhooks: TLS 1.2 or 1.3, the receiver's
 * certificate verified against fcfh_webhook_trusted_certificate.
 */

ngx_int_t
ngx_fcfh_webhook_ssl(ngx_cycle_t *cycle, ngx_fcfh_main_conf_t *fmcf)
{
    ngx_conf_t  cf;

    fmcf->webhook_ssl = ngx_fcfh_ssl_client(cycle, &cf);
    if (fmcf->webhook_ssl == NULL) {
        return NGX_ERROR;
    }

    if (ngx_ssl_trusted_certificate(&cf, fmcf->webhook_ssl,
                                    &fmcf->webhook_trusted,
                                    fmcf->webhook_verify_depth)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Adds a subscriber; it gets the events from now on.  *key_len 0: a
 * new key is made into key (NGX_FCFH_WEBHOOK_KEY_MAX bytes), for the
 * caller to hand out once.
 */

ngx_int_t
ngx_fcfh_webhook_add(ngx_str_t *url, uint32_t types, u_char *key,
    size_t *key_len, const char **err)
{
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_shpool(&zone);
    if (shpool == NULL) {
        *err = "no zone";
        return NGX_ERROR;
    }

    if (*key_len == 0) {
        if (RAND_bytes(key, NGX_FCFH_WEBHOOK_KEY_SIZE) != 1) {
            ngx_ssl_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "RAND_bytes() for a webhook secret failed");
            *err = "no secret could be made";
            return NGX_ERROR;
        }

        *key_len = NGX_FCFH_WEBHOOK_KEY_SIZE;
    }

    return ngx_fcfh_webhook_add_zone(ngx_fcfh_get_main_conf(ngx_cycle),
                                     shpool, zone, url, types, 0, key,
                                     *key_len, err);
}


/*
 * Returns the new id (> 0), NGX_DECLINED (bad url, or a target fmcf's
 * rules refuse), NGX_BUSY (full).  A host name is checked when it is
 * resolved, at each delivery.
 */

ngx_int_t
ngx_fcfh_webhook_add_zone(ngx_fcfh_main_conf_t *fmcf,
    ngx_slab_pool_t *shpool, ngx_fcfh_zone_t *zone, ngx_str_t *url,
    uint32_t types, uint32_t id, u_char *key, size_t key_len,
    const char **err)
{
    ngx_uint_t           i;
    ngx_fcfh_webhook_t   wh;

    ngx_memzero(&wh, sizeof(ngx_fcfh_webhook_t));

    if (key_len < NGX_FCFH_WEBHOOK_KEY_MIN
        || key_len > NGX_FCFH_WEBHOOK_KEY_MAX)
    {
        *err = "no valid secret";
        return NGX_DECLINED;
    }

    if (ngx_fcfh_webhook_parse_url(fmcf, url, &wh, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (wh.socklen
        && ngx_fcfh_webhook_check(fmcf, &wh.sockaddr.sockaddr, wh.socklen,
                                  err)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    wh.types = types;
    wh.created = ngx_time();
    wh.key_len = (uint8_t) key_len;
    ngx_memcpy(wh.key, key, key_len);

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < NGX_FCFH_WEBHOOKS; i++) {
        if (zone->webhooks[i].id == 0) {
            break;
        }
    }

    if (i == NGX_FCFH_WEBHOOKS) {
        ngx_shmtx_unlock(&shpool->mutex);
        ngx_explicit_memzero(&wh, sizeof(ngx_fcfh_webhook_t));
        *err = "too many webhooks";
        return NGX_BUSY;
    }

    wh.id = id ? id : ++zone->webhook_seq;

    if (wh.id > zone->webhook_seq) {
        zone->webhook_seq = wh.id;
    }

    wh.cursor = zone->event_seq;
    zone->webhooks[i] = wh;

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_explicit_memzero(&wh, sizeof(ngx_fcfh_webhook_t));

    return (ngx_int_t) zone->webhooks[i].id;
}


ngx_int_t
ngx_fcfh_webhook_delete(uint32_t id)
{
    ngx_uint_t        i;
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_shpool(&zone);
    if (shpool == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < NGX_FCFH_WEBHOOKS; i++) {
        if (zone->webhooks[i].id == id) {
            ngx_explicit_memzero(&zone->webhooks[i],
                                 sizeof(ngx_fcfh_webhook_t));
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_OK;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_DECLINED;
}


/* a copy of the subscribers, for the API: without their keys */

ngx_uint_t
ngx_fcfh_webhook_list(ngx_fcfh_webhook_t *out)
{
    return ngx_fcfh_webhook_copy(out, 0);
}


static ngx_uint_t
ngx_fcfh_webhook_copy(ngx_fcfh_webhook_t *out, ngx_uint_t with_key)
{
    ngx_uint_t        i, n;
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_shpool(&zone);
    if (shpool == NULL) {
        return 0;
    }

    n = 0;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < NGX_FCFH_WEBHOOKS; i++) {
        if (zone->webhooks[i].id) {
            out[n] = zone->webhooks[i];

            if (!with_key) {
                ngx_memzero(out[n].key, sizeof(out[n].key));
                out[n].key_len = 0;
            }

            n++;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return n;
}


/* a state file line: "<id> <types> whsec_<base64> <url>\n" */
#define NGX_FCFH_WEBHOOK_LINE_MAX                                             \
    (2 * NGX_INT32_LEN + NGX_FCFH_WEBHOOK_SECRET_LEN                          \
     + NGX_FCFH_WEBHOOK_URL_MAX + 4)


/*
 * The state file, with the subscribers' secrets: mode 0600, written
 * whole to a temporary file and renamed, so a crash never leaves half
 * of it.
 */

ngx_int_t
ngx_fcfh_webhook_save(ngx_str_t *file, ngx_log_t *log)
{
    u_char               *p, tmp[NGX_MAX_PATH];
    ssize_t               n;
    ngx_fd_t              fd;
    ngx_int_t             rc;
    ngx_uint_t            i, count;
    ngx_fcfh_webhook_t    list[NGX_FCFH_WEBHOOKS];
    char                  secret[NGX_FCFH_WEBHOOK_SECRET_LEN];
    u_char                buf[NGX_FCFH_WEBHOOKS * NGX_FCFH_WEBHOOK_LINE_MAX];

    if (file->len == 0) {
        return NGX_OK;
    }

    if (file->len + sizeof(".4294967295.tmp") > NGX_MAX_PATH) {
        return NGX_ERROR;
    }

    count = ngx_fcfh_webhook_copy(list, 1);

    p = buf;

    for (i = 0; i < count; i++) {
        if (ngx_fcfh_webhook_secret_format(list[i].key, list[i].key_len,
                                           secret)
            < 0)
        {
            continue;
        }

        p = ngx_sprintf(p, "%uD %uD %s %*s\n", list[i].id, list[i].types,
                        secret, (size_t) list[i].url_len, list[i].url);
    }

    ngx_explicit_memzero(list, sizeof(list));
    ngx_explicit_memzero(secret, sizeof(secret));

    /* per process: two workers saving at once do not share a file */
    ngx_sprintf(tmp, "%V.%P.tmp%Z", file, ngx_pid);

    rc = NGX_ERROR;

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE, 0600);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", tmp);
        goto done;
    }

    /* a file left over by a crash keeps its mode through O_TRUNC */
    if (fchmod(fd, 0600) == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "fchmod() \"%s\" failed", tmp);
        ngx_close_file(fd);
        goto done;
    }

    n = ngx_write_fd(fd, buf, p - buf);

    ngx_close_file(fd);

    if (n != p - buf) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "writing webhook state \"%s\" failed", tmp);
        goto done;
    }

    if (ngx_rename_file(tmp, file->data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_rename_file_n " \"%s\" to \"%V\" failed", tmp,
                      file);
        goto done;
    }

    rc = NGX_OK;

done:

    ngx_explicit_memzero(buf, sizeof(buf));

    return rc;
}


/*
 * At start, into a fresh zone (the master, before the workers): the
 * zone's webhook-id epoch, and the subscribers of the last run.
 */

void
ngx_fcfh_webhook_load(ngx_fcfh_main_conf_t *fmcf, ngx_slab_pool_t *shpool,
    ngx_fcfh_zone_t *zone, ngx_log_t *log)
{
    u_char           *p, *last, *eol, *sp1, *sp2, *sp3;
    u_char            key[NGX_FCFH_WEBHOOK_KEY_MAX];
    u_char            buf[NGX_FCFH_WEBHOOKS * NGX_FCFH_WEBHOOK_LINE_MAX];
    time_t            now;
    ssize_t           n, key_len;
    ngx_fd_t          fd;
    ngx_int_t         id, types;
    ngx_str_t         url, *file;
    ngx_uint_t        line;
    ngx_file_info_t   fi;
    const char       *err;

    if (RAND_bytes(zone->webhook_epoch, sizeof(zone->webhook_epoch)) != 1) {
        /* unique enough from the clock: ids only tell retries apart */
        now = ngx_time();
        ngx_memcpy(zone->webhook_epoch, &now,
                   ngx_min(sizeof(time_t), sizeof(zone->webhook_epoch)));
        ERR_clear_error();
    }

    file = &fmcf->webhooks_state;

    if (file->len == 0) {
        return;
    }

    fd = ngx_open_file(file->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                          ngx_open_file_n " \"%V\" failed", file);
        }

        return;
    }

    if (ngx_fd_info(fd, &fi) != NGX_FILE_ERROR
        && (ngx_file_access(&fi) & 0077))
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "webhook state \"%V\" holds the subscribers' secrets "
                      "and is readable by other users", file);
    }

    n = ngx_read_fd(fd, buf, sizeof(buf));
    ngx_close_file(fd);

    if (n <= 0) {
        return;
    }

    p = buf;
    last = buf + n;

    for (line = 1; p < last; line++, p = eol + 1) {

        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        sp1 = ngx_strlchr(p, eol, ' ');
        sp2 = sp1 ? ngx_strlchr(sp1 + 1, eol, ' ') : NULL;
        sp3 = sp2 ? ngx_strlchr(sp2 + 1, eol, ' ') : NULL;

        if (sp1 == NULL) {
            continue;
        }

        err = "malformed";

        if (sp3 == NULL
            || ngx_strncmp(sp2 + 1, NGX_FCFH_WEBHOOK_SECRET_PREFIX,
                           sizeof(NGX_FCFH_WEBHOOK_SECRET_PREFIX) - 1)
               != 0)
        {
            /* "<id> <types> <url>", before subscribers had secrets */
            if (sp2) {
                err = "no secret (written by an older version): add the "
                      "subscriber again";
            }

            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "webhook state \"%V\" line %ui ignored: %s",
                          file, line, err);
            continue;
        }

        id = ngx_atoi(p, sp1 - p);
        types = ngx_atoi(sp1 + 1, sp2 - sp1 - 1);
        key_len = ngx_fcfh_webhook_secret_parse(sp2 + 1, sp3 - sp2 - 1, key);

        url.data = sp3 + 1;
        url.len = eol - url.data;

        if (key_len < 0) {
            err = "not a valid secret";
        }

        /* a target this configuration refuses is dropped here too */
        if (id <= 0 || types < 0 || key_len < 0
            || ngx_fcfh_webhook_add_zone(fmcf, shpool, zone, &url,
                                         (uint32_t) types, (uint32_t) id,
                                         key, (size_t) key_len, &err)
               <= 0)
        {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "webhook state \"%V\" line %ui ignored: %s",
                          file, line, err);
        }
    }

    ngx_explicit_memzero(key, sizeof(key));
    ngx_explicit_memzero(buf, sizeof(buf));
}


/*
 * From the worker's 250 ms poll: the delivering worker starts what is
 * due.  During a reload the exiting worker lets go, a new one takes over.
 */

void
ngx_fcfh_webhook_poll(ngx_fcfh_main_conf_t *fmcf)
{
    ngx_uint_t        i, mine;
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_shpool(&zone);
    if (shpool == NULL) {
        return;
    }

    if (ngx_exiting) {
        ngx_fcfh_webhook_abort(fmcf);
    }

    ngx_shmtx_lock(&shpool->mutex);

    if (ngx_exiting) {
        if (zone->webhook_owner == ngx_pid) {
            zone->webhook_owner = 0;
        }

    } else if (zone->webhook_owner == 0) {
        zone->webhook_owner = ngx_pid;
    }

    mine = (zone->webhook_owner == ngx_pid);

    ngx_shmtx_unlock(&shpool->mutex);

    if (!mine) {
        return;
    }

    for (i = 0; i < NGX_FCFH_WEBHOOKS; i++) {
        ngx_fcfh_webhook_next(fmcf, zone, i);
    }
}


/*
 * Starts the subscriber's next due delivery, if any.  Only the delivering
 * worker changes cursors and schedules, so they need no lock.
 */

static void
ngx_fcfh_webhook_next(ngx_fcfh_main_conf_t *fmcf, ngx_fcfh_zone_t *zone,
    ngx_uint_t i)
{
    uint64_t             dropped;
    ngx_fcfh_event_t     e;
    ngx_fcfh_webhook_t  *wh;

    wh = &zone->webhooks[i];

    if (wh->id == 0 || fmcf->hooks[i].busy || ngx_time() < wh->next_try) {
        return;
    }

    while (ngx_fcfh_event_next(wh->cursor, &e, &dropped) == NGX_OK) {

        if (dropped) {
            wh->dropped += dropped;

            /* counted once: the cursor moves past what the ring lost */
            wh->cursor = e.seq - 1;

            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "fcfh: webhook %uD missed %uL events it could "
                          "not take in time", wh->id, dropped);
        }

        if (wh->types && !(wh->types & (1 << e.type))) {
            wh->cursor = e.seq;
            continue;
        }

        ngx_fcfh_webhook_start(fmcf, zone, i, wh->id, &e);
        return;
    }
}


static void
ngx_fcfh_webhook_start(ngx_fcfh_main_conf_t *fmcf, ngx_fcfh_zone_t *zone,
    ngx_uint_t i, uint32_t id, ngx_fcfh_event_t *e)
{
    ngx_int_t            rc;
    ngx_fcfh_hook_t     *hook;
    ngx_slab_pool_t     *shpool;
    ngx_fcfh_webhook_t   wh;

    shpool = ngx_fcfh_registry_shpool(&zone);
    if (shpool == NULL) {
        return;
    }

    /* the API may replace the slot meanwhile: a consistent copy */
    ngx_shmtx_lock(&shpool->mutex);
    wh = zone->webhooks[i];
    ngx_shmtx_unlock(&shpool->mutex);

    if (wh.id != id) {
        /* deleted, or another subscriber, since the cursor was read */
        ngx_explicit_memzero(&wh.key, sizeof(wh.key));
        return;
    }

    hook = &fmcf->hooks[i];

    ngx_memzero(hook, sizeof(ngx_fcfh_hook_t));

    hook->id = wh.id;
    hook->seq = e->seq;
    hook->index = i;
    hook->fmcf = fmcf;
    hook->busy = 1;
    hook->attempt = (ngx_uint_t) wh.failures;
    hook->tls = wh.tls;
    hook->literal = (wh.socklen != 0);
    hook->port = wh.port;
    hook->host_len = wh.host_len;
    ngx_memcpy(hook->host, wh.host, wh.host_len);
    hook->host[wh.host_len] = '\0';

    /* the head is all the answer we read: its status */
    ngx_fcfh_response_init(&hook->answer, sizeof(hook->buf), 0, 1);

    rc = ngx_fcfh_webhook_request(hook, zone, &wh, e);

    ngx_explicit_memzero(&wh.key, sizeof(wh.key));

    if (rc != NGX_OK) {
        ngx_fcfh_webhook_done(hook, "could not be signed");
        return;
    }

    if (!hook->literal) {
        ngx_fcfh_webhook_resolve(hook);
        return;
    }

    ngx_memcpy(&hook->sockaddr, &wh.sockaddr, wh.socklen);
    hook->socklen = wh.socklen;

    ngx_fcfh_webhook_connect(hook);
}


/*
 * The POST, signed (see ngx_fcfh_webhook_sign.h): webhook-id is the
 * zone's epoch, the subscriber's id and the event's sequence number, the
 * same on a retry and unique otherwise, even to two subscribers with
 * one receiver; webhook-timestamp is this attempt's.
 */

static ngx_int_t
ngx_fcfh_webhook_request(ngx_fcfh_hook_t *hook, ngx_fcfh_zone_t *zone,
    ngx_fcfh_webhook_t *wh, ngx_fcfh_event_t *e)
{
    u_char     *p, *id_end;
    u_char      json[NGX_FCFH_EVENT_JSON_MAX];
    u_char      id[NGX_FCFH_WEBHOOK_ID_MAX];
    u_char      host[NGX_FCFH_WEBHOOK_URL_MAX + sizeof("[]:65535")];
    char        sig[NGX_FCFH_WEBHOOK_SIGNATURE_LEN];
    time_t      now;
    size_t      host_len;
    ssize_t     n;
    ngx_uint_t  default_port;

    p = ngx_fcfh_event_json(json, e);

    /* msg_<16 hex>_<subscriber>_<event>: at most 4 + 16 + 11 + 21 */
    id_end = ngx_cpymem(id, "msg_", 4);
    id_end = ngx_hex_dump(id_end, zone->webhook_epoch,
                          sizeof(zone->webhook_epoch));
    id_end = ngx_sprintf(id_end, "_%uD_%uL", wh->id, e->seq);

    now = ngx_time();

    n = ngx_fcfh_webhook_sign(wh->key, wh->key_len, id, id_end - id,
                              (uint64_t) now, json, p - json, sig);
    if (n < 0) {
        return NGX_ERROR;
    }

    /* Host: the URL's authority, the scheme's own port left out */

    default_port = wh->tls ? 443 : 80;

    host_len = ngx_snprintf(host, sizeof(host),
                            (wh->socklen && wh->sockaddr.sockaddr.sa_family
                                            == AF_INET6)
                            ? "[%*s]" : "%*s",
                            (size_t) wh->host_len, wh->host)
               - host;

    if (wh->port != default_port) {
        host_len = ngx_snprintf(host + host_len, sizeof(host) - host_len,
                                ":%d", (int) wh->port)
                   - host;
    }

    hook->len = ngx_snprintf(hook->buf, sizeof(hook->buf),
                     "POST %*s HTTP/1.1\r\nHost: %*s\r\n"
                     "Content-Type: application/json\r\n"
                     "User-Agent: ngx_fcfh_module/" NGX_FCFH_VERSION "\r\n"
                     "webhook-id: %*s\r\nwebhook-timestamp: %T\r\n"
                     "webhook-signature: %*s\r\n"
                     "Content-Length: %uz\r\nConnection: close\r\n\r\n%*s",
                     (size_t) wh->path_len, wh->path, host_len, host,
                     (size_t) (id_end - id), id, now, (size_t) n, sig,
                     (size_t) (p - json), (size_t) (p - json), json)
                - hook->buf;

    return NGX_OK;
}


/* the URL's host name, with fcfh_webhook_resolver, at every delivery */

static void
ngx_fcfh_webhook_resolve(ngx_fcfh_hook_t *hook)
{
    ngx_resolver_ctx_t    *ctx;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = hook->fmcf;

    if (fmcf->webhook_resolver == NULL) {
        /* a reload took it away */
        ngx_fcfh_webhook_done(hook, "no fcfh_webhook_resolver");
        return;
    }

    ctx = ngx_resolve_start(fmcf->webhook_resolver, NULL);

    if (ctx == NULL) {
        ngx_fcfh_webhook_done(hook, "cannot resolve");
        return;
    }

    if (ctx == NGX_NO_RESOLVER) {
        ngx_fcfh_webhook_done(hook, "no fcfh_webhook_resolver");
        return;
    }

    ctx->name.data = hook->host;
    ctx->name.len = hook->host_len;
    ctx->handler = ngx_fcfh_webhook_resolved;
    ctx->data = hook;
    ctx->timeout = fmcf->webhook_resolver_timeout;
    ctx->cancelable = 1;

    hook->resolving = ctx;

    /* the answer may be cached: the handler has run when this returns */
    if (ngx_resolve_name(ctx) != NGX_OK) {
        hook->resolving = NULL;
        ngx_fcfh_webhook_done(hook, "cannot resolve");
    }
}


/*
 * Every address the name has must pass the target rules, as an address
 * in the URL would: a name is no way around fcfh_webhook_allow, and one
 * that now resolves elsewhere (DNS rebinding) is refused before any
 * connection.  Retries go through the addresses in turn.
 */

static void
ngx_fcfh_webhook_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_uint_t        i;
    const char       *err;
    ngx_sockaddr_t    sa;
    ngx_fcfh_hook_t  *hook;

    hook = ctx->data;
    hook->resolving = NULL;

    if (ctx->state) {
        ngx_snprintf(hook->error, NGX_FCFH_WEBHOOK_ERROR_MAX,
                     "cannot resolve: %s%Z",
                     ngx_resolver_strerror(ctx->state));
        ngx_resolve_name_done(ctx);
        ngx_fcfh_webhook_done(hook, (const char *) hook->error);
        return;
    }

    if (ctx->naddrs == 0) {
        ngx_resolve_name_done(ctx);
        ngx_fcfh_webhook_done(hook, "cannot resolve: no address");
        return;
    }

    for (i = 0; i < ctx->naddrs; i++) {
        if (ctx->addrs[i].socklen > sizeof(ngx_sockaddr_t)) {
            continue;
        }

        ngx_memcpy(&sa, ctx->addrs[i].sockaddr, ctx->addrs[i].socklen);
        ngx_inet_set_port(&sa.sockaddr, hook->port);

        if (ngx_fcfh_webhook_check(hook->fmcf, &sa.sockaddr,
                                   ctx->addrs[i].socklen, &err)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "fcfh: webhook %uD not delivered: \"%s\" "
                          "resolves to a refused address: %s", hook->id,
                          hook->host, err);
            ngx_resolve_name_done(ctx);
            ngx_fcfh_webhook_done(hook, "target not allowed");
            return;
        }
    }

    i = hook->attempt % ctx->naddrs;

    if (ctx->addrs[i].socklen > sizeof(ngx_sockaddr_t)) {
        ngx_resolve_name_done(ctx);
        ngx_fcfh_webhook_done(hook, "cannot resolve");
        return;
    }

    ngx_memcpy(&hook->sockaddr, ctx->addrs[i].sockaddr,
               ctx->addrs[i].socklen);
    hook->socklen = ctx->addrs[i].socklen;
    ngx_inet_set_port(&hook->sockaddr.sockaddr, hook->port);

    ngx_resolve_name_done(ctx);

    ngx_fcfh_webhook_connect(hook);
}


static void
ngx_fcfh_webhook_connect(ngx_fcfh_hook_t *hook)
{
    ngx_int_t              rc;
    const char            *err;
    ngx_connection_t      *c;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = hook->fmcf;

    /* again: a reload may have changed the rules or the listeners */
    if (ngx_fcfh_webhook_check(fmcf, &hook->sockaddr.sockaddr,
                               hook->socklen, &err)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "fcfh: webhook %uD not delivered: %s", hook->id, err);
        ngx_fcfh_webhook_done(hook, "target not allowed");
        return;
    }

    if (hook->tls && fmcf->webhook_ssl == NULL) {
        /* a reload took it away */
        ngx_fcfh_webhook_done(hook, "no fcfh_webhook_trusted_certificate");
        return;
    }

    /* NUL-terminated too: the failure's log line prints it as %s */
    hook->peer.data = hook->peer_text;
    hook->peer.len = ngx_sock_ntop(&hook->sockaddr.sockaddr, hook->socklen,
                                   hook->peer_text, NGX_SOCKADDR_STRLEN - 1,
                                   1);
    hook->peer_text[hook->peer.len] = '\0';

    hook->pc.sockaddr = &hook->sockaddr.sockaddr;
    hook->pc.socklen = hook->socklen;
    hook->pc.name = &hook->peer;
    hook->pc.get = ngx_event_get_peer;
    hook->pc.log = ngx_cycle->log;
    hook->pc.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&hook->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (hook->pc.connection) {
            ngx_close_connection(hook->pc.connection);
            hook->pc.connection = NULL;
        }

        ngx_fcfh_webhook_done(hook, "connect failed");
        return;
    }

    c = hook->pc.connection;
    c->data = hook;
    c->log_error = NGX_ERROR_INFO;

    /* TLS allocates from it; gone with the connection */
    c->pool = ngx_create_pool(1024, ngx_cycle->log);
    if (c->pool == NULL) {
        hook->connection = c;
        ngx_fcfh_webhook_done(hook, "connect failed");
        return;
    }
    c->read->handler = ngx_fcfh_webhook_handler;
    c->write->handler = ngx_fcfh_webhook_handler;

    hook->connection = c;

    /* one deadline for the connection, TLS, the request and the answer */
    ngx_add_timer(c->read, NGX_FCFH_WEBHOOK_TIMEOUT);

    if (rc == NGX_OK) {
        ngx_fcfh_webhook_handler(c->write);
    }
}


/* whether the non-blocking connect() succeeded, as nginx's upstream asks */

static ngx_int_t
ngx_fcfh_webhook_test_connect(ngx_fcfh_hook_t *hook)
{
    int                err;
    u_char            *p, *last;
    socklen_t          len;
    ngx_connection_t  *c;

    c = hook->connection;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        last = hook->error + NGX_FCFH_WEBHOOK_ERROR_MAX;
        p = ngx_cpymem(hook->error, "connect failed: ",
                       sizeof("connect failed: ") - 1);
        p = ngx_strerror(err, p, last - p);
        *p = '\0';
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_fcfh_webhook_ssl_start(ngx_fcfh_hook_t *hook)
{
    ngx_int_t              rc;
    ngx_connection_t      *c;
    ngx_fcfh_main_conf_t  *fmcf;

    c = hook->connection;
    fmcf = hook->fmcf;

    if (ngx_ssl_create_connection(fmcf->webhook_ssl, c, NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_fcfh_webhook_done(hook, "TLS failed");
        return;
    }

    /* SNI: a name only (RFC 6066 has no addresses in it) */
    if (!hook->literal
        && SSL_set_tlsext_host_name(c->ssl->connection, (char *) hook->host)
           == 0)
    {
        ngx_ssl_error(NGX_LOG_ERR, c->log, 0,
                      "SSL_set_tlsext_host_name(\"%s\") failed", hook->host);
        ngx_fcfh_webhook_done(hook, "TLS failed");
        return;
    }

    c->sendfile = 0;

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_fcfh_webhook_ssl_handshaked;
        return;
    }

    ngx_fcfh_webhook_ssl_handshaked(c);
}


/*
 * The receiver must prove it is the URL's host: a chain to
 * fcfh_webhook_trusted_certificate, and the host (name or address) in
 * the certificate.
 */

static void
ngx_fcfh_webhook_ssl_handshaked(ngx_connection_t *c)
{
    long              rc;
    ngx_fcfh_hook_t  *hook;

    hook = c->data;

    if (!c->ssl->handshaked) {
        ngx_fcfh_webhook_done(hook, c->read->timedout
                                    ? "timed out" : "TLS handshake failed");
        return;
    }

    rc = SSL_get_verify_result(c->ssl->connection);

    if (rc != X509_V_OK) {
        ngx_snprintf(hook->error, NGX_FCFH_WEBHOOK_ERROR_MAX,
                     "certificate not verified: %s%Z",
                     X509_verify_cert_error_string(rc));
        ngx_fcfh_webhook_done(hook, (const char *) hook->error);
        return;
    }

    if (ngx_fcfh_webhook_check_host(hook) != NGX_OK) {
        ngx_fcfh_webhook_done(hook, "certificate does not name the host");
        return;
    }

    c->read->handler = ngx_fcfh_webhook_handler;
    c->write->handler = ngx_fcfh_webhook_handler;

    ngx_fcfh_webhook_handler(c->write);
}


static ngx_int_t
ngx_fcfh_webhook_check_host(ngx_fcfh_hook_t *hook)
{
    int    rc;
    X509  *cert;

    cert = SSL_get_peer_certificate(hook->connection->ssl->connection);
    if (cert == NULL) {
        return NGX_ERROR;
    }

    if (hook->literal) {
        rc = X509_check_ip_asc(cert, (char *) hook->host, 0);

    } else {
        rc = X509_check_host(cert, (char *) hook->host, hook->host_len, 0,
                             NULL);
    }

    X509_free(cert);

    return (rc == 1) ? NGX_OK : NGX_ERROR;
}


static void
ngx_fcfh_webhook_handler(ngx_event_t *ev)
{
    ssize_t            n, rc;
    ngx_uint_t         eof, status;
    ngx_connection_t  *c;
    ngx_fcfh_hook_t   *hook;

    c = ev->data;
    hook = c->data;

    if (ev->timedout) {
        ngx_fcfh_webhook_done(hook, "timed out");
        return;
    }

    if (!hook->connected) {
        if (ngx_fcfh_webhook_test_connect(hook) != NGX_OK) {
            ngx_fcfh_webhook_done(hook, (const char *) hook->error);
            return;
        }

        hook->connected = 1;

        if (hook->tls) {
            ngx_fcfh_webhook_ssl_start(hook);
            return;
        }
    }

    while (hook->sent < hook->len) {
        n = c->send(c, hook->buf + hook->sent, hook->len - hook->sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_fcfh_webhook_done(hook, "send failed");
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_fcfh_webhook_done(hook, "send failed");
            return;
        }

        hook->sent += n;

        if (hook->sent == hook->len) {
            /* what it held was signed: gone before the answer comes */
            ngx_explicit_memzero(hook->buf, hook->len);
        }
    }

    /* the request is out: its buffer takes the answer's head */

    for ( ;; ) {
        eof = 0;

        n = c->recv(c, hook->buf + hook->got, sizeof(hook->buf) - hook->got);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
                ngx_fcfh_webhook_done(hook, "receive failed");
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            eof = 1;

        } else {
            hook->got += n;
        }

        rc = ngx_fcfh_response_read(&hook->answer, hook->buf, hook->got,
                                    eof);

        if (rc > 0) {
            break;
        }

        if (rc == NGX_FCFH_RESPONSE_ERR_TRUNCATED && hook->got == 0) {
            ngx_fcfh_webhook_done(hook, "no response");
            return;
        }

        if (rc < 0) {
            hook->why = ngx_fcfh_response_strerror(rc);
            ngx_fcfh_webhook_done(hook, "not an HTTP response");
            return;
        }
    }

    status = hook->answer.head.status;

    if (status < 200 || status > 299) {
        ngx_snprintf(hook->error, NGX_FCFH_WEBHOOK_ERROR_MAX, "status %ui%Z",
                     status);
        ngx_fcfh_webhook_done(hook, (const char *) hook->error);
        return;
    }

    ngx_fcfh_webhook_done(hook, NULL);
}


static void
ngx_fcfh_webhook_close(ngx_fcfh_hook_t *hook)
{
    ngx_pool_t        *pool;
    ngx_connection_t  *c;

    if (hook->resolving) {
        ngx_resolve_name_done(hook->resolving);
        hook->resolving = NULL;
    }

    c = hook->connection;

    if (c) {
        if (c->ssl) {
            /* the answer is in, or it failed: no close_notify exchange */
            c->ssl->no_wait_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }

        pool = c->pool;

        ngx_close_connection(c);
        hook->connection = NULL;

        if (pool) {
            ngx_destroy_pool(pool);
        }
    }

    hook->busy = 0;
}


/* one delivery ended: advance, or back off and retry the same event */

static void
ngx_fcfh_webhook_done(ngx_fcfh_hook_t *hook, const char *error)
{
    size_t               len;
    ngx_fcfh_zone_t     *zone;
    ngx_fcfh_webhook_t  *wh;

    ngx_fcfh_webhook_close(hook);

    ngx_explicit_memzero(hook->buf, sizeof(hook->buf));

    if (ngx_fcfh_registry_shpool(&zone) == NULL) {
        return;
    }

    wh = &zone->webhooks[hook->index];

    if (wh->id != hook->id) {
        /* deleted meanwhile */
        return;
    }

    if (error == NULL) {
        wh->cursor = hook->seq;
        wh->delivered++;
        wh->backoff = 0;
        wh->next_try = 0;

        (void) ngx_atomic_fetch_add(&zone->counters.webhook_deliveries, 1);

        if (!ngx_exiting) {
            /* a backlog goes out back to back, not one per poll */
            ngx_fcfh_webhook_next(hook->fmcf, zone, hook->index);
        }

        return;
    }

    wh->failures++;
    wh->backoff = wh->backoff ? ngx_min(wh->backoff * 2,
                                        NGX_FCFH_WEBHOOK_BACKOFF_MAX)
                              : 1;
    wh->next_try = ngx_time() + wh->backoff;

    len = ngx_min(ngx_strlen(error), sizeof(wh->last_error));
    ngx_memcpy(wh->last_error, error, len);
    wh->last_error_len = (uint16_t) len;

    (void) ngx_atomic_fetch_add(&zone->counters.webhook_failures, 1);

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "fcfh: webhook %uD (%*s%s%s) delivery of event %uL "
                  "failed: %s%s%s%s, retry in %uDs", wh->id,
                  (size_t) wh->url_len, wh->url,
                  hook->peer.len ? " at " : "",
                  hook->peer.len ? (char *) hook->peer_text : "", hook->seq,
                  error, hook->why ? " (" : "", hook->why ? hook->why : "",
                  hook->why ? ")" : "", wh->backoff);
}


/* an exiting worker drops its deliveries: the next owner retries them */

void
ngx_fcfh_webhook_abort(ngx_fcfh_main_conf_t *fmcf)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_FCFH_WEBHOOKS; i++) {
        if (fmcf->hooks[i].busy) {
            ngx_fcfh_webhook_close(&fmcf->hooks[i]);
        }
    }
}
