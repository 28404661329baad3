
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * "fcfh_pass": nginx as the HTTP proxy WS-Management consoles point at.
 * An absolute-form request, "POST http://<guid-or-fqdn>:16992/wsman", goes
 * into a channel to that port of the device, through the relay socket of
 * the worker that owns the tunnel.  Authorization passes untouched (AMT
 * does Digest end to end); the response streams back unbuffered.
 *
 * A keep-alive console connection keeps its channel: the next request to
 * the same device and port reuses it, as Intel recommends for CIRA.
 *
 * The device's answer head is checked whole and strictly (RFC 9112,
 * ngx_fcfh_proxy_response_parse()) before nginx's lenient parsers see it:
 * an answer with ambiguous framing or a malformed head becomes a 502 of
 * ours, and its channel is closed, never kept.
 *
 * Every error of an fcfh_pass location is answered in one format, the
 * module's: text/plain, one line.  The module's own refusals are sent by
 * ngx_http_fcfh_pass_error(); what nginx itself finalizes with a status
 * (ngx_http_upstream's 502 and 504 when the channel fails before the
 * answer head, a body over client_max_body_size, allow/deny...) would be
 * nginx's HTML page, which ngx_http_fcfh_pass_filter_module rewrites.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/un.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_relay.h"
#include "ngx_fcfh_route.h"
#include "ngx_fcfh_htpasswd.h"
#include "ngx_fcfh_proxy_parse.h"
#include "ngx_fcfh_open.h"
#include "ngx_http_fcfh_exposure.h"


/* nginx has no NGX_HTTP_ constant for it */
#define NGX_HTTP_FCFH_PROXY_AUTH_REQUIRED  407


typedef struct {
    ngx_flag_t                       enabled;
    ngx_fcfh_htpasswd_t             *htpasswd;
    ngx_array_t                     *ports;      /* of ngx_uint_t */
    ngx_http_upstream_conf_t         upstream;
    ngx_http_upstream_srv_conf_t    *uscf;
} ngx_http_fcfh_pass_loc_conf_t;


/* a channel kept for the next request of the same console connection */
typedef struct {
    ngx_connection_t                *connection;
    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    uint64_t                         serial;
    ngx_uint_t                       port;
    /* through another node: the device as the console named it */
    ngx_uint_t                       remote;
    size_t                           name_len;
    u_char                           name[NGX_FCFH_APF_DEFAULT_MAX_STRING];
    ngx_fcfh_session_t               session;    /* the channel's audit */
} ngx_http_fcfh_pass_cache_t;


typedef struct {
    ngx_http_request_t              *request;
    ngx_fcfh_proxy_target_t          target;
    ngx_str_t                        host;
    ngx_str_t                        user;       /* authenticated */
    ngx_fcfh_route_open_t            ro;
    off_t                            sent;       /* the channel's, before */

    ngx_connection_t                *relay;

    ngx_http_fcfh_pass_cache_t      *cache;
    ngx_http_status_t                http_status;
    ngx_http_chunked_t               chunked;
    ngx_fcfh_proxy_response_t        response;
    /* bytes of the answer searched for the end of its head */
    size_t                           scanned;
    struct sockaddr_un               sun;
    ngx_str_t                        name;

    unsigned                         reused:1;
    unsigned                         other_node:1;
    unsigned                         invalid:1;
} ngx_http_fcfh_pass_ctx_t;


static ngx_int_t ngx_http_fcfh_pass_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_fcfh_pass_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *text);
static ngx_int_t ngx_http_fcfh_pass_check_console(ngx_http_request_t *r,
    ngx_http_fcfh_pass_loc_conf_t *plcf);
static void ngx_http_fcfh_pass_body_read(ngx_http_request_t *r);
static void ngx_http_fcfh_pass_opened(ngx_fcfh_route_open_t *ro,
    ngx_uint_t result, ngx_uint_t reason);
static void ngx_http_fcfh_pass_cleanup(void *data);
static ngx_http_fcfh_pass_cache_t *ngx_http_fcfh_pass_get_cache(
    ngx_http_request_t *r);
static void ngx_http_fcfh_pass_cache_cleanup(void *data);
static void ngx_http_fcfh_pass_cache_close(ngx_http_fcfh_pass_cache_t *cache,
    ngx_uint_t why);
static ngx_uint_t ngx_http_fcfh_pass_end(ngx_http_fcfh_pass_ctx_t *ctx,
    ngx_connection_t *c, ngx_uint_t state);
static void ngx_http_fcfh_pass_cache_handler(ngx_event_t *ev);
static void ngx_http_fcfh_pass_relay_result(ngx_http_fcfh_pass_ctx_t *ctx,
    ngx_uint_t result);
