
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The "amt" close mode of fcfh_api.  A dropped tunnel comes back: AMT
 * reconnects per its policy.  To end remote access for good, the device
 * itself must forget its CIRA configuration, which it is told over
 * WS-Management.  With AMT credentials configured for the gateway
 * (fcfh_amt_credentials), the API worker does that through the tunnel
 * before closing it:
 *
 *     Enumerate + Pull  AMT_RemoteAccessPolicyRule        (the triggers)
 *     Delete            each, by PolicyRuleName
 *     Enumerate + Pull  AMT_ManagementPresenceRemoteSAP   (the MPS entries)
 *     Delete            each, by Name
 *
 * Each exchange is one HTTP/1.1 request on port 16992 through a relay
 * connection to the tunnel's worker (a channel of its own, as fcfh_pass
 * makes them), with HTTP Digest authentication (MD5, qop=auth) against
 * the challenge the device sent.  Responses are bounded; values taken
 * from them are bounded and checked before they go into a request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_md5.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_json.h"
#include "ngx_fcfh_relay.h"
#include "ngx_fcfh_route.h"
#include "ngx_fcfh_open.h"
#include "ngx_fcfh_wsman.h"
#include "ngx_fcfh_response.h"
#include "ngx_http_fcfh.h"


#define NGX_HTTP_FCFH_AMT_PORT          16992
#define NGX_HTTP_FCFH_AMT_MAX_RESPONSE  65536
#define NGX_HTTP_FCFH_AMT_MAX_HEAD      4096
#define NGX_HTTP_FCFH_AMT_MAX_REQUEST   4096
#define NGX_HTTP_FCFH_AMT_MAX_NAMES     16
#define NGX_HTTP_FCFH_AMT_MAX_EXCHANGES 48
#define NGX_HTTP_FCFH_AMT_TIMEOUT       15000

/* how far the newest event log entry may be from the connect */
#define NGX_HTTP_FCFH_AMT_FRESH_BEFORE  120
#define NGX_HTTP_FCFH_AMT_FRESH_AFTER   30
#define NGX_HTTP_FCFH_AMT_MAX_RECORDS   390     /* AMT keeps up to 390 */
#define NGX_HTTP_FCFH_AMT_RECORD_SIZE   21
#define NGX_HTTP_FCFH_AMT_MAX_PAGES     4

/* the jobs */
#define NGX_HTTP_FCFH_AMT_CLOSE         0
#define NGX_HTTP_FCFH_AMT_EVIDENCE      1

/* the operations, index in ngx_http_fcfh_amt_ops[] */
#define NGX_HTTP_FCFH_AMT_ENUMERATE     0
#define NGX_HTTP_FCFH_AMT_PULL          1
#define NGX_HTTP_FCFH_AMT_DELETE        2
#define NGX_HTTP_FCFH_AMT_TIME          3
#define NGX_HTTP_FCFH_AMT_POSITION      4
#define NGX_HTTP_FCFH_AMT_RECORDS       5

#define NGX_HTTP_FCFH_AMT_NS_ENUM                                             \
    "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
#define NGX_HTTP_FCFH_AMT_NS_AMT                                              \
    "http://intel.com/wbem/wscim/1/amt-schema/1/"
#define NGX_HTTP_FCFH_AMT_NS_TRANSFER                                         \
    "http://schemas.xmlsoap.org/ws/2004/09/transfer"


typedef struct {
    ngx_str_t                        guid;       /* lower case, or "*" */
    ngx_str_t                        user;
    ngx_str_t                        password;
} ngx_http_fcfh_amt_cred_t;


typedef struct {
    ngx_array_t                     *creds;      /* NULL: mode off */
} ngx_http_fcfh_amt_loc_conf_t;


typedef struct {
    const char                      *name;
    const char                      *key;
} ngx_http_fcfh_amt_class_t;


typedef struct {
    const char                      *name;
    const char                      *ns;         /* NULL: a method */
} ngx_http_fcfh_amt_op_t;


typedef struct {
    ngx_http_request_t              *request;
    ngx_str_t                        device;     /* as the API named it */
    char                             guid[NGX_FCFH_APF_GUID_TEXT_SIZE + 1];
    ngx_fcfh_route_open_t            ro;
    ngx_http_fcfh_amt_cred_t        *cred;
    ngx_connection_t                *relay;

    u_char                          *out;        /* the request */
    size_t                           out_len;
    size_t                           out_sent;

    u_char                          *in;         /* the response */
    size_t                           in_len;
    ngx_fcfh_response_t              answer;     /* its reader */

    ngx_uint_t                       job;        /* CLOSE, EVIDENCE */
    ngx_uint_t                       cls;        /* index in classes */
    ngx_uint_t                       op;         /* index in ops */
    const char                      *resource;   /* its class */
    ngx_uint_t                       exchanges;

    /* EVIDENCE: the device's clock and its newest event log record */
    time_t                           offset;     /* device - gateway, s */
    ngx_uint_t                       pages;
    ngx_uint_t                       records;
    uint32_t                         newest_time;
    u_char                           newest[NGX_HTTP_FCFH_AMT_RECORD_SIZE];

    ngx_str_t                        context;
    ngx_str_t                        names[NGX_HTTP_FCFH_AMT_MAX_NAMES];
    ngx_uint_t                       nnames;
    ngx_uint_t                       next;
    ngx_uint_t                       deleted[2];

    ngx_str_t                        realm;
    ngx_str_t                        nonce;
    ngx_str_t                        opaque;
    ngx_uint_t                       nc;
    unsigned                         qop:1;
    unsigned                         challenged:1;
    unsigned                         authed:1;   /* last request had auth */
} ngx_http_fcfh_amt_ctx_t;


static ngx_int_t ngx_http_fcfh_amt_start(ngx_http_request_t *r,
    ngx_str_t *device, ngx_uint_t job);
static ngx_http_fcfh_amt_cred_t *ngx_http_fcfh_amt_find(
    ngx_http_fcfh_amt_loc_conf_t *alcf, u_char *guid);
static void ngx_http_fcfh_amt_exchange(ngx_http_fcfh_amt_ctx_t *ctx);
static void ngx_http_fcfh_amt_opened(ngx_fcfh_route_open_t *ro,
    ngx_uint_t result, ngx_uint_t reason);
