
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * "fcfh_webrelay": the WebSocket relay that browser consoles speak, the
 * fourth front door.  Intel's Open AMT UI toolkit and MeshCentral's
 * console scripts open
 *
 *     <location>?p=2&host=<guid|name>&port=16994&tls=0[&mode=kvm|sol|ider]
 *                                                   [&auth=<token>]
 *
 * (p=1: WS-Management, raw HTTP inside; p=2: AMT redirection) and then
 * exchange the channel's bytes in WebSocket messages.  Both clients are
 * served alike: the subprotocol the browser offers is echoed (Chromium
 * aborts otherwise), frames to the browser are always binary (MeshCentral's
 * scripts break on text), text and binary frames are taken from it (text:
 * a "binary string", one byte per character).
 *
 * Before the upgrade everything is checked and answered in plain HTTP with
 * a JSON body {"error": "..."}: the handshake (RFC 6455, 4.2.1), the
 * parameters, the port (only the AMT ports: no open relay), the console's
 * token (a place kept for it), the session limit per device and mode
 * (counted in the zone, so across workers), and the device's channel,
 * opened through the routing API (any worker, any node).  Only then the
 * 101.  After it, a close frame with a code and a reason says why a
 * session ends.
 *
 * Memory per session is fixed: three buffers, each bounded.  Bytes from
 * the device are read only while the buffer toward the browser has room,
 * so a browser that stops reading stops the relay, whose socket stops
 * the owner's channel, whose APF window stops the device; bytes from the
 * browser are read only while the buffer toward the device has room.
 *
 * The framing is ngx_fcfh_ws.[ch] (pure, fuzzed).  Where
 * fcfh_token_secret is set, the console's token is checked before the
 * upgrade (ngx_http_fcfh_token.c, ngx_fcfh_jwt.[ch]).  For redirection
 * sessions on 16994 with an fcfh_amt_credentials account for the device,
 * the bytes go through the redirection-authentication filter
 * (ngx_fcfh_redir.[ch]) until AMT has accepted the gateway's Digest; the
 * filter's output goes into the same two buffers, so the bounds hold.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_relay.h"
#include "ngx_fcfh_route.h"
#include "ngx_fcfh_open.h"
#include "ngx_fcfh_proxy_parse.h"
#include "ngx_fcfh_ws.h"
#include "ngx_fcfh_redir.h"
#include "ngx_http_fcfh.h"
#include "ngx_http_fcfh_exposure.h"


/* browser bytes read at once; a frame's payload streams through it */
#define NGX_HTTP_FCFH_WEBRELAY_IN      16384

/* room kept toward the browser for a ping, a pong and a close frame */
#define NGX_HTTP_FCFH_WEBRELAY_RESERVE                                        \
    (2 * NGX_FCFH_WS_CLOSE_FRAME_MAX + 16)

/* after our close frame, how long the browser has to answer it */
#define NGX_HTTP_FCFH_WEBRELAY_CLOSE_WAIT  5000

/*
 * Without pings the timer still ticks: a pending timer is what keeps an
 * old worker alive after a reload while it serves sessions (as tunnels do)
 */
#define NGX_HTTP_FCFH_WEBRELAY_TICK    60000

/* one message per read from the device: a 4-byte header at most */
#define NGX_HTTP_FCFH_WEBRELAY_CHUNK   65535

/* the "p" parameter */
#define NGX_HTTP_FCFH_WEBRELAY_WSMAN   1
#define NGX_HTTP_FCFH_WEBRELAY_REDIR   2

/* AMT's redirection port in clear: the gateway may authenticate there */
#define NGX_HTTP_FCFH_WEBRELAY_REDIR_PORT  16994

/*
 * While the redirection filter works: bytes read at once from either
 * side, and the room each buffer must have before, for what one input
 * may make the filter send (its own messages, and the bytes it held of
 * both sides when it turns transparent).
 */
#define NGX_HTTP_FCFH_WEBRELAY_REDIR_READ  1024
#define NGX_HTTP_FCFH_WEBRELAY_REDIR_ROOM                                     \
    (NGX_FCFH_REDIR_HOLD + 2 * NGX_HTTP_FCFH_WEBRELAY_REDIR_READ)
#define NGX_HTTP_FCFH_WEBRELAY_REDIR_BUFFER  16384


typedef struct {
    ngx_flag_t                       enabled;
    ngx_array_t                     *ports;         /* of ngx_uint_t */
    size_t                           max_frame;
    size_t                           max_message;
    size_t                           buffer_size;
    ngx_msec_t                       ping;
    ngx_uint_t                       sessions;
} ngx_http_fcfh_webrelay_loc_conf_t;


typedef struct {
    ngx_http_request_t              *request;
    ngx_connection_t                *peer;           /* the channel */
    ngx_fcfh_route_open_t            ro;
    ngx_fcfh_hold_t                 *hold;

    ngx_str_t                        device;
    ngx_uint_t                       port;
    ngx_uint_t                       proto;          /* "p" */
    ngx_str_t                        mode;
    ngx_str_t                        token;          /* never logged */
    ngx_str_t                        user;           /* token subject */
    u_char                           token_guid[NGX_FCFH_APF_GUID_SIZE];
    ngx_fcfh_redir_t                *redir;          /* p=2, gateway auth */
    ngx_str_t                        subprotocol;
    u_char                           accept[NGX_FCFH_WS_ACCEPT_LEN];

    ngx_fcfh_ws_parser_t             parser;

    ngx_buf_t                        in;             /* browser, unparsed */
    ngx_buf_t                        to_device;
    ngx_buf_t                        to_browser;

    ngx_event_t                      timer;          /* ping, close wait */
    ngx_msec_t                       started;
    uint32_t                         pings;
    size_t                           pong_len;
    u_char                           pong[NGX_FCFH_WS_CONTROL_MAX];

    ngx_uint_t                       close_code;
    const char                      *close_reason;
    const char                      *end;            /* why, for the log */
    ngx_uint_t                       why;            /* NGX_FCFH_END_* */

    off_t                            to_device_bytes;
    off_t                            to_browser_bytes;

    unsigned                         refused:1;        /* answered */
    unsigned                         opening:1;
    unsigned                         upgraded:1;
    unsigned                         ping_pending:1;
    unsigned                         ping_outstanding:1;
    unsigned                         pong_pending:1;
    unsigned                         close_pending:1;  /* to be queued */
    unsigned                         close_sent:1;     /* queued */
    unsigned                         close_received:1;
    unsigned                         failed:1;   /* no close answer awaited */
    unsigned                         why_set:1;
    unsigned                         finished:1;
    unsigned                         token_checked:1;
} ngx_http_fcfh_webrelay_ctx_t;


static ngx_int_t ngx_http_fcfh_webrelay_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_fcfh_webrelay_handshake(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx);
static ngx_int_t ngx_http_fcfh_webrelay_params(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_http_fcfh_webrelay_loc_conf_t *wlcf);
static void ngx_http_fcfh_webrelay_hide(ngx_http_request_t *r,
    ngx_str_t *value);
static ngx_int_t ngx_http_fcfh_webrelay_check_token(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx);
static ngx_int_t ngx_http_fcfh_webrelay_take_session(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_http_fcfh_webrelay_loc_conf_t *wlcf);
static ngx_int_t ngx_http_fcfh_webrelay_open(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx);
static void ngx_http_fcfh_webrelay_opened(ngx_fcfh_route_open_t *ro,
    ngx_uint_t result, ngx_uint_t reason);
static ngx_int_t ngx_http_fcfh_webrelay_refuse(ngx_http_request_t *r,
    ngx_uint_t status, const char *text);
static ngx_int_t ngx_http_fcfh_webrelay_upgrade(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx);
static ngx_int_t ngx_http_fcfh_webrelay_header(ngx_http_request_t *r,
    char *name, u_char *value, size_t len);

static void ngx_http_fcfh_webrelay_browser_read(ngx_http_request_t *r);
static void ngx_http_fcfh_webrelay_browser_write(ngx_http_request_t *r);
static void ngx_http_fcfh_webrelay_peer_handler(ngx_event_t *ev);
static void ngx_http_fcfh_webrelay_timer_handler(ngx_event_t *ev);
static void ngx_http_fcfh_webrelay_run(ngx_http_fcfh_webrelay_ctx_t *ctx);
static ngx_int_t ngx_http_fcfh_webrelay_pump(
    ngx_http_fcfh_webrelay_ctx_t *ctx, ngx_uint_t *progress);
static ngx_int_t ngx_http_fcfh_webrelay_from_device(
    ngx_http_fcfh_webrelay_ctx_t *ctx, ngx_uint_t *progress);
