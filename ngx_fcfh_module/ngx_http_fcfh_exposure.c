
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * nginx -t warns when a console front door (fcfh_pass, fcfh_webrelay) or
 * an operators' endpoint (fcfh_status, fcfh_api, fcfh_events,
 * fcfh_metrics) of the http module is open to the world: a listener of
 * its server beyond loopback, and none of
 *
 *   - the front door's own console credentials (fcfh_pass_auth_file),
 *   - auth_basic (with a user file and a realm other than "off"),
 *   - auth_request (other than "off"),
 *   - access rules whose first catch-all rule denies
 *     ("allow <network>; deny all;"), for the listener's address family,
 *   - a required client certificate (an ssl listener, ssl_verify_client
 *     on in the server).
 *
 * nginx's modules cannot see each other's configurations: their
 * structures are private to their .c files.  The check finds the other
 * modules by name (absent ones protect nothing) and reads what it must:
 * auth_basic's fields through the offsets its own directives declare,
 * auth_request's URI (the first field of its configuration, as in every
 * nginx since 1.5.4) and the access rules through a mirror of their
 * layout checked against each array's element size (ngx_fcfh_exposure.c).
 * What it cannot see -- third-party authentication modules (auth_jwt,
 * auth_pam, LDAP), "if" and "return 403", limit_except, a firewall --
 * the operator states with "fcfh_exposure_warning off" where it applies.
 * An "internal" location is reached only through another location,
 * whose protection is not followed: it is not checked.
 *
 * The check runs at postconfiguration: locations merged, the list of
 * ports and addresses complete.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fcfh_exposure.h"
#include "ngx_http_fcfh_exposure.h"


typedef struct {
    ngx_array_t                      entries;    /* ngx_fcfh_exposure_t */
} ngx_http_fcfh_exposure_main_conf_t;


typedef struct {
    ngx_flag_t                       warning;
} ngx_http_fcfh_exposure_loc_conf_t;


static ngx_int_t ngx_http_fcfh_exposure_check(ngx_conf_t *cf);
static ngx_uint_t ngx_http_fcfh_exposure_auth(ngx_conf_t *cf, void **conf);
static ngx_int_t ngx_http_fcfh_exposure_offset(ngx_module_t *m, char *name,
    size_t *offset);
static ngx_uint_t ngx_http_fcfh_exposure_closed(ngx_conf_t *cf,
    ngx_fcfh_exposure_t *e, ngx_http_conf_addr_t *addr);
static void *ngx_http_fcfh_exposure_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_fcfh_exposure_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_fcfh_exposure_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);


static ngx_command_t  ngx_http_fcfh_exposure_commands[] = {

    { ngx_string("fcfh_exposure_warning"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fcfh_exposure_loc_conf_t, warning),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_fcfh_exposure_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_fcfh_exposure_check,          /* postconfiguration */

    ngx_http_fcfh_exposure_create_main_conf,
                                           /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_fcfh_exposure_create_loc_conf,
                                           /* create location configuration */
    ngx_http_fcfh_exposure_merge_loc_conf  /* merge location configuration */
};


ngx_module_t  ngx_http_fcfh_exposure_module = {
    NGX_MODULE_V1,
    &ngx_http_fcfh_exposure_module_ctx,    /* module context */
    ngx_http_fcfh_exposure_commands,       /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ngx_int_t
ngx_http_fcfh_exposure_add(ngx_conf_t *cf, ngx_str_t *name,
    void **credentials, const char *directive)
{
    ngx_fcfh_exposure_t                 *e;
    ngx_http_conf_ctx_t                 *ctx;
    ngx_http_fcfh_exposure_main_conf_t  *emcf;

    emcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_fcfh_exposure_module);

    e = ngx_fcfh_exposure_push(cf, &emcf->entries, name, credentials,
                               directive);
    if (e == NULL) {
        return NGX_ERROR;
    }

    ctx = cf->ctx;
    e->conf = ctx->loc_conf;
    e->server = ctx->srv_conf[ngx_http_core_module.ctx_index];

    return NGX_OK;
}


static ngx_int_t
ngx_http_fcfh_exposure_check(ngx_conf_t *cf)
{
    ngx_uint_t                           i, p, a, s;
    ngx_fcfh_exposure_t                 *e;
    ngx_http_conf_addr_t                *addr;
    ngx_http_conf_port_t                *port;
    ngx_http_core_srv_conf_t           **server;
    ngx_http_core_loc_conf_t            *clcf;
    ngx_http_core_main_conf_t           *cmcf;
    ngx_fcfh_exposure_listeners_t        open;
    ngx_http_fcfh_exposure_loc_conf_t   *elcf;
    ngx_http_fcfh_exposure_main_conf_t  *emcf;

    emcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_fcfh_exposure_module);
    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    if (cmcf->ports == NULL) {
        return NGX_OK;
    }

    e = emcf->entries.elts;

    for (i = 0; i < emcf->entries.nelts; i++) {

        elcf = e[i].conf[ngx_http_fcfh_exposure_module.ctx_index];
        clcf = e[i].conf[ngx_http_core_module.ctx_index];

        if (!elcf->warning
            || clcf->internal
            || ngx_fcfh_exposure_credentials(&e[i])
            || ngx_http_fcfh_exposure_auth(cf, e[i].conf))
        {
            continue;
        }

        ngx_fcfh_exposure_listeners_init(&open);

        port = cmcf->ports->elts;

        for (p = 0; p < cmcf->ports->nelts; p++) {

            addr = port[p].addrs.elts;

            for (a = 0; a < port[p].addrs.nelts; a++) {

                server = addr[a].servers.elts;

                for (s = 0; s < addr[a].servers.nelts; s++) {
                    if (server[s] == e[i].server) {
                        break;
                    }
                }

                if (s == addr[a].servers.nelts
                    || ngx_http_fcfh_exposure_closed(cf, &e[i], &addr[a]))
                {
                    continue;
                }

                ngx_fcfh_exposure_listeners_add(&open, &addr[a].opt.addr_text);
            }
        }

        if (open.count == 0) {
            continue;
        }

        if (e[i].credentials_directive) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "\"%V\" in %s:%ui is reachable beyond loopback on "
                          "%*s with neither console credentials nor access "
                          "rules: set \"%s\", add \"allow <network>; deny "
                          "all;\", auth_basic or auth_request to its "
                          "location, or listen on a loopback address or a "
                          "unix socket (\"fcfh_exposure_warning off;\" "
                          "there if other means protect it)",
                          &e[i].name, e[i].file, e[i].line,
                          open.last - open.text, open.text,
                          e[i].credentials_directive);

        } else {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "\"%V\" in %s:%ui is reachable beyond loopback on "
                          "%*s with neither authentication nor access "
                          "rules: add \"allow <network>; deny all;\", "
                          "auth_basic or auth_request to its location, or "
                          "listen on a loopback address or a unix socket "
                          "(\"fcfh_exposure_warning off;\" there if other "
                          "means protect it)",
                          &e[i].name, e[i].file, e[i].line,
                          open.last - open.text, open.text);
        }
    }

    return NGX_OK;
}