static ngx_int_t ngx_http_fcfh_amt_build(ngx_http_fcfh_amt_ctx_t *ctx);
static u_char *ngx_http_fcfh_amt_digest(ngx_http_fcfh_amt_ctx_t *ctx,
    u_char *p);
static void ngx_http_fcfh_amt_handler(ngx_event_t *ev);
static void ngx_http_fcfh_amt_process(ngx_event_t *ev);
static void ngx_http_fcfh_amt_response(ngx_http_fcfh_amt_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *body, ngx_str_t *challenge);
static ngx_int_t ngx_http_fcfh_amt_challenge(ngx_http_fcfh_amt_ctx_t *ctx,
    ngx_str_t *challenge);
static ngx_int_t ngx_http_fcfh_amt_keep(ngx_pool_t *pool, ngx_str_t *s);
static void ngx_http_fcfh_amt_log_answer(ngx_http_fcfh_amt_ctx_t *ctx,
    ngx_str_t *body);
static void ngx_http_fcfh_amt_log_done(ngx_http_fcfh_amt_ctx_t *ctx);
static void ngx_http_fcfh_amt_next_class(ngx_http_fcfh_amt_ctx_t *ctx);
static void ngx_http_fcfh_amt_fail(ngx_http_fcfh_amt_ctx_t *ctx,
    ngx_uint_t status, const char *fmt, ...);
static void ngx_http_fcfh_amt_finish(ngx_http_fcfh_amt_ctx_t *ctx,
    ngx_int_t rc);
static void ngx_http_fcfh_amt_cleanup(void *data);
static char *ngx_http_fcfh_amt_credentials(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_http_fcfh_amt_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_fcfh_amt_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


static ngx_http_fcfh_amt_class_t  ngx_http_fcfh_amt_classes[] = {
    { "AMT_RemoteAccessPolicyRule", "PolicyRuleName" },
    { "AMT_ManagementPresenceRemoteSAP", "Name" }
};

static ngx_http_fcfh_amt_op_t  ngx_http_fcfh_amt_ops[] = {
    { "Enumerate", NGX_HTTP_FCFH_AMT_NS_ENUM },
    { "Pull", NGX_HTTP_FCFH_AMT_NS_ENUM },
    { "Delete", NGX_HTTP_FCFH_AMT_NS_TRANSFER },
    { "GetLowAccuracyTimeSynch", NULL },
    { "PositionToFirstRecord", NULL },
    { "GetRecords", NULL }
};


static ngx_command_t  ngx_http_fcfh_amt_commands[] = {

    { ngx_string("fcfh_amt_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fcfh_amt_credentials,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_fcfh_amt_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_fcfh_amt_create_loc_conf,     /* create location configuration */
    ngx_http_fcfh_amt_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_fcfh_amt_module = {
    NGX_MODULE_V1,
    &ngx_http_fcfh_amt_module_ctx,         /* module context */
    ngx_http_fcfh_amt_commands,            /* module directives */
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


/* DELETE tunnels/<device>?mode=amt */

ngx_int_t
ngx_http_fcfh_amt_close(ngx_http_request_t *r, ngx_str_t *device)
{
    return ngx_http_fcfh_amt_start(r, device, NGX_HTTP_FCFH_AMT_CLOSE);
}


/* GET tunnels/<device>/evidence */

ngx_int_t
ngx_http_fcfh_amt_evidence(ngx_http_request_t *r, ngx_str_t *device)
{
    return ngx_http_fcfh_amt_start(r, device, NGX_HTTP_FCFH_AMT_EVIDENCE);
}


/*
 * The AMT account fcfh_amt_credentials holds for a device in this
 * location (its line, else the "*" line; guid NULL: a device whose GUID
 * is not known here, the "*" line only): NGX_OK, or NGX_DECLINED.  The
 * WebSocket relay answers AMT's redirection Digest with it.
 */

ngx_int_t
ngx_http_fcfh_amt_credentials_find(ngx_http_request_t *r, u_char *guid,
    ngx_str_t *user, ngx_str_t *password)
{
    ngx_http_fcfh_amt_cred_t      *cred;
    ngx_http_fcfh_amt_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_fcfh_amt_module);

    cred = (alcf->creds != NULL) ? ngx_http_fcfh_amt_find(alcf, guid) : NULL;

    if (cred == NULL) {
        return NGX_DECLINED;
    }

    *user = cred->user;
    *password = cred->password;

    return NGX_OK;
}


static ngx_http_fcfh_amt_cred_t *
ngx_http_fcfh_amt_find(ngx_http_fcfh_amt_loc_conf_t *alcf, u_char *guid)
{
    char                       text[NGX_FCFH_APF_GUID_TEXT_SIZE];
    ngx_uint_t                 i;
    ngx_http_fcfh_amt_cred_t  *cred, *c;

    if (guid) {
        ngx_fcfh_apf_guid_to_text(guid, text);
    }

    cred = NULL;
    c = alcf->creds->elts;

    for (i = 0; i < alcf->creds->nelts; i++) {
        if (c[i].guid.len == 1 && c[i].guid.data[0] == '*') {
            if (cred == NULL) {
                cred = &c[i];
            }

            continue;
        }

        if (guid && ngx_strncmp(c[i].guid.data, text, c[i].guid.len) == 0) {
            cred = &c[i];
            break;
        }
    }

    return cred;
}


/*
 * NGX_DONE while the exchanges run, or an answer at once when the job
 * cannot apply to this device.
 */

static ngx_int_t
ngx_http_fcfh_amt_start(ngx_http_request_t *r, ngx_str_t *device,
    ngx_uint_t job)
{
    char                           text[NGX_FCFH_APF_GUID_TEXT_SIZE + 1];
    ngx_http_cleanup_t            *cln;
    ngx_fcfh_route_open_t          ro;
    ngx_http_fcfh_amt_ctx_t       *ctx;
    ngx_http_fcfh_amt_cred_t      *cred;
    ngx_http_fcfh_amt_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_fcfh_amt_module);

    if (alcf->creds == NULL) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       job == NGX_HTTP_FCFH_AMT_CLOSE
                                       ? "mode=amt needs fcfh_amt_credentials"
                                       : "evidence needs "
                                         "fcfh_amt_credentials");
    }

    /*
     * each exchange opens a channel of its own through the relay socket
     * of the tunnel's worker, this node only; not a console's request
     */

    ngx_memzero(&ro, sizeof(ngx_fcfh_route_open_t));

    ro.device = *device;
    ro.port = NGX_HTTP_FCFH_AMT_PORT;
    ro.console = r->connection->addr_text;
    ro.console_port = ngx_inet_get_port(r->connection->sockaddr);
    ro.front_door = NGX_FCFH_FRONT_AMT;
    ro.log = r->connection->log;
    ro.timeout = NGX_HTTP_FCFH_AMT_TIMEOUT;
    ro.handler = ngx_http_fcfh_amt_opened;
    ro.local_only = 1;
    ro.internal = 1;

    switch (ngx_fcfh_route_find(&ro)) {

    case NGX_FCFH_OPEN_OK:
        break;

    case NGX_FCFH_OPEN_PORT:
        return ngx_http_fcfh_api_error(r, NGX_HTTP_CONFLICT,
                                       "the device does not forward port "
                                       "16992 (WS-Management)");

    default:
        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                       ro.found
                                       ? "the device is still registering "
                                         "its ports"
                                       : "no such device");
    }

    ngx_fcfh_apf_guid_to_text(ro.route.guid, text);
    text[NGX_FCFH_APF_GUID_TEXT_SIZE] = '\0';

    cred = ngx_http_fcfh_amt_find(alcf, ro.route.guid);

    if (cred == NULL) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "no AMT credentials for this device "
                                       "in fcfh_amt_credentials");
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_fcfh_amt_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->out = ngx_pnalloc(r->pool, NGX_HTTP_FCFH_AMT_MAX_REQUEST);
    ctx->in = ngx_pnalloc(r->pool, NGX_HTTP_FCFH_AMT_MAX_RESPONSE);

    if (ctx->out == NULL || ctx->in == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_fcfh_amt_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ctx->device = *device;
    ngx_memcpy(ctx->guid, text, sizeof(text));
    ctx->ro = ro;
    ctx->ro.data = ctx;
    ctx->cred = cred;
    ctx->job = job;

    if (job == NGX_HTTP_FCFH_AMT_CLOSE) {
        ctx->op = NGX_HTTP_FCFH_AMT_ENUMERATE;
        ctx->resource = ngx_http_fcfh_amt_classes[0].name;

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "fcfh: removing the CIRA configuration of %s as AMT "
                      "user \"%V\" before closing its tunnel", text,
                      &cred->user);

    } else {
        ctx->op = NGX_HTTP_FCFH_AMT_TIME;
        ctx->resource = "AMT_TimeSynchronizationService";

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fcfh: reading the event log of %s as AMT user \"%V\"",
                      text, &cred->user);
    }

    /*
     * An API client that goes away ends the exchanges (cleanup); while a
     * request body is still being discarded, nginx's handler stays.
     */
    if (!r->discard_body) {
        r->read_event_handler = ngx_http_test_reading;
    }

    r->main->count++;

    ngx_http_fcfh_amt_exchange(ctx);

    return NGX_DONE;
}


