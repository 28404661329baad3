
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The console front door of the stream module ("fcfh_proxy"): SOCKS5
 * (RFC 1928, RFC 1929) and HTTP CONNECT on one listener, told apart by
 * the first byte.  The device is named by GUID or by the FQDN it
 * registered; the console's success reply goes out only once the device
 * confirmed the channel.  Then the console's bytes are the channel's:
 * attached to the tunnel directly when this worker owns it, else spliced
 * through the owner worker's relay socket.  A device held by another
 * gateway node is reached through that node (ngx_fcfh_cluster.c).
 *
 * The same state machine serves "fcfh_cluster_relay": the other nodes'
 * side of that path, over mutual TLS.  There the request is the relay
 * preamble and the answer its two status bytes; the device must be on
 * this node (never a second hop, so requests cannot loop).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_escape.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_relay.h"
#include "ngx_fcfh_route.h"
#include "ngx_fcfh_htpasswd.h"
#include "ngx_fcfh_proxy_parse.h"
#include "ngx_stream_fcfh_tunnel.h"
#include "ngx_stream_fcfh_channel.h"
#include "ngx_stream_fcfh_exposure.h"


#define NGX_FCFH_PROXY_BUFFER        (NGX_FCFH_PROXY_DEFAULT_MAX_HEAD + 1)
#define NGX_FCFH_SPLICE_BUFFER       16384


typedef struct {
    ngx_flag_t                       enabled;
    ngx_flag_t                       cluster;    /* fcfh_cluster_relay */
    ngx_fcfh_htpasswd_t             *htpasswd;
    ngx_array_t                     *ports;      /* of ngx_uint_t */
    ngx_msec_t                       timeout;
    ngx_msec_t                       idle_timeout;
} ngx_stream_fcfh_proxy_srv_conf_t;


typedef enum {
    ngx_fcfh_proxy_first = 0,
    ngx_fcfh_proxy_greeting,
    ngx_fcfh_proxy_auth,
    ngx_fcfh_proxy_request,
    ngx_fcfh_proxy_connect,
    ngx_fcfh_proxy_opening,
    ngx_fcfh_proxy_replying,
    ngx_fcfh_proxy_spliced
} ngx_fcfh_proxy_state_e;


typedef struct {
    u_char                          *start;
    u_char                          *pos;
    u_char                          *last;
    u_char                          *end;
    off_t                            sent;       /* for the audit */
} ngx_fcfh_proxy_buf_t;


typedef struct {
    ngx_stream_session_t            *session;
    ngx_stream_fcfh_proxy_srv_conf_t *conf;
    ngx_fcfh_proxy_state_e           state;
    ngx_uint_t                       socks;      /* else CONNECT */
    ngx_uint_t                       http_minor;

    u_char                           in[NGX_FCFH_PROXY_BUFFER];
    size_t                           in_len;

    /* the reply being sent to the console */
    u_char                           out[512];
    size_t                           out_len;
    size_t                           out_sent;
    unsigned                         close_after:1;

    ngx_str_t                        target;     /* as the console named it */
    ngx_uint_t                       port;
    ngx_str_t                        user;       /* authenticated */
    ngx_fcfh_route_open_t            ro;
    ngx_uint_t                       why;        /* NGX_FCFH_END_* */

    /* for the owner's logs: the console, or the one another node had */
    ngx_str_t                        console;
    ngx_uint_t                       console_port;
    u_char                           console_data[NGX_FCFH_RELAY_ADDR_SIZE];
    u_char                           guid_text[NGX_FCFH_APF_GUID_TEXT_SIZE];

    /* once open: one of them */
    ngx_fcfh_channel_t              *channel;    /* local tunnel */
    ngx_connection_t                *relay;      /* remote tunnel */

    ngx_fcfh_proxy_buf_t             down;       /* relay -> console */
    ngx_fcfh_proxy_buf_t             up;         /* console -> relay */
    unsigned                         up_shut:1;
    unsigned                         up_eof:1;   /* console done first */
} ngx_stream_fcfh_proxy_ctx_t;


static void ngx_stream_fcfh_proxy_handler(ngx_stream_session_t *s);
static void ngx_stream_fcfh_proxy_read_handler(ngx_event_t *rev);
static void ngx_stream_fcfh_proxy_write_handler(ngx_event_t *wev);
static ngx_int_t ngx_stream_fcfh_proxy_parse(
    ngx_stream_fcfh_proxy_ctx_t *ctx);
static void ngx_stream_fcfh_proxy_consume(ngx_stream_fcfh_proxy_ctx_t *ctx,
    size_t n);
static ngx_int_t ngx_stream_fcfh_proxy_socks(
    ngx_stream_fcfh_proxy_ctx_t *ctx);
static ngx_int_t ngx_stream_fcfh_proxy_http(ngx_stream_fcfh_proxy_ctx_t *ctx);
static ngx_int_t ngx_stream_fcfh_proxy_check_user(
    ngx_stream_fcfh_proxy_ctx_t *ctx, const uint8_t *user, size_t ulen,
    const uint8_t *password, size_t plen);
static ngx_uint_t ngx_stream_fcfh_proxy_peer_verified(ngx_connection_t *c);
static ngx_int_t ngx_stream_fcfh_proxy_preamble(
    ngx_stream_fcfh_proxy_ctx_t *ctx);
static void ngx_stream_fcfh_proxy_route(ngx_stream_fcfh_proxy_ctx_t *ctx,
    ngx_fcfh_proxy_host_t *host);
static void ngx_stream_fcfh_proxy_opened(ngx_fcfh_route_open_t *ro,
    ngx_uint_t result, ngx_uint_t reason);
static void ngx_stream_fcfh_proxy_done(ngx_fcfh_route_open_t *ro);
static ngx_uint_t ngx_stream_fcfh_proxy_channel_end(ngx_fcfh_channel_t *ch);
static void ngx_stream_fcfh_proxy_close_session(
    ngx_stream_fcfh_proxy_ctx_t *ctx);
static void ngx_stream_fcfh_proxy_result(ngx_stream_fcfh_proxy_ctx_t *ctx,
    ngx_uint_t result, ngx_uint_t reason);
static void ngx_stream_fcfh_proxy_fail(ngx_stream_fcfh_proxy_ctx_t *ctx,
    ngx_uint_t rep, ngx_uint_t status, const char *text);
static void ngx_stream_fcfh_proxy_reply(ngx_stream_fcfh_proxy_ctx_t *ctx,
    u_char *data, size_t len, ngx_uint_t close_after);