static void ngx_http_fcfh_pass_start_upstream(ngx_http_request_t *r);
static ngx_int_t ngx_http_fcfh_pass_peer_init(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_fcfh_pass_peer_get(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_fcfh_pass_peer_free(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static ngx_int_t ngx_http_fcfh_pass_create_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_fcfh_pass_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_fcfh_pass_process_status_line(
    ngx_http_request_t *r);
static ngx_uint_t ngx_http_fcfh_pass_head_end(ngx_http_fcfh_pass_ctx_t *ctx,
    ngx_buf_t *b);
static ngx_int_t ngx_http_fcfh_pass_process_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_fcfh_pass_invalid(ngx_http_request_t *r,
    ssize_t reason);
static ngx_int_t ngx_http_fcfh_pass_input_filter_init(void *data);
static ngx_int_t ngx_http_fcfh_pass_copy_filter(void *data, ssize_t bytes);
static ngx_int_t ngx_http_fcfh_pass_chunked_filter(void *data,
    ssize_t bytes);
static ngx_int_t ngx_http_fcfh_pass_discard_filter(void *data,
    ssize_t bytes);
static void ngx_http_fcfh_pass_abort_request(ngx_http_request_t *r);
static void ngx_http_fcfh_pass_finalize_request(ngx_http_request_t *r,
    ngx_int_t rc);

static ngx_int_t ngx_http_fcfh_pass_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_fcfh_pass_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_uint_t ngx_http_fcfh_pass_special(ngx_http_request_t *r);
static const char *ngx_http_fcfh_pass_special_text(ngx_uint_t status);
static ngx_int_t ngx_http_fcfh_pass_filter_init(ngx_conf_t *cf);

static void *ngx_http_fcfh_pass_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_fcfh_pass_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_fcfh_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_http_fcfh_pass_commands[] = {

    { ngx_string("fcfh_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fcfh_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fcfh_pass_ports"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_fcfh_ports_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fcfh_pass_loc_conf_t, ports),
      NULL },

    { ngx_string("fcfh_pass_auth_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_fcfh_htpasswd_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fcfh_pass_loc_conf_t, htpasswd),
      NULL },

    { ngx_string("fcfh_pass_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fcfh_pass_loc_conf_t, upstream.read_timeout),
      NULL },

    { ngx_string("fcfh_pass_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fcfh_pass_loc_conf_t, upstream.buffer_size),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_fcfh_pass_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_fcfh_pass_create_loc_conf,    /* create location configuration */
    ngx_http_fcfh_pass_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_fcfh_pass_module = {
    NGX_MODULE_V1,
    &ngx_http_fcfh_pass_module_ctx,        /* module context */
    ngx_http_fcfh_pass_commands,           /* module directives */
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


/*
 * Registers the filters that put nginx's own error pages of an fcfh_pass
 * location in the module's format.  A module of its own, so that a static
 * build orders it among the filters (an HTTP module's postconfiguration
 * runs before the header filter module's, which replaces the chain).
 */

static ngx_http_module_t  ngx_http_fcfh_pass_filter_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_fcfh_pass_filter_init,        /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_fcfh_pass_filter_module = {
    NGX_MODULE_V1,
    &ngx_http_fcfh_pass_filter_module_ctx, /* module context */
    NULL,                                  /* module directives */
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


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* hop-by-hop headers of the console's request, not passed to the device */
static ngx_str_t  ngx_http_fcfh_pass_skip[] = {
    ngx_string("Host"),
    ngx_string("Connection"),
    ngx_string("Keep-Alive"),
    ngx_string("Proxy-Connection"),
    ngx_string("Proxy-Authorization"),
    ngx_string("Proxy-Authenticate"),
    ngx_string("TE"),
    ngx_string("Trailer"),
    ngx_string("Transfer-Encoding"),
    ngx_string("Upgrade"),
    ngx_string("Content-Length"),
    ngx_null_string
};


/*
 * Content-Length is written anew from the checked value (nginx prints
 * content_length_n), never copied as the device spelled it.  X-Accel-*
 * are nginx's own instructions: a device sends none to the console, and
 * none is obeyed (see ignore_headers).
 */
static ngx_str_t  ngx_http_fcfh_pass_hide_headers[] = {
    ngx_string("Keep-Alive"),
    ngx_string("Proxy-Connection"),
    ngx_string("Content-Length"),
    ngx_string("X-Accel-Expires"),
    ngx_string("X-Accel-Redirect"),
    ngx_string("X-Accel-Limit-Rate"),
    ngx_string("X-Accel-Buffering"),
    ngx_string("X-Accel-Charset"),
    ngx_null_string
};


static u_char  ngx_http_fcfh_pass_invalid_text[] =
    "invalid answer from device";


static ngx_int_t
ngx_http_fcfh_pass_handler(ngx_http_request_t *r)
{
    u_char                         *p, *last, *start;
    ngx_int_t                       rc;
    ngx_pool_cleanup_t             *cln;
    ngx_fcfh_route_open_t          *ro;
    ngx_http_fcfh_pass_ctx_t       *ctx;
    ngx_http_fcfh_pass_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_fcfh_pass_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_fcfh_pass_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ngx_http_set_ctx(r, ctx, ngx_http_fcfh_pass_module);

    /*
     * The target is the second word of the request line: nginx keeps no
     * port of an absolute-form request anywhere else.
     */

    p = r->request_line.data;
    last = p + r->request_line.len;

    while (p < last && *p != ' ') {
        p++;
    }

    while (p < last && *p == ' ') {
        p++;
    }

    start = p;

    while (p < last && *p != ' ') {
        p++;
    }

    rc = ngx_http_fcfh_pass_check_console(r, plcf);

    if (rc == NGX_DECLINED) {
        return ngx_http_fcfh_pass_error(r, NGX_HTTP_FCFH_PROXY_AUTH_REQUIRED,
                                        "proxy authentication required");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_fcfh_proxy_target_parse(start, p - start, &ctx->target) < 0) {
        return ngx_http_fcfh_pass_error(r, NGX_HTTP_BAD_REQUEST,
                       "expected an absolute-form request, "
                       "http://<device>:<port>/path");
    }

    if (ctx->target.scheme != NGX_FCFH_PROXY_SCHEME_HTTP) {
        return ngx_http_fcfh_pass_error(r, NGX_HTTP_BAD_REQUEST,
                       "https targets go through CONNECT (fcfh_proxy)");
    }

    if (!ngx_fcfh_ports_allow(plcf->ports, ctx->target.port)) {
        return ngx_http_fcfh_pass_error(r, NGX_HTTP_FORBIDDEN,
                                        "port not allowed");
    }

    ctx->host.data = (u_char *) ctx->target.host.text.data;
    ctx->host.len = ctx->target.host.text.len;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_fcfh_pass_cleanup;
    cln->data = ctx;

    ro = &ctx->ro;

    ro->device = ctx->host;
    ro->port = ctx->target.port;
    ro->console = r->connection->addr_text;
    ro->console_port = ngx_inet_get_port(r->connection->sockaddr);
    ro->user = ctx->user;
    ro->front_door = NGX_FCFH_FRONT_HTTP;
    ro->log = r->connection->log;
    ro->handler = ngx_http_fcfh_pass_opened;
    ro->data = ctx;

    if (ctx->target.host.kind == NGX_FCFH_PROXY_HOST_IPV4
        || ctx->target.host.kind == NGX_FCFH_PROXY_HOST_IPV6)
    {
        ngx_fcfh_route_refused(ro, NGX_FCFH_OPEN_NO_TUNNEL);
        rc = NGX_FCFH_OPEN_NO_TUNNEL;

    } else {
        /* no route here, in a cluster: another node may hold the device */
        rc = ngx_fcfh_route_find(ro);
        ctx->other_node = ro->elsewhere;
    }

    if (rc == NGX_FCFH_OPEN_NO_TUNNEL) {
        if (!ro->found) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "fcfh: unknown device \"%V\"", &ctx->host);
        }

        return ngx_http_fcfh_pass_error(r, NGX_HTTP_NOT_FOUND,
                                        "unknown device");
    }

    if (rc == NGX_FCFH_OPEN_PORT) {
        return ngx_http_fcfh_pass_error(r, NGX_HTTP_FORBIDDEN,
                                        "port not registered by the device");
    }

    if (ngx_http_upstream_create(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_fcfh_pass_body_read);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_fcfh_pass_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *text)
{
    ngx_str_t                  type;
    ngx_http_complex_value_t   cv;

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));

    cv.value.data = (u_char *) text;
    cv.value.len = ngx_strlen(text);

    ngx_str_set(&type, "text/plain");

    if (status == NGX_HTTP_FCFH_PROXY_AUTH_REQUIRED) {
        /* nginx's table of status lines has no text for 407 */
        ngx_str_set(&r->headers_out.status_line,
                    "407 Proxy Authentication Required");
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "fcfh: %ui %s", status, text);

    return ngx_http_send_response(r, status, &type, &cv);
}


/*
 * Console credentials in Proxy-Authorization (Basic): the request's own
 * Authorization belongs to the device (AMT Digest, end to end).  NGX_OK:
 * allowed; NGX_DECLINED: refused, Proxy-Authenticate is set; NGX_ERROR.
 */

static ngx_int_t
ngx_http_fcfh_pass_check_console(ngx_http_request_t *r,
    ngx_http_fcfh_pass_loc_conf_t *plcf)
{
    u_char                         buf[512];
    u_char                         name[64];
    ngx_str_t                      user, password, shown;
    ngx_int_t                      rc;
    ngx_uint_t                     cached;
    ngx_table_elt_t               *h, *auth;
    ngx_fcfh_cred_t               *cred;
    ngx_http_fcfh_pass_ctx_t      *ctx;
    ngx_fcfh_proxy_credentials_t   pc;

    if (plcf->htpasswd == NULL) {
        return NGX_OK;
    }

    auth = ngx_fcfh_find_header(&r->headers_in.headers,
                                "Proxy-Authorization");

    rc = NGX_DECLINED;

    if (auth
        && ngx_fcfh_proxy_basic_decode(auth->value.data, auth->value.len,
                                       buf, sizeof(buf), &pc) >= 0)
    {
        user.data = (u_char *) pc.user.data;
        user.len = pc.user.len;
        password.data = (u_char *) pc.password.data;
        password.len = pc.password.len;

        rc = ngx_fcfh_htpasswd_check(plcf->htpasswd, &user, &password,
                                     r->pool, &cred, &cached);

        if (cached) {
            ngx_fcfh_count(auth_cache_hits, 1);
        }

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                          "fcfh: console authentication failed: user "
                          "\"%V\"",
                          ngx_fcfh_log_str(&shown, name, sizeof(name),
                                           user.data, user.len));
        }
    }

    if (rc == NGX_OK) {
        /* for the audit of its sessions */
        ctx = ngx_http_get_module_ctx(r, ngx_http_fcfh_pass_module);

        ctx->user.data = ngx_pnalloc(r->pool, user.len);
        if (ctx->user.data == NULL) {
            rc = NGX_ERROR;

        } else {
            ngx_memcpy(ctx->user.data, user.data, user.len);
            ctx->user.len = user.len;
        }
    }

    ngx_explicit_memzero(buf, sizeof(buf));

    if (rc != NGX_DECLINED) {
        return rc;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Proxy-Authenticate");
    ngx_str_set(&h->value, "Basic realm=\"fcfh\"");

    return NGX_DECLINED;
}


/* the body is read: a kept channel, or a new one */

static void
ngx_http_fcfh_pass_body_read(ngx_http_request_t *r)
{
    ngx_fcfh_route_t            *route;
    ngx_http_fcfh_pass_ctx_t    *ctx;
    ngx_http_fcfh_pass_cache_t  *cache;

    ctx = ngx_http_get_module_ctx(r, ngx_http_fcfh_pass_module);
    route = &ctx->ro.route;

    cache = ngx_http_fcfh_pass_get_cache(r);
    ctx->cache = cache;

    if (cache && cache->connection) {
        if (cache->port == ctx->target.port
            && (ctx->other_node
                ? (cache->remote && cache->name_len == ctx->host.len
                   && ngx_strncasecmp(cache->name, ctx->host.data,
                                      ctx->host.len) == 0)
                : (!cache->remote && cache->serial == route->serial
                   && ngx_memcmp(cache->guid, route->guid,
                                 NGX_FCFH_APF_GUID_SIZE) == 0)))
        {
            ctx->relay = cache->connection;
            cache->connection = NULL;
            ctx->reused = 1;

            /* the kept channel's session goes on with this request */
            ctx->ro.session = cache->session;
            cache->session.open = 0;

            ngx_http_fcfh_pass_start_upstream(r);
            return;
        }

        /* another device or port: this connection's channel goes */
        ngx_http_fcfh_pass_cache_close(cache, NGX_FCFH_END_CONSOLE);
    }

    /*
     * through the relay socket of the tunnel's worker, also when that is
     * this one (no splice), or through the node that holds the device
     */
    ngx_fcfh_route_open(&ctx->ro);
}


static void
ngx_http_fcfh_pass_opened(ngx_fcfh_route_open_t *ro, ngx_uint_t result,
    ngx_uint_t reason)
{
    ngx_http_fcfh_pass_ctx_t  *ctx = ro->data;

    ngx_connection_t  *hc;

    /* the request may be freed by the time its posted requests run */
    hc = ctx->request->connection;

    if (result == NGX_FCFH_OPEN_OK) {
        ctx->relay = ro->connection;
        ctx->relay->data = ctx;
    }

    ngx_http_fcfh_pass_relay_result(ctx, result);

    ngx_http_run_posted_requests(hc);
}


static void
ngx_http_fcfh_pass_cleanup(void *data)
{
    ngx_http_fcfh_pass_ctx_t  *ctx = data;

    ngx_fcfh_route_cancel(&ctx->ro);

    /* a session that no kept channel took over and no peer_free ended */
    ngx_fcfh_route_close(&ctx->ro, NGX_FCFH_END_ERROR, 0, 0);
}


static void
ngx_http_fcfh_pass_relay_result(ngx_http_fcfh_pass_ctx_t *ctx,
    ngx_uint_t result)
{
    ngx_int_t            rc;
    ngx_uint_t           status;
    const char          *text;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (result == NGX_FCFH_OPEN_OK) {
        ngx_http_fcfh_pass_start_upstream(r);
        return;
    }

    if (ctx->relay) {
        ngx_fcfh_relay_close_peer(ctx->relay);
        ctx->relay = NULL;
    }

    status = (result < NGX_FCFH_OPEN_MAX)
             ? ngx_fcfh_open_results[result].status
             : NGX_HTTP_INTERNAL_SERVER_ERROR;

    /* the owner worker went away since the look-up: as if not found */
    text = (result == NGX_FCFH_OPEN_NO_TUNNEL)
           ? "unknown device" : ngx_fcfh_open_result_text(result);

    rc = ngx_http_fcfh_pass_error(r, status, text);

    ngx_http_finalize_request(r, rc);
}


static void
ngx_http_fcfh_pass_start_upstream(ngx_http_request_t *r)
{
    ngx_http_upstream_t            *u;
    ngx_http_fcfh_pass_ctx_t       *ctx;
    ngx_http_fcfh_pass_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_fcfh_pass_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_fcfh_pass_module);

    u = r->upstream;

    /* for the "upstream:" part of log lines */
    ngx_str_set(&u->schema, "http://");
    u->uri.len = ctx->target.path.len;
    u->uri.data = (u_char *) ctx->target.path.data;
    u->output.tag = (ngx_buf_tag_t) &ngx_http_fcfh_pass_module;
    u->conf = &plcf->upstream;
    u->conf->upstream = plcf->uscf;

    u->create_request = ngx_http_fcfh_pass_create_request;
    u->reinit_request = ngx_http_fcfh_pass_reinit_request;
    u->process_header = ngx_http_fcfh_pass_process_status_line;
    u->abort_request = ngx_http_fcfh_pass_abort_request;
    u->finalize_request = ngx_http_fcfh_pass_finalize_request;

    u->buffering = 0;
    u->input_filter_init = ngx_http_fcfh_pass_input_filter_init;
    u->input_filter = ngx_http_fcfh_pass_copy_filter; /* init may switch */
    u->input_filter_ctx = r;

    ngx_http_upstream_init(r);
}


/* the upstream's only peer: the relay connection we already have */

static ngx_int_t
ngx_http_fcfh_pass_peer_init(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_upstream_t       *u;
    ngx_http_fcfh_pass_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_fcfh_pass_module);
    u = r->upstream;

    u->peer.get = ngx_http_fcfh_pass_peer_get;
    u->peer.free = ngx_http_fcfh_pass_peer_free;
    u->peer.data = ctx;
    u->peer.tries = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_fcfh_pass_peer_get(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_fcfh_pass_ctx_t  *ctx = data;

    if (ctx->relay == NULL) {
        return NGX_BUSY;
    }

    ctx->sun.sun_family = AF_UNIX;
    ngx_str_set(&ctx->name, "fcfh-relay");

    pc->sockaddr = (struct sockaddr *) &ctx->sun;
    pc->socklen = sizeof(struct sockaddr_un);
    pc->name = &ctx->name;

    pc->connection = ctx->relay;
    ctx->relay = NULL;

    ctx->sent = pc->connection->sent;

    /* like a kept-alive upstream connection: ready to send */
    return NGX_DONE;
}


static void
ngx_http_fcfh_pass_peer_free(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_fcfh_pass_ctx_t  *ctx = data;

    ngx_connection_t            *c;
    ngx_http_upstream_t         *u;
    ngx_http_fcfh_pass_cache_t  *cache;

    u = ctx->request->upstream;
    c = pc->connection;
    cache = ctx->cache;

    /* this request's bytes through the channel, for its session */
    if (c) {
        ctx->ro.session.to_device += c->sent - ctx->sent;
        ctx->sent = c->sent;
    }

    if (u->state) {
        ctx->ro.session.to_console += u->state->bytes_received;
    }

    if (c == NULL || cache == NULL || (state & NGX_PEER_FAILED)
        || (ctx->other_node && ctx->host.len > sizeof(cache->name))
        || !u->keepalive || c->read->eof || c->read->error
        || c->read->timedout || c->write->error || c->write->timedout
        || ctx->request->connection->error
        || ngx_handle_read_event(c->read, 0) != NGX_OK)
    {
        ngx_fcfh_route_close(&ctx->ro, ngx_http_fcfh_pass_end(ctx, c, state),
                             0, 0);
        return;
    }

    /* keep the channel for this console connection's next request */

    pc->connection = NULL;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->data = cache;
    c->idle = 1;
    c->log = ngx_cycle->log;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;
    c->pool->log = ngx_cycle->log;
    c->read->handler = ngx_http_fcfh_pass_cache_handler;
    c->write->handler = ngx_http_fcfh_pass_cache_handler;

    cache->connection = c;
    ngx_memcpy(cache->guid, ctx->ro.route.guid, NGX_FCFH_APF_GUID_SIZE);
    cache->serial = ctx->ro.route.serial;
    cache->port = ctx->target.port;
    cache->remote = ctx->other_node;
    cache->name_len = ctx->host.len;
    ngx_memcpy(cache->name, ctx->host.data, ctx->host.len);

    cache->session = ctx->ro.session;
    ctx->ro.session.open = 0;
}


/* why a channel was not kept: its session ends */

static ngx_uint_t
ngx_http_fcfh_pass_end(ngx_http_fcfh_pass_ctx_t *ctx, ngx_connection_t *c,
    ngx_uint_t state)
{
    if (c && (c->read->timedout || c->write->timedout)) {
        return NGX_FCFH_END_TIMEOUT;
    }

    if (c == NULL || (state & NGX_PEER_FAILED) || c->read->error
        || c->write->error)
    {
        return NGX_FCFH_END_ERROR;
    }

    if (ctx->request->connection->error) {
        return NGX_FCFH_END_CONSOLE;
    }

    if (c->read->eof || !ctx->request->upstream->keepalive) {
        /* the device ended it, or its answer could not keep it */
        return NGX_FCFH_END_DEVICE;
    }

    return ctx->cache ? NGX_FCFH_END_CONSOLE : NGX_FCFH_END_ERROR;
}


static ngx_http_fcfh_pass_cache_t *
ngx_http_fcfh_pass_get_cache(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_fcfh_pass_cache_t  *cache;

    for (cln = r->connection->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_fcfh_pass_cache_cleanup) {
            return cln->data;
        }
    }

    cln = ngx_pool_cleanup_add(r->connection->pool,
                               sizeof(ngx_http_fcfh_pass_cache_t));
    if (cln == NULL) {
        return NULL;
    }

    cache = cln->data;
    ngx_memzero(cache, sizeof(ngx_http_fcfh_pass_cache_t));

    cln->handler = ngx_http_fcfh_pass_cache_cleanup;

    return cache;
}


static void
ngx_http_fcfh_pass_cache_cleanup(void *data)
{
    /* the console's connection ends */
    ngx_http_fcfh_pass_cache_close(data, NGX_FCFH_END_CONSOLE);
}


static void
ngx_http_fcfh_pass_cache_close(ngx_http_fcfh_pass_cache_t *cache,
    ngx_uint_t why)
{
    ngx_connection_t  *c;

    c = cache->connection;

    if (c == NULL) {
        return;
    }

    cache->connection = NULL;

    ngx_fcfh_session_close(&cache->session, why, 0, 0);

    /* the upstream's pool (a relay socket) or its own (another node) */
    ngx_fcfh_relay_close_with(c, c->pool);
}


/* a kept channel that the device closed, or that got data out of turn */

static void
ngx_http_fcfh_pass_cache_handler(ngx_event_t *ev)
{
    ngx_connection_t            *c;
    ngx_http_fcfh_pass_cache_t  *cache;

    c = ev->data;
    cache = c->data;

    if (ev->write) {
        return;
    }

    ngx_http_fcfh_pass_cache_close(cache, NGX_FCFH_END_DEVICE);
}


/* origin-form request line, the console's end-to-end headers, the body */

static ngx_int_t
ngx_http_fcfh_pass_create_request(ngx_http_request_t *r)
{
    u_char                    *p;
    size_t                     len;
    off_t                      body_len;
    ngx_buf_t                 *b;
    ngx_uint_t                 i;
    ngx_str_t                 *skip;
    ngx_chain_t               *cl, *body;
    ngx_list_part_t           *part;
    ngx_table_elt_t           *h;
    ngx_http_fcfh_pass_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_fcfh_pass_module);

    body_len = 0;

    if (r->request_body) {
        for (body = r->request_body->bufs; body; body = body->next) {
            body_len += ngx_buf_size(body->buf);
        }
    }

    len = r->method_name.len + 1 + ctx->target.path.len
          + sizeof(" HTTP/1.1" CRLF) - 1
          + sizeof("Host: " CRLF) - 1 + ctx->host.len + sizeof(":65535") - 1
          + sizeof("Content-Length: " CRLF) - 1 + NGX_OFF_T_LEN
          + sizeof(CRLF) - 1;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        len += h[i].key.len + sizeof(": ") - 1 + h[i].value.len
               + sizeof(CRLF) - 1;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = b->last;

    p = ngx_cpymem(p, r->method_name.data, r->method_name.len);
    *p++ = ' ';
    p = ngx_cpymem(p, ctx->target.path.data, ctx->target.path.len);
    p = ngx_cpymem(p, " HTTP/1.1" CRLF, sizeof(" HTTP/1.1" CRLF) - 1);

    /* AMT checks nothing in Host; consoles expect to see their target */
    p = ngx_sprintf(p, "Host: %V:%ui" CRLF, &ctx->host,
                    (ngx_uint_t) ctx->target.port);

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        for (skip = ngx_http_fcfh_pass_skip; skip->len; skip++) {
            if (h[i].key.len == skip->len
                && ngx_strncasecmp(h[i].key.data, skip->data, skip->len)
                   == 0)
            {
                break;
            }
        }

        if (skip->len) {
            continue;
        }

        p = ngx_cpymem(p, h[i].key.data, h[i].key.len);
        *p++ = ':'; *p++ = ' ';
        p = ngx_cpymem(p, h[i].value.data, h[i].value.len);
        *p++ = CR; *p++ = LF;
    }

    /* a read body has a known length: no chunked framing toward AMT */
    if (body_len || r->method == NGX_HTTP_POST || r->method == NGX_HTTP_PUT) {
        p = ngx_sprintf(p, "Content-Length: %O" CRLF, body_len);
    }

    *p++ = CR; *p++ = LF;

    b->last = p;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    r->upstream->request_bufs = cl;

    if (r->request_body && r->request_body->bufs) {
        cl->next = r->request_body->bufs;

        for (body = cl; body->next; body = body->next) {
            /* void */
        }

        body->buf->last_buf = 1;

    } else {
        b->last_buf = 1;
    }

    b->flush = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_fcfh_pass_reinit_request(ngx_http_request_t *r)
{
    /* never retried: one device, one channel */
    return NGX_ERROR;
}


/*
 * Nothing of the answer is taken before its whole head is here and has
 * passed the strict parser: nginx's own parsers, run on it afterwards for
 * the headers, would frame "Content-Length: -1" as until-close, keep the
 * last of two lengths and take "gzip, chunked" as chunked.
 */

static ngx_int_t
ngx_http_fcfh_pass_process_status_line(ngx_http_request_t *r)
{
    ssize_t                    n;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_http_upstream_t       *u;
    ngx_http_fcfh_pass_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_fcfh_pass_module);
    u = r->upstream;
    b = &u->buffer;

    /* a full buffer without the end: the parser says why (too large) */

    if (!ngx_http_fcfh_pass_head_end(ctx, b) && b->last < b->end) {
        return NGX_AGAIN;
    }

    n = ngx_fcfh_proxy_response_parse(b->pos, b->last - b->pos,
                                      b->end - b->pos, &ctx->response);

    if (n == NGX_FCFH_PROXY_AGAIN) {
        return NGX_AGAIN;
    }

    if (n < 0) {
        return ngx_http_fcfh_pass_invalid(r, n);
    }

    if (ctx->response.content_length > (uint64_t) NGX_MAX_OFF_T_VALUE) {
        return ngx_http_fcfh_pass_invalid(r, NGX_FCFH_PROXY_ERR_BAD_LENGTH);
    }

    rc = ngx_http_parse_status_line(r, b, &ctx->http_status);

    if (rc != NGX_OK) {
        /* nginx disagrees with a head we accepted: refuse it all the same */
        return ngx_http_fcfh_pass_invalid(r, NGX_FCFH_PROXY_ERR_STATUS_LINE);
    }

    if (u->state && u->state->status == 0) {
        u->state->status = ctx->http_status.code;
    }

    u->headers_in.status_n = ctx->http_status.code;

    u->headers_in.status_line.len = ctx->http_status.end
                                    - ctx->http_status.start;
    u->headers_in.status_line.data = ngx_pnalloc(r->pool,
                                          u->headers_in.status_line.len);
    if (u->headers_in.status_line.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(u->headers_in.status_line.data, ctx->http_status.start,
               u->headers_in.status_line.len);

    if (ctx->http_status.http_version < NGX_HTTP_VERSION_11) {
        u->headers_in.connection_close = 1;
    }

    return ngx_http_fcfh_pass_process_header(r);
}


/*
 * 1 when the buffer holds the empty line that ends the head.  Each byte
 * is looked at once: a device may send its head a byte at a time.
 */

static ngx_uint_t
ngx_http_fcfh_pass_head_end(ngx_http_fcfh_pass_ctx_t *ctx, ngx_buf_t *b)
{
    u_char  *p;

    for (p = b->pos + ctx->scanned; p < b->last; p++) {

        if (*p != LF) {
            continue;
        }

        if (b->last - p < 2 || (p[1] == CR && b->last - p < 3)) {
            /* look at this LF again when more is here */
            break;
        }

        if (p[1] == LF || (p[1] == CR && p[2] == LF)) {
            return 1;
        }
    }

    ctx->scanned = p - b->pos;

    return 0;
}


/* the head is complete and checked: the status line is consumed */

static ngx_int_t
ngx_http_fcfh_pass_process_header(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_table_elt_t                *h;
    ngx_http_upstream_t            *u;
    ngx_http_fcfh_pass_ctx_t       *ctx;
    ngx_http_upstream_header_t     *hh;
    ngx_http_upstream_main_conf_t  *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_fcfh_pass_module);
    u = r->upstream;

    for ( ;; ) {

        rc = ngx_http_parse_header_line(r, &u->buffer, 1);

        if (rc == NGX_OK) {
            h = ngx_list_push(&u->headers_in.headers);
            if (h == NULL) {
                return NGX_ERROR;
            }

            h->hash = r->header_hash;

            h->key.len = r->header_name_end - r->header_name_start;
            h->value.len = r->header_end - r->header_start;

            h->key.data = ngx_pnalloc(r->pool,
                               h->key.len + 1 + h->value.len + 1 + h->key.len);
            if (h->key.data == NULL) {
                h->hash = 0;
                return NGX_ERROR;
            }

            h->value.data = h->key.data + h->key.len + 1;
            h->lowcase_key = h->key.data + h->key.len + 1 + h->value.len + 1;

            ngx_memcpy(h->key.data, r->header_name_start, h->key.len);
            h->key.data[h->key.len] = '\0';
            ngx_memcpy(h->value.data, r->header_start, h->value.len);
            h->value.data[h->value.len] = '\0';

            if (h->key.len == r->lowcase_index) {
                ngx_memcpy(h->lowcase_key, r->lowcase_header, h->key.len);

            } else {
                ngx_strlow(h->lowcase_key, h->key.data, h->key.len);
            }

            hh = ngx_hash_find(&umcf->headers_in_hash, h->hash,
                               h->lowcase_key, h->key.len);

            if (hh && hh->handler(r, h, hh->offset) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        if (rc != NGX_HTTP_PARSE_HEADER_DONE) {
            /* NGX_AGAIN too: the whole head is in the buffer */
            return ngx_http_fcfh_pass_invalid(r,
                                              NGX_FCFH_PROXY_ERR_BAD_HEADER);
        }

        /* the framing is the strict parser's, not nginx's */

        switch (ctx->response.framing) {

        case NGX_FCFH_PROXY_FRAMING_CHUNKED:
            u->headers_in.chunked = 1;
            u->headers_in.content_length_n = -1;
            break;

        case NGX_FCFH_PROXY_FRAMING_LENGTH:
            u->headers_in.chunked = 0;
            u->headers_in.content_length_n =
                                     (off_t) ctx->response.content_length;
            break;

        default: /* NGX_FCFH_PROXY_FRAMING_CLOSE */
            u->headers_in.chunked = 0;
            u->headers_in.content_length_n = -1;
            break;
        }

        if (u->headers_in.status_n == NGX_HTTP_NO_CONTENT
            || u->headers_in.status_n == NGX_HTTP_NOT_MODIFIED
            || r->method == NGX_HTTP_HEAD
            || (!u->headers_in.chunked
                && u->headers_in.content_length_n == 0))
        {
            u->keepalive = !u->headers_in.connection_close;
        }

        return NGX_OK;
    }
}


/*
 * An answer refused by RFC 9112 framing or head syntax.  The console gets
 * a 502 of ours in its place; what the device sent after it is not
 * trusted, so the channel is closed, not kept.  Only the fixed reason is
 * logged, no byte of the answer.
 */

static ngx_int_t
ngx_http_fcfh_pass_invalid(ngx_http_request_t *r, ssize_t reason)
{
    ngx_http_upstream_t       *u;
    ngx_http_fcfh_pass_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_fcfh_pass_module);
    u = r->upstream;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "fcfh: invalid answer from device \"%V\": %s",
                  &ctx->host, ngx_fcfh_proxy_strerror(reason));

    ctx->invalid = 1;
    u->keepalive = 0;

    /* nginx's parser may have stopped inside a line */
    r->state = 0;

    /* whatever nginx's parser took from the answer goes */

    ngx_memzero(&u->headers_in, sizeof(ngx_http_upstream_headers_in_t));
    u->headers_in.content_length_n = sizeof(ngx_http_fcfh_pass_invalid_text)
                                     - 1;
    u->headers_in.last_modified_time = -1;
    u->headers_in.status_n = NGX_HTTP_BAD_GATEWAY;

    if (ngx_list_init(&u->headers_in.headers, r->pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_list_init(&u->headers_in.trailers, r->pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (u->state) {
        u->state->status = NGX_HTTP_BAD_GATEWAY;
    }

    /* as ngx_http_fcfh_pass_error() answers */
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    ngx_str_set(&r->headers_out.content_type, "text/plain");

    u->buffer.pos = u->buffer.last;

    return NGX_OK;
}


static ngx_int_t
ngx_http_fcfh_pass_input_filter_init(void *data)
{
    ngx_http_request_t  *r = data;

    ngx_chain_t               *cl;
    ngx_http_upstream_t       *u;
    ngx_http_fcfh_pass_ctx_t  *ctx;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_fcfh_pass_module);

    if (ctx->invalid) {
        /* the 502 body in place of the device's */

        cl = ngx_chain_get_free_buf(r->pool, &u->free_bufs);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf->pos = ngx_http_fcfh_pass_invalid_text;
        cl->buf->last = cl->buf->pos
                        + sizeof(ngx_http_fcfh_pass_invalid_text) - 1;
        cl->buf->memory = 1;
        cl->buf->flush = 1;
        cl->buf->tag = u->output.tag;

        u->out_bufs = cl;
        u->input_filter = ngx_http_fcfh_pass_discard_filter;
        u->length = 0;

        return NGX_OK;
    }

    if (u->headers_in.status_n == NGX_HTTP_NO_CONTENT
        || u->headers_in.status_n == NGX_HTTP_NOT_MODIFIED
        || r->method == NGX_HTTP_HEAD)
    {
        u->input_filter = ngx_http_fcfh_pass_copy_filter;
        u->length = 0;

    } else if (u->headers_in.chunked) {
        u->input_filter = ngx_http_fcfh_pass_chunked_filter;
        u->length = 1;
        ngx_memzero(&ctx->chunked, sizeof(ngx_http_chunked_t));

    } else {
        /* -1: until the device closes the channel */
        u->input_filter = ngx_http_fcfh_pass_copy_filter;
        u->length = u->headers_in.content_length_n;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_fcfh_pass_copy_filter(void *data, ssize_t bytes)
{
    ngx_http_request_t  *r = data;

    ngx_buf_t            *b;
    ngx_chain_t          *cl, **ll;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    if (bytes == 0) {
        return NGX_OK;
    }

    if (u->length == 0) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "fcfh: device sent more data than its response "
                      "length");
        u->keepalive = 0;
        return NGX_OK;
    }

    for (cl = u->out_bufs, ll = &u->out_bufs; cl; cl = cl->next) {
        ll = &cl->next;
    }

    cl = ngx_chain_get_free_buf(r->pool, &u->free_bufs);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    *ll = cl;

    cl->buf->flush = 1;
    cl->buf->memory = 1;

    b = &u->buffer;

    cl->buf->pos = b->last;
    b->last += bytes;
    cl->buf->last = b->last;
    cl->buf->tag = u->output.tag;

    if (u->length == -1) {
        return NGX_OK;
    }

    if (bytes > u->length) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "fcfh: device sent more data than its response "
                      "length");
        cl->buf->last = cl->buf->pos + u->length;
        u->length = 0;
        return NGX_OK;
    }

    u->length -= bytes;

    if (u->length == 0) {
        u->keepalive = !u->headers_in.connection_close;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_fcfh_pass_chunked_filter(void *data, ssize_t bytes)
{
    ngx_http_request_t  *r = data;

    ngx_int_t                  rc;
    ngx_buf_t                 *b, *buf;
    ngx_chain_t               *cl, **ll;
    ngx_http_upstream_t       *u;
    ngx_http_fcfh_pass_ctx_t  *ctx;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_fcfh_pass_module);

    buf = &u->buffer;

    buf->pos = buf->last;
    buf->last += bytes;

    for (cl = u->out_bufs, ll = &u->out_bufs; cl; cl = cl->next) {
        ll = &cl->next;
    }

    for ( ;; ) {

        rc = ngx_http_parse_chunked(r, buf, &ctx->chunked);

        if (rc == NGX_OK) {

            /* a part of the chunk's data */

            cl = ngx_chain_get_free_buf(r->pool, &u->free_bufs);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            *ll = cl;
            ll = &cl->next;

            b = cl->buf;

            b->flush = 1;
            b->memory = 1;
            b->pos = buf->pos;
            b->tag = u->output.tag;

            if (buf->last - buf->pos >= ctx->chunked.size) {
                buf->pos += (size_t) ctx->chunked.size;
                b->last = buf->pos;
                ctx->chunked.size = 0;

            } else {
                ctx->chunked.size -= buf->last - buf->pos;
                buf->pos = buf->last;
                b->last = buf->last;
            }

            continue;
        }

        if (rc == NGX_DONE) {
            /* the last chunk: the response is complete */
            u->keepalive = !u->headers_in.connection_close;
            u->length = 0;
            break;
        }

        if (rc == NGX_AGAIN) {
            break;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "fcfh: device %V sent an invalid chunked response",
                      &ctx->host);

        return NGX_ERROR;
    }

    return NGX_OK;
}


/* after a refused answer: the device's bytes go nowhere */

static ngx_int_t
ngx_http_fcfh_pass_discard_filter(void *data, ssize_t bytes)
{
    return NGX_OK;
}


static void
ngx_http_fcfh_pass_abort_request(ngx_http_request_t *r)
{
    return;
}


static void
ngx_http_fcfh_pass_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_fcfh_pass_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_fcfh_pass_module);

    if (ctx && ctx->relay) {
        ngx_fcfh_relay_close_peer(ctx->relay);
        ctx->relay = NULL;
    }
}


/*
 * nginx's own error answers in an fcfh_pass location: the status nginx
 * finalized the request with (ngx_http_special_response_handler() set
 * r->err_status, and ngx_http_send_header() sends it), the module's text.
 * An error_page that redirects leaves this location (its configuration
 * and r->ctx go), so the operator's pages still win.  0: not one.
 */

static ngx_uint_t
ngx_http_fcfh_pass_special(ngx_http_request_t *r)
{
    ngx_http_fcfh_pass_loc_conf_t  *plcf;

    if (r != r->main || r->err_status < NGX_HTTP_BAD_REQUEST) {
        return 0;
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_fcfh_pass_module);

    if (plcf == NULL || plcf->enabled != 1) {
        return 0;
    }

    return r->err_status;
}


/*
 * The texts of docs/directives.md's fcfh_pass table.  In this location
 * nginx answers 502 and 504 only for ngx_http_upstream, that is for the
 * channel: the relay connection ended (the device closed the channel, its
 * tunnel ended, the worker or node relaying it exited) or stayed silent
 * before the answer head.  The relay is a byte stream: an end is an end,
 * whoever caused it.
 */

static const char *
ngx_http_fcfh_pass_special_text(ngx_uint_t status)
{
    switch (status) {

    case NGX_HTTP_BAD_REQUEST:
        return "bad request";

    case NGX_HTTP_UNAUTHORIZED:
        return "unauthorized";

    case NGX_HTTP_FORBIDDEN:
        return "forbidden";

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return "request body too large";

    case 429:
        return "too many requests";

    case NGX_HTTP_INTERNAL_SERVER_ERROR:
        return ngx_fcfh_open_result_text(NGX_FCFH_OPEN_ERROR);

    case NGX_HTTP_BAD_GATEWAY:
        return "channel closed before the device answered";

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return "service unavailable";

    case NGX_HTTP_GATEWAY_TIME_OUT:
        return ngx_fcfh_open_result_text(NGX_FCFH_OPEN_TIMEOUT);

    default:
        return "request failed";
    }
}


static ngx_int_t
ngx_http_fcfh_pass_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t   status;
    const char  *text;

    status = ngx_http_fcfh_pass_special(r);

    if (status == 0) {
        return ngx_http_next_header_filter(r);
    }

    text = ngx_http_fcfh_pass_special_text(status);

    /* as ngx_http_fcfh_pass_error() answers */

    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    ngx_str_set(&r->headers_out.content_type, "text/plain");
    r->headers_out.content_type_lowcase = NULL;

    r->headers_out.content_length_n = ngx_strlen(text);

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "fcfh: %ui %s", status, text);

    return ngx_http_next_header_filter(r);
}