/* one HTTP exchange with the device, on a channel of its own */

static void
ngx_http_fcfh_amt_exchange(ngx_http_fcfh_amt_ctx_t *ctx)
{
    if (++ctx->exchanges > NGX_HTTP_FCFH_AMT_MAX_EXCHANGES) {
        ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_BAD_GATEWAY,
                               "the device needed more than %d requests",
                               NGX_HTTP_FCFH_AMT_MAX_EXCHANGES);
        return;
    }

    if (ngx_http_fcfh_amt_build(ctx) != NGX_OK) {
        ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_BAD_GATEWAY,
                               "a WS-Management request did not fit");
        return;
    }

    ctx->out_sent = 0;
    ctx->in_len = 0;

    ngx_fcfh_route_open(&ctx->ro);
}


static void
ngx_http_fcfh_amt_opened(ngx_fcfh_route_open_t *ro, ngx_uint_t result,
    ngx_uint_t reason)
{
    ngx_http_fcfh_amt_ctx_t  *ctx = ro->data;

    ngx_connection_t  *c, *hc;

    /* the request may be freed by the time its posted requests run */
    hc = ctx->request->connection;

    if (result == NGX_FCFH_OPEN_TIMEOUT) {
        ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_GATEWAY_TIME_OUT,
                               "the device did not answer %s %s in time",
                               ngx_http_fcfh_amt_ops[ctx->op].name,
                               ctx->resource);

    } else if (result != NGX_FCFH_OPEN_OK) {
        ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_BAD_GATEWAY,
                               "channel to port 16992 failed: %s",
                               ngx_fcfh_open_result_text(result));

    } else {
        c = ro->connection;
        ctx->relay = c;

        c->data = ctx;
        c->read->handler = ngx_http_fcfh_amt_handler;
        c->write->handler = ngx_http_fcfh_amt_handler;

        ngx_add_timer(c->read, NGX_HTTP_FCFH_AMT_TIMEOUT);

        ngx_http_fcfh_amt_process(c->write);
    }

    ngx_http_run_posted_requests(hc);
}