static void ngx_stream_fcfh_proxy_start(ngx_stream_fcfh_proxy_ctx_t *ctx);
static void ngx_stream_fcfh_proxy_splice(ngx_event_t *ev);
static ngx_int_t ngx_stream_fcfh_proxy_half_close(ngx_connection_t *c);
static ngx_int_t ngx_stream_fcfh_proxy_pump(ngx_connection_t *src,
    ngx_connection_t *dst, ngx_fcfh_proxy_buf_t *b, ngx_uint_t *eof);
static void ngx_stream_fcfh_proxy_finalize(ngx_stream_fcfh_proxy_ctx_t *ctx,
    ngx_uint_t rc);
static void ngx_stream_fcfh_proxy_cleanup(void *data);
static u_char *ngx_stream_fcfh_proxy_log_error(ngx_log_t *log, u_char *buf,
    size_t len);

static void *ngx_stream_fcfh_proxy_create_srv_conf(ngx_conf_t *cf);
static char *ngx_stream_fcfh_proxy_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_stream_fcfh_proxy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_fcfh_cluster_relay(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_stream_fcfh_proxy_commands[] = {

    { ngx_string("fcfh_proxy"),
      NGX_STREAM_SRV_CONF|NGX_CONF_NOARGS,
      ngx_stream_fcfh_proxy,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fcfh_cluster_relay"),
      NGX_STREAM_SRV_CONF|NGX_CONF_NOARGS,
      ngx_stream_fcfh_cluster_relay,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fcfh_proxy_auth_file"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_fcfh_htpasswd_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_proxy_srv_conf_t, htpasswd),
      NULL },

    { ngx_string("fcfh_proxy_ports"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_fcfh_ports_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_proxy_srv_conf_t, ports),
      NULL },

    { ngx_string("fcfh_proxy_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_proxy_srv_conf_t, timeout),
      NULL },

    { ngx_string("fcfh_proxy_idle_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_proxy_srv_conf_t, idle_timeout),
      NULL },

      ngx_null_command
};


static ngx_stream_module_t  ngx_stream_fcfh_proxy_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_stream_fcfh_proxy_create_srv_conf, /* create server configuration */
    ngx_stream_fcfh_proxy_merge_srv_conf   /* merge server configuration */
};


ngx_module_t  ngx_stream_fcfh_proxy_module = {
    NGX_MODULE_V1,
    &ngx_stream_fcfh_proxy_module_ctx,     /* module context */
    ngx_stream_fcfh_proxy_commands,        /* module directives */
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


static void
ngx_stream_fcfh_proxy_handler(ngx_stream_session_t *s)
{
    ngx_connection_t             *c;
    ngx_pool_cleanup_t           *cln;
    ngx_stream_fcfh_proxy_ctx_t  *ctx;

    c = s->connection;

    c->log->action = "reading console request";

    ctx = ngx_pcalloc(c->pool, sizeof(ngx_stream_fcfh_proxy_ctx_t));
    if (ctx == NULL) {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    cln = ngx_pool_cleanup_add(c->pool, 0);
    if (cln == NULL) {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    cln->handler = ngx_stream_fcfh_proxy_cleanup;
    cln->data = ctx;

    ctx->session = s;
    ctx->conf = ngx_stream_get_module_srv_conf(s,
                                               ngx_stream_fcfh_proxy_module);

    ngx_stream_set_ctx(s, ctx, ngx_stream_fcfh_proxy_module);

    s->log_handler = ngx_stream_fcfh_proxy_log_error;

    ctx->console = c->addr_text;
    ctx->console_port = ngx_inet_get_port(c->sockaddr);

    c->read->handler = ngx_stream_fcfh_proxy_read_handler;
    c->write->handler = ngx_stream_fcfh_proxy_write_handler;

    ngx_add_timer(c->read, ctx->conf->timeout);

    if (c->buffer && c->buffer->pos < c->buffer->last) {
        ctx->in_len = ngx_min((size_t) (c->buffer->last - c->buffer->pos),
                              sizeof(ctx->in));
        ngx_memcpy(ctx->in, c->buffer->pos, ctx->in_len);
        c->buffer->pos += ctx->in_len;
    }

    ngx_stream_fcfh_proxy_read_handler(c->read);
}


static void
ngx_stream_fcfh_proxy_read_handler(ngx_event_t *rev)
{
    size_t                        len;
    ssize_t                       n;
    ngx_int_t                     rc;
    ngx_fcfh_proxy_state_e        state;
    ngx_connection_t             *c;
    ngx_stream_session_t         *s;
    ngx_stream_fcfh_proxy_ctx_t  *ctx;

    c = rev->data;
    s = c->data;
    ctx = ngx_stream_get_module_ctx(s, ngx_stream_fcfh_proxy_module);

    if (rev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "console timed out");
        ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_OK);
        return;
    }

    if (ctx->state >= ngx_fcfh_proxy_opening) {
        /* watch for the console leaving while the device answers */
        if (ctx->state < ngx_fcfh_proxy_replying && rev->ready) {
            u_char  ch;

            n = recv(c->fd, &ch, 1, MSG_PEEK);

            if (n == 0 || (n == -1 && ngx_socket_errno != NGX_EAGAIN)) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "console left before the device answered");
                ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_OK);
            }
        }

        return;
    }

    for ( ;; ) {

        state = ctx->state;
        len = ctx->in_len;

        rc = ngx_stream_fcfh_proxy_parse(ctx);

        if (rc != NGX_AGAIN) {
            /* a reply, a failure or the channel open is under way */
            return;
        }

        if (ctx->state != state || ctx->in_len != len) {
            /* a message was taken: the next may be buffered already */
            continue;
        }

        if (ctx->in_len == sizeof(ctx->in)) {
            /* cannot happen: parsers stop at their size limits */
            ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_BAD_REQUEST);
            return;
        }

        n = c->recv(c, ctx->in + ctx->in_len, sizeof(ctx->in) - ctx->in_len);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "console closed the connection in its request");
            ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_OK);
            return;
        }

        ctx->in_len += n;
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_INTERNAL_SERVER_ERROR);
    }
}


/*
 * Runs the request state machine over the bytes read so far.  NGX_AGAIN:
 * more bytes needed; NGX_OK: done with reading (a reply or an open is
 * under way, or the session is finalized).
 */

