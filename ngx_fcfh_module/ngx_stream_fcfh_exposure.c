
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * nginx -t warns when a console front door of the stream module
 * (fcfh_proxy) is open to the world: a listener of its server beyond
 * loopback, and none of
 *
 *   - the front door's own console credentials (fcfh_proxy_auth_file),
 *   - access rules of the server whose first catch-all rule denies
 *     ("allow <network>; deny all;"),
 *   - a required client certificate (an ssl listener, ssl_verify_client
 *     on).
 *
 * The check runs at postconfiguration, when the servers are merged and
 * the core module's listen list is complete.  What nginx does not show
 * another module (a firewall, a network namespace, limits set elsewhere)
 * it cannot see: "fcfh_exposure_warning off" in the server says so.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_fcfh_exposure.h"
#include "ngx_stream_fcfh_exposure.h"


typedef struct {
    ngx_array_t                      entries;    /* ngx_fcfh_exposure_t */
} ngx_stream_fcfh_exposure_main_conf_t;


typedef struct {
    ngx_flag_t                       warning;
} ngx_stream_fcfh_exposure_srv_conf_t;


static ngx_uint_t ngx_stream_fcfh_exposure_closed(ngx_conf_t *cf,
    ngx_fcfh_exposure_t *e, ngx_stream_listen_t *ls);
static ngx_int_t ngx_stream_fcfh_exposure_check(ngx_conf_t *cf);
static void *ngx_stream_fcfh_exposure_create_main_conf(ngx_conf_t *cf);
static void *ngx_stream_fcfh_exposure_create_srv_conf(ngx_conf_t *cf);
static char *ngx_stream_fcfh_exposure_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);


static ngx_command_t  ngx_stream_fcfh_exposure_commands[] = {

    { ngx_string("fcfh_exposure_warning"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_exposure_srv_conf_t, warning),
      NULL },

      ngx_null_command
};


static ngx_stream_module_t  ngx_stream_fcfh_exposure_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_stream_fcfh_exposure_check,        /* postconfiguration */

    ngx_stream_fcfh_exposure_create_main_conf,
                                           /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_stream_fcfh_exposure_create_srv_conf,
                                           /* create server configuration */
    ngx_stream_fcfh_exposure_merge_srv_conf
                                           /* merge server configuration */
};


ngx_module_t  ngx_stream_fcfh_exposure_module = {
    NGX_MODULE_V1,
    &ngx_stream_fcfh_exposure_module_ctx,  /* module context */
    ngx_stream_fcfh_exposure_commands,     /* module directives */
    NGX_STREAM_MODULE,                     /* module type */
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
ngx_stream_fcfh_exposure_add(ngx_conf_t *cf, ngx_str_t *name,
    void **credentials, const char *directive)
{
    ngx_fcfh_exposure_t                   *e;
    ngx_stream_conf_ctx_t                 *ctx;
    ngx_stream_fcfh_exposure_main_conf_t  *emcf;

    emcf = ngx_stream_conf_get_module_main_conf(cf,
                                            ngx_stream_fcfh_exposure_module);

    e = ngx_fcfh_exposure_push(cf, &emcf->entries, name, credentials,
                               directive);
    if (e == NULL) {
        return NGX_ERROR;
    }

    ctx = cf->ctx;
    e->conf = ctx->srv_conf;

    return NGX_OK;
}


static ngx_int_t
ngx_stream_fcfh_exposure_check(ngx_conf_t *cf)
{
    ngx_uint_t                             i, n;
    ngx_stream_listen_t                   *ls;
    ngx_fcfh_exposure_t                   *e;
    ngx_stream_core_main_conf_t           *cmcf;
    ngx_fcfh_exposure_listeners_t          open;
    ngx_stream_fcfh_exposure_srv_conf_t   *escf;
    ngx_stream_fcfh_exposure_main_conf_t  *emcf;

    emcf = ngx_stream_conf_get_module_main_conf(cf,
                                            ngx_stream_fcfh_exposure_module);
    cmcf = ngx_stream_conf_get_module_main_conf(cf, ngx_stream_core_module);

    e = emcf->entries.elts;
    ls = cmcf->listen.elts;

    for (i = 0; i < emcf->entries.nelts; i++) {

        escf = e[i].conf[ngx_stream_fcfh_exposure_module.ctx_index];

        if (!escf->warning || ngx_fcfh_exposure_credentials(&e[i])) {
            continue;
        }

        ngx_fcfh_exposure_listeners_init(&open);

        for (n = 0; n < cmcf->listen.nelts; n++) {

            if (ls[n].ctx->srv_conf != e[i].conf
                || ngx_stream_fcfh_exposure_closed(cf, &e[i], &ls[n]))
            {
                continue;
            }

            ngx_fcfh_exposure_listeners_add(&open, &ls[n].addr_text);
        }

        if (open.count == 0) {
            continue;
        }

        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"%V\" in %s:%ui is reachable beyond loopback on %*s "
                      "with neither console credentials nor access rules: "
                      "set \"%s\", add \"allow <network>; deny all;\" to "
                      "its server, or listen on a loopback address or a "
                      "unix socket (\"fcfh_exposure_warning off;\" there "
                      "if a firewall or other means protect it)",
                      &e[i].name, e[i].file, e[i].line,
                      open.last - open.text, open.text,
                      e[i].credentials_directive);
    }

    return NGX_OK;
}


/* a stranger arriving on this listener is turned away, or cannot arrive */

static ngx_uint_t
ngx_stream_fcfh_exposure_closed(ngx_conf_t *cf, ngx_fcfh_exposure_t *e,
    ngx_stream_listen_t *ls)
{
    ngx_uint_t              ipv6only;
#if (NGX_STREAM_SSL)
    ngx_module_t           *m;
    ngx_stream_ssl_conf_t  *sslcf;
#endif

#if (NGX_HAVE_INET6)
    ipv6only = ls->ipv6only;
#else
    ipv6only = 1;
#endif

    if (ngx_fcfh_exposure_closed(cf->cycle, e, "ngx_stream_access_module",
                                 ls->sockaddr, ipv6only))
    {
        return 1;
    }

#if (NGX_STREAM_SSL)

    m = ngx_fcfh_exposure_module(cf->cycle, "ngx_stream_ssl_module");

    if (m && ls->ssl) {
        sslcf = e->conf[m->ctx_index];

        /* 1: "on"; "optional" lets anyone in */
        if (sslcf->verify == 1) {
            return 1;
        }
    }

#endif

    return 0;
}


static void *
ngx_stream_fcfh_exposure_create_main_conf(ngx_conf_t *cf)
{
    ngx_stream_fcfh_exposure_main_conf_t  *emcf;

    emcf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_stream_fcfh_exposure_main_conf_t));
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
ngx_stream_fcfh_exposure_create_srv_conf(ngx_conf_t *cf)
{
    ngx_stream_fcfh_exposure_srv_conf_t  *escf;

    escf = ngx_pcalloc(cf->pool, sizeof(ngx_stream_fcfh_exposure_srv_conf_t));
    if (escf == NULL) {
        return NULL;
    }

    escf->warning = NGX_CONF_UNSET;

    return escf;
}


static char *
ngx_stream_fcfh_exposure_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_stream_fcfh_exposure_srv_conf_t *prev = parent;
    ngx_stream_fcfh_exposure_srv_conf_t *conf = child;

    ngx_conf_merge_value(conf->warning, prev->warning, 1);

    return NGX_CONF_OK;
}