static ngx_int_t
ngx_http_fcfh_amt_build(ngx_http_fcfh_amt_ctx_t *ctx)
{
    u_char                  *p, *last, *body, *head;
    size_t                   len;
    ngx_http_fcfh_amt_op_t  *op;

    op = &ngx_http_fcfh_amt_ops[ctx->op];

    /* the body first, in the upper half: its length goes in the head */

    body = ctx->out + NGX_HTTP_FCFH_AMT_MAX_REQUEST / 2;
    last = ctx->out + NGX_HTTP_FCFH_AMT_MAX_REQUEST;

    p = ngx_slprintf(body, last,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
        "<Envelope xmlns=\"http://www.w3.org/2003/05/soap-envelope\" "
        "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
        "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">"
        "<Header><a:Action>%s%s/%s</a:Action><a:To>/wsman</a:To>"
        "<w:ResourceURI>" NGX_HTTP_FCFH_AMT_NS_AMT "%s</w:ResourceURI>"
        "<a:MessageID>uuid:%08xD-8086-4fc4-8000-%08xD%04xD</a:MessageID>"
        "<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/"
        "addressing/role/anonymous</a:Address></a:ReplyTo>"
        "<w:OperationTimeout>PT10S</w:OperationTimeout>",
        op->ns ? op->ns : NGX_HTTP_FCFH_AMT_NS_AMT,
        op->ns ? "" : ctx->resource, op->name, ctx->resource,
        (uint32_t) ngx_random(), (uint32_t) ngx_random(),
        (uint32_t) ctx->exchanges & 0xffff);

    switch (ctx->op) {

    case NGX_HTTP_FCFH_AMT_ENUMERATE:
        p = ngx_slprintf(p, last,
                         "</Header><Body><Enumerate xmlns=\""
                         NGX_HTTP_FCFH_AMT_NS_ENUM "\"/></Body></Envelope>");
        break;

    case NGX_HTTP_FCFH_AMT_PULL:
        p = ngx_slprintf(p, last,
                         "</Header><Body><Pull xmlns=\""
                         NGX_HTTP_FCFH_AMT_NS_ENUM "\">"
                         "<EnumerationContext>%V</EnumerationContext>"
                         "<MaxElements>%d</MaxElements></Pull></Body>"
                         "</Envelope>",
                         &ctx->context, NGX_HTTP_FCFH_AMT_MAX_NAMES);
        break;

    case NGX_HTTP_FCFH_AMT_DELETE:
        p = ngx_slprintf(p, last,
                         "<w:SelectorSet><w:Selector Name=\"%s\">%V"
                         "</w:Selector></w:SelectorSet></Header><Body/>"
                         "</Envelope>",
                         ngx_http_fcfh_amt_classes[ctx->cls].key,
                         &ctx->names[ctx->next]);
        break;

    case NGX_HTTP_FCFH_AMT_RECORDS:
        p = ngx_slprintf(p, last,
                         "</Header><Body><h:GetRecords_INPUT xmlns:h=\""
                         NGX_HTTP_FCFH_AMT_NS_AMT "%s\">"
                         "<h:IterationIdentifier>%V</h:IterationIdentifier>"
                         "<h:MaxReadRecords>%d</h:MaxReadRecords>"
                         "</h:GetRecords_INPUT></Body></Envelope>",
                         ctx->resource, &ctx->context,
                         NGX_HTTP_FCFH_AMT_MAX_RECORDS);
        break;

    default: /* a method without arguments */
        p = ngx_slprintf(p, last,
                         "</Header><Body><h:%s_INPUT xmlns:h=\""
                         NGX_HTTP_FCFH_AMT_NS_AMT "%s\"/></Body></Envelope>",
                         op->name, ctx->resource);
        break;
    }

    if (p == last) {
        return NGX_ERROR;
    }

    len = p - body;

    head = ctx->out;
    last = body;

    p = ngx_slprintf(head, last,
                     "POST /wsman HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Content-Type: application/soap+xml; charset=UTF-8\r\n"
                     "Content-Length: %uz\r\n"
                     "Connection: close\r\n",
                     "localhost", NGX_HTTP_FCFH_AMT_PORT, len);

    ctx->authed = 0;

    if (ctx->challenged) {
        p = ngx_http_fcfh_amt_digest(ctx, p);
        ctx->authed = 1;
    }

    if (p + 2 > last) {
        return NGX_ERROR;
    }

    *p++ = CR; *p++ = LF;

    /* the body follows the head directly */

    ngx_memmove(p, body, len);

    ctx->out_len = p + len - ctx->out;

    return NGX_OK;
}


/* an Authorization header answering the device's challenge (RFC 2617) */

static u_char *
ngx_http_fcfh_amt_digest(ngx_http_fcfh_amt_ctx_t *ctx, u_char *p)
{
    u_char     ha1[33], ha2[33], cnonce[17], nc[9], response[33];
    u_char     hash[16];
    ngx_md5_t  md5;

    ngx_md5_init(&md5);
    ngx_md5_update(&md5, ctx->cred->user.data, ctx->cred->user.len);
    ngx_md5_update(&md5, ":", 1);
    ngx_md5_update(&md5, ctx->realm.data, ctx->realm.len);
    ngx_md5_update(&md5, ":", 1);
    ngx_md5_update(&md5, ctx->cred->password.data, ctx->cred->password.len);
    ngx_md5_final(hash, &md5);
    ngx_hex_dump(ha1, hash, 16);

    ngx_md5_init(&md5);
    ngx_md5_update(&md5, "POST:/wsman", sizeof("POST:/wsman") - 1);
    ngx_md5_final(hash, &md5);
    ngx_hex_dump(ha2, hash, 16);

    (void) ngx_sprintf(cnonce, "%08xD%08xD", (uint32_t) ngx_random(),
                       (uint32_t) ngx_random());
    (void) ngx_sprintf(nc, "%08xD", (uint32_t) ++ctx->nc);

    ngx_md5_init(&md5);
    ngx_md5_update(&md5, ha1, 32);
    ngx_md5_update(&md5, ":", 1);
    ngx_md5_update(&md5, ctx->nonce.data, ctx->nonce.len);
    ngx_md5_update(&md5, ":", 1);

    if (ctx->qop) {
        ngx_md5_update(&md5, nc, 8);
        ngx_md5_update(&md5, ":", 1);
        ngx_md5_update(&md5, cnonce, 16);
        ngx_md5_update(&md5, ":auth:", sizeof(":auth:") - 1);
    }

    ngx_md5_update(&md5, ha2, 32);
    ngx_md5_final(hash, &md5);
    ngx_hex_dump(response, hash, 16);

    ngx_explicit_memzero(ha1, sizeof(ha1));

    /* the request buffer's head half holds at most ~1.3 KiB of this */

    p = ngx_sprintf(p, "Authorization: Digest username=\"%V\", "
                    "realm=\"%V\", nonce=\"%V\", uri=\"/wsman\", "
                    "response=\"%*s\"",
                    &ctx->cred->user, &ctx->realm, &ctx->nonce,
                    (size_t) 32, response);

    if (ctx->qop) {
        p = ngx_sprintf(p, ", qop=auth, nc=%*s, cnonce=\"%*s\"",
                        (size_t) 8, nc, (size_t) 16, cnonce);
    }

    if (ctx->opaque.len) {
        p = ngx_sprintf(p, ", opaque=\"%V\"", &ctx->opaque);
    }

    *p++ = CR; *p++ = LF;

    return p;
}