static void ngx_http_fcfh_webrelay_device_gone(
    ngx_http_fcfh_webrelay_ctx_t *ctx);
static ngx_int_t ngx_http_fcfh_webrelay_from_browser(
    ngx_http_fcfh_webrelay_ctx_t *ctx, ngx_uint_t *progress);
static ngx_int_t ngx_http_fcfh_webrelay_parse(
    ngx_http_fcfh_webrelay_ctx_t *ctx, ngx_uint_t *progress);
static void ngx_http_fcfh_webrelay_controls(
    ngx_http_fcfh_webrelay_ctx_t *ctx, ngx_uint_t *progress);
static ngx_int_t ngx_http_fcfh_webrelay_send(ngx_connection_t *c,
    ngx_buf_t *b, ngx_uint_t *progress);
static size_t ngx_http_fcfh_webrelay_room(ngx_buf_t *b);
static void ngx_http_fcfh_webrelay_close(ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_uint_t code, const char *reason);
static void ngx_http_fcfh_webrelay_why(ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_uint_t why);
static void ngx_http_fcfh_webrelay_close_peer(
    ngx_http_fcfh_webrelay_ctx_t *ctx);
static ngx_int_t ngx_http_fcfh_webrelay_events(
    ngx_http_fcfh_webrelay_ctx_t *ctx);
static void ngx_http_fcfh_webrelay_finish(ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_int_t rc, const char *why);
static void ngx_http_fcfh_webrelay_cleanup(void *data);

static ngx_int_t ngx_http_fcfh_webrelay_redir_start(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_http_fcfh_webrelay_loc_conf_t *wlcf);
static ngx_uint_t ngx_http_fcfh_webrelay_redir_active(
    ngx_http_fcfh_webrelay_ctx_t *ctx);
static ngx_uint_t ngx_http_fcfh_webrelay_redir_room(
    ngx_http_fcfh_webrelay_ctx_t *ctx);
static void ngx_http_fcfh_webrelay_redir_input(
    ngx_http_fcfh_webrelay_ctx_t *ctx, int from, u_char *data, size_t len);
static int ngx_http_fcfh_webrelay_redir_send(void *data, int to,
    const uint8_t *buf, size_t len);

static void *ngx_http_fcfh_webrelay_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_fcfh_webrelay_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_fcfh_webrelay(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_fcfh_webrelay_sessions(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


static ngx_conf_num_bounds_t  ngx_http_fcfh_webrelay_frame_bounds = {
    ngx_conf_check_num_bounds, 1, 0x7fffffff
};


static ngx_command_t  ngx_http_fcfh_webrelay_commands[] = {

    { ngx_string("fcfh_webrelay"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fcfh_webrelay,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fcfh_webrelay_ports"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_fcfh_ports_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fcfh_webrelay_loc_conf_t, ports),
      NULL },

    { ngx_string("fcfh_webrelay_max_frame"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fcfh_webrelay_loc_conf_t, max_frame),
      &ngx_http_fcfh_webrelay_frame_bounds },

    { ngx_string("fcfh_webrelay_max_message"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fcfh_webrelay_loc_conf_t, max_message),
      &ngx_http_fcfh_webrelay_frame_bounds },

    { ngx_string("fcfh_webrelay_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fcfh_webrelay_loc_conf_t, buffer_size),
      NULL },

    { ngx_string("fcfh_webrelay_ping"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fcfh_webrelay_loc_conf_t, ping),
      NULL },

    { ngx_string("fcfh_webrelay_sessions"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fcfh_webrelay_sessions,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fcfh_webrelay_loc_conf_t, sessions),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_fcfh_webrelay_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_fcfh_webrelay_create_loc_conf, /* create location configuration */
    ngx_http_fcfh_webrelay_merge_loc_conf  /* merge location configuration */
};


ngx_module_t  ngx_http_fcfh_webrelay_module = {
    NGX_MODULE_V1,
    &ngx_http_fcfh_webrelay_module_ctx,    /* module context */
    ngx_http_fcfh_webrelay_commands,       /* module directives */
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


/* the AMT ports: WS-Management and redirection, plain and TLS */
static ngx_uint_t  ngx_http_fcfh_webrelay_default_ports[] = {
    16992, 16993, 16994, 16995
};


static ngx_int_t
ngx_http_fcfh_webrelay_handler(ngx_http_request_t *r)
{
    ngx_int_t                           rc;
    ngx_str_t                           arg;
    ngx_http_cleanup_t                 *cln;
    ngx_http_fcfh_webrelay_ctx_t       *ctx;
    ngx_http_fcfh_webrelay_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_fcfh_webrelay_module);

    if (r != r->main) {
        return NGX_HTTP_NOT_FOUND;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_fcfh_webrelay_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ngx_http_set_ctx(r, ctx, ngx_http_fcfh_webrelay_module);

    /* whatever the way the request ends: channel, session, timer */
    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_fcfh_webrelay_cleanup;
    cln->data = ctx;

    /* before anything logs the request line */
    if (ngx_http_arg(r, (u_char *) "auth", 4, &arg) == NGX_OK) {
        ctx->token.data = ngx_pstrdup(r->pool, &arg);
        if (ctx->token.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->token.len = arg.len;
        ngx_http_fcfh_webrelay_hide(r, &arg);
    }

    /* each step answers a refusal itself (ctx->refused) */

    rc = ngx_http_fcfh_webrelay_handshake(r, ctx);
    if (rc != NGX_OK || ctx->refused) {
        return rc;
    }

    rc = ngx_http_fcfh_webrelay_params(r, ctx, wlcf);
    if (rc != NGX_OK || ctx->refused) {
        return rc;
    }

    rc = ngx_http_fcfh_webrelay_check_token(r, ctx);
    if (rc != NGX_OK || ctx->refused) {
        return rc;
    }

    return ngx_http_fcfh_webrelay_open(r, ctx);
}


/* RFC 6455, 4.2.1: what makes a request an opening handshake */

static ngx_int_t
ngx_http_fcfh_webrelay_handshake(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx)
{
    size_t            len;
    ngx_table_elt_t  *h;
    const uint8_t    *first;

    if (r->http_version == NGX_HTTP_VERSION_20) {
        /* RFC 8441 (WebSocket over HTTP/2) is not offered */
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_BAD_REQUEST,
                                  "a WebSocket needs HTTP/1.1, not HTTP/2");
    }

    if (r->method != NGX_HTTP_GET) {
        if (ngx_http_fcfh_webrelay_header(r, "Allow", (u_char *) "GET", 3)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_NOT_ALLOWED,
                                  "a WebSocket handshake is a GET");
    }

    if (r->http_version < NGX_HTTP_VERSION_11) {
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_BAD_REQUEST,
                                  "a WebSocket needs HTTP/1.1");
    }

    h = ngx_fcfh_find_header(&r->headers_in.headers, "Upgrade");

    if (h == NULL
        || !ngx_fcfh_ws_has_token(h->value.data, h->value.len, "websocket"))
    {
        /* a plain request to a WebSocket endpoint */
        if (ngx_http_fcfh_webrelay_header(r, "Upgrade",
                                          (u_char *) "websocket", 9)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_fcfh_webrelay_refuse(r, 426,
                                  "this is a WebSocket endpoint: "
                                  "Upgrade: websocket expected");
    }

    /* nginx keeps no pointer to it (1.22) */
    h = ngx_fcfh_find_header(&r->headers_in.headers, "Connection");

    if (h == NULL
        || !ngx_fcfh_ws_has_token(h->value.data, h->value.len, "upgrade"))
    {
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_BAD_REQUEST,
                                  "Connection: upgrade expected");
    }

    h = ngx_fcfh_find_header(&r->headers_in.headers, "Sec-WebSocket-Version");

    if (h == NULL || h->value.len != 2
        || ngx_strncmp(h->value.data, "13", 2) != 0)
    {
        if (ngx_http_fcfh_webrelay_header(r, "Sec-WebSocket-Version",
                                          (u_char *) "13", 2)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_fcfh_webrelay_refuse(r, 426,
                                  "Sec-WebSocket-Version 13 expected");
    }

    h = ngx_fcfh_find_header(&r->headers_in.headers, "Sec-WebSocket-Key");

    if (h == NULL
        || ngx_fcfh_ws_key_check(h->value.data, h->value.len) != 0)
    {
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_BAD_REQUEST,
                                  "Sec-WebSocket-Key must be the base64 "
                                  "of 16 bytes");
    }

    if (ngx_fcfh_ws_accept(h->value.data, h->value.len, ctx->accept) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_BAD_REQUEST,
                                  "a WebSocket handshake has no body");
    }

    h = ngx_fcfh_find_header(&r->headers_in.headers,
                             "Sec-WebSocket-Protocol");

    if (h) {
        if (ngx_fcfh_ws_subprotocol(h->value.data, h->value.len, &first,
                                    &len)
            != 0)
        {
            return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_BAD_REQUEST,
                                  "Sec-WebSocket-Protocol must be a list "
                                  "of tokens");
        }

        /*
         * The browser aborts unless the answer names one it offered; the
         * first is Open AMT's token (the only one its toolkit sends).
         */
        ctx->subprotocol.data = (u_char *) first;
        ctx->subprotocol.len = len;
    }

    return NGX_OK;
}


/* the query of both clients; refusals name the parameter */

static ngx_int_t
ngx_http_fcfh_webrelay_params(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_http_fcfh_webrelay_loc_conf_t *wlcf)
{
    u_char     *dst, *src;
    ngx_int_t   n;
    ngx_str_t   arg;

    if (ngx_http_arg(r, (u_char *) "p", 1, &arg) != NGX_OK
        || arg.len != 1 || (arg.data[0] != '1' && arg.data[0] != '2'))
    {
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_BAD_REQUEST,
                                  "p must be 1 (WS-Management) or "
                                  "2 (redirection)");
    }

    ctx->proto = arg.data[0] - '0';

    if (ngx_http_arg(r, (u_char *) "host", 4, &arg) != NGX_OK
        || arg.len == 0 || arg.len > 3 * NGX_FCFH_PROXY_HOST_MAX)
    {
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_BAD_REQUEST,
                                  "host must be a device GUID or name");
    }

    ctx->device.data = ngx_pnalloc(r->pool, arg.len);
    if (ctx->device.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dst = ctx->device.data;
    src = arg.data;
    ngx_unescape_uri(&dst, &src, arg.len, 0);
    ctx->device.len = dst - ctx->device.data;

    n = ngx_fcfh_proxy_parse_host(ctx->device.data, ctx->device.len, NULL);

    if (n != NGX_FCFH_PROXY_HOST_GUID && n != NGX_FCFH_PROXY_HOST_NAME) {
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_BAD_REQUEST,
                                  "host must be a device GUID or name");
    }

    n = NGX_ERROR;

    if (ngx_http_arg(r, (u_char *) "port", 4, &arg) == NGX_OK) {
        n = ngx_atoi(arg.data, arg.len);
    }

    if (n < 1 || n > 65535) {
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_BAD_REQUEST,
                                  "port must be a number");
    }

    ctx->port = n;

    if (!ngx_fcfh_ports_allow(wlcf->ports, ctx->port)) {
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_FORBIDDEN,
                                  "port not allowed");
    }

    if (ngx_http_arg(r, (u_char *) "tls", 3, &arg) == NGX_OK
        && !(arg.len == 1 && (arg.data[0] == '0' || arg.data[0] == '1')))
    {
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_BAD_REQUEST,
                                  "tls must be 0 or 1");
    }

    if (ngx_http_arg(r, (u_char *) "tls", 3, &arg) == NGX_OK
        && arg.data[0] == '1')
    {
        /*
         * TLS inside the channel (16993, 16995) would make the gateway a
         * TLS client of AMT on the browser's behalf: not done yet, and
         * said before the upgrade rather than leaving a socket hanging.
         */
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_NOT_IMPLEMENTED,
                                  "tls=1 (TLS inside the channel) is not "
                                  "supported: use tls=0 on port 16992 or "
                                  "16994");
    }

    if (ngx_http_arg(r, (u_char *) "tls1only", 8, &arg) == NGX_OK
        && !(arg.len == 1 && (arg.data[0] == '0' || arg.data[0] == '1')))
    {
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_BAD_REQUEST,
                                  "tls1only must be 0 or 1");
    }

    if (ngx_http_arg(r, (u_char *) "mode", 4, &arg) == NGX_OK) {

        if (!((arg.len == 3 && ngx_strncmp(arg.data, "kvm", 3) == 0)
              || (arg.len == 3 && ngx_strncmp(arg.data, "sol", 3) == 0)
              || (arg.len == 4 && ngx_strncmp(arg.data, "ider", 4) == 0)))
        {
            return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_BAD_REQUEST,
                                  "mode must be kvm, sol or ider");
        }

        ctx->mode = arg;

    } else {
        /* MeshCentral's scripts name no mode: one kind for all of them */
        ngx_str_set(&ctx->mode, "redirection");
    }

    /* Open AMT's token is its subprotocol, MeshCentral's in the query */
    if (ctx->token.len == 0) {
        ctx->token = ctx->subprotocol;
    }

    return NGX_OK;
}


