
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


static ngx_int_t ngx_fcfh_webhook_parse_url(ngx_str_t *url,
    ngx_fcfh_webhook_t *wh, const char **err);
static ngx_int_t ngx_fcfh_webhook_check(ngx_fcfh_main_conf_t *fmcf,
    struct sockaddr *sa, socklen_t socklen, const char **err);
static u_char *ngx_fcfh_webhook_ip(struct sockaddr *sa);
static ngx_int_t ngx_fcfh_webhook_own(ngx_array_t *own, int family,
    u_char *addr, ngx_uint_t prefix, in_port_t port);
static void ngx_fcfh_webhook_next(ngx_fcfh_main_conf_t *fmcf,
    ngx_fcfh_zone_t *zone, ngx_uint_t i);
static void ngx_fcfh_webhook_start(ngx_fcfh_main_conf_t *fmcf,
    ngx_uint_t i, ngx_fcfh_webhook_t *wh, ngx_fcfh_event_t *e);
static void ngx_fcfh_webhook_handler(ngx_event_t *ev);
static void ngx_fcfh_webhook_done(ngx_fcfh_hook_t *hook, const char *error);


/* the text of the last refusal: a worker does one thing at a time */
static u_char  ngx_fcfh_webhook_refusal[NGX_SOCKADDR_STRLEN + 96];


/* "http://<ip>:<port>/path": no resolver in a worker's event loop */

static ngx_int_t
ngx_fcfh_webhook_parse_url(ngx_str_t *url, ngx_fcfh_webhook_t *wh,
    const char **err)
{
    ngx_fcfh_proxy_target_t  t;

    if (url->len == 0 || url->len > sizeof(wh->url)
        || ngx_fcfh_proxy_target_parse(url->data, url->len, &t) < 0
        || t.scheme != NGX_FCFH_PROXY_SCHEME_HTTP)
    {
        *err = "url must be http://<address>:<port>/<path>";
        return NGX_ERROR;
    }

    ngx_memzero(&wh->sockaddr, sizeof(ngx_sockaddr_t));

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

    } else {
        *err = "the url's host must be an IP address";
        return NGX_ERROR;
    }

    if (t.path.len > sizeof(wh->path)
        || t.host.text.len + sizeof("[]:65535") > sizeof(wh->host))
    {
        *err = "url too long";
        return NGX_ERROR;
    }

    wh->url_len = (uint16_t) url->len;
    ngx_memcpy(wh->url, url->data, url->len);

    wh->path_len = (uint16_t) t.path.len;
    ngx_memcpy(wh->path, t.path.data, t.path.len);

    wh->host_len = (uint16_t) (ngx_snprintf(wh->host, sizeof(wh->host),
                                   t.host.kind == NGX_FCFH_PROXY_HOST_IPV6
                                   ? "[%*s]:%d" : "%*s:%d",
                                   t.host.text.len, t.host.text.data,
                                   (int) t.port)
                               - wh->host);

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


/* adds a subscriber; it gets the events from now on */

ngx_int_t
ngx_fcfh_webhook_add(ngx_str_t *url, uint32_t types, uint32_t id,
    const char **err)
{
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_shpool(&zone);
    if (shpool == NULL) {
        *err = "no zone";
        return NGX_ERROR;
    }

    return ngx_fcfh_webhook_add_zone(ngx_fcfh_get_main_conf(ngx_cycle),
                                     shpool, zone, url, types, id, err);
}


/*
 * Returns the new id (> 0), NGX_DECLINED (bad url, or a target fmcf's
 * rules refuse), NGX_BUSY (full).
 */