static void
ngx_http_fcfh_amt_handler(ngx_event_t *ev)
{
    ngx_connection_t         *c, *hc;
    ngx_http_fcfh_amt_ctx_t  *ctx;

    c = ev->data;
    ctx = c->data;

    /* the request may be freed by the time its posted requests run */
    hc = ctx->request->connection;

    ngx_http_fcfh_amt_process(ev);

    ngx_http_run_posted_requests(hc);
}


static void
ngx_http_fcfh_amt_process(ngx_event_t *ev)
{
    ssize_t                     n;
    ngx_int_t                   rc;
    ngx_uint_t                  eof;
    ngx_connection_t           *c;
    ngx_http_fcfh_amt_ctx_t    *ctx;
    ngx_str_t                   body, challenge;

    c = ev->data;
    ctx = c->data;

    if (c->read->timedout) {
        ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_GATEWAY_TIME_OUT,
                               "the device did not answer %s %s in time",
                               ngx_http_fcfh_amt_ops[ctx->op].name,
                               ctx->resource);
        return;
    }

    while (ctx->out_sent < ctx->out_len) {
        n = c->send(c, ctx->out + ctx->out_sent,
                    ctx->out_len - ctx->out_sent);

        if (n == NGX_AGAIN) {
            goto again;
        }

        if (n == NGX_ERROR) {
            ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_BAD_GATEWAY,
                                   "the channel failed while sending");
            return;
        }

        ctx->out_sent += n;
    }

    if (ctx->in_len == 0) {
        /* nothing read yet: a new answer */
        ngx_fcfh_response_init(&ctx->answer, NGX_HTTP_FCFH_AMT_MAX_HEAD,
                               NGX_HTTP_FCFH_AMT_MAX_RESPONSE, 0);
    }

    for ( ;; ) {
        eof = 0;

        n = c->recv(c, ctx->in + ctx->in_len,
                    NGX_HTTP_FCFH_AMT_MAX_RESPONSE - ctx->in_len);

        if (n == NGX_AGAIN) {
            goto again;
        }

        if (n == NGX_ERROR || n == 0) {
            eof = 1;

        } else {
            ctx->in_len += n;
        }

        rc = ngx_fcfh_response_read(&ctx->answer, ctx->in, ctx->in_len, eof);

        if (rc > 0) {
            break;
        }

        if (rc < 0) {
            ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_BAD_GATEWAY,
                                   "invalid answer to %s %s: %s",
                                   ngx_http_fcfh_amt_ops[ctx->op].name,
                                   ctx->resource,
                                   ngx_fcfh_response_strerror(rc));
            return;
        }

        if (ctx->in_len == NGX_HTTP_FCFH_AMT_MAX_RESPONSE) {
            ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_BAD_GATEWAY,
                                   "answer to %s %s over %d bytes",
                                   ngx_http_fcfh_amt_ops[ctx->op].name,
                                   ctx->resource,
                                   NGX_HTTP_FCFH_AMT_MAX_RESPONSE);
            return;
        }
    }

    ngx_close_connection(c);
    ctx->relay = NULL;

    /* the body decoded in place behind the head; the challenge in it */

    body.data = ctx->in + ctx->answer.head_len;
    body.len = (size_t) ctx->answer.body_len;
    challenge.data = (u_char *) ctx->answer.head.digest.data;
    challenge.len = ctx->answer.head.digest.len;

    ngx_http_fcfh_amt_response(ctx, ctx->answer.head.status, &body,
                               &challenge);

    return;

again:

    if (ngx_handle_write_event(c->write, 0) != NGX_OK
        || ngx_handle_read_event(c->read, 0) != NGX_OK)
    {
        ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                               "event error");
    }
}


static void
ngx_http_fcfh_amt_response(ngx_http_fcfh_amt_ctx_t *ctx, ngx_uint_t status,
    ngx_str_t *body, ngx_str_t *challenge)
{
    u_char                     *s;
    ngx_str_t                   fault;
    ngx_uint_t                  i, n;
    ngx_http_fcfh_amt_class_t  *cls;

    cls = &ngx_http_fcfh_amt_classes[ctx->cls];

    if (status == NGX_HTTP_UNAUTHORIZED) {
        if (challenge->len == 0) {
            ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_BAD_GATEWAY,
                                   "the device wants an authentication "
                                   "other than Digest");
            return;
        }

        /* a second 401 is a refusal, unless the nonce merely aged */

        if (ctx->authed
            && !(ngx_fcfh_wsman_param(challenge, "stale", &fault)
                 == NGX_OK
                 && fault.len == 4
                 && ngx_strncasecmp(fault.data, (u_char *) "true", 4) == 0))
        {
            ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_BAD_GATEWAY,
                                   "the device refused AMT user %V",
                                   &ctx->cred->user);
            return;
        }

        if (ngx_http_fcfh_amt_challenge(ctx, challenge) != NGX_OK) {
            ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_BAD_GATEWAY,
                                   "invalid Digest challenge from the "
                                   "device");
            return;
        }

        /* the same request again, answering the challenge */
        ngx_http_fcfh_amt_exchange(ctx);
        return;
    }

    if (status != NGX_HTTP_OK) {
        ngx_str_null(&fault);
        n = ngx_fcfh_wsman_values(body, "Text", &fault, 1);

        ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_BAD_GATEWAY,
                               "the device answered %ui to %s %s%s%V",
                               status, ngx_http_fcfh_amt_ops[ctx->op].name,
                               ctx->resource, n ? ": " : "", &fault);
        return;
    }

    if (ctx->job == NGX_HTTP_FCFH_AMT_EVIDENCE) {
        ngx_http_fcfh_amt_log_answer(ctx, body);
        return;
    }

    switch (ctx->op) {

    case NGX_HTTP_FCFH_AMT_ENUMERATE:
    case NGX_HTTP_FCFH_AMT_PULL:

        if (ctx->op == NGX_HTTP_FCFH_AMT_PULL) {
            n = ngx_fcfh_wsman_values(body, cls->key,
                                         ctx->names + ctx->nnames,
                                         NGX_HTTP_FCFH_AMT_MAX_NAMES
                                         - ctx->nnames);

            /* the next answer reuses the buffer the values point into */

            for (i = ctx->nnames; i < ctx->nnames + n; i++) {
                if (ngx_http_fcfh_amt_keep(ctx->request->pool,
                                           &ctx->names[i])
                    != NGX_OK)
                {
                    ngx_http_fcfh_amt_finish(ctx,
                                             NGX_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }
            }

            ctx->nnames += n;

            s = ngx_strlcasestrn(body->data, body->data + body->len,
                                 (u_char *) "EndOfSequence", 13 - 1);

            if (s || n == 0
                || ctx->nnames == NGX_HTTP_FCFH_AMT_MAX_NAMES)
            {
                if (ctx->nnames == 0) {
                    ngx_http_fcfh_amt_next_class(ctx);
                    return;
                }

                ctx->op = NGX_HTTP_FCFH_AMT_DELETE;
                ctx->next = 0;
                ngx_http_fcfh_amt_exchange(ctx);
                return;
            }
        }

        if (ngx_fcfh_wsman_values(body, "EnumerationContext",
                                     &ctx->context, 1)
            != 1
            || ngx_http_fcfh_amt_keep(ctx->request->pool, &ctx->context)
               != NGX_OK)
        {
            ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_BAD_GATEWAY,
                                   "no enumeration context in the answer to "
                                   "%s %s", ngx_http_fcfh_amt_ops[ctx->op].name,
                                   ctx->resource);
            return;
        }

        ctx->op = NGX_HTTP_FCFH_AMT_PULL;
        ngx_http_fcfh_amt_exchange(ctx);
        return;

    default: /* NGX_HTTP_FCFH_AMT_DELETE */

        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "fcfh: deleted %s \"%V\" on %s", cls->name,
                      &ctx->names[ctx->next], ctx->guid);

        ctx->deleted[ctx->cls]++;

        if (++ctx->next < ctx->nnames) {
            ngx_http_fcfh_amt_exchange(ctx);
            return;
        }

        ngx_http_fcfh_amt_next_class(ctx);
        return;
    }
}