/*
 * A token in the query would be in every log line of the request (the
 * error log shows the request line, the access log $request): its bytes
 * are overwritten where nginx keeps them, in the arguments and the
 * request line, once copied.
 */

static void
ngx_http_fcfh_webrelay_hide(ngx_http_request_t *r, ngx_str_t *value)
{
    u_char  *p, *last;

    if (value->len == 0) {
        return;
    }

    p = r->request_line.data;
    last = p + r->request_line.len;

    if (!(value->data >= p && value->data + value->len <= last)) {

        /* the arguments were rewritten: the original is still there */

        for ( /* void */ ; p + 5 + value->len <= last; p++) {
            if (ngx_strncmp(p, "auth=", 5) == 0
                && ngx_strncmp(p + 5, value->data, value->len) == 0)
            {
                ngx_memset(p + 5, '*', value->len);
            }
        }
    }

    ngx_memset(value->data, '*', value->len);
}


/*
 * The console's token (HS256 JWT: deviceId = host, exp; in
 * Sec-WebSocket-Protocol for Open AMT, auth= for MeshCentral) is checked
 * here, before the upgrade, where fcfh_token_secret is set: a refusal is
 * 401.  A device named by name is checked as the GUID the name leads to
 * on this node.  A verified token's subject goes into ctx->user, which
 * the routing API records.  Without a secret, nginx's own access phase
 * (allow/deny, auth_basic, auth_request) is what guards the relay, and
 * every request that passed it is taken.
 */

static ngx_int_t
ngx_http_fcfh_webrelay_check_token(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx)
{
    u_char            *guid;
    ngx_int_t          rc;
    const char        *reason;
    ngx_fcfh_route_t   route;

    guid = NULL;

    if (ngx_fcfh_apf_guid_from_text((char *) ctx->device.data,
                                    ctx->device.len, ctx->token_guid)
        == 0)
    {
        guid = ctx->token_guid;

    } else if (ngx_fcfh_registry_route(&ctx->device, &route) == NGX_OK) {
        ngx_memcpy(ctx->token_guid, route.guid, NGX_FCFH_APF_GUID_SIZE);
        guid = ctx->token_guid;
    }

    rc = ngx_http_fcfh_token_check(r, &ctx->token, &ctx->device, guid,
                                   &ctx->user, &reason);

    switch (rc) {

    case NGX_DECLINED:
        return NGX_OK;

    case NGX_OK:
        ctx->token_checked = 1;
        return NGX_OK;

    case NGX_HTTP_UNAUTHORIZED:
        if (ngx_http_fcfh_webrelay_header(r, "WWW-Authenticate",
                                   (u_char *) "Bearer error=\"invalid_token\"",
                                   sizeof("Bearer error=\"invalid_token\"")
                                   - 1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_UNAUTHORIZED,
                                             reason);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/*
 * One session per device and mode by default (as Open AMT): counted in
 * the zone, so that it holds across workers, and released by the request
 * cleanup whatever the way the session ends.  WS-Management (p=1) is a
 * sequence of requests, like fcfh_pass, and is not limited.
 */

static ngx_int_t
ngx_http_fcfh_webrelay_take_session(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_http_fcfh_webrelay_loc_conf_t *wlcf)
{
    u_char      *p, buf[NGX_FCFH_HOLD_KEY_MAX];
    u_char       text[NGX_FCFH_APF_GUID_TEXT_SIZE + 1];
    u_char       shown[NGX_FCFH_LOG_STR_MAX];
    ngx_int_t    rc;
    ngx_str_t    key, name, s;
    ngx_uint_t   held;

    if (ctx->proto != NGX_HTTP_FCFH_WEBRELAY_REDIR) {
        return NGX_OK;
    }

    /* by GUID when this node knows it, else by the name the console used */

    if (ctx->ro.found) {
        ngx_fcfh_apf_guid_to_text(ctx->ro.route.guid, (char *) text);
        name.data = text;
        name.len = NGX_FCFH_APF_GUID_TEXT_SIZE;

    } else {
        name = ctx->device;
    }

    if (name.len + 1 + ctx->mode.len > sizeof(buf)) {
        name.len = sizeof(buf) - 1 - ctx->mode.len;
    }

    p = ngx_cpymem(buf, name.data, name.len);
    ngx_strlow(buf, buf, name.len);
    *p++ = ' ';
    p = ngx_cpymem(p, ctx->mode.data, ctx->mode.len);

    key.data = buf;
    key.len = p - buf;

    rc = ngx_fcfh_registry_hold(&key, wlcf->sessions, &ctx->hold,
                                        &held);

    if (rc == NGX_BUSY) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fcfh: console session limit (%ui) reached for "
                      "\"%V\"", wlcf->sessions,
                      ngx_fcfh_log_str(&s, shown, sizeof(shown), key.data,
                                       key.len));

        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_CONFLICT,
                                  "a console session of this mode is "
                                  "already open on this device");
    }

    if (rc != NGX_OK) {
        return ngx_http_fcfh_webrelay_refuse(r,
                                  NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "no room for another console session");
    }

    return NGX_OK;
}