ngx_int_t
ngx_fcfh_webhook_add_zone(ngx_fcfh_main_conf_t *fmcf,
    ngx_slab_pool_t *shpool, ngx_fcfh_zone_t *zone, ngx_str_t *url,
    uint32_t types, uint32_t id, const char **err)
{
    ngx_uint_t           i;
    ngx_fcfh_webhook_t   wh;

    ngx_memzero(&wh, sizeof(ngx_fcfh_webhook_t));

    if (ngx_fcfh_webhook_parse_url(url, &wh, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ngx_fcfh_webhook_check(fmcf, &wh.sockaddr.sockaddr, wh.socklen, err)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    wh.types = types;
    wh.created = ngx_time();

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < NGX_FCFH_WEBHOOKS; i++) {
        if (zone->webhooks[i].id == 0) {
            break;
        }
    }

    if (i == NGX_FCFH_WEBHOOKS) {
        ngx_shmtx_unlock(&shpool->mutex);
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

    return (ngx_int_t) wh.id;
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
            zone->webhooks[i].id = 0;
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_OK;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_DECLINED;
}


/* a copy of the subscribers, for the API */

ngx_uint_t
ngx_fcfh_webhook_list(ngx_fcfh_webhook_t *out)
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
            out[n++] = zone->webhooks[i];
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return n;
}


/*
 * The state file: "<id> <types> <url>" per line, written whole to a
 * temporary file and renamed, so a crash never leaves half of it.
 */

ngx_int_t
ngx_fcfh_webhook_save(ngx_str_t *file, ngx_log_t *log)
{
    u_char               *p, tmp[NGX_MAX_PATH];
    ssize_t               n;
    ngx_fd_t              fd;
    ngx_uint_t            i, count;
    ngx_fcfh_webhook_t    list[NGX_FCFH_WEBHOOKS];
    u_char                buf[NGX_FCFH_WEBHOOKS
                              * (NGX_FCFH_WEBHOOK_URL_MAX + 32)];

    if (file->len == 0) {
        return NGX_OK;
    }

    if (file->len + sizeof(".4294967295.tmp") > NGX_MAX_PATH) {
        return NGX_ERROR;
    }

    count = ngx_fcfh_webhook_list(list);

    p = buf;

    for (i = 0; i < count; i++) {
        p = ngx_sprintf(p, "%uD %uD %*s\n", list[i].id, list[i].types,
                        (size_t) list[i].url_len, list[i].url);
    }

    /* per process: two workers saving at once do not share a file */
    ngx_sprintf(tmp, "%V.%P.tmp%Z", file, ngx_pid);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE, 0600);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", tmp);
        return NGX_ERROR;
    }

    n = ngx_write_fd(fd, buf, p - buf);

    ngx_close_file(fd);

    if (n != p - buf) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "writing webhook state \"%s\" failed", tmp);
        return NGX_ERROR;
    }

    if (ngx_rename_file(tmp, file->data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_rename_file_n " \"%s\" to \"%V\" failed", tmp,
                      file);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* at start, into a fresh zone (the master, before the workers) */

void
ngx_fcfh_webhook_load(ngx_fcfh_main_conf_t *fmcf, ngx_slab_pool_t *shpool,
    ngx_fcfh_zone_t *zone, ngx_log_t *log)
{
    u_char       *p, *last, *eol, *sp1, *sp2, buf[8192];
    ssize_t       n;
    ngx_fd_t      fd;
    ngx_int_t     id, types;
    ngx_str_t     url, *file;
    ngx_uint_t    line;
    const char   *err;

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

        if (sp2 == NULL) {
            continue;
        }

        id = ngx_atoi(p, sp1 - p);
        types = ngx_atoi(sp1 + 1, sp2 - sp1 - 1);

        url.data = sp2 + 1;
        url.len = eol - url.data;

        err = "malformed";

        /* a target this configuration refuses is dropped here too */
        if (id <= 0 || types < 0
            || ngx_fcfh_webhook_add_zone(fmcf, shpool, zone, &url,
                                         (uint32_t) types, (uint32_t) id,
                                         &err)
               <= 0)
        {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "webhook state \"%V\" line %ui ignored: %s",
                          file, line, err);
        }
    }
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

    if (wh->id == 0 || fmcf->hooks[i].connection
        || ngx_time() < wh->next_try)
    {
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

        ngx_fcfh_webhook_start(fmcf, i, wh, &e);
        return;
    }
}