static void
ngx_http_fcfh_amt_next_class(ngx_http_fcfh_amt_ctx_t *ctx)
{
    u_char              *p, *body;
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (++ctx->cls < sizeof(ngx_http_fcfh_amt_classes)
                     / sizeof(ngx_http_fcfh_amt_class_t))
    {
        ctx->op = NGX_HTTP_FCFH_AMT_ENUMERATE;
        ctx->resource = ngx_http_fcfh_amt_classes[ctx->cls].name;
        ctx->nnames = 0;
        ctx->next = 0;
        ngx_http_fcfh_amt_exchange(ctx);
        return;
    }

    /* the device forgot the gateway: now the tunnel goes */

    rc = ngx_fcfh_registry_close(&ctx->device, r->connection->log);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "fcfh: CIRA configuration of %s removed (%ui policy "
                  "rules, %ui MPS entries), tunnel %s", ctx->guid,
                  ctx->deleted[0], ctx->deleted[1],
                  rc == NGX_OK ? "closed" : "already gone");

    body = ngx_pnalloc(r->pool, 6 * ctx->device.len + 128);
    if (body == NULL) {
        ngx_http_fcfh_amt_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(body, "{\"closed\":", sizeof("{\"closed\":") - 1);
    p = ngx_fcfh_json_str(p, &ctx->device);
    p = ngx_sprintf(p, ",\"mode\":\"amt\",\"policy_rules_deleted\":%ui,"
                    "\"mps_entries_deleted\":%ui}\n",
                    ctx->deleted[0], ctx->deleted[1]);

    ngx_http_fcfh_amt_finish(ctx,
        ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body));
}


/*
 * EVIDENCE: the device's clock (AMT_TimeSynchronizationService), then its
 * event log (AMT_MessageLog) from the first record, page by page, keeping
 * the newest record.
 */

static void
ngx_http_fcfh_amt_log_answer(ngx_http_fcfh_amt_ctx_t *ctx, ngx_str_t *body)
{
    u_char      rec[32];
    uint32_t    ts;
    ngx_str_t   v, *recs, src, dst;
    ngx_uint_t  i, n, more;

    if (ngx_fcfh_wsman_values(body, "ReturnValue", &v, 1) != 1
        || ngx_atoi(v.data, v.len) != 0)
    {
        ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_BAD_GATEWAY,
                               "%s %s failed on the device (ReturnValue %V)",
                               ngx_http_fcfh_amt_ops[ctx->op].name,
                               ctx->resource, &v);
        return;
    }

    switch (ctx->op) {

    case NGX_HTTP_FCFH_AMT_TIME:
        if (ngx_fcfh_wsman_values(body, "Ta0", &v, 1) != 1
            || ngx_atotm(v.data, v.len) == NGX_ERROR)
        {
            break;
        }

        ctx->offset = ngx_atotm(v.data, v.len) - ngx_time();

        ctx->op = NGX_HTTP_FCFH_AMT_POSITION;
        ctx->resource = "AMT_MessageLog";
        ngx_http_fcfh_amt_exchange(ctx);
        return;

    case NGX_HTTP_FCFH_AMT_POSITION:
    case NGX_HTTP_FCFH_AMT_RECORDS:

        if (ctx->op == NGX_HTTP_FCFH_AMT_RECORDS) {
            recs = ngx_palloc(ctx->request->pool, NGX_HTTP_FCFH_AMT_MAX_RECORDS
                                                  * sizeof(ngx_str_t));
            if (recs == NULL) {
                ngx_http_fcfh_amt_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            n = ngx_fcfh_wsman_values(body, "RecordArray", recs,
                                         NGX_HTTP_FCFH_AMT_MAX_RECORDS);

            for (i = 0; i < n; i++) {
                src = recs[i];

                if (ngx_base64_decoded_length(src.len) > sizeof(rec)) {
                    continue;
                }

                dst.data = rec;

                if (ngx_decode_base64(&dst, &src) != NGX_OK
                    || dst.len != NGX_HTTP_FCFH_AMT_RECORD_SIZE)
                {
                    continue;
                }

                /* TimeStamp: seconds, little endian, the device's clock */
                ts = rec[0] | rec[1] << 8 | rec[2] << 16
                     | (uint32_t) rec[3] << 24;

                ctx->records++;

                if (ts >= ctx->newest_time) {
                    ctx->newest_time = ts;
                    ngx_memcpy(ctx->newest, rec,
                               NGX_HTTP_FCFH_AMT_RECORD_SIZE);
                }
            }

            more = !(ngx_fcfh_wsman_values(body, "NoMoreRecords", &v, 1)
                     == 1
                     && v.len == 4
                     && ngx_strncmp(v.data, "true", 4) == 0);

            if (!more || n == 0
                || ++ctx->pages == NGX_HTTP_FCFH_AMT_MAX_PAGES)
            {
                ngx_http_fcfh_amt_log_done(ctx);
                return;
            }
        }

        if (ngx_fcfh_wsman_values(body, "IterationIdentifier",
                                     &ctx->context, 1)
            != 1
            || ngx_http_fcfh_amt_keep(ctx->request->pool, &ctx->context)
               != NGX_OK)
        {
            break;
        }

        ctx->op = NGX_HTTP_FCFH_AMT_RECORDS;
        ngx_http_fcfh_amt_exchange(ctx);
        return;
    }

    ngx_http_fcfh_amt_fail(ctx, NGX_HTTP_BAD_GATEWAY,
                           "unexpected answer to %s %s",
                           ngx_http_fcfh_amt_ops[ctx->op].name,
                           ctx->resource);
}