/*
 * Reaching the device: the routing API finds the tunnel (here, in
 * another worker, on another node) and opens the channel; its result
 * comes to ngx_http_fcfh_webrelay_opened().
 */

static ngx_int_t
ngx_http_fcfh_webrelay_open(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx)
{
    ngx_int_t                           rc;
    ngx_uint_t                          result;
    ngx_fcfh_route_open_t              *ro;
    ngx_http_fcfh_webrelay_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_fcfh_webrelay_module);

    ro = &ctx->ro;

    ro->device = ctx->device;
    ro->port = ctx->port;
    ro->console = r->connection->addr_text;
    ro->console_port = ngx_inet_get_port(r->connection->sockaddr);
    ro->user = ctx->user;
    ro->front_door = NGX_FCFH_FRONT_WEBSOCKET;
    ro->log = r->connection->log;
    ro->handler = ngx_http_fcfh_webrelay_opened;
    ro->data = ctx;

    result = ngx_fcfh_route_find(ro);

    if (result != NGX_FCFH_OPEN_OK) {
        return ngx_http_fcfh_webrelay_refuse(r,
                                  result == NGX_FCFH_OPEN_PORT
                                  ? NGX_HTTP_NOT_FOUND
                                  : ngx_fcfh_open_results[result].status,
                                  ngx_fcfh_open_result_text(result));
    }

    if (ctx->token_checked && ro->found
        && ngx_memcmp(ro->route.guid, ctx->token_guid,
                      NGX_FCFH_APF_GUID_SIZE)
           != 0)
    {
        /* the name went to another device since the token was checked */
        return ngx_http_fcfh_webrelay_refuse(r, NGX_HTTP_UNAUTHORIZED,
                                  "token is for another device");
    }

    rc = ngx_http_fcfh_webrelay_redir_start(r, ctx, wlcf);
    if (rc != NGX_OK || ctx->refused) {
        return rc;
    }

    rc = ngx_http_fcfh_webrelay_take_session(r, ctx, wlcf);
    if (rc != NGX_OK || ctx->refused) {
        return rc;
    }

    /* a browser that leaves while the channel opens ends the request */
    r->read_event_handler = ngx_http_test_reading;

    ctx->opening = 1;
    r->main->count++;

    ngx_fcfh_route_open(ro);

    return NGX_DONE;
}


static void
ngx_http_fcfh_webrelay_opened(ngx_fcfh_route_open_t *ro, ngx_uint_t result,
    ngx_uint_t reason)
{
    ngx_http_fcfh_webrelay_ctx_t *ctx = ro->data;

    ngx_int_t            rc;
    ngx_uint_t           status;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ctx->opening = 0;

    if (result != NGX_FCFH_OPEN_OK) {
        status = (result < NGX_FCFH_OPEN_MAX)
                 ? ngx_fcfh_open_results[result].status
                 : NGX_HTTP_INTERNAL_SERVER_ERROR;

        /* the device is there but its channel is not: "unreachable" */
        if (status == NGX_HTTP_BAD_GATEWAY
            || status == NGX_HTTP_GATEWAY_TIME_OUT)
        {
            status = NGX_HTTP_SERVICE_UNAVAILABLE;

        } else if (result == NGX_FCFH_OPEN_PORT) {
            status = NGX_HTTP_NOT_FOUND;
        }

        rc = ngx_http_fcfh_webrelay_refuse(r, status,
                                          ngx_fcfh_open_result_text(result));

        ngx_http_finalize_request(r, rc);
        ngx_http_run_posted_requests(c);
        return;
    }

    ctx->peer = ro->connection;
    ro->connection = NULL;

    rc = ngx_http_fcfh_webrelay_upgrade(r, ctx);

    if (rc != NGX_OK) {
        ngx_http_fcfh_webrelay_close_peer(ctx);
        ngx_http_finalize_request(r, rc);
        ngx_http_run_posted_requests(c);
        return;
    }

    ngx_http_fcfh_webrelay_run(ctx);

    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_fcfh_webrelay_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *text)
{
    ngx_http_fcfh_webrelay_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_fcfh_webrelay_module);
    ctx->refused = 1;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "fcfh: websocket refused: %ui %s", status, text);

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    return ngx_http_fcfh_api_error(r, status, text);
}


