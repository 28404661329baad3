
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The core module ngx_fcfh_cluster_module: the fcfh_cluster_* directives
 * and their checks, the client side of the mutual TLS between nodes (an
 * ngx_ssl_t built at init_conf), and each worker's start and end of the
 * cluster.  The directory's connection is in ngx_fcfh_cluster_redis.c,
 * what the directory holds in ngx_fcfh_cluster_directory.c, requests to
 * other nodes in ngx_fcfh_cluster_peer.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_cluster.h"
#include "ngx_fcfh_cluster_conf.h"
#include "ngx_fcfh_cluster_redis.h"
#include "ngx_fcfh_cluster_directory.h"


static void *ngx_fcfh_cluster_create_conf(ngx_cycle_t *cycle);
static char *ngx_fcfh_cluster_init_conf(ngx_cycle_t *cycle, void *conf);
static char *ngx_fcfh_cluster_node_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_fcfh_cluster_address_slot(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_fcfh_cluster_redis_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_fcfh_cluster_history_slot(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_fcfh_cluster_auth_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_fcfh_cluster_ssl(ngx_cycle_t *cycle,
    ngx_fcfh_cluster_conf_t *ccf);


static ngx_command_t  ngx_fcfh_cluster_commands[] = {

    { ngx_string("fcfh_cluster_node"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_fcfh_cluster_node_slot,
      0,
      offsetof(ngx_fcfh_cluster_conf_t, node),
      NULL },

    { ngx_string("fcfh_cluster_address"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_fcfh_cluster_address_slot,
      0,
      offsetof(ngx_fcfh_cluster_conf_t, address),
      NULL },

    { ngx_string("fcfh_cluster_redis"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_1MORE,
      ngx_fcfh_cluster_redis_slot,
      0,
      0,
      NULL },

    { ngx_string("fcfh_cluster_redis_auth_file"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_fcfh_cluster_auth_slot,
      0,
      0,
      NULL },

    { ngx_string("fcfh_cluster_ssl_certificate"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_fcfh_cluster_conf_t, certificate),
      NULL },

    { ngx_string("fcfh_cluster_ssl_certificate_key"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_fcfh_cluster_conf_t, certificate_key),
      NULL },

    { ngx_string("fcfh_cluster_ssl_trusted_certificate"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_fcfh_cluster_conf_t, trusted),
      NULL },

    { ngx_string("fcfh_cluster_history_ttl"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_fcfh_cluster_history_slot,
      0,
      offsetof(ngx_fcfh_cluster_conf_t, history_ttl),
      NULL },

      ngx_null_command
};


static ngx_core_module_t  ngx_fcfh_cluster_module_ctx = {
    ngx_string("fcfh_cluster"),
    ngx_fcfh_cluster_create_conf,
    ngx_fcfh_cluster_init_conf
};


ngx_module_t  ngx_fcfh_cluster_module = {
    NGX_MODULE_V1,
    &ngx_fcfh_cluster_module_ctx,          /* module context */
    ngx_fcfh_cluster_commands,             /* module directives */
    NGX_CORE_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_fcfh_cluster_create_conf(ngx_cycle_t *cycle)
{
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_pcalloc(cycle->pool, sizeof(ngx_fcfh_cluster_conf_t));
    if (ccf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ccf->node = { 0, NULL };
     *     ccf->address = { 0, NULL };
     *     ccf->redis = NULL;
     *     ccf->certificate = { 0, NULL };
     *     ccf->ssl = NULL;
     */

    ccf->history_ttl = NGX_CONF_UNSET;

    return ccf;
}


static char *
ngx_fcfh_cluster_init_conf(ngx_cycle_t *cycle, void *conf)
{
    ngx_fcfh_cluster_conf_t  *ccf = conf;

    const char  *missing;

    if (ccf->node.len == 0) {
        if (ccf->address.len || ccf->redis || ccf->redis_password.len
            || ccf->certificate.len
            || ccf->certificate_key.len || ccf->trusted.len
            || ccf->history_ttl != NGX_CONF_UNSET)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "fcfh_cluster_* directives need "
                          "\"fcfh_cluster_node\"");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    missing = NULL;

    if (ccf->address.len == 0) {
        missing = "fcfh_cluster_address";

    } else if (ccf->redis == NULL) {
        missing = "fcfh_cluster_redis";

    } else if (ccf->certificate.len == 0) {
        missing = "fcfh_cluster_ssl_certificate";

    } else if (ccf->certificate_key.len == 0) {
        missing = "fcfh_cluster_ssl_certificate_key";

    } else if (ccf->trusted.len == 0) {
        missing = "fcfh_cluster_ssl_trusted_certificate";
    }

    if (missing) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "\"fcfh_cluster_node\" needs \"%s\"", missing);
        return NGX_CONF_ERROR;
    }

    if (ccf->history_ttl == NGX_CONF_UNSET) {
        ccf->history_ttl = NGX_FCFH_CLUSTER_HISTORY_TTL;
    }

    if (ngx_fcfh_cluster_ssl(cycle, ccf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* fcfh_cluster_history_ttl time | off: how long a device is remembered */

static char *
ngx_fcfh_cluster_history_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_fcfh_cluster_conf_t *ccf = conf;

    time_t      ttl;
    ngx_str_t  *value;

    if (ccf->history_ttl != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        ccf->history_ttl = 0;
        return NGX_CONF_OK;
    }

    ttl = ngx_parse_time(&value[1], 1);

    /* Redis takes a 32-bit expiry at least */
    if (ttl == (time_t) NGX_ERROR || ttl < 60 || ttl > NGX_MAX_INT32_VALUE) {
        return "is invalid: a time from 60s to 68 years, or \"off\"";
    }

    ccf->history_ttl = ttl;

    return NGX_CONF_OK;
}


/* the name goes into Redis keys and must match the node's certificate */

static char *
ngx_fcfh_cluster_node_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_fcfh_cluster_conf_t  *ccf = conf;

    ngx_str_t  *value;

    if (ccf->node.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > NGX_FCFH_CLUSTER_NAME_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "node name \"%V\" must have 1 to %d characters",
                           &value[1], NGX_FCFH_CLUSTER_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    if (!ngx_fcfh_cluster_node_valid(value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "node name \"%V\": letters, digits, "
                           "\"-\", \".\" and \"_\" only", &value[1]);
        return NGX_CONF_ERROR;
    }

    ccf->node = value[1];

    return NGX_CONF_OK;
}


/*
 * A node name as nodes are configured; what the directory answers is
 * held to it too, before it reaches a log line or a JSON document.
 */

ngx_uint_t
ngx_fcfh_cluster_node_valid(u_char *p, size_t len)
{
    u_char  *last;

    if (len == 0 || len > NGX_FCFH_CLUSTER_NAME_MAX) {
        return 0;
    }

    for (last = p + len; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'
              || *p == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* IP:port, as other nodes connect to it: no name to resolve there */

static char *
ngx_fcfh_cluster_address_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_fcfh_cluster_conf_t  *ccf = conf;

    ngx_str_t   *value;
    ngx_addr_t   addr;

    if (ccf->address.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_parse_addr_port(cf->pool, &addr, value[1].data, value[1].len)
        != NGX_OK
        || ngx_inet_get_port(addr.sockaddr) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not an IP address with a port",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    ccf->address = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_fcfh_cluster_redis_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_fcfh_cluster_conf_t  *ccf = conf;

    size_t                     len;
    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_addr_t                 addr;
    ngx_fcfh_cluster_redis_t  *r;

    if (ccf->redis) {
        return "is duplicate";
    }

    ccf->redis = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                  sizeof(ngx_fcfh_cluster_redis_t));
    if (ccf->redis == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_parse_addr_port(cf->pool, &addr, value[i].data, value[i].len)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is not an IP address (with an "
                               "optional port)", &value[i]);
            return NGX_CONF_ERROR;
        }

        r = ngx_array_push(ccf->redis);
        if (r == NULL) {
            return NGX_CONF_ERROR;
        }

        r->port = ngx_inet_get_port(addr.sockaddr);

        if (r->port == 0) {
            r->port = 6379;
        }

        len = ngx_sock_ntop(addr.sockaddr, addr.socklen, r->host,
                            NGX_SOCKADDR_STRLEN, 0);
        r->host[len] = '\0';
    }

    return NGX_CONF_OK;
}


/*
 * Redis credentials: one line, "password" (requirepass) or "user
 * password" (an ACL user), kept out of nginx.conf like other secrets.
 */

static char *
ngx_fcfh_cluster_auth_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_fcfh_cluster_conf_t  *ccf = conf;

    u_char           *p, *last, *sp;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t        *value, name;
    ngx_file_t        file;
    ngx_file_info_t   fi;
    u_char            buf[512];

    if (ccf->redis_password.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &name);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = name;
    file.log = cf->log;

    n = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) != NGX_FILE_ERROR) {
        if (fi.st_mode & S_IROTH) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "credentials file \"%V\" is readable by any "
                               "user", &name);
        }

        n = ngx_read_file(&file, buf, sizeof(buf), 0);
    }

    ngx_close_file(fd);

    if (n == NGX_ERROR || n == (ssize_t) sizeof(buf)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": unreadable or longer than %uz bytes",
                           &name, sizeof(buf) - 1);
        return NGX_CONF_ERROR;
    }

    last = buf + n;

    while (last > buf && (last[-1] == '\n' || last[-1] == '\r'
                          || last[-1] == ' '))
    {
        last--;
    }

    sp = NULL;

    for (p = buf; p < last; p++) {
        if (*p < 0x21 && !(*p == ' ' && sp == NULL)) {
            sp = (u_char *) -1;
            break;
        }

        if (*p == ' ') {
            sp = p;
        }
    }

    if (last == buf || sp == (u_char *) -1 || sp == buf || sp + 1 == last) {
        ngx_explicit_memzero(buf, sizeof(buf));
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must hold one line: \"password\" or "
                           "\"user password\"", &name);
        return NGX_CONF_ERROR;
    }

    if (sp) {
        ccf->redis_user.len = sp - buf;
        ccf->redis_user.data = ngx_pstrdup(cf->pool, &ccf->redis_user);
        p = sp + 1;

    } else {
        p = buf;
    }

    ccf->redis_password.len = last - p;
    ccf->redis_password.data = ngx_pnalloc(cf->pool, last - p);

    if (ccf->redis_password.data == NULL
        || (sp && ccf->redis_user.data == NULL))
    {
        ngx_explicit_memzero(buf, sizeof(buf));
        return NGX_CONF_ERROR;
    }

    if (sp) {
        ngx_memcpy(ccf->redis_user.data, buf, ccf->redis_user.len);
    }

    ngx_memcpy(ccf->redis_password.data, p, ccf->redis_password.len);
    ngx_explicit_memzero(buf, sizeof(buf));

    return NGX_CONF_OK;
}


/* the client side of the mutual TLS between nodes */

static ngx_int_t
ngx_fcfh_cluster_ssl(ngx_cycle_t *cycle, ngx_fcfh_cluster_conf_t *ccf)
{
    ngx_conf_t  cf;

    ccf->ssl = ngx_fcfh_ssl_client(cycle, &cf);
    if (ccf->ssl == NULL) {
        return NGX_ERROR;
    }

    if (ngx_ssl_certificate(&cf, ccf->ssl, &ccf->certificate,
                            &ccf->certificate_key, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_ssl_trusted_certificate(&cf, ccf->ssl, &ccf->trusted, 2)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* sessions (TLS 1.3 tickets) reach save_session when they arrive */
    if (ngx_ssl_client_session_cache(&cf, ccf->ssl, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_str_t *
ngx_fcfh_cluster_node(void)
{
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    return (ccf && ccf->node.len) ? &ccf->node : NULL;
}


ngx_uint_t
ngx_fcfh_cluster_up(void)
{
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    return ccf && ccf->state == NGX_FCFH_CLUSTER_UP;
}


ngx_int_t
ngx_fcfh_cluster_init_process(ngx_cycle_t *cycle)
{
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(cycle);

    if (ccf == NULL || ccf->node.len == 0) {
        return NGX_OK;
    }

    ngx_fcfh_cluster_hash_scripts(ccf);

    ccf->tick.handler = ngx_fcfh_cluster_tick;
    ccf->tick.data = ccf;
    ccf->tick.log = cycle->log;
    ccf->tick.cancelable = 1;

    ngx_fcfh_cluster_connect(ccf);

    ngx_add_timer(&ccf->tick, NGX_FCFH_CLUSTER_TICK);

    return NGX_OK;
}


void
ngx_fcfh_cluster_exit_process(ngx_cycle_t *cycle)
{
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(cycle);

    if (ccf == NULL || ccf->node.len == 0) {
        return;
    }

    ccf->exiting = 1;

    ngx_fcfh_cluster_disconnect(ccf);
}