static ngx_int_t
ngx_stream_fcfh_proxy_parse(ngx_stream_fcfh_proxy_ctx_t *ctx)
{
    ngx_connection_t  *c;

    c = ctx->session->connection;

    if (ctx->in_len == 0) {
        return NGX_AGAIN;
    }

    if (ctx->conf->cluster) {
        return ngx_stream_fcfh_proxy_preamble(ctx);
    }

    if (ctx->state == ngx_fcfh_proxy_first) {

        switch (ngx_fcfh_proxy_sniff(ctx->in[0])) {

        case NGX_FCFH_PROXY_SOCKS5:
            ctx->socks = 1;
            ctx->state = ngx_fcfh_proxy_greeting;
            break;

        case NGX_FCFH_PROXY_CONNECT:
            ctx->state = ngx_fcfh_proxy_connect;
            break;

        default:
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "console spoke neither SOCKS5 nor HTTP CONNECT");
            ngx_stream_fcfh_proxy_fail(ctx, 0, 400, "expected SOCKS5 or "
                                       "an HTTP CONNECT request");
            return NGX_OK;
        }
    }

    return ctx->socks ? ngx_stream_fcfh_proxy_socks(ctx)
                      : ngx_stream_fcfh_proxy_http(ctx);
}


static void
ngx_stream_fcfh_proxy_consume(ngx_stream_fcfh_proxy_ctx_t *ctx, size_t n)
{
    ngx_memmove(ctx->in, ctx->in + n, ctx->in_len - n);
    ctx->in_len -= n;
}


static ngx_int_t
ngx_stream_fcfh_proxy_socks(ngx_stream_fcfh_proxy_ctx_t *ctx)
{
    u_char                             buf[2];
    size_t                             size;
    ssize_t                            n;
    ngx_int_t                          rc;
    ngx_connection_t                  *c;
    ngx_fcfh_proxy_socks5_auth_t       a;
    ngx_fcfh_proxy_socks5_request_t    r;
    ngx_fcfh_proxy_socks5_greeting_t   g;
    uint8_t                            method;

    c = ctx->session->connection;

    switch (ctx->state) {

    case ngx_fcfh_proxy_greeting:
        n = ngx_fcfh_proxy_socks5_greeting(ctx->in, ctx->in_len, &g);

        if (n == 0) {
            return NGX_AGAIN;
        }

        if (n < 0) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "invalid SOCKS5 greeting: %s",
                          ngx_fcfh_proxy_strerror(n));
            ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_BAD_REQUEST);
            return NGX_OK;
        }

        method = ngx_fcfh_proxy_socks5_select_method(g.offered,
                                                 ctx->conf->htpasswd != NULL);
        ngx_stream_fcfh_proxy_consume(ctx, n);

        (void) ngx_fcfh_proxy_socks5_write_method(buf, sizeof(buf), method);

        if (method == NGX_FCFH_PROXY_SOCKS5_NO_ACCEPTABLE) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "SOCKS5 console offered no acceptable method%s",
                          ctx->conf->htpasswd ? " (username/password "
                                                "required)" : "");
            ngx_stream_fcfh_proxy_reply(ctx, buf, 2, 1);
            return NGX_OK;
        }

        ctx->state = (method == NGX_FCFH_PROXY_SOCKS5_USERPASS)
                     ? ngx_fcfh_proxy_auth : ngx_fcfh_proxy_request;

        ngx_stream_fcfh_proxy_reply(ctx, buf, 2, 0);

        return NGX_AGAIN;

    case ngx_fcfh_proxy_auth:
        n = ngx_fcfh_proxy_socks5_auth(ctx->in, ctx->in_len, &a);

        if (n == 0) {
            return NGX_AGAIN;
        }

        if (n > 0) {
            rc = ngx_stream_fcfh_proxy_check_user(ctx, a.user.data,
                                                  a.user.len,
                                                  a.password.data,
                                                  a.password.len);
        } else {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "invalid SOCKS5 authentication: %s",
                          ngx_fcfh_proxy_strerror(n));
            rc = NGX_DECLINED;
        }

        if (rc == NGX_ERROR) {
            ngx_stream_fcfh_proxy_finalize(ctx,
                                           NGX_STREAM_INTERNAL_SERVER_ERROR);
            return NGX_OK;
        }

        if (n < 0 && n == NGX_FCFH_PROXY_ERR_VERSION) {
            ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_BAD_REQUEST);
            return NGX_OK;
        }

        (void) ngx_fcfh_proxy_socks5_write_auth_status(buf, sizeof(buf),
                   rc == NGX_OK ? NGX_FCFH_PROXY_SOCKS5_AUTH_OK
                                : NGX_FCFH_PROXY_SOCKS5_AUTH_FAILED);

        if (rc != NGX_OK) {
            ngx_stream_fcfh_proxy_reply(ctx, buf, 2, 1);
            return NGX_OK;
        }

        ngx_stream_fcfh_proxy_consume(ctx, n);
        ctx->state = ngx_fcfh_proxy_request;
        ngx_stream_fcfh_proxy_reply(ctx, buf, 2, 0);

        return NGX_AGAIN;

    default: /* ngx_fcfh_proxy_request */
        n = ngx_fcfh_proxy_socks5_request(ctx->in, ctx->in_len, &r);

        if (n == 0) {
            return NGX_AGAIN;
        }

        if (n < 0) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "invalid SOCKS5 request: %s",
                          ngx_fcfh_proxy_strerror(n));

            rc = ngx_fcfh_proxy_socks5_error_reply(n);

            if (rc < 0) {
                ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_BAD_REQUEST);

            } else {
                ngx_stream_fcfh_proxy_fail(ctx, rc, 0, NULL);
            }

            return NGX_OK;
        }

        ngx_stream_fcfh_proxy_consume(ctx, n);

        ctx->port = r.port;

        if (r.atyp == NGX_FCFH_PROXY_SOCKS5_ATYP_DOMAIN) {
            /*
             * as sent, for the logs, even when it is no host name: made
             * printable (a valid name stays as it is, and anything else
             * is found by no lookup)
             */
            size = NGX_FCFH_ESCAPE_LOG_MAX * r.addr.len + 1;
            ctx->target.data = ngx_pnalloc(c->pool, size);

            if (ctx->target.data == NULL) {
                ngx_stream_fcfh_proxy_finalize(ctx,
                                           NGX_STREAM_INTERNAL_SERVER_ERROR);
                return NGX_OK;
            }

            ctx->target.len = ngx_fcfh_escape_log(ctx->target.data, size,
                                                  r.addr.data, r.addr.len);

        } else {
            ctx->target.len = r.host.text.len;
            ctx->target.data = ngx_pnalloc(c->pool, r.host.text.len + 1);

            if (ctx->target.data == NULL) {
                ngx_stream_fcfh_proxy_finalize(ctx,
                                           NGX_STREAM_INTERNAL_SERVER_ERROR);
                return NGX_OK;
            }

            ngx_memcpy(ctx->target.data, r.host.text.data, r.host.text.len);
        }

        if (r.atyp != NGX_FCFH_PROXY_SOCKS5_ATYP_DOMAIN) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "SOCKS5 console asked for an IP address; devices "
                          "are named by GUID or FQDN");
            ngx_stream_fcfh_proxy_fail(ctx,
                                   NGX_FCFH_PROXY_SOCKS5_ATYP_UNSUPPORTED,
                                   0, NULL);
            return NGX_OK;
        }

        ngx_stream_fcfh_proxy_route(ctx, &r.host);

        return NGX_OK;
    }
}