/* nginx's page goes, the text comes with its last buffer */

static ngx_int_t
ngx_http_fcfh_pass_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t    *b;
    ngx_uint_t    last, status;
    ngx_chain_t   out, *cl;
    const char   *text;

    if (in == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    status = ngx_http_fcfh_pass_special(r);

    if (status == 0) {
        return ngx_http_next_body_filter(r, in);
    }

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf) {
            last = 1;
        }

        if (ngx_buf_in_memory(b)) {
            b->pos = b->last;
        }

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    text = ngx_http_fcfh_pass_special_text(status);

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->memory = 1;
    b->pos = (u_char *) text;
    b->last = b->pos + ngx_strlen(text);
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


static ngx_int_t
ngx_http_fcfh_pass_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_fcfh_pass_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_fcfh_pass_body_filter;

    return NGX_OK;
}


static void *
ngx_http_fcfh_pass_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_fcfh_pass_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_fcfh_pass_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enabled = NGX_CONF_UNSET;
    conf->htpasswd = NGX_CONF_UNSET_PTR;
    conf->ports = NGX_CONF_UNSET_PTR;

    conf->upstream.connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.send_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.read_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.buffer_size = NGX_CONF_UNSET_SIZE;
    conf->upstream.hide_headers = NGX_CONF_UNSET_PTR;
    conf->upstream.pass_headers = NGX_CONF_UNSET_PTR;

    /* the device's answer is the console's, errors included */
    conf->upstream.intercept_errors = 0;
    conf->upstream.cyclic_temp_file = 0;
    conf->upstream.buffering = 0;
    conf->upstream.ignore_client_abort = 0;
    conf->upstream.next_upstream_tries = 1;
    conf->upstream.next_upstream = NGX_HTTP_UPSTREAM_FT_OFF;

    /*
     * a device is no trusted backend: its X-Accel-Redirect would send the
     * console into the gateway's internal locations, the others would set
     * the console connection's rate and buffering
     */
    conf->upstream.ignore_headers = NGX_HTTP_UPSTREAM_IGN_XA_REDIRECT
                                    |NGX_HTTP_UPSTREAM_IGN_XA_EXPIRES
                                    |NGX_HTTP_UPSTREAM_IGN_XA_LIMIT_RATE
                                    |NGX_HTTP_UPSTREAM_IGN_XA_BUFFERING
                                    |NGX_HTTP_UPSTREAM_IGN_XA_CHARSET;

    return conf;
}