static ngx_int_t
ngx_http_fcfh_webrelay_header(ngx_http_request_t *r, char *name,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


/* the 101, the buffers, the handlers of both connections */

static ngx_int_t
ngx_http_fcfh_webrelay_upgrade(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx)
{
    size_t                              n;
    u_char                             *p;
    ngx_int_t                           rc;
    ngx_buf_t                          *b;
    ngx_connection_t                   *c, *peer;
    ngx_http_core_loc_conf_t           *clcf;
    ngx_http_fcfh_webrelay_loc_conf_t  *wlcf;

    c = r->connection;
    peer = ctx->peer;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_fcfh_webrelay_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = ngx_pnalloc(r->pool, NGX_HTTP_FCFH_WEBRELAY_IN + 2 * wlcf->buffer_size
                             + NGX_HTTP_FCFH_WEBRELAY_RESERVE);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = &ctx->in;
    b->start = p;
    b->pos = p;
    b->last = p;
    b->end = p + NGX_HTTP_FCFH_WEBRELAY_IN;
    p = b->end;

    b = &ctx->to_device;
    b->start = p;
    b->pos = p;
    b->last = p;
    b->end = p + wlcf->buffer_size;
    p = b->end;

    b = &ctx->to_browser;
    b->start = p;
    b->pos = p;
    b->last = p;
    b->end = p + wlcf->buffer_size + NGX_HTTP_FCFH_WEBRELAY_RESERVE;

    ngx_fcfh_ws_parser_init(&ctx->parser, wlcf->max_frame, wlcf->max_message,
                            NGX_FCFH_WS_MASKED);

    /* frames a browser sent right behind its handshake */
    n = r->header_in->last - r->header_in->pos;

    if (n) {
        if (n > NGX_HTTP_FCFH_WEBRELAY_IN) {
            return NGX_HTTP_BAD_REQUEST;
        }

        ctx->in.last = ngx_cpymem(ctx->in.last, r->header_in->pos, n);
        r->header_in->pos = r->header_in->last;
    }

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    ngx_str_set(&r->headers_out.status_line, "101 Switching Protocols");
    r->headers_out.content_length_n = -1;
    r->keepalive = 0;

    if (ngx_http_fcfh_webrelay_header(r, "Upgrade",
                                      (u_char *) "websocket", 9)
        != NGX_OK
        || ngx_http_fcfh_webrelay_header(r, "Sec-WebSocket-Accept",
                                         ctx->accept, NGX_FCFH_WS_ACCEPT_LEN)
           != NGX_OK
        || (ctx->subprotocol.len
            && ngx_http_fcfh_webrelay_header(r, "Sec-WebSocket-Protocol",
                                             ctx->subprotocol.data,
                                             ctx->subprotocol.len)
               != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_send_special(r, NGX_HTTP_FLUSH) == NGX_ERROR) {
        return NGX_ERROR;
    }

    ctx->upgraded = 1;
    ctx->started = ngx_current_msec;

    c->log->action = "relaying a WebSocket console";

    r->read_event_handler = ngx_http_fcfh_webrelay_browser_read;
    r->write_event_handler = ngx_http_fcfh_webrelay_browser_write;

    peer->data = ctx;
    peer->log = c->log;
    peer->read->log = c->log;
    peer->write->log = c->log;
    peer->read->handler = ngx_http_fcfh_webrelay_peer_handler;
    peer->write->handler = ngx_http_fcfh_webrelay_peer_handler;

    if (clcf->tcp_nodelay && ngx_tcp_nodelay(c) != NGX_OK) {
        return NGX_ERROR;
    }

    /* bytes may wait on either side already: try them once */
    peer->read->ready = 1;
    peer->write->ready = 1;
    c->read->ready = 1;

    ctx->timer.handler = ngx_http_fcfh_webrelay_timer_handler;
    ctx->timer.data = ctx;
    ctx->timer.log = c->log;

    ngx_add_timer(&ctx->timer, wlcf->ping ? wlcf->ping
                                          : NGX_HTTP_FCFH_WEBRELAY_TICK);

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "fcfh: websocket console to \"%V\" port %ui (p=%ui) open",
                  &ctx->device, ctx->port, ctx->proto);

    return NGX_OK;
}


static void
ngx_http_fcfh_webrelay_browser_read(ngx_http_request_t *r)
{
    ngx_http_fcfh_webrelay_run(ngx_http_get_module_ctx(r,
                                            ngx_http_fcfh_webrelay_module));
}


static void
ngx_http_fcfh_webrelay_browser_write(ngx_http_request_t *r)
{
    ngx_http_fcfh_webrelay_run(ngx_http_get_module_ctx(r,
                                            ngx_http_fcfh_webrelay_module));
}


static void
ngx_http_fcfh_webrelay_peer_handler(ngx_event_t *ev)
{
    ngx_connection_t              *c, *peer;
    ngx_http_fcfh_webrelay_ctx_t  *ctx;

    peer = ev->data;
    ctx = peer->data;
    c = ctx->request->connection;

    ngx_http_fcfh_webrelay_run(ctx);

    ngx_http_run_posted_requests(c);
}


/* a ping is due, or the browser had its time to answer our close */

static void
ngx_http_fcfh_webrelay_timer_handler(ngx_event_t *ev)
{
    ngx_connection_t                   *c;
    ngx_http_fcfh_webrelay_ctx_t       *ctx;
    ngx_http_fcfh_webrelay_loc_conf_t  *wlcf;

    ctx = ev->data;
    c = ctx->request->connection;

    if (ctx->close_sent) {
        ngx_http_fcfh_webrelay_finish(ctx, NGX_OK,
                                      "no close frame from the browser");
        ngx_http_run_posted_requests(c);
        return;
    }

    wlcf = ngx_http_get_module_loc_conf(ctx->request,
                                        ngx_http_fcfh_webrelay_module);

    if (wlcf->ping == 0) {
        ngx_add_timer(&ctx->timer, NGX_HTTP_FCFH_WEBRELAY_TICK);
        return;
    }

    if (ctx->ping_outstanding) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "fcfh: websocket browser did not answer a ping "
                      "within %M ms", wlcf->ping);

        ctx->failed = 1;
        ngx_http_fcfh_webrelay_why(ctx, NGX_FCFH_END_TIMEOUT);
        ngx_http_fcfh_webrelay_close(ctx, NGX_FCFH_WS_GOING_AWAY,
                                     "no pong: the browser does not answer");

    } else {
        ctx->ping_pending = 1;
        ctx->ping_outstanding = 1;
        ngx_add_timer(&ctx->timer, wlcf->ping);
    }

    ngx_http_fcfh_webrelay_run(ctx);

    ngx_http_run_posted_requests(c);
}


/*
 * Everything happens here, whichever of the two connections or the timer
 * woke us: bytes move both ways until nothing moves, then the events are
 * armed again and the end of the session is judged.
 */

static void
ngx_http_fcfh_webrelay_run(ngx_http_fcfh_webrelay_ctx_t *ctx)
{
    ngx_uint_t           progress;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (ctx == NULL || ctx->finished) {
        return;
    }

    r = ctx->request;
    c = r->connection;

    if (c->write->timedout) {
        c->timedout = 1;
        ngx_http_fcfh_webrelay_why(ctx, NGX_FCFH_END_TIMEOUT);
        ngx_http_fcfh_webrelay_finish(ctx, NGX_HTTP_REQUEST_TIME_OUT,
                                      "the browser stopped reading");
        return;
    }

    if (c->close) {
        /* the worker is shutting down */
        ngx_http_fcfh_webrelay_finish(ctx, NGX_ERROR,
                                      "the gateway is shutting down");
        return;
    }

    do {
        progress = 0;

        if (ngx_http_fcfh_webrelay_pump(ctx, &progress) != NGX_OK) {
            return;
        }

    } while (progress);

    if (ngx_http_fcfh_webrelay_events(ctx) != NGX_OK) {
        ngx_http_fcfh_webrelay_finish(ctx, NGX_ERROR, "event error");
    }
}


/* one round of every step; NGX_OK: still running (ctx valid) */

static ngx_int_t
ngx_http_fcfh_webrelay_pump(ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_uint_t *progress)
{
    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    /* the 101 first, if the socket did not take all of it at once */
    if (c->buffered) {
        if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
            ngx_http_fcfh_webrelay_finish(ctx, NGX_ERROR,
                                          "writing the handshake failed");
            return NGX_DONE;
        }

        if (c->buffered) {
            return NGX_OK;
        }
    }

    ngx_http_fcfh_webrelay_controls(ctx, progress);

    rc = ngx_http_fcfh_webrelay_send(c, &ctx->to_browser, progress);

    if (rc == NGX_ERROR) {
        ngx_http_fcfh_webrelay_why(ctx, NGX_FCFH_END_CONSOLE);
        ngx_http_fcfh_webrelay_finish(ctx, NGX_ERROR,
                                      "writing to the browser failed");
        return NGX_DONE;
    }

    if (ctx->close_sent && ctx->to_browser.pos == ctx->to_browser.last) {

        /*
         * our close frame is out: the browser answers it, unless the
         * connection failed (RFC 6455, 7.1.7: no answer is awaited then)
         */

        if (ctx->close_received || ctx->failed) {
            ngx_http_fcfh_webrelay_finish(ctx, NGX_OK, NULL);
            return NGX_DONE;
        }

        if (!ctx->timer.timer_set) {
            ngx_add_timer(&ctx->timer, NGX_HTTP_FCFH_WEBRELAY_CLOSE_WAIT);
        }
    }

    if (ctx->peer) {
        rc = ngx_http_fcfh_webrelay_send(ctx->peer, &ctx->to_device,
                                         progress);

        if (rc == NGX_ERROR) {
            /* the owner let the channel go: as an end of file */
            ngx_http_fcfh_webrelay_close_peer(ctx);
            ngx_http_fcfh_webrelay_device_gone(ctx);
        }
    }

    if (ngx_http_fcfh_webrelay_from_device(ctx, progress) != NGX_OK) {
        return NGX_DONE;
    }

    return ngx_http_fcfh_webrelay_from_browser(ctx, progress);
}


/* device bytes become binary messages, one per read, while there is room */

static ngx_int_t
ngx_http_fcfh_webrelay_from_device(ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_uint_t *progress)
{
    u_char             scratch[NGX_HTTP_FCFH_WEBRELAY_REDIR_READ];
    size_t             room, hlen;
    ssize_t            n;
    ngx_buf_t         *b;
    ngx_connection_t  *peer;

    peer = ctx->peer;
    b = &ctx->to_browser;

    while (peer && !ctx->close_sent && !ctx->close_pending
           && peer->read->ready)
    {
        if (ngx_http_fcfh_webrelay_redir_active(ctx)) {

            /* the filter reads what AMT says until it turns transparent */

            if (!ngx_http_fcfh_webrelay_redir_room(ctx)) {
                return NGX_OK;
            }

            n = peer->recv(peer, scratch, sizeof(scratch));

            if (n > 0) {
                ngx_http_fcfh_webrelay_redir_input(ctx, NGX_FCFH_REDIR_DEVICE,
                                                   scratch, n);
                *progress = 1;
                continue;
            }

            if (n == NGX_AGAIN) {
                return NGX_OK;
            }

            ngx_http_fcfh_webrelay_close_peer(ctx);
            ngx_http_fcfh_webrelay_device_gone(ctx);
            *progress = 1;
            return NGX_OK;
        }

        room = ngx_http_fcfh_webrelay_room(b);

        if (room < NGX_HTTP_FCFH_WEBRELAY_RESERVE + 4 + 1) {
            /* the browser is behind: the device waits (back-pressure) */
            return NGX_OK;
        }

        room -= NGX_HTTP_FCFH_WEBRELAY_RESERVE + 4;

        if (room > NGX_HTTP_FCFH_WEBRELAY_CHUNK) {
            room = NGX_HTTP_FCFH_WEBRELAY_CHUNK;
        }

        n = peer->recv(peer, b->last + 4, room);

        if (n == NGX_AGAIN) {
            return NGX_OK;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_http_fcfh_webrelay_close_peer(ctx);
            ngx_http_fcfh_webrelay_device_gone(ctx);
            *progress = 1;
            return NGX_OK;
        }

        hlen = ngx_fcfh_ws_frame_header(b->last, NGX_FCFH_WS_BINARY, 1, n);

        if (hlen == 2) {
            ngx_memmove(b->last + 2, b->last + 4, n);
        }

        b->last += hlen + n;
        ctx->to_browser_bytes += n;
        *progress = 1;
    }

    return NGX_OK;
}