static ngx_int_t
ngx_stream_fcfh_proxy_http(ngx_stream_fcfh_proxy_ctx_t *ctx)
{
    u_char                         cred_buf[NGX_FCFH_PROXY_DEFAULT_MAX_HEAD];
    ssize_t                        n, rc;
    ngx_uint_t                     cred_bad;
    ngx_connection_t              *c;
    ngx_fcfh_proxy_connect_t       h;
    ngx_fcfh_proxy_credentials_t   cred;

    c = ctx->session->connection;

    n = ngx_fcfh_proxy_connect_parse(ctx->in, ctx->in_len,
                                     NGX_FCFH_PROXY_DEFAULT_MAX_HEAD,
                                     NGX_FCFH_PROXY_DEFAULT_MAX_HEADERS, &h);

    if (n == 0) {
        return NGX_AGAIN;
    }

    if (n < 0) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "invalid CONNECT request: %s",
                      ngx_fcfh_proxy_strerror(n));
        ngx_stream_fcfh_proxy_fail(ctx, 0, ngx_fcfh_proxy_http_status(n),
                                   ngx_fcfh_proxy_strerror(n));
        return NGX_OK;
    }

    ctx->http_minor = h.http_minor;

    if (ctx->conf->htpasswd) {
        rc = NGX_DECLINED;
        cred_bad = 1;

        if (h.proxy_authorization.data
            && ngx_fcfh_proxy_basic_decode(h.proxy_authorization.data,
                                           h.proxy_authorization.len,
                                           cred_buf, sizeof(cred_buf), &cred)
               >= 0)
        {
            cred_bad = 0;

            rc = ngx_stream_fcfh_proxy_check_user(ctx, cred.user.data,
                                                  cred.user.len,
                                                  cred.password.data,
                                                  cred.password.len);
        }

        ngx_explicit_memzero(cred_buf, sizeof(cred_buf));

        if (rc == NGX_ERROR) {
            ngx_stream_fcfh_proxy_finalize(ctx,
                                           NGX_STREAM_INTERNAL_SERVER_ERROR);
            return NGX_OK;
        }

        if (rc != NGX_OK) {
            if (h.proxy_authorization.data == NULL) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "console sent no Proxy-Authorization");

            } else if (rc == NGX_DECLINED && cred_bad) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "console sent invalid Basic credentials");
            }

            ngx_stream_fcfh_proxy_fail(ctx, 0, 407, "proxy authentication "
                                       "required");
            return NGX_OK;
        }
    }

    ngx_stream_fcfh_proxy_consume(ctx, n);

    ctx->port = h.port;
    ctx->target.len = h.host.text.len;
    ctx->target.data = ngx_pnalloc(c->pool, h.host.text.len + 1);

    if (ctx->target.data == NULL) {
        ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_OK;
    }

    ngx_memcpy(ctx->target.data, h.host.text.data, h.host.text.len);

    if (h.host.kind == NGX_FCFH_PROXY_HOST_IPV4
        || h.host.kind == NGX_FCFH_PROXY_HOST_IPV6)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "console asked for an IP address; devices are named "
                      "by GUID or FQDN");
        ngx_stream_fcfh_proxy_fail(ctx, 0, 404, "devices are named by GUID "
                                   "or FQDN, not by address");
        return NGX_OK;
    }

    ngx_stream_fcfh_proxy_route(ctx, &h.host);

    return NGX_OK;
}


static ngx_int_t
ngx_stream_fcfh_proxy_check_user(ngx_stream_fcfh_proxy_ctx_t *ctx,
    const uint8_t *user, size_t ulen, const uint8_t *password, size_t plen)
{
    u_char             text[64];
    ngx_str_t          u, p, shown;
    ngx_int_t          rc;
    ngx_uint_t         cached;
    ngx_fcfh_cred_t   *cred;
    ngx_connection_t  *c;

    c = ctx->session->connection;

    if (ctx->conf->htpasswd == NULL) {
        return NGX_OK;
    }

    u.data = (u_char *) user;
    u.len = ulen;
    p.data = (u_char *) password;
    p.len = plen;

    rc = ngx_fcfh_htpasswd_check(ctx->conf->htpasswd, &u, &p, c->pool, &cred,
                                 &cached);

    if (cached) {
        ngx_fcfh_count(auth_cache_hits, 1);
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_NOTICE, c->log, 0,
                      "console authentication failed: user \"%V\"",
                      ngx_fcfh_log_str(&shown, text, sizeof(text), u.data,
                                       u.len));
    }

    if (rc == NGX_OK) {
        /* for the audit of its sessions */
        ctx->user.data = ngx_pnalloc(c->pool, ulen);
        if (ctx->user.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ctx->user.data, user, ulen);
        ctx->user.len = ulen;
    }

    return rc;
}