static char *
ngx_http_fcfh_pass_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_fcfh_pass_loc_conf_t *prev = parent;
    ngx_http_fcfh_pass_loc_conf_t *conf = child;

    ngx_uint_t      *p;
    ngx_hash_init_t  hash;

    ngx_conf_merge_ptr_value(conf->ports, prev->ports, NULL);
    ngx_conf_merge_ptr_value(conf->htpasswd, prev->htpasswd, NULL);

    if (conf->ports == NULL) {
        conf->ports = ngx_array_create(cf->pool, 1, sizeof(ngx_uint_t));
        if (conf->ports == NULL) {
            return NGX_CONF_ERROR;
        }

        p = ngx_array_push(conf->ports);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        *p = 16992;
    }

    /* the worker that owns a tunnel refuses ports no front door allows */
    if (conf->enabled == 1
        && ngx_fcfh_relay_allow_ports(cf, conf->ports->elts,
                                      conf->ports->nelts)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_msec_value(conf->upstream.connect_timeout,
                              prev->upstream.connect_timeout, 10000);
    ngx_conf_merge_msec_value(conf->upstream.send_timeout,
                              prev->upstream.send_timeout, 60000);
    ngx_conf_merge_msec_value(conf->upstream.read_timeout,
                              prev->upstream.read_timeout, 60000);
    ngx_conf_merge_size_value(conf->upstream.buffer_size,
                              prev->upstream.buffer_size,
                              (size_t) ngx_pagesize * 2);

    hash.max_size = 512;
    hash.bucket_size = ngx_align(64, ngx_cacheline_size);
    hash.name = "fcfh_pass_headers_hash";

    if (ngx_http_upstream_hide_headers_hash(cf, &conf->upstream,
            &prev->upstream, ngx_http_fcfh_pass_hide_headers, &hash)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->uscf == NULL) {
        conf->uscf = prev->uscf;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_fcfh_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fcfh_pass_loc_conf_t *plcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (plcf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (ngx_fcfh_check_zone(cf, "fcfh_pass") != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    clcf->handler = ngx_http_fcfh_pass_handler;
    plcf->enabled = 1;

    if (ngx_http_fcfh_exposure_add(cf, &cmd->name, (void **) &plcf->htpasswd,
                                   "fcfh_pass_auth_file")
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    plcf->uscf = ngx_pcalloc(cf->pool, sizeof(ngx_http_upstream_srv_conf_t));
    if (plcf->uscf == NULL) {
        return NGX_CONF_ERROR;
    }

    plcf->uscf->peer.init = ngx_http_fcfh_pass_peer_init;
    ngx_str_set(&plcf->uscf->host, "fcfh-device");
    plcf->uscf->file_name = cf->conf_file->file.name.data;
    plcf->uscf->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


