
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The parts of the exposure checks that do not depend on the layer.
 *
 * A console front door or an operators' endpoint is "exposed" when one
 * of its listeners is reachable beyond loopback (a wildcard or another
 * address; unix sockets and 127.0.0.0/8, ::1 are not) and nothing the
 * module can see turns a stranger away there: no credentials of the
 * front door's own, no access rules that deny the world, no
 * authentication module, no required client certificate.
 *
 * nginx's access modules (ngx_http_access_module and
 * ngx_stream_access_module) keep their rules in structures private to
 * their .c files.  Both have the same layout, unchanged since nginx 1.5.1
 * (checked against 1.22.1 and the current upstream), mirrored here; a
 * dynamic module is only loaded by the nginx version it was built for.
 * Each rule array's element size is compared with the mirror before it
 * is read: on a mismatch the rules count as absent, which gives a
 * warning too many, never a missed one and never a wrong read.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh_exposure.h"


typedef struct {
    in_addr_t                        mask;
    in_addr_t                        addr;
    ngx_uint_t                       deny;
} ngx_fcfh_access_rule_t;

#if (NGX_HAVE_INET6)

typedef struct {
    struct in6_addr                  addr;
    struct in6_addr                  mask;
    ngx_uint_t                       deny;
} ngx_fcfh_access_rule6_t;

#endif

typedef struct {
    ngx_array_t                     *rules;
#if (NGX_HAVE_INET6)
    ngx_array_t                     *rules6;
#endif
#if (NGX_HAVE_UNIX_DOMAIN)
    ngx_array_t                     *rules_un;
#endif
} ngx_fcfh_access_conf_t;


static ngx_uint_t ngx_fcfh_exposure_deny_inet(ngx_array_t *rules);
#if (NGX_HAVE_INET6)
static ngx_uint_t ngx_fcfh_exposure_deny_inet6(ngx_array_t *rules);
#endif


ngx_fcfh_exposure_t *
ngx_fcfh_exposure_push(ngx_conf_t *cf, ngx_array_t *entries, ngx_str_t *name,
    void **credentials, const char *directive)
{
    ngx_fcfh_exposure_t  *e;

    e = ngx_array_push(entries);
    if (e == NULL) {
        return NULL;
    }

    ngx_memzero(e, sizeof(ngx_fcfh_exposure_t));

    e->name = *name;
    e->file = cf->conf_file->file.name.data;
    e->line = cf->conf_file->line;
    e->credentials = credentials;
    e->credentials_directive = directive;

    return e;
}


/* another module of this nginx by name, or NULL when it was not built */

ngx_module_t *
ngx_fcfh_exposure_module(ngx_cycle_t *cycle, const char *name)
{
    ngx_uint_t  i;

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->name
            && ngx_strcmp(cycle->modules[i]->name, name) == 0)
        {
            return cycle->modules[i];
        }
    }

    return NULL;
}


/* the front door's own credentials directive is set (merged: or off) */

ngx_uint_t
ngx_fcfh_exposure_credentials(ngx_fcfh_exposure_t *e)
{
    return e->credentials != NULL
           && *e->credentials != NULL
           && *e->credentials != NGX_CONF_UNSET_PTR;
}


ngx_uint_t
ngx_fcfh_exposure_beyond_loopback(struct sockaddr *sa)
{
    u_char               *p;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    switch (sa->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) sa;
        p = (u_char *) &sin->sin_addr.s_addr;
        return p[0] != 127;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        p = sin6->sin6_addr.s6_addr;

        if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
            return 0;
        }

        return !(IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && p[12] == 127);
#endif

#if (NGX_HAVE_UNIX_DOMAIN)
    case AF_UNIX:
        return 0;
#endif

    default:
        return 1;
    }
}