/*
 * The channel ended: the device closed it, or its tunnel went (the device
 * left, was replaced or closed through the API).  The owner removes the
 * tunnel's entry before we can see the end of its channels, so the
 * registry tells the two apart (for a tunnel of this node).
 */

static void
ngx_http_fcfh_webrelay_device_gone(ngx_http_fcfh_webrelay_ctx_t *ctx)
{
    ngx_fcfh_route_t  route;

    if (ctx->ro.found
        && ngx_fcfh_registry_route(&ctx->device, &route) == NGX_OK
        && route.serial == ctx->ro.route.serial)
    {
        ngx_http_fcfh_webrelay_why(ctx, NGX_FCFH_END_DEVICE);
        ngx_http_fcfh_webrelay_close(ctx, NGX_FCFH_WS_NORMAL,
                                     "device closed the session");
        return;
    }

    ngx_http_fcfh_webrelay_why(ctx, ctx->ro.elsewhere ? NGX_FCFH_END_DEVICE
                                                      : NGX_FCFH_END_TUNNEL);
    ngx_http_fcfh_webrelay_close(ctx, NGX_FCFH_WS_GOING_AWAY,
                                 "device disconnected");
}


/* browser bytes: read while the device side has room, then parsed */

static ngx_int_t
ngx_http_fcfh_webrelay_from_browser(ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_uint_t *progress)
{
    size_t              n;
    ssize_t             got;
    ngx_buf_t          *b;
    ngx_connection_t   *c;

    c = ctx->request->connection;
    b = &ctx->in;

    for ( ;; ) {

        if (ngx_http_fcfh_webrelay_parse(ctx, progress) != NGX_OK) {
            return NGX_DONE;
        }

        if (b->pos == b->last) {
            b->pos = b->start;
            b->last = b->start;

        } else if (b->last == b->end && b->pos > b->start) {
            n = b->last - b->pos;
            ngx_memmove(b->start, b->pos, n);
            b->pos = b->start;
            b->last = b->start + n;
        }

        if (b->last == b->end || !c->read->ready) {
            /* unparsed input waits for the device side to drain */
            return NGX_OK;
        }

        got = c->recv(c, b->last, b->end - b->last);

        if (got == NGX_AGAIN) {
            return NGX_OK;
        }

        if (got == 0 || got == NGX_ERROR) {
            ngx_http_fcfh_webrelay_why(ctx, NGX_FCFH_END_CONSOLE);
            ngx_http_fcfh_webrelay_finish(ctx, NGX_HTTP_CLIENT_CLOSED_REQUEST,
                                          ctx->close_sent
                                          ? NULL
                                          : "the browser left without a "
                                            "close frame");
            return NGX_DONE;
        }

        b->last += got;
        *progress = 1;
    }
}


static ngx_int_t
ngx_http_fcfh_webrelay_parse(ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_uint_t *progress)
{
    size_t                n, room, limit;
    ngx_buf_t            *b, *out;
    ngx_connection_t     *c;
    ngx_fcfh_ws_event_t   ev;

    c = ctx->request->connection;
    b = &ctx->in;
    out = &ctx->to_device;

    for ( ;; ) {

        if (ctx->close_received) {
            /* nothing counts after a close frame */
            b->pos = b->last;
            return NGX_OK;
        }

        room = ngx_http_fcfh_webrelay_room(out);

        if (ngx_http_fcfh_webrelay_redir_active(ctx)) {
            /* the filter's input is bounded by what it may send */
            room = ngx_http_fcfh_webrelay_redir_room(ctx)
                   ? NGX_HTTP_FCFH_WEBRELAY_REDIR_READ : 0;
        }

        limit = b->last - b->pos;

        /* payload is never more than the bytes that carry it */
        if (limit > room) {
            limit = room;
        }

        /* even with nothing: an error may follow the last byte's event */
        n = ngx_fcfh_ws_parse(&ctx->parser, b->pos, limit, &ev);
        b->pos += n;

        switch (ev.type) {

        case NGX_FCFH_WS_EV_NONE:
            if (n) {
                *progress = 1;
            }

            return NGX_OK;

        case NGX_FCFH_WS_EV_DATA:
            *progress = 1;

            if (ctx->close_sent || ctx->peer == NULL) {
                /* closing: the device gets nothing more */
                break;
            }

            if (ngx_http_fcfh_webrelay_redir_active(ctx)) {
                ngx_http_fcfh_webrelay_redir_input(ctx,
                                                   NGX_FCFH_REDIR_CONSOLE,
                                                   (u_char *) ev.data,
                                                   ev.len);
                break;
            }

            out->last = ngx_cpymem(out->last, ev.data, ev.len);
            ctx->to_device_bytes += ev.len;
            break;

        case NGX_FCFH_WS_EV_PING:
            *progress = 1;
            ngx_memcpy(ctx->pong, ev.data, ev.len);
            ctx->pong_len = ev.len;
            ctx->pong_pending = 1;
            break;

        case NGX_FCFH_WS_EV_PONG:
            *progress = 1;
            ctx->ping_outstanding = 0;
            break;

        case NGX_FCFH_WS_EV_CLOSE:
            *progress = 1;
            ctx->close_received = 1;
            ngx_http_fcfh_webrelay_why(ctx, NGX_FCFH_END_CONSOLE);

            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "fcfh: websocket browser closed with %ui",
                          (ngx_uint_t) ev.code);

            /* the answer echoes the code (RFC 6455, 5.5.1) */
            ngx_http_fcfh_webrelay_close(ctx,
                                         ev.code == NGX_FCFH_WS_NO_STATUS
                                         ? NGX_FCFH_WS_NORMAL : ev.code,
                                         "");
            break;

        default: /* NGX_FCFH_WS_EV_ERROR */

            if (!ctx->close_sent && !ctx->close_pending) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "fcfh: websocket browser error: %s, closing "
                              "with %ui", ev.error, (ngx_uint_t) ev.code);

                ctx->failed = 1;
                ngx_http_fcfh_webrelay_why(ctx, NGX_FCFH_END_CONSOLE);
                ngx_http_fcfh_webrelay_close(ctx, ev.code, ev.error);
                *progress = 1;
            }

            /* whatever comes now is not looked at */
            b->pos = b->last;
            return NGX_OK;
        }
    }
}


/* ping, pong and close frames, queued as room allows */

static void
ngx_http_fcfh_webrelay_controls(ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_uint_t *progress)
{
    size_t      len;
    uint8_t     payload[4];
    ngx_buf_t  *b;

    b = &ctx->to_browser;

    if (ctx->close_sent) {
        return;
    }

    if (ctx->pong_pending
        && ngx_http_fcfh_webrelay_room(b) >= 2 + ctx->pong_len)
    {
        b->last += ngx_fcfh_ws_control_frame(b->last, NGX_FCFH_WS_PONG,
                                             ctx->pong, ctx->pong_len);
        ctx->pong_pending = 0;
        *progress = 1;
    }

    if (ctx->ping_pending && !ctx->close_pending
        && ngx_http_fcfh_webrelay_room(b) >= 2 + sizeof(payload))
    {
        ctx->pings++;
        payload[0] = (uint8_t) (ctx->pings >> 24);
        payload[1] = (uint8_t) (ctx->pings >> 16);
        payload[2] = (uint8_t) (ctx->pings >> 8);
        payload[3] = (uint8_t) ctx->pings;

        b->last += ngx_fcfh_ws_control_frame(b->last, NGX_FCFH_WS_PING,
                                             payload, sizeof(payload));
        ctx->ping_pending = 0;
        *progress = 1;
    }

    if (ctx->close_pending
        && ngx_http_fcfh_webrelay_room(b) >= NGX_FCFH_WS_CLOSE_FRAME_MAX)
    {
        len = ngx_strlen(ctx->close_reason);

        b->last += ngx_fcfh_ws_close_frame(b->last, ctx->close_code,
                                           ctx->close_reason, len);
        ctx->close_pending = 0;
        ctx->close_sent = 1;
        *progress = 1;
    }
}