static void
ngx_stream_fcfh_proxy_route(ngx_stream_fcfh_proxy_ctx_t *ctx,
    ngx_fcfh_proxy_host_t *host)
{
    ngx_uint_t              rc;
    ngx_connection_t       *c;
    ngx_fcfh_route_open_t  *ro;

    c = ctx->session->connection;
    c->log->action = "opening a channel to the device";

    if (!ngx_fcfh_ports_allow(ctx->conf->ports, ctx->port)) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "console asked for port %ui, not in fcfh_proxy_ports",
                      ctx->port);
        ngx_stream_fcfh_proxy_fail(ctx, NGX_FCFH_PROXY_SOCKS5_NOT_ALLOWED,
                                   403, "port not allowed");
        return;
    }

    ro = &ctx->ro;

    ro->device = ctx->target;
    ro->port = ctx->port;
    ro->console = ctx->console;
    ro->console_port = ctx->console_port;
    ro->user = ctx->user;
    ro->front_door = ctx->conf->cluster ? NGX_FCFH_FRONT_CLUSTER
                     : ctx->socks ? NGX_FCFH_FRONT_SOCKS5
                     : NGX_FCFH_FRONT_CONNECT;
    ro->log = c->log;
    ro->splice = c;
    ro->done = ngx_stream_fcfh_proxy_done;
    ro->handler = ngx_stream_fcfh_proxy_opened;
    ro->data = ctx;

    /* asked by another node: here or nowhere */
    ro->local_only = ctx->conf->cluster;

    if (host && host->kind == NGX_FCFH_PROXY_HOST_INVALID) {
        ngx_fcfh_route_refused(ro, NGX_FCFH_OPEN_NO_TUNNEL);
        ngx_stream_fcfh_proxy_result(ctx, NGX_FCFH_OPEN_NO_TUNNEL, 0);
        return;
    }

    rc = ngx_fcfh_route_find(ro);

    if (rc != NGX_FCFH_OPEN_OK) {
        ngx_stream_fcfh_proxy_result(ctx, rc, 0);
        return;
    }

    ctx->state = ngx_fcfh_proxy_opening;

    /* from here the channel open and the relay have their own deadlines */
    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    ngx_fcfh_route_open(ro);
}


static ngx_uint_t
ngx_stream_fcfh_proxy_peer_verified(ngx_connection_t *c)
{
#if (NGX_STREAM_SSL)
    X509  *cert;

    if (c->ssl == NULL
        || SSL_get_verify_result(c->ssl->connection) != X509_V_OK)
    {
        return 0;
    }

    cert = SSL_get_peer_certificate(c->ssl->connection);

    if (cert == NULL) {
        return 0;
    }

    X509_free(cert);

    return 1;
#else
    return 0;
#endif
}


/*
 * fcfh_cluster_relay: another node's request, the relay preamble.
 * Only a peer with a certificate of the cluster's authority gets here
 * (ssl_verify_client on); checked again, so that a server block
 * without it cannot become an open door.
 */

static ngx_int_t
ngx_stream_fcfh_proxy_preamble(ngx_stream_fcfh_proxy_ctx_t *ctx)
{
    ssize_t               n;
    ngx_int_t             rc;
    ngx_uint_t            op;
    ngx_connection_t     *c;
    ngx_fcfh_preamble_t   pre;

    c = ctx->session->connection;

    if (!ngx_stream_fcfh_proxy_peer_verified(c)) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "fcfh_cluster_relay: peer without a verified client "
                      "certificate refused (needs \"ssl_verify_client on\")");
        ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_FORBIDDEN);
        return NGX_OK;
    }

    n = ngx_fcfh_preamble_parse_node(ctx->in, ctx->in_len, &pre);

    if (n == 0) {
        return NGX_AGAIN;
    }

    if (n < 0) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "fcfh_cluster_relay: invalid preamble: %s",
                      ngx_fcfh_preamble_error(n));
        ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_BAD_REQUEST);
        return NGX_OK;
    }

    op = pre.op;
    ctx->port = pre.port;

    ngx_fcfh_apf_guid_to_text(pre.guid, (char *) ctx->guid_text);
    ctx->target.data = ctx->guid_text;
    ctx->target.len = NGX_FCFH_APF_GUID_TEXT_SIZE;

    ctx->console_port = pre.console_port;
    ctx->console.len = ngx_min(pre.console_len, sizeof(ctx->console_data));
    ngx_memcpy(ctx->console_data, pre.console, ctx->console.len);
    ctx->console.data = ctx->console_data;

    ngx_stream_fcfh_proxy_consume(ctx, NGX_FCFH_RELAY_PREAMBLE_SIZE);

    if (op == NGX_FCFH_RELAY_OP_OPEN) {
        ngx_stream_fcfh_proxy_route(ctx, NULL);
        return NGX_OK;
    }

    /* close: a console of another node asked, or the device moved */

    rc = ngx_fcfh_registry_close_guid(pre.guid, pre.serial,
                                      op == NGX_FCFH_RELAY_OP_CLOSE);

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "tunnel of device %V %s at the request of another node",
                  &ctx->target,
                  rc != NGX_OK ? "not found for closing"
                  : op == NGX_FCFH_RELAY_OP_CLOSE ? "closed"
                  : "closed, it connected to another node");

    ctx->out[0] = (rc == NGX_OK) ? NGX_FCFH_OPEN_OK : NGX_FCFH_OPEN_NO_TUNNEL;
    ctx->out[1] = 0;
    ngx_stream_fcfh_proxy_reply(ctx, ctx->out, 2, 1);

    return NGX_OK;
}


static void
ngx_stream_fcfh_proxy_opened(ngx_fcfh_route_open_t *ro, ngx_uint_t result,
    ngx_uint_t reason)
{
    ngx_stream_fcfh_proxy_ctx_t  *ctx = ro->data;

    if (result == NGX_FCFH_OPEN_OK) {
        ctx->channel = ro->channel;
        ctx->relay = ro->connection;

        if (ctx->relay) {
            ctx->relay->data = ctx;
        }
    }

    ngx_stream_fcfh_proxy_result(ctx, result, reason);
}


static void
ngx_stream_fcfh_proxy_done(ngx_fcfh_route_open_t *ro)
{
    ngx_stream_fcfh_proxy_ctx_t  *ctx = ro->data;

    /* the channel is freed after this call: its account first */
    if (ctx->channel) {
        ctx->why = ngx_stream_fcfh_proxy_channel_end(ctx->channel);
        ngx_stream_fcfh_proxy_close_session(ctx);
    }

    ctx->channel = NULL;
    ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_OK);
}


/* why a local channel ended, from what it saw */

static ngx_uint_t
ngx_stream_fcfh_proxy_channel_end(ngx_fcfh_channel_t *ch)
{
    if (ch->tunnel == NULL) {
        return NGX_FCFH_END_TUNNEL;
    }

    if (ch->timedout) {
        return NGX_FCFH_END_TIMEOUT;
    }

    if (ch->faulted) {
        return NGX_FCFH_END_ERROR;
    }

    if (ch->peer_eof || ch->peer_error) {
        return NGX_FCFH_END_CONSOLE;
    }

    return ch->close_recv ? NGX_FCFH_END_DEVICE : NGX_FCFH_END_ERROR;
}


/* the audit's end of the session, if one is open: once */

static void
ngx_stream_fcfh_proxy_close_session(ngx_stream_fcfh_proxy_ctx_t *ctx)
{
    if (ctx->channel) {
        ngx_fcfh_route_close(&ctx->ro, ctx->why,
                             (off_t) ctx->channel->bytes_out,
                             (off_t) ctx->channel->bytes_in);
        return;
    }

    ngx_fcfh_route_close(&ctx->ro, ctx->why, ctx->up.sent, ctx->down.sent);
}