/*
 * The rules turn away a stranger arriving on this listener: the first
 * rule that matches every address ("all", 0.0.0.0/0, ::/0) denies, so
 * only the addresses allowed before it get through.  Which networks those
 * are is the operator's choice; a list without such a rule lets the
 * world in.  On an IPv6 wildcard without ipv6only, IPv4 clients arrive
 * as mapped addresses, checked against the IPv4 rules when there are
 * any (as ngx_http_access_handler() does).
 */

ngx_uint_t
ngx_fcfh_exposure_rules_deny(void *access_conf, struct sockaddr *sa,
    ngx_uint_t ipv6only)
{
    ngx_fcfh_access_conf_t  *acf = access_conf;

    if (acf == NULL) {
        return 0;
    }

    switch (sa->sa_family) {

    case AF_INET:
        return ngx_fcfh_exposure_deny_inet(acf->rules);

#if (NGX_HAVE_INET6)
    case AF_INET6:
        if (!ngx_fcfh_exposure_deny_inet6(acf->rules6)) {
            return 0;
        }

        return ipv6only
               || acf->rules == NULL
               || ngx_fcfh_exposure_deny_inet(acf->rules);
#endif

    default:
        return 0;
    }
}


/*
 * A stranger arriving on this listener cannot arrive (loopback) or is
 * turned away by the rules of the layer's access module ("access", by
 * name: it may not be built), in the entry's block.
 */

ngx_uint_t
ngx_fcfh_exposure_closed(ngx_cycle_t *cycle, ngx_fcfh_exposure_t *e,
    const char *access, struct sockaddr *sa, ngx_uint_t ipv6only)
{
    ngx_module_t  *m;

    if (!ngx_fcfh_exposure_beyond_loopback(sa)) {
        return 1;
    }

    m = ngx_fcfh_exposure_module(cycle, access);

    return m && ngx_fcfh_exposure_rules_deny(e->conf[m->ctx_index], sa,
                                             ipv6only);
}


static ngx_uint_t
ngx_fcfh_exposure_deny_inet(ngx_array_t *rules)
{
    ngx_uint_t               i;
    ngx_fcfh_access_rule_t  *rule;

    if (rules == NULL || rules->size != sizeof(ngx_fcfh_access_rule_t)) {
        return 0;
    }

    rule = rules->elts;

    for (i = 0; i < rules->nelts; i++) {
        if (rule[i].mask == 0) {
            return rule[i].deny != 0;
        }
    }

    return 0;
}


#if (NGX_HAVE_INET6)

static ngx_uint_t
ngx_fcfh_exposure_deny_inet6(ngx_array_t *rules)
{
    ngx_uint_t                n, i;
    ngx_fcfh_access_rule6_t  *rule;

    if (rules == NULL || rules->size != sizeof(ngx_fcfh_access_rule6_t)) {
        return 0;
    }

    rule = rules->elts;

    for (i = 0; i < rules->nelts; i++) {

        for (n = 0; n < 16; n++) {
            if (rule[i].mask.s6_addr[n] != 0) {
                break;
            }
        }

        if (n == 16) {
            return rule[i].deny != 0;
        }
    }

    return 0;
}

#endif


void
ngx_fcfh_exposure_listeners_init(ngx_fcfh_exposure_listeners_t *l)
{
    l->last = l->text;
    l->count = 0;
    l->cut = 0;
}


void
ngx_fcfh_exposure_listeners_add(ngx_fcfh_exposure_listeners_t *l,
    ngx_str_t *addr)
{
    u_char  *end;

    /* room for ", ..." is always kept */
    end = l->text + sizeof(l->text) - sizeof(", ...");

    if (l->cut) {
        return;
    }

    if ((size_t) (end - l->last) < addr->len + 2) {
        l->last = l->count ? ngx_cpymem(l->last, ", ...", 5)
                           : ngx_cpymem(l->last, "...", 3);
        l->count++;
        l->cut = 1;
        return;
    }

    if (l->count++) {
        *l->last++ = ',';
        *l->last++ = ' ';
    }

    l->last = ngx_cpymem(l->last, addr->data, addr->len);
}