/* NGX_OK, or NGX_ERROR: the connection failed */

static ngx_int_t
ngx_http_fcfh_webrelay_send(ngx_connection_t *c, ngx_buf_t *b,
    ngx_uint_t *progress)
{
    ssize_t  n;

    while (b->pos < b->last && c->write->ready) {

        n = c->send(c, b->pos, b->last - b->pos);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        b->pos += n;
        *progress = 1;
    }

    if (b->pos == b->last) {
        b->pos = b->start;
        b->last = b->start;
    }

    return NGX_OK;
}


/* free bytes at the end, the buffer compacted first when that helps */

static size_t
ngx_http_fcfh_webrelay_room(ngx_buf_t *b)
{
    size_t  n;

    if (b->pos == b->last) {
        b->pos = b->start;
        b->last = b->start;

    } else if (b->pos > b->start
               && (size_t) (b->end - b->last) < (size_t) (b->pos - b->start))
    {
        n = b->last - b->pos;
        ngx_memmove(b->start, b->pos, n);
        b->pos = b->start;
        b->last = b->start + n;
    }

    return b->end - b->last;
}


/*
 * Ends the session from our side: the close frame is queued behind the
 * data already framed for the browser, the channel is let go (the device
 * gets CHANNEL_CLOSE once, from the owner), and the browser is given
 * NGX_HTTP_FCFH_WEBRELAY_CLOSE_WAIT to answer once the frame is out.
 */

static void
ngx_http_fcfh_webrelay_close(ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_uint_t code, const char *reason)
{
    ngx_uint_t  sent;

    if (ctx->close_pending || ctx->close_sent) {
        return;
    }

    ctx->close_pending = 1;
    ctx->close_code = code;
    ctx->close_reason = reason;

    if (ctx->end == NULL && reason[0]) {
        ctx->end = reason;
    }

    if (ctx->peer) {
        /* what the browser sent before its close still goes */
        (void) ngx_http_fcfh_webrelay_send(ctx->peer, &ctx->to_device,
                                           &sent);
        ngx_http_fcfh_webrelay_close_peer(ctx);
    }

    ctx->ping_pending = 0;
    ctx->ping_outstanding = 0;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }
}


/* the first cause of the end is the one the audit records */

static void
ngx_http_fcfh_webrelay_why(ngx_http_fcfh_webrelay_ctx_t *ctx, ngx_uint_t why)
{
    if (!ctx->why_set) {
        ctx->why = why;
        ctx->why_set = 1;
    }
}


static void
ngx_http_fcfh_webrelay_close_peer(ngx_http_fcfh_webrelay_ctx_t *ctx)
{
    if (ctx->peer) {
        ngx_fcfh_relay_close_peer(ctx->peer);
        ctx->peer = NULL;
    }

    ctx->to_device.pos = ctx->to_device.start;
    ctx->to_device.last = ctx->to_device.start;
}