/* the answer to the console, success or each failure with its code */

static void
ngx_stream_fcfh_proxy_result(ngx_stream_fcfh_proxy_ctx_t *ctx,
    ngx_uint_t result, ngx_uint_t reason)
{
    size_t             len;
    ngx_connection_t  *c;

    static u_char      ok10[] = "HTTP/1.0 200 Connection established\r\n\r\n";
    static u_char      ok11[] = "HTTP/1.1 200 Connection established\r\n\r\n";

    c = ctx->session->connection;

    if (ctx->conf->cluster) {
        if (result != NGX_FCFH_OPEN_OK) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "request of another node for %V:%ui refused: "
                          "%s (%ui)", &ctx->target, ctx->port,
                          ngx_fcfh_open_result_text(result), reason);

        } else {
            ctx->state = ngx_fcfh_proxy_replying;
        }

        ctx->out[0] = (u_char) result;
        ctx->out[1] = (u_char) reason;
        ngx_stream_fcfh_proxy_reply(ctx, ctx->out, 2,
                                    result != NGX_FCFH_OPEN_OK);
        return;
    }

    if (result == NGX_FCFH_OPEN_OK) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0, "channel to %V:%ui open",
                      &ctx->target, ctx->port);

        ctx->state = ngx_fcfh_proxy_replying;

        if (ctx->socks) {
            len = ngx_fcfh_proxy_socks5_write_reply(ctx->out,
                                        sizeof(ctx->out),
                                        NGX_FCFH_PROXY_SOCKS5_SUCCEEDED);
            ngx_stream_fcfh_proxy_reply(ctx, ctx->out, len, 0);

        } else if (ctx->http_minor == 0) {
            ngx_stream_fcfh_proxy_reply(ctx, ok10, sizeof(ok10) - 1, 0);

        } else {
            ngx_stream_fcfh_proxy_reply(ctx, ok11, sizeof(ok11) - 1, 0);
        }

        return;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "console request for %V:%ui refused: %s (%ui)",
                  &ctx->target, ctx->port,
                  ngx_fcfh_open_result_text(result), reason);

    switch (result) {

    case NGX_FCFH_OPEN_NO_TUNNEL:
        ngx_stream_fcfh_proxy_fail(ctx,
                                   NGX_FCFH_PROXY_SOCKS5_HOST_UNREACHABLE,
                                   404, "unknown device");
        return;

    case NGX_FCFH_OPEN_PORT:
        ngx_stream_fcfh_proxy_fail(ctx, NGX_FCFH_PROXY_SOCKS5_NOT_ALLOWED,
                                   403, "port not registered by the device");
        return;

    case NGX_FCFH_OPEN_REFUSED:
        ngx_stream_fcfh_proxy_fail(ctx, NGX_FCFH_PROXY_SOCKS5_REFUSED,
                                   502, "device refused the channel");
        return;

    case NGX_FCFH_OPEN_DRAINING:
        ngx_stream_fcfh_proxy_fail(ctx,
                                   NGX_FCFH_PROXY_SOCKS5_NET_UNREACHABLE,
                                   503, "tunnel draining");
        return;

    case NGX_FCFH_OPEN_TIMEOUT:
        ngx_stream_fcfh_proxy_fail(ctx, NGX_FCFH_PROXY_SOCKS5_TTL_EXPIRED,
                                   504, "device did not answer in time");
        return;

    case NGX_FCFH_OPEN_LIMIT:
        ngx_stream_fcfh_proxy_fail(ctx, NGX_FCFH_PROXY_SOCKS5_FAILURE,
                                   503, "too many channels to the device");
        return;

    case NGX_FCFH_OPEN_UNAVAILABLE:
        ngx_stream_fcfh_proxy_fail(ctx,
                                   NGX_FCFH_PROXY_SOCKS5_NET_UNREACHABLE,
                                   503, "cluster directory or owner node "
                                   "unavailable");
        return;

    default:
        ngx_stream_fcfh_proxy_fail(ctx, NGX_FCFH_PROXY_SOCKS5_FAILURE,
                                   500, "internal error");
        return;
    }
}


/* a refusal in the console's protocol, then close */

static void
ngx_stream_fcfh_proxy_fail(ngx_stream_fcfh_proxy_ctx_t *ctx, ngx_uint_t rep,
    ngx_uint_t status, const char *text)
{
    u_char                       *p;
    size_t                        len;
    ngx_stream_fcfh_proxy_ctx_t  *x = ctx;

    if (ctx->channel) {
        ngx_fcfh_channel_abort(ctx->channel);
        ctx->channel = NULL;
    }

    if (ctx->socks) {
        len = ngx_fcfh_proxy_socks5_write_reply(x->out, sizeof(x->out),
                                                (uint8_t) rep);
        ngx_stream_fcfh_proxy_reply(ctx, x->out, len, 1);
        return;
    }

    if (text == NULL) {
        text = "refused";
    }

    p = ngx_snprintf(x->out, sizeof(x->out) - 1,
                     "HTTP/1.%ui %ui %s\r\nContent-Type: text/plain\r\n"
                     "%s%sConnection: close\r\n\r\n",
                     ctx->http_minor, status,
                     status == 407 ? "Proxy Authentication Required"
                     : status == 404 ? "Not Found"
                     : status == 403 ? "Forbidden"
                     : status == 405 ? "Method Not Allowed"
                     : status == 431 ? "Request Header Fields Too Large"
                     : status == 502 ? "Bad Gateway"
                     : status == 503 ? "Service Unavailable"
                     : status == 504 ? "Gateway Timeout"
                     : status == 505 ? "HTTP Version Not Supported"
                     : status == 500 ? "Internal Server Error"
                     : "Bad Request",
                     status == 407 ? "Proxy-Authenticate: Basic "
                                     "realm=\"fcfh\"\r\n" : "",
                     status == 405 ? "Allow: CONNECT\r\n" : "");

    len = p - x->out;

    /* the body says which failure it was, in a line */
    p = ngx_snprintf(p, sizeof(x->out) - len, "%s\n", text);

    ngx_stream_fcfh_proxy_reply(ctx, x->out, p - x->out, 1);
}