/*
 * The newest event log record, in the gateway's clock, against the time
 * the tunnel registered: an entry made just before connecting is the
 * evidence Intel describes for a user-initiated connection.
 */

static void
ngx_http_fcfh_amt_log_done(ngx_http_fcfh_amt_ctx_t *ctx)
{
    u_char                 *p, *body;
    time_t                  at;
    ngx_int_t               age;
    ngx_str_t               guid;
    ngx_uint_t              fresh;
    ngx_array_t             entries;
    ngx_http_request_t     *r;
    ngx_fcfh_entry_info_t  *info;

    r = ctx->request;

    guid.data = (u_char *) ctx->guid;
    guid.len = NGX_FCFH_APF_GUID_TEXT_SIZE;

    if (ngx_array_init(&entries, r->pool, 1, sizeof(ngx_fcfh_entry_info_t))
        != NGX_OK
        || ngx_fcfh_registry_snapshot(r->pool, &guid, &entries) != NGX_OK)
    {
        ngx_http_fcfh_amt_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    info = entries.elts;

    if (entries.nelts == 0 || info->serial != ctx->ro.route.serial) {
        ngx_http_fcfh_amt_finish(ctx,
            ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                    "the tunnel closed meanwhile"));
        return;
    }

    at = (time_t) ctx->newest_time - ctx->offset;
    age = (ngx_int_t) (info->connected_at - at);

    fresh = ctx->records
            && age <= NGX_HTTP_FCFH_AMT_FRESH_BEFORE
            && age >= -NGX_HTTP_FCFH_AMT_FRESH_AFTER;

    if (fresh) {
        ngx_fcfh_registry_set_evidence(ctx->ro.route.guid,
                                       ctx->ro.route.serial);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "fcfh: event log of %s: %ui records, newest %i s before "
                  "the connection, clock offset %T s%s", ctx->guid,
                  ctx->records, ctx->records ? age : 0, ctx->offset,
                  fresh ? ": a fresh entry" : "");

    body = ngx_pnalloc(r->pool, 1024);
    if (body == NULL) {
        ngx_http_fcfh_amt_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_sprintf(body, "{\"guid\":\"%s\",\"trigger\":\"%s\","
                    "\"connected_at\":", ctx->guid,
                    ngx_fcfh_apf_trigger_name(info->trigger));
    p = ngx_fcfh_json_time(p, info->connected_at);
    p = ngx_sprintf(p, ",\"device_clock_offset\":%T,\"event_log\":"
                    "{\"records\":%ui,\"newest\":", ctx->offset,
                    ctx->records);

    if (ctx->records) {
        p = ngx_sprintf(p, "{\"time\":");
        p = ngx_fcfh_json_time(p, at);
        p = ngx_sprintf(p, ",\"seconds_before_connect\":%i,"
                        "\"sensor_type\":%ud,\"event_type\":%ud,"
                        "\"event_offset\":%ud,\"source_type\":%ud,"
                        "\"severity\":%ud,\"sensor_number\":%ud,"
                        "\"entity\":%ud,\"entity_instance\":%ud,"
                        "\"data\":\"",
                        age, ctx->newest[5], ctx->newest[6], ctx->newest[7],
                        ctx->newest[8], ctx->newest[9], ctx->newest[10],
                        ctx->newest[11], ctx->newest[12]);
        p = ngx_hex_dump(p, ctx->newest + 13, 8);
        p = ngx_sprintf(p, "\"}");

    } else {
        p = ngx_sprintf(p, "null");
    }

    p = ngx_sprintf(p, "},\"trigger_evidence\":%s}\n",
                    info->alert_after_connect ? "\"alert_after_connect\""
                    : fresh ? "\"event_log_entry_at_connect\"" : "null");

    ngx_http_fcfh_amt_finish(ctx,
        ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body));
}


/* takes realm, nonce, opaque and qop of a Digest challenge */

static ngx_int_t
ngx_http_fcfh_amt_challenge(ngx_http_fcfh_amt_ctx_t *ctx,
    ngx_str_t *challenge)
{
    ngx_str_t            realm, nonce, opaque, qop;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ngx_fcfh_wsman_param(challenge, "realm", &realm) != NGX_OK
        || ngx_fcfh_wsman_param(challenge, "nonce", &nonce) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_fcfh_wsman_param(challenge, "opaque", &opaque) != NGX_OK) {
        opaque.len = 0;
    }

    ctx->qop = 0;

    if (ngx_fcfh_wsman_param(challenge, "qop", &qop) == NGX_OK) {
        if (ngx_strlcasestrn(qop.data, qop.data + qop.len,
                             (u_char *) "auth", 4 - 1) == NULL)
        {
            return NGX_ERROR;
        }

        ctx->qop = 1;
    }

    ctx->realm.data = ngx_pstrdup(r->pool, &realm);
    ctx->nonce.data = ngx_pstrdup(r->pool, &nonce);
    ctx->opaque.data = opaque.len ? ngx_pstrdup(r->pool, &opaque) : NULL;

    if (ctx->realm.data == NULL || ctx->nonce.data == NULL
        || (opaque.len && ctx->opaque.data == NULL))
    {
        return NGX_ERROR;
    }

    ctx->realm.len = realm.len;
    ctx->nonce.len = nonce.len;
    ctx->opaque.len = opaque.len;
    ctx->nc = 0;
    ctx->challenged = 1;

    return NGX_OK;
}