static void
ngx_fcfh_webhook_start(ngx_fcfh_main_conf_t *fmcf, ngx_uint_t i,
    ngx_fcfh_webhook_t *wh, ngx_fcfh_event_t *e)
{
    u_char            *p, json[NGX_FCFH_EVENT_JSON_MAX];
    ngx_int_t          rc;
    ngx_fcfh_hook_t   *hook;
    ngx_connection_t  *c;
    const char        *err;

    hook = &fmcf->hooks[i];

    ngx_memzero(hook, sizeof(ngx_fcfh_hook_t));

    hook->id = wh->id;
    hook->seq = e->seq;
    hook->index = i;
    hook->fmcf = fmcf;

    /* the head is all the answer we read: its status */
    ngx_fcfh_response_init(&hook->answer, sizeof(hook->buf), 0, 1);

    /* again: a reload may have changed the rules or the listeners */
    if (ngx_fcfh_webhook_check(fmcf, &wh->sockaddr.sockaddr, wh->socklen,
                               &err)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "fcfh: webhook %uD not delivered: %s", wh->id, err);
        ngx_fcfh_webhook_done(hook, "target not allowed");
        return;
    }

    p = ngx_fcfh_event_json(json, e);

    hook->len = ngx_snprintf(hook->buf, sizeof(hook->buf),
                     "POST %*s HTTP/1.1\r\nHost: %*s\r\n"
                     "Content-Type: application/json\r\n"
                     "User-Agent: ngx_fcfh_module/" NGX_FCFH_VERSION "\r\n"
                     "Content-Length: %uz\r\nConnection: close\r\n\r\n%*s",
                     (size_t) wh->path_len, wh->path,
                     (size_t) wh->host_len, wh->host,
                     (size_t) (p - json), (size_t) (p - json), json)
                - hook->buf;

    hook->sockaddr = wh->sockaddr;
    ngx_str_set(&hook->name, "webhook");

    hook->pc.sockaddr = &hook->sockaddr.sockaddr;
    hook->pc.socklen = wh->socklen;
    hook->pc.name = &hook->name;
    hook->pc.get = ngx_event_get_peer;
    hook->pc.log = ngx_cycle->log;
    hook->pc.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&hook->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_fcfh_webhook_done(hook, "connect failed");
        return;
    }

    c = hook->pc.connection;
    c->data = hook;
    c->log_error = NGX_ERROR_INFO;
    c->read->handler = ngx_fcfh_webhook_handler;
    c->write->handler = ngx_fcfh_webhook_handler;

    hook->connection = c;

    ngx_add_timer(c->read, NGX_FCFH_WEBHOOK_TIMEOUT);

    if (rc == NGX_OK) {
        ngx_fcfh_webhook_handler(c->write);
    }
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
        ngx_snprintf(hook->error, sizeof(hook->error) - 1, "status %ui%Z",
                     status);
        ngx_fcfh_webhook_done(hook, (const char *) hook->error);
        return;
    }

    ngx_fcfh_webhook_done(hook, NULL);
}


/* one delivery ended: advance, or back off and retry the same event */

static void
ngx_fcfh_webhook_done(ngx_fcfh_hook_t *hook, const char *error)
{
    size_t               len;
    ngx_fcfh_zone_t     *zone;
    ngx_fcfh_webhook_t  *wh;

    if (hook->connection) {
        ngx_close_connection(hook->connection);
        hook->connection = NULL;
    }

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
                  "fcfh: webhook %uD (%*s) delivery of event %uL failed: "
                  "%s%s%s%s, retry in %uDs", wh->id, (size_t) wh->url_len,
                  wh->url, hook->seq, error, hook->why ? " (" : "",
                  hook->why ? hook->why : "", hook->why ? ")" : "",
                  wh->backoff);
}


/* an exiting worker drops its deliveries: the next owner retries them */

void
ngx_fcfh_webhook_abort(ngx_fcfh_main_conf_t *fmcf)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_FCFH_WEBHOOKS; i++) {
        if (fmcf->hooks[i].connection) {
            ngx_close_connection(fmcf->hooks[i].connection);
            fmcf->hooks[i].connection = NULL;
        }
    }
}