static void
ngx_stream_fcfh_proxy_reply(ngx_stream_fcfh_proxy_ctx_t *ctx, u_char *data,
    size_t len, ngx_uint_t close_after)
{
    size_t  left;

    /* a reply may follow one the socket did not fully take yet */

    left = ctx->out_len - ctx->out_sent;

    if (data == ctx->out) {
        left = 0;

    } else if (left) {
        ngx_memmove(ctx->out, ctx->out + ctx->out_sent, left);
    }

    len = ngx_min(len, sizeof(ctx->out) - left);

    if (data != ctx->out) {
        ngx_memcpy(ctx->out + left, data, len);
    }

    ctx->out_len = left + len;
    ctx->out_sent = 0;
    ctx->close_after = close_after;

    ngx_stream_fcfh_proxy_write_handler(ctx->session->connection->write);
}


static void
ngx_stream_fcfh_proxy_write_handler(ngx_event_t *wev)
{
    ssize_t                       n;
    ngx_connection_t             *c;
    ngx_stream_session_t         *s;
    ngx_stream_fcfh_proxy_ctx_t  *ctx;

    c = wev->data;
    s = c->data;
    ctx = ngx_stream_get_module_ctx(s, ngx_stream_fcfh_proxy_module);

    while (ctx->out_sent < ctx->out_len) {
        n = c->send(c, ctx->out + ctx->out_sent, ctx->out_len - ctx->out_sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_OK);
            }

            return;
        }

        if (n == NGX_ERROR) {
            ctx->why = NGX_FCFH_END_CONSOLE;
            ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_OK);
            return;
        }

        ctx->out_sent += n;
    }

    if (ctx->close_after) {
        ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_OK);
        return;
    }

    if (ctx->state == ngx_fcfh_proxy_replying) {
        ngx_stream_fcfh_proxy_start(ctx);
    }
}


/* the success reply is out: the console's bytes are the channel's now */

static void
ngx_stream_fcfh_proxy_start(ngx_stream_fcfh_proxy_ctx_t *ctx)
{
    ngx_connection_t  *c;

    c = ctx->session->connection;

    c->log->action = "relaying console data";
    ctx->state = ngx_fcfh_proxy_spliced;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (ctx->channel) {
        if (ctx->in_len
            && ngx_fcfh_channel_send(ctx->channel, ctx->in, ctx->in_len)
               != NGX_OK)
        {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "console sent more data before the reply than the "
                          "device's window, closing");
            ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_BAD_REQUEST);
            return;
        }

        ctx->in_len = 0;
        ctx->channel->idle = ctx->conf->idle_timeout;

        ngx_fcfh_channel_start(ctx->channel);
        return;
    }

    ctx->up.start = ngx_palloc(c->pool, NGX_FCFH_SPLICE_BUFFER);
    ctx->down.start = ngx_palloc(c->pool, NGX_FCFH_SPLICE_BUFFER);

    if (ctx->up.start == NULL || ctx->down.start == NULL) {
        ctx->why = NGX_FCFH_END_ERROR;
        ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->up.pos = ctx->up.start;
    ctx->up.last = ngx_cpymem(ctx->up.start, ctx->in, ctx->in_len);
    ctx->up.end = ctx->up.start + NGX_FCFH_SPLICE_BUFFER;
    ctx->in_len = 0;

    ctx->down.pos = ctx->down.start;
    ctx->down.last = ctx->down.start;
    ctx->down.end = ctx->down.start + NGX_FCFH_SPLICE_BUFFER;

    c->log_error = NGX_ERROR_INFO;
    c->read->handler = ngx_stream_fcfh_proxy_splice;
    c->write->handler = ngx_stream_fcfh_proxy_splice;
    ctx->relay->read->handler = ngx_stream_fcfh_proxy_splice;
    ctx->relay->write->handler = ngx_stream_fcfh_proxy_splice;

    ngx_stream_fcfh_proxy_splice(c->read);
}


static void
ngx_stream_fcfh_proxy_splice(ngx_event_t *ev)
{
    ngx_uint_t                    up_eof, down_eof;
    ngx_connection_t             *c, *rc, *x;
    ngx_stream_session_t         *s;
    ngx_stream_fcfh_proxy_ctx_t  *ctx;

    x = ev->data;

    /* the console's connection belongs to the session, the relay's not */

    if (x->listening) {
        s = x->data;
        ctx = ngx_stream_get_module_ctx(s, ngx_stream_fcfh_proxy_module);

    } else {
        ctx = x->data;
        s = ctx->session;
    }

    c = s->connection;
    rc = ctx->relay;

    if (ev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "console session idle");
        ctx->why = NGX_FCFH_END_TIMEOUT;
        ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_OK);
        return;
    }

    up_eof = 0;
    down_eof = 0;

    if (ngx_stream_fcfh_proxy_pump(c, rc, &ctx->up, &up_eof) != NGX_OK) {
        ctx->why = NGX_FCFH_END_ERROR;
        ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_OK);
        return;
    }

    if (up_eof) {
        ctx->up_eof = 1;
    }

    if (ngx_stream_fcfh_proxy_pump(rc, c, &ctx->down, &down_eof) != NGX_OK) {
        /* the console does not take the device's bytes: it is gone */
        ctx->why = NGX_FCFH_END_CONSOLE;
        ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_OK);
        return;
    }

    if (down_eof) {
        /* the channel ended and all it sent is delivered */
        ctx->why = ctx->up_eof ? NGX_FCFH_END_CONSOLE : NGX_FCFH_END_DEVICE;
        ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_OK);
        return;
    }

    if (up_eof && !ctx->up_shut) {
        /* the console is done sending: pass the half close on */

        switch (ngx_stream_fcfh_proxy_half_close(rc)) {

        case NGX_OK:
            ctx->up_shut = 1;
            break;

        case NGX_AGAIN:
            /* the next write event tries again */
            break;

        default:
            ctx->why = NGX_FCFH_END_ERROR;
            ngx_stream_fcfh_proxy_finalize(ctx, NGX_STREAM_OK);
            return;
        }
    }

    ngx_add_timer(c->read, ctx->conf->idle_timeout);
}


/*
 * A half close toward the owner: a plain FIN on the relay socket, and on
 * a TLS connection to another node its close_notify first (TLS 1.3 lets
 * the other node go on sending), never a FIN under the TLS layer, which
 * would leave the later close_notify nowhere to go and make a cut-short
 * stream look like a clean end.
 */