/* a copy of a value that outlives the response it came in */

static ngx_int_t
ngx_http_fcfh_amt_keep(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len ? s->len : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, s->data, s->len);
    s->data = p;

    return NGX_OK;
}


static void
ngx_http_fcfh_amt_fail(ngx_http_fcfh_amt_ctx_t *ctx, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char              *p, text[256];
    va_list              args;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ctx->relay) {
        ngx_close_connection(ctx->relay);
        ctx->relay = NULL;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "fcfh: CIRA configuration of %s not removed, tunnel "
                  "left open: %s", ctx->guid, text);

    ngx_http_fcfh_amt_finish(ctx,
        ngx_http_fcfh_api_error(r, status, (const char *) text));
}


static void
ngx_http_fcfh_amt_finish(ngx_http_fcfh_amt_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_finalize_request(ctx->request, rc);
}


/* the API request ends (client gone, or answered): no exchange left */

static void
ngx_http_fcfh_amt_cleanup(void *data)
{
    ngx_http_fcfh_amt_ctx_t  *ctx = data;

    ngx_fcfh_route_cancel(&ctx->ro);

    if (ctx->relay) {
        ngx_close_connection(ctx->relay);
        ctx->relay = NULL;
    }
}


/*
 * fcfh_amt_credentials file: lines "<guid> <user> <password>", "*" for
 * any device; "#" starts a comment.  Read at configuration time, so a
 * change takes a reload; a file others can read is a warning.
 */

static char *
ngx_http_fcfh_amt_credentials(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_fcfh_amt_loc_conf_t *alcf = conf;

    u_char                    *p, *last, *line, *eol, *field[3];
    size_t                     flen[3];
    ssize_t                    n;
    uint8_t                    guid[NGX_FCFH_APF_GUID_SIZE];
    ngx_fd_t                   fd;
    ngx_str_t                 *value, file;
    ngx_uint_t                 i, lineno;
    ngx_file_info_t            fi;
    ngx_http_fcfh_amt_cred_t  *cred;

    if (alcf->creds != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", file.data);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" is unreadable or larger than 1m",
                           file.data);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    if (fi.st_mode & (S_IROTH|S_IWOTH)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%s\" holds AMT passwords and others can read "
                           "it; chmod 640 and owned by root and the "
                           "workers' group", file.data);
    }

    p = ngx_pnalloc(cf->pool, (size_t) ngx_file_size(&fi) + 1);
    if (p == NULL) {
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, p, (size_t) ngx_file_size(&fi));
    (void) ngx_close_file(fd);

    if (n != (ssize_t) ngx_file_size(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "reading \"%s\" failed", file.data);
        return NGX_CONF_ERROR;
    }

    alcf->creds = ngx_array_create(cf->pool, 4,
                                   sizeof(ngx_http_fcfh_amt_cred_t));
    if (alcf->creds == NULL) {
        return NGX_CONF_ERROR;
    }

    last = p + n;
    lineno = 0;

    for (line = p; line < last; line = eol + 1) {
        lineno++;

        eol = ngx_strlchr(line, last, LF);
        if (eol == NULL) {
            eol = last;
        }

        for (i = 0, p = line; i < 3; i++) {
            while (p < eol && (*p == ' ' || *p == '\t' || *p == CR)) {
                p++;
            }

            if (p == eol || (i == 0 && *p == '#')) {
                break;
            }

            field[i] = p;

            while (p < eol && *p != ' ' && *p != '\t' && *p != CR) {
                p++;
            }

            flen[i] = p - field[i];
        }

        if (i == 0) {
            continue;
        }

        while (p < eol && (*p == ' ' || *p == '\t' || *p == CR)) {
            p++;
        }

        if (i < 3 || p != eol
            || !((flen[0] == 1 && field[0][0] == '*')
                 || ngx_fcfh_apf_guid_from_text((char *) field[0], flen[0],
                                                guid) == 0)
            || flen[1] > 32 || flen[2] > 32)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid line %ui in \"%s\": expected "
                               "\"<guid or *> <AMT user> <password>\", user "
                               "and password up to 32 characters",
                               lineno, file.data);
            return NGX_CONF_ERROR;
        }

        for (i = 1; i < 3; i++) {
            for (p = field[i]; p < field[i] + flen[i]; p++) {
                if (*p < 0x21 || *p > 0x7e || *p == '"' || *p == '\\') {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid line %ui in \"%s\": user "
                                       "and password are printable ASCII "
                                       "without quotes or backslashes",
                                       lineno, file.data);
                    return NGX_CONF_ERROR;
                }
            }
        }

        cred = ngx_array_push(alcf->creds);
        if (cred == NULL) {
            return NGX_CONF_ERROR;
        }

        cred->guid.data = field[0];
        cred->guid.len = flen[0];
        ngx_strlow(cred->guid.data, cred->guid.data, cred->guid.len);
        cred->user.data = field[1];
        cred->user.len = flen[1];
        cred->password.data = field[2];
        cred->password.len = flen[2];
    }

    if (alcf->creds->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" has no credentials", file.data);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_fcfh_amt_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_fcfh_amt_loc_conf_t  *conf;

    conf = ngx_palloc(cf->pool, sizeof(ngx_http_fcfh_amt_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->creds = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_fcfh_amt_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_fcfh_amt_loc_conf_t *prev = parent;
    ngx_http_fcfh_amt_loc_conf_t *conf = child;

    ngx_uint_t  port;

    ngx_conf_merge_ptr_value(conf->creds, prev->creds, NULL);

    /* the jobs reach 16992 through the tunnel's worker, which checks */
    port = NGX_HTTP_FCFH_AMT_PORT;

    if (conf->creds
        && ngx_fcfh_relay_allow_ports(cf, &port, 1) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