/* auth_basic or auth_request guards the location, whatever the listener */

static ngx_uint_t
ngx_http_fcfh_exposure_auth(ngx_conf_t *cf, void **conf)
{
    u_char                    *c;
    size_t                     realm_offset, file_offset;
    ngx_str_t                 *uri;
    ngx_module_t              *m;
    ngx_http_complex_value_t  *realm, *file;

    m = ngx_fcfh_exposure_module(cf->cycle, "ngx_http_auth_basic_module");

    if (m
        && ngx_http_fcfh_exposure_offset(m, "auth_basic", &realm_offset)
           == NGX_OK
        && ngx_http_fcfh_exposure_offset(m, "auth_basic_user_file",
                                         &file_offset)
           == NGX_OK)
    {
        c = conf[m->ctx_index];
        realm = *(ngx_http_complex_value_t **) (c + realm_offset);
        file = *(ngx_http_complex_value_t **) (c + file_offset);

        /* a realm from variables may evaluate to "off": counted as on */

        if (realm != NULL && realm != NGX_CONF_UNSET_PTR
            && file != NULL && file != NGX_CONF_UNSET_PTR
            && !(realm->lengths == NULL
                 && realm->value.len == 3
                 && ngx_strncmp(realm->value.data, "off", 3) == 0))
        {
            return 1;
        }
    }

    m = ngx_fcfh_exposure_module(cf->cycle, "ngx_http_auth_request_module");

    if (m) {
        uri = conf[m->ctx_index];

        /* "off" and unset merge to an empty URI */
        if (uri->len) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_fcfh_exposure_offset(ngx_module_t *m, char *name, size_t *offset)
{
    ngx_command_t  *cmd;

    for (cmd = m->commands; cmd && cmd->name.len; cmd++) {
        if (ngx_strcmp(cmd->name.data, name) == 0) {
            *offset = cmd->offset;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* a stranger arriving on this address is turned away, or cannot arrive */

static ngx_uint_t
ngx_http_fcfh_exposure_closed(ngx_conf_t *cf, ngx_fcfh_exposure_t *e,
    ngx_http_conf_addr_t *addr)
{
    ngx_uint_t                 ipv6only;
#if (NGX_HTTP_SSL)
    ngx_module_t              *m;
    ngx_http_ssl_srv_conf_t   *sscf;
    ngx_http_core_srv_conf_t  *cscf;
#endif

#if (NGX_HAVE_INET6)
    ipv6only = addr->opt.ipv6only;
#else
    ipv6only = 1;
#endif

    if (ngx_fcfh_exposure_closed(cf->cycle, e, "ngx_http_access_module",
                                 addr->opt.sockaddr, ipv6only))
    {
        return 1;
    }

#if (NGX_HTTP_SSL)

    m = ngx_fcfh_exposure_module(cf->cycle, "ngx_http_ssl_module");

    if (m && addr->opt.ssl) {
        cscf = e->server;
        sscf = cscf->ctx->srv_conf[m->ctx_index];

        /* 1: "on", checked for every request of the server */
        if (sscf->verify == 1) {
            return 1;
        }
    }

#endif

    return 0;
}


static void *
ngx_http_fcfh_exposure_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_fcfh_exposure_main_conf_t  *emcf;

    emcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_fcfh_exposure_main_conf_t));
    if (emcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&emcf->entries, cf->pool, 4,
                       sizeof(ngx_fcfh_exposure_t))
        != NGX_OK)
    {
        return NULL;
    }

    return emcf;
}


static void *
ngx_http_fcfh_exposure_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_fcfh_exposure_loc_conf_t  *elcf;

    elcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_fcfh_exposure_loc_conf_t));
    if (elcf == NULL) {
        return NULL;
    }

    elcf->warning = NGX_CONF_UNSET;

    return elcf;
}


static char *
ngx_http_fcfh_exposure_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_fcfh_exposure_loc_conf_t *prev = parent;
    ngx_http_fcfh_exposure_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->warning, prev->warning, 1);

    return NGX_CONF_OK;
}