static ngx_int_t
ngx_stream_fcfh_proxy_half_close(ngx_connection_t *c)
{
#if (NGX_STREAM_SSL)
    int  n, sslerr;

    if (c->ssl) {
        ERR_clear_error();

        n = SSL_shutdown(c->ssl->connection);

        if (n >= 0) {
            /* 0: ours is sent, the other node's is still to come */
            return NGX_OK;
        }

        sslerr = SSL_get_error(c->ssl->connection, n);

        if (sslerr == SSL_ERROR_WANT_WRITE) {
            return (ngx_handle_write_event(c->write, 0) == NGX_OK)
                   ? NGX_AGAIN : NGX_ERROR;
        }

        ngx_ssl_error(NGX_LOG_INFO, c->log, 0, "SSL_shutdown() failed");
        return NGX_ERROR;
    }
#endif

    if (ngx_shutdown_socket(c->fd, NGX_WRITE_SHUTDOWN) == -1) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Moves what src has into dst through b.  Reads only while b has room:
 * a slow reader stops the other side.  *eof: src ended and b is empty.
 */

static ngx_int_t
ngx_stream_fcfh_proxy_pump(ngx_connection_t *src, ngx_connection_t *dst,
    ngx_fcfh_proxy_buf_t *b, ngx_uint_t *eof)
{
    ssize_t  n;

    for ( ;; ) {

        if (b->pos < b->last) {
            n = dst->send(dst, b->pos, b->last - b->pos);

            if (n == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (n > 0) {
                b->pos += n;
                b->sent += n;

                if (b->pos == b->last) {
                    b->pos = b->start;
                    b->last = b->start;
                }
            }
        }

        if (b->last < b->end && src->read->ready && !src->read->eof) {
            n = src->recv(src, b->last, b->end - b->last);

            if (n == NGX_AGAIN) {
                break;
            }

            if (n == NGX_ERROR || n == 0) {
                src->read->eof = 1;
                break;
            }

            b->last += n;
            continue;
        }

        break;
    }

    if (src->read->eof && b->pos == b->last) {
        *eof = 1;
        return NGX_OK;
    }

    if (ngx_handle_read_event(src->read, 0) != NGX_OK
        || ngx_handle_write_event(dst->write, 0) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_stream_fcfh_proxy_finalize(ngx_stream_fcfh_proxy_ctx_t *ctx,
    ngx_uint_t rc)
{
    ngx_connection_t  *c;

    c = ctx->session->connection;

    ngx_stream_fcfh_proxy_close_session(ctx);

    if (ctx->channel) {
        ngx_fcfh_channel_abort(ctx->channel);
        ctx->channel = NULL;
    }

    ngx_fcfh_route_cancel(&ctx->ro);

    if (ctx->relay) {
        ngx_fcfh_relay_close_peer(ctx->relay);
        ctx->relay = NULL;
    }

    /* the channel may have set these while it owned the connection */
    c->data = ctx->session;

    ngx_stream_finalize_session(ctx->session, rc);
}


static void
ngx_stream_fcfh_proxy_cleanup(void *data)
{
    ngx_stream_fcfh_proxy_ctx_t  *ctx = data;

    /* not finalized by us: the connection went (worker exit, say) */
    ctx->why = NGX_FCFH_END_ERROR;
    ngx_stream_fcfh_proxy_close_session(ctx);

    if (ctx->channel) {
        ngx_fcfh_channel_abort(ctx->channel);
        ctx->channel = NULL;
    }

    ngx_fcfh_route_cancel(&ctx->ro);

    if (ctx->relay) {
        ngx_fcfh_relay_close_peer(ctx->relay);
        ctx->relay = NULL;
    }
}


static u_char *
ngx_stream_fcfh_proxy_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    ngx_stream_session_t         *s;
    ngx_stream_fcfh_proxy_ctx_t  *ctx;

    s = log->data;
    ctx = ngx_stream_get_module_ctx(s, ngx_stream_fcfh_proxy_module);

    if (ctx == NULL || ctx->target.len == 0) {
        return buf;
    }

    return ngx_snprintf(buf, len, ", device: %V:%ui", &ctx->target,
                        ctx->port);
}


static void *
ngx_stream_fcfh_proxy_create_srv_conf(ngx_conf_t *cf)
{
    ngx_stream_fcfh_proxy_srv_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_stream_fcfh_proxy_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enabled = NGX_CONF_UNSET;
    conf->cluster = 0;
    conf->htpasswd = NGX_CONF_UNSET_PTR;
    conf->ports = NGX_CONF_UNSET_PTR;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->idle_timeout = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_stream_fcfh_proxy_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_stream_fcfh_proxy_srv_conf_t *prev = parent;
    ngx_stream_fcfh_proxy_srv_conf_t *conf = child;

    ngx_uint_t  *p, i;

    static ngx_uint_t  defaults[] = { 16992, 16993, 16994, 16995 };

    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);
    ngx_conf_merge_ptr_value(conf->htpasswd, prev->htpasswd, NULL);
    ngx_conf_merge_ptr_value(conf->ports, prev->ports, NULL);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 10000);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout,
                              3600000);

    if (conf->ports == NULL) {
        conf->ports = ngx_array_create(cf->pool, 4, sizeof(ngx_uint_t));
        if (conf->ports == NULL) {
            return NGX_CONF_ERROR;
        }

        for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
            p = ngx_array_push(conf->ports);
            if (p == NULL) {
                return NGX_CONF_ERROR;
            }

            *p = defaults[i];
        }
    }

    /* the worker that owns a tunnel refuses ports no front door allows */
    if (conf->enabled
        && ngx_fcfh_relay_allow_ports(cf, conf->ports->elts,
                                      conf->ports->nelts)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_stream_fcfh_proxy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_fcfh_proxy_srv_conf_t *pscf = conf;

    ngx_stream_core_srv_conf_t  *cscf;

    if (pscf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (ngx_fcfh_check_zone(cf, "fcfh_proxy") != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cscf = ngx_stream_conf_get_module_srv_conf(cf, ngx_stream_core_module);

    if (cscf->handler) {
        return "conflicts with another content handler in this server";
    }

    cscf->handler = ngx_stream_fcfh_proxy_handler;
    pscf->enabled = 1;

    /* the cluster relay admits verified nodes only */
    if (ngx_strcmp(cmd->name.data, "fcfh_proxy") == 0
        && ngx_stream_fcfh_exposure_add(cf, &cmd->name,
                                        (void **) &pscf->htpasswd,
                                        "fcfh_proxy_auth_file")
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_stream_fcfh_cluster_relay(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_fcfh_proxy_srv_conf_t *pscf = conf;

    char  *rv;

    rv = ngx_stream_fcfh_proxy(cf, cmd, conf);

    if (rv == NGX_CONF_OK) {
        pscf->cluster = 1;
    }

    return rv;
}