static ngx_int_t
ngx_http_fcfh_webrelay_events(ngx_http_fcfh_webrelay_ctx_t *ctx)
{
    ngx_connection_t          *c, *peer;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    r = ctx->request;
    c = r->connection;
    peer = ctx->peer;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (ngx_handle_write_event(c->write, 0) != NGX_OK
        || ngx_handle_read_event(c->read, 0) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a browser that stops reading gets send_timeout */

    if ((ctx->to_browser.pos < ctx->to_browser.last || c->buffered)
        && !c->write->ready)
    {
        if (!c->write->timer_set) {
            ngx_add_timer(c->write, clcf->send_timeout);
        }

    } else if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (peer == NULL) {
        return NGX_OK;
    }

    if (ngx_handle_write_event(peer->write, 0) != NGX_OK
        || ngx_handle_read_event(peer->read, 0) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The end: rc NGX_OK when the close handshake is done (or the browser
 * did not answer in time), else how nginx should see the request.
 */

static void
ngx_http_fcfh_webrelay_finish(ngx_http_fcfh_webrelay_ctx_t *ctx, ngx_int_t rc,
    const char *why)
{
    ngx_http_request_t  *r;

    if (ctx->finished) {
        return;
    }

    ctx->finished = 1;

    if (why && ctx->end == NULL) {
        ctx->end = why;
    }

    r = ctx->request;

    ngx_http_fcfh_webrelay_close_peer(ctx);

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    if (rc == NGX_OK && r->connection->buffered) {
        rc = NGX_ERROR;
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * The request's cleanup, whatever the way it ends (a refusal, the end of
 * the session, the worker shutting down): nothing of the session stays.
 */

static void
ngx_http_fcfh_webrelay_cleanup(void *data)
{
    ngx_http_fcfh_webrelay_ctx_t *ctx = data;

    u_char             buf[NGX_FCFH_WS_CLOSE_FRAME_MAX];
    size_t             n;
    ngx_connection_t  *c;

    c = ctx->request->connection;

    if (ctx->opening) {
        ngx_fcfh_route_cancel(&ctx->ro);
        ctx->opening = 0;
    }

    if (ctx->upgraded && !ctx->close_sent
        && (ngx_exiting || ngx_terminate || c->close)
        && ctx->to_browser.pos == ctx->to_browser.last)
    {
        /* the worker is going: one try to say so */
        n = ngx_fcfh_ws_close_frame(buf, NGX_FCFH_WS_GOING_AWAY,
                                    "gateway shutting down",
                                    sizeof("gateway shutting down") - 1);
        (void) c->send(c, buf, n);
        ctx->close_sent = 1;
    }

    ngx_http_fcfh_webrelay_close_peer(ctx);

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    if (ctx->hold) {
        ngx_fcfh_registry_unhold(ctx->hold);
        ctx->hold = NULL;
    }

    /* the console_close event (when the channel had opened) */
    ngx_http_fcfh_webrelay_why(ctx, NGX_FCFH_END_ERROR);
    ngx_fcfh_route_close(&ctx->ro, ctx->why, ctx->to_device_bytes,
                         ctx->to_browser_bytes);

    if (ctx->upgraded) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "fcfh: websocket console to \"%V\" port %ui closed: "
                      "%s, %O bytes to the device, %O to the browser, "
                      "%M ms", &ctx->device, ctx->port,
                      ctx->end ? ctx->end : "normal close",
                      ctx->to_device_bytes, ctx->to_browser_bytes,
                      ngx_current_msec - ctx->started);
        ctx->upgraded = 0;
    }
}


/*
 * The redirection filter (p=2, port 16994): with an fcfh_amt_credentials
 * account for the device, the gateway answers AMT's authentication itself
 * (consoles of Open AMT's toolkit send empty credentials); without one,
 * the console's own authentication passes untouched.  The device is known
 * here by its GUID, or, on another node, only by the name the console
 * used: then only the "*" account applies.
 */

static ngx_int_t
ngx_http_fcfh_webrelay_redir_start(ngx_http_request_t *r,
    ngx_http_fcfh_webrelay_ctx_t *ctx,
    ngx_http_fcfh_webrelay_loc_conf_t *wlcf)
{
    u_char     *guid, wire[NGX_FCFH_APF_GUID_SIZE];
    ngx_str_t   user, password;

    if (ctx->proto != NGX_HTTP_FCFH_WEBRELAY_REDIR
        || ctx->port != NGX_HTTP_FCFH_WEBRELAY_REDIR_PORT)
    {
        return NGX_OK;
    }

    if (ctx->ro.found) {
        guid = ctx->ro.route.guid;

    } else if (ngx_fcfh_apf_guid_from_text((char *) ctx->device.data,
                                           ctx->device.len, wire)
               == 0)
    {
        guid = wire;

    } else {
        guid = NULL;
    }

    if (ngx_http_fcfh_amt_credentials_find(r, guid, &user, &password)
        != NGX_OK)
    {
        return NGX_OK;
    }

    if (wlcf->buffer_size < NGX_HTTP_FCFH_WEBRELAY_REDIR_BUFFER) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "fcfh: fcfh_webrelay_buffer_size %uz is too small for "
                      "the gateway's redirection authentication (%d at "
                      "least)", wlcf->buffer_size,
                      NGX_HTTP_FCFH_WEBRELAY_REDIR_BUFFER);

        return ngx_http_fcfh_webrelay_refuse(r,
                                  NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "relay buffers too small for the "
                                  "gateway's redirection authentication");
    }

    ctx->redir = ngx_palloc(r->pool, sizeof(ngx_fcfh_redir_t));
    if (ctx->redir == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* fcfh_amt_credentials holds 1 to 32 characters each */
    if (ngx_fcfh_redir_init(ctx->redir, user.data, user.len, password.data,
                            password.len, ngx_http_fcfh_webrelay_redir_send,
                            ctx)
        != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_fcfh_webrelay_redir_active(ngx_http_fcfh_webrelay_ctx_t *ctx)
{
    return ctx->redir && !ngx_fcfh_redir_transparent(ctx->redir);
}


/* both buffers can take whatever one input makes the filter send */

static ngx_uint_t
ngx_http_fcfh_webrelay_redir_room(ngx_http_fcfh_webrelay_ctx_t *ctx)
{
    return ngx_http_fcfh_webrelay_room(&ctx->to_device)
           >= NGX_HTTP_FCFH_WEBRELAY_REDIR_ROOM
           && ngx_http_fcfh_webrelay_room(&ctx->to_browser)
              >= NGX_HTTP_FCFH_WEBRELAY_REDIR_ROOM
                 + NGX_HTTP_FCFH_WEBRELAY_RESERVE;
}


static void
ngx_http_fcfh_webrelay_redir_input(ngx_http_fcfh_webrelay_ctx_t *ctx,
    int from, u_char *data, size_t len)
{
    int                 rc;
    u_char              shown[32];
    ngx_str_t           user, kind;
    ngx_uint_t          code, level;
    ngx_connection_t   *c;
    ngx_fcfh_redir_t   *rd;

    rd = ctx->redir;
    c = ctx->request->connection;

    rc = ngx_fcfh_redir_input(rd, from, data, len);

    if (rc == NGX_FCFH_REDIR_OK) {

        if (rd->authenticated) {
            user.data = rd->user;
            user.len = rd->user_len;

            /* the account's user is the operator's text, the kind not */
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "fcfh: redirection session \"%V\" to \"%V\" "
                          "authenticated by the gateway as AMT user \"%V\"",
                          ngx_fcfh_log_str(&kind, shown, sizeof(shown),
                                           rd->session, 4),
                          &ctx->device, &user);

            rd->authenticated = 0;
        }

        return;
    }

    /* AMT refusing the gateway's account is the operator's to fix */
    level = (rc == NGX_FCFH_REDIR_ERR_REFUSED) ? NGX_LOG_NOTICE
                                               : NGX_LOG_INFO;

    ngx_log_error(level, c->log, 0,
                  "fcfh: redirection authentication with \"%V\" failed: %s",
                  &ctx->device, ngx_fcfh_redir_strerror(rc));

    switch (rc) {

    case NGX_FCFH_REDIR_ERR_CONSOLE_MSG:
    case NGX_FCFH_REDIR_ERR_CONSOLE_LEN:
    case NGX_FCFH_REDIR_ERR_CONSOLE_HOLD:
    case NGX_FCFH_REDIR_ERR_METHOD:
    case NGX_FCFH_REDIR_ERR_AFTER_FAILURE:
        ngx_http_fcfh_webrelay_why(ctx, NGX_FCFH_END_CONSOLE);
        code = NGX_FCFH_WS_POLICY;
        break;

    case NGX_FCFH_REDIR_ERR_REFUSED:
        /* the console was told first */
        ngx_http_fcfh_webrelay_why(ctx, NGX_FCFH_END_ERROR);
        code = NGX_FCFH_WS_POLICY;
        break;

    default:
        /* the device broke the protocol, or the gateway could not go on */
        ngx_http_fcfh_webrelay_why(ctx, NGX_FCFH_END_ERROR);
        code = NGX_FCFH_WS_INTERNAL_ERROR;
    }

    ngx_http_fcfh_webrelay_close(ctx, code, ngx_fcfh_redir_strerror(rc));
}


/*
 * What the filter sends: into the buffers, as any relayed bytes (binary
 * messages toward the browser).  The room was checked before its input;
 * nothing goes anywhere once the session closes.
 */

static int
ngx_http_fcfh_webrelay_redir_send(void *data, int to, const uint8_t *buf,
    size_t len)
{
    ngx_http_fcfh_webrelay_ctx_t *ctx = data;

    ngx_buf_t  *b;

    if (ctx->close_pending || ctx->close_sent) {
        return 0;
    }

    if (to == NGX_FCFH_REDIR_DEVICE) {
        b = &ctx->to_device;

        if (ctx->peer == NULL) {
            return 0;
        }

        if (ngx_http_fcfh_webrelay_room(b) < len) {
            return -1;
        }

        b->last = ngx_cpymem(b->last, buf, len);
        ctx->to_device_bytes += len;

        return 0;
    }

    b = &ctx->to_browser;

    if (ngx_http_fcfh_webrelay_room(b)
        < NGX_HTTP_FCFH_WEBRELAY_RESERVE + NGX_FCFH_WS_SERVER_HEADER_MAX + len)
    {
        return -1;
    }

    b->last += ngx_fcfh_ws_frame_header(b->last, NGX_FCFH_WS_BINARY, 1, len);
    b->last = ngx_cpymem(b->last, buf, len);
    ctx->to_browser_bytes += len;

    return 0;
}


static void *
ngx_http_fcfh_webrelay_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_fcfh_webrelay_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_fcfh_webrelay_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enabled = NGX_CONF_UNSET;
    conf->ports = NGX_CONF_UNSET_PTR;
    conf->max_frame = NGX_CONF_UNSET_SIZE;
    conf->max_message = NGX_CONF_UNSET_SIZE;
    conf->buffer_size = NGX_CONF_UNSET_SIZE;
    conf->ping = NGX_CONF_UNSET_MSEC;
    conf->sessions = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_fcfh_webrelay_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_fcfh_webrelay_loc_conf_t *prev = parent;
    ngx_http_fcfh_webrelay_loc_conf_t *conf = child;

    ngx_uint_t  i, *p;

    ngx_conf_merge_ptr_value(conf->ports, prev->ports, NULL);
    ngx_conf_merge_size_value(conf->max_frame, prev->max_frame, 1048576);
    ngx_conf_merge_size_value(conf->max_message, prev->max_message,
                              1048576);
    ngx_conf_merge_size_value(conf->buffer_size, prev->buffer_size, 65536);
    ngx_conf_merge_msec_value(conf->ping, prev->ping, 30000);
    ngx_conf_merge_uint_value(conf->sessions, prev->sessions, 1);

    if (conf->ports == NULL) {
        conf->ports = ngx_array_create(cf->pool, 4, sizeof(ngx_uint_t));
        if (conf->ports == NULL) {
            return NGX_CONF_ERROR;
        }

        for (i = 0; i < sizeof(ngx_http_fcfh_webrelay_default_ports)
                        / sizeof(ngx_uint_t); i++)
        {
            p = ngx_array_push(conf->ports);
            if (p == NULL) {
                return NGX_CONF_ERROR;
            }

            *p = ngx_http_fcfh_webrelay_default_ports[i];
        }
    }

    if (conf->buffer_size < 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fcfh_webrelay_buffer_size must be at least 1k");
        return NGX_CONF_ERROR;
    }

    if (conf->max_message < conf->max_frame) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fcfh_webrelay_max_message is smaller than "
                           "fcfh_webrelay_max_frame");
        return NGX_CONF_ERROR;
    }

    /* the worker that owns a tunnel refuses ports no front door allows */
    if (conf->enabled == 1
        && ngx_fcfh_relay_allow_ports(cf, conf->ports->elts,
                                      conf->ports->nelts)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_fcfh_webrelay(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fcfh_webrelay_loc_conf_t *wlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (wlcf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (ngx_fcfh_check_zone(cf, "fcfh_webrelay") != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    clcf->handler = ngx_http_fcfh_webrelay_handler;
    wlcf->enabled = 1;

    /* its consoles' credentials are the tokens fcfh_token_secret asks */
    if (ngx_http_fcfh_exposure_add(cf, &cmd->name,
                                   ngx_http_fcfh_token_secret_field(cf),
                                   "fcfh_token_secret")
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a number, or "off"/0 for no limit */

static char *
ngx_http_fcfh_webrelay_sessions(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_fcfh_webrelay_loc_conf_t *wlcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (wlcf->sessions != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        wlcf->sessions = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR || n > 65535) {
        return "must be a number up to 65535, or off";
    }

    wlcf->sessions = n;

    return NGX_CONF_OK;
}
