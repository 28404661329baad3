
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Events for operators: fcfh_events (Server-Sent Events, each client
 * following the zone's event ring) and the webhook subscribers managed
 * through fcfh_api (list, add, remove; ngx_fcfh_webhook.c delivers).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_webhook.h"
#include "ngx_fcfh_json.h"
#include "ngx_http_fcfh.h"
#include "ngx_http_fcfh_events.h"


/*
 * Server-Sent Events: tunnel connected and disconnected (with why), and
 * failed authentications, as they happen in any worker.  Each SSE client
 * follows the zone's event ring on a short timer; a client too slow for
 * the ring gets a "dropped" event with the count (and a log line), never
 * a silent gap.  Filters: ?guid=, ?fqdn=, ?type=connected|disconnected|
 * auth_failed.  Last-Event-ID resumes from the ring.
 */

#define NGX_HTTP_FCFH_EVENTS_POLL      200
#define NGX_HTTP_FCFH_EVENTS_KEEPALIVE 15000
#define NGX_HTTP_FCFH_EVENTS_BUSY      32
#define NGX_HTTP_FCFH_EVENTS_STALLED   60000
#define NGX_HTTP_FCFH_EVENT_SIZE       2048


typedef struct {
    ngx_http_request_t              *request;
    ngx_chain_t                     *free;
    ngx_chain_t                     *busy;
    ngx_uint_t                       nbusy;
    ngx_event_t                      timer;
    uint64_t                         seq;
    ngx_msec_t                       quiet;      /* since the last write */
    ngx_msec_t                       stalled;    /* output full since */
    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    ngx_str_t                        fqdn;
    ngx_uint_t                       type;
    unsigned                         by_guid:1;
} ngx_http_fcfh_events_ctx_t;


static void ngx_http_fcfh_events_timer(ngx_event_t *ev);
static void ngx_http_fcfh_events_read(ngx_http_request_t *r);
static void ngx_http_fcfh_events_write(ngx_http_request_t *r);
static ngx_chain_t *ngx_http_fcfh_events_buf(
    ngx_http_fcfh_events_ctx_t *ctx);
static ngx_int_t ngx_http_fcfh_events_send(ngx_http_fcfh_events_ctx_t *ctx,
    ngx_chain_t *cl);
static void ngx_http_fcfh_events_cleanup(void *data);


ngx_int_t
ngx_http_fcfh_events_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc, n;
    ngx_str_t                    arg;
    ngx_chain_t                 *cl;
    ngx_table_elt_t             *h, *cc;
    ngx_pool_cleanup_t          *cln;
    ngx_http_fcfh_events_ctx_t  *ctx;

    static u_char                hello[] = ": fcfh events\n\n";

    if (!(r->method & NGX_HTTP_GET)) {
        return ngx_http_fcfh_not_allowed(r, NGX_HTTP_GET);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_fcfh_events_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;

    if (ngx_http_arg(r, (u_char *) "guid", 4, &arg) == NGX_OK) {
        if (ngx_fcfh_apf_guid_from_text((char *) arg.data, arg.len,
                                        ctx->guid)
            != 0)
        {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                           "guid is not a GUID");
        }

        ctx->by_guid = 1;
    }

    if (ngx_http_arg(r, (u_char *) "fqdn", 4, &arg) == NGX_OK) {
        ctx->fqdn = arg;
    }

    if (ngx_http_arg(r, (u_char *) "type", 4, &arg) == NGX_OK) {
        ctx->type = ngx_fcfh_event_type(arg.data, arg.len);

        if (ctx->type == 0) {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                        "type is connected, disconnected, auth_failed "
                        "or alert");
        }
    }

    /* new events only, or from where a reconnecting client left off */

    ctx->seq = ngx_fcfh_event_last();

    h = ngx_fcfh_find_header(&r->headers_in.headers, "Last-Event-ID");

    if (h) {
        n = ngx_atoi(h->value.data, h->value.len);

        if (n != NGX_ERROR && (uint64_t) n <= ctx->seq) {
            ctx->seq = n;
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_fcfh_events_cleanup;
    cln->data = ctx;

    cc = ngx_list_push(&r->headers_out.headers);
    if (cc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cc->hash = 1;
    ngx_str_set(&cc->key, "Cache-Control");
    ngx_str_set(&cc->value, "no-cache");

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = -1;
    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    cl = ngx_http_fcfh_events_buf(ctx);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf->last = ngx_cpymem(cl->buf->last, hello, sizeof(hello) - 1);

    if (ngx_http_fcfh_events_send(ctx, cl) == NGX_ERROR) {
        return NGX_ERROR;
    }

    /* a long-lived response: the client leaving ends it */
    r->read_event_handler = ngx_http_fcfh_events_read;
    r->write_event_handler = ngx_http_fcfh_events_write;

    /* graceful shutdown closes it like an idle keep-alive connection */
    r->connection->idle = 1;

    ctx->timer.handler = ngx_http_fcfh_events_timer;
    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;

    ngx_add_timer(&ctx->timer, NGX_HTTP_FCFH_EVENTS_POLL);

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_fcfh_events_read(ngx_http_request_t *r)
{
    if (r->connection->close) {
        ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
        return;
    }

    ngx_http_test_reading(r);
}


/* the socket took more: send what waits, recycle the buffers */

static void
ngx_http_fcfh_events_write(ngx_http_request_t *r)
{
    ngx_http_fcfh_events_ctx_t  *ctx;
    ngx_pool_cleanup_t          *cln;

    ctx = NULL;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_fcfh_events_cleanup) {
            ctx = cln->data;
            break;
        }
    }

    if (ctx == NULL) {
        return;
    }

    if (ngx_http_fcfh_events_send(ctx, NULL) == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


static void
ngx_http_fcfh_events_timer(ngx_event_t *ev)
{
    u_char                      *p, *start;
    uint64_t                     dropped;
    ngx_uint_t                   n;
    ngx_chain_t                 *cl;
    ngx_connection_t            *c;
    ngx_fcfh_event_t             e;
    ngx_http_request_t          *r;
    ngx_http_fcfh_events_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    if (c->close || c->error) {
        ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
        goto done;
    }

    for (n = 0; n < 64; n++) {

        if (ctx->nbusy >= NGX_HTTP_FCFH_EVENTS_BUSY) {
            /* a reader that does not keep up falls behind in the ring */
            break;
        }

        if (ngx_fcfh_event_next(ctx->seq, &e, &dropped) != NGX_OK) {
            break;
        }

        cl = ngx_http_fcfh_events_buf(ctx);
        if (cl == NULL) {
            ngx_http_finalize_request(r, NGX_ERROR);
            goto done;
        }

        start = cl->buf->last;
        p = start;

        if (dropped) {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "fcfh: event subscriber too slow, %uL events "
                          "dropped", dropped);

            p = ngx_sprintf(p, "event: dropped\ndata: {\"dropped\":%uL}"
                            "\n\n", dropped);
        }

        ctx->seq = e.seq;

        if ((ctx->type && ctx->type != e.type)
            || (ctx->by_guid
                && ngx_memcmp(ctx->guid, e.guid, NGX_FCFH_APF_GUID_SIZE)
                   != 0)
            || (ctx->fqdn.len
                && (ctx->fqdn.len != e.fqdn_len
                    || ngx_strncasecmp(ctx->fqdn.data, e.fqdn, e.fqdn_len)
                       != 0)))
        {
            if (p == start) {
                /* back to the free list, unused */
                cl->next = ctx->free;
                ctx->free = cl;
                continue;
            }

        } else {
            p = ngx_sprintf(p, "id: %uL\nevent: %s\ndata: ", e.seq,
                            ngx_fcfh_event_name(e.type));
            p = ngx_fcfh_event_json(p, &e);
            p = ngx_cpymem(p, "\n\n", 2);
        }

        cl->buf->last = p;

        if (ngx_http_fcfh_events_send(ctx, cl) == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_ERROR);
            goto done;
        }

        ctx->quiet = 0;
    }

    ctx->quiet += NGX_HTTP_FCFH_EVENTS_POLL;

    if (ctx->nbusy >= NGX_HTTP_FCFH_EVENTS_BUSY) {
        /* a client that stopped reading but did not leave */

        ctx->stalled += NGX_HTTP_FCFH_EVENTS_POLL;

        if (ctx->stalled >= NGX_HTTP_FCFH_EVENTS_STALLED) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "fcfh: event subscriber stopped reading, closing");
            ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
            goto done;
        }

        ctx->quiet = 0;

    } else {
        ctx->stalled = 0;
    }

    if (ctx->quiet >= NGX_HTTP_FCFH_EVENTS_KEEPALIVE) {
        /* a comment line keeps proxies and clients from timing out */
        cl = ngx_http_fcfh_events_buf(ctx);

        if (cl == NULL) {
            ngx_http_finalize_request(r, NGX_ERROR);
            goto done;
        }

        cl->buf->last = ngx_cpymem(cl->buf->last, ":\n\n", 3);

        if (ngx_http_fcfh_events_send(ctx, cl) == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_ERROR);
            goto done;
        }

        ctx->quiet = 0;
    }

    ngx_add_timer(&ctx->timer, NGX_HTTP_FCFH_EVENTS_POLL);

done:

    /* a finalized request is terminated by a posted request: run it */
    ngx_http_run_posted_requests(c);
}


/*
 * Event buffers are recycled: a long-lived stream must not grow its
 * request pool with every event.
 */

static ngx_chain_t *
ngx_http_fcfh_events_buf(ngx_http_fcfh_events_ctx_t *ctx)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    cl = ngx_chain_get_free_buf(ctx->request->pool, &ctx->free);
    if (cl == NULL) {
        return NULL;
    }

    b = cl->buf;

    if (b->start == NULL) {
        b->start = ngx_palloc(ctx->request->pool, NGX_HTTP_FCFH_EVENT_SIZE);
        if (b->start == NULL) {
            return NULL;
        }

        b->end = b->start + NGX_HTTP_FCFH_EVENT_SIZE;
    }

    b->pos = b->start;
    b->last = b->start;
    b->temporary = 1;
    b->flush = 1;
    b->tag = (ngx_buf_tag_t) &ngx_http_fcfh_module;

    cl->next = NULL;

    return cl;
}


static ngx_int_t
ngx_http_fcfh_events_send(ngx_http_fcfh_events_ctx_t *ctx, ngx_chain_t *cl)
{
    ngx_int_t     rc;
    ngx_chain_t  *b;

    rc = ngx_http_output_filter(ctx->request, cl);

    /* with cl NULL this only flushes what the socket did not take */
    ngx_chain_update_chains(ctx->request->pool, &ctx->free, &ctx->busy, &cl,
                            (ngx_buf_tag_t) &ngx_http_fcfh_module);

    ctx->nbusy = 0;

    for (b = ctx->busy; b; b = b->next) {
        ctx->nbusy++;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    /*
     * the socket did not take it all: ask for the write event (epoll adds
     * it only on demand), which flushes the rest once the client reads
     */

    if (ctx->busy
        && ngx_handle_write_event(ctx->request->connection->write, 0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return rc;
}


static void
ngx_http_fcfh_events_cleanup(void *data)
{
    ngx_http_fcfh_events_ctx_t  *ctx = data;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }
}


/*
 * Webhook subscribers, routed by fcfh_api:
 *
 *     GET     webhooks
 *     POST    webhooks?url=http[s]://<host>[:<port>]/<path>[&events=a,b]
 *     DELETE  webhooks/<id>
 *
 * POST takes the subscriber's signing secret from the Fcfh-Webhook-Secret
 * header ("whsec_" and the base64 of 24 to 64 bytes), never from the
 * query, which access logs keep; without one the gateway makes one and
 * answers it, once: GET never shows it.
 */

ngx_int_t
ngx_http_fcfh_webhooks_list(ngx_http_request_t *r, ngx_str_t *param)
{
    u_char              *p, *body;
    ngx_int_t            n;
    ngx_str_t            s;
    ngx_uint_t           i, j, count;
    ngx_fcfh_webhook_t   list[NGX_FCFH_WEBHOOKS];

    count = ngx_fcfh_webhook_list(list);

    body = ngx_pnalloc(r->pool, 128 + count * (6 * NGX_FCFH_WEBHOOK_URL_MAX
                                               + 512));
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the paging fields of every list: the 16 subscribers fit one page */
    p = ngx_sprintf(body, "{\"total\":%ui,\"limit\":%d,\"next_cursor\":null,"
                    "\"webhooks\":[", count, NGX_FCFH_WEBHOOKS);

    for (i = 0; i < count; i++) {
        s.data = list[i].url;
        s.len = list[i].url_len;

        p = ngx_sprintf(p, "%s{\"id\":%uD,\"url\":", i ? "," : "",
                        list[i].id);
        p = ngx_fcfh_json_str(p, &s);
        p = ngx_cpymem(p, ",\"events\":[", sizeof(",\"events\":[") - 1);

        for (j = 1, n = 0; j < NGX_FCFH_EVENT_MAX; j++) {
            if (list[i].types == 0 || (list[i].types & (1 << j))) {
                p = ngx_sprintf(p, "%s\"%s\"", n++ ? "," : "",
                                ngx_fcfh_event_name(j));
            }
        }

        p = ngx_sprintf(p, "],\"delivered\":%uL,\"failures\":%uL,"
                        "\"dropped\":%uL,\"pending\":%uL,"
                        "\"retry_in\":%T,\"last_error\":",
                        list[i].delivered, list[i].failures,
                        list[i].dropped,
                        ngx_fcfh_event_last() - list[i].cursor,
                        ngx_max(list[i].next_try - ngx_time(), 0));

        s.data = list[i].last_error;
        s.len = list[i].last_error_len;
        p = ngx_fcfh_json_str(p, &s);
        *p++ = '}';
    }

    p = ngx_cpymem(p, "]}\n", 3);

    return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
}


ngx_int_t
ngx_http_fcfh_webhooks_add(ngx_http_request_t *r, ngx_str_t *param)
{
    u_char                *p, *body, *last, *start;
    size_t                 key_len;
    ssize_t                n;
    uint32_t               types;
    ngx_int_t              rc, saved;
    ngx_str_t              url, events;
    ngx_uint_t             type, made;
    ngx_table_elt_t       *h;
    ngx_fcfh_main_conf_t  *fmcf;
    const char            *err;
    u_char                 key[NGX_FCFH_WEBHOOK_KEY_MAX];
    char                   secret[NGX_FCFH_WEBHOOK_SECRET_LEN];

    fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

    if (ngx_http_arg(r, (u_char *) "url", 3, &url) != NGX_OK) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "url is required");
    }

    /* the argument is URL-encoded in the query string */
    p = ngx_pnalloc(r->pool, url.len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    start = p;
    last = url.data;
    ngx_unescape_uri(&p, &last, url.len, NGX_UNESCAPE_URI);
    url.data = start;
    url.len = p - start;

    types = 0;

    if (ngx_http_arg(r, (u_char *) "events", 6, &events) == NGX_OK) {
        p = events.data;
        last = events.data + events.len;

        while (p < last) {
            start = p;

            while (p < last && *p != ',') {
                p++;
            }

            type = ngx_fcfh_event_type(start, p - start);

            if (type == 0) {
                return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                           "events are connected, disconnected, "
                           "auth_failed, alert");
            }

            types |= 1 << type;

            if (p < last) {
                p++;
            }
        }
    }

    if (ngx_http_arg(r, (u_char *) "secret", 6, &events) == NGX_OK) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                   "a secret goes in the Fcfh-Webhook-Secret header, "
                   "never in the url");
    }

    key_len = 0;

    h = ngx_fcfh_find_header(&r->headers_in.headers, "Fcfh-Webhook-Secret");

    if (h) {
        n = ngx_fcfh_webhook_secret_parse(h->value.data, h->value.len, key);

        if (n < 0) {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                       "Fcfh-Webhook-Secret must be whsec_ and the base64 "
                       "of 24 to 64 bytes");
        }

        key_len = (size_t) n;
    }

    made = (key_len == 0);

    rc = ngx_fcfh_webhook_add(&url, types, key, &key_len, &err);

    secret[0] = '\0';

    if (rc > 0 && made
        && ngx_fcfh_webhook_secret_format(key, key_len, secret) < 0)
    {
        secret[0] = '\0';
    }

    ngx_explicit_memzero(key, sizeof(key));

    if (rc <= 0) {
        return ngx_http_fcfh_api_error(r,
                   rc == NGX_BUSY ? NGX_HTTP_CONFLICT
                                  : NGX_HTTP_BAD_REQUEST, err);
    }

    saved = ngx_fcfh_webhook_save(&fmcf->webhooks_state,
                                  r->connection->log);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "fcfh: webhook %i added: \"%V\", secret %s", rc, &url,
                  made ? "made by the gateway" : "given");

    body = ngx_pnalloc(r->pool, sizeof("{\"id\":,\"persisted\":false,"
                                       "\"secret\":\"\"}\n")
                                + NGX_INT_T_LEN + NGX_FCFH_WEBHOOK_SECRET_LEN);
    if (body == NULL) {
        ngx_explicit_memzero(secret, sizeof(secret));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * the subscriber works either way; say when it will not persist:
     * without fcfh_webhooks_state it lasts until nginx stops
     */
    p = ngx_sprintf(body, "{\"id\":%i,\"persisted\":%s", rc,
                    (saved == NGX_OK && fmcf->webhooks_state.len)
                    ? "true" : "false");

    /* a secret the gateway made: shown this once */
    if (secret[0]) {
        p = ngx_sprintf(p, ",\"secret\":\"%s\"", secret);
        ngx_explicit_memzero(secret, sizeof(secret));
    }

    p = ngx_cpymem(p, "}\n", 2);

    /* no cache on the way keeps the answer that carries it */
    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    return ngx_http_fcfh_send_json(r, NGX_HTTP_CREATED, body, p - body);
}


ngx_int_t
ngx_http_fcfh_webhooks_delete(ngx_http_request_t *r, ngx_str_t *param)
{
    u_char                *p, *body;
    ngx_int_t              n;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

    n = ngx_atoi(param->data, param->len);

    if (n <= 0 || ngx_fcfh_webhook_delete((uint32_t) n) != NGX_OK) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                       "no such webhook");
    }

    (void) ngx_fcfh_webhook_save(&fmcf->webhooks_state,
                                 r->connection->log);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "fcfh: webhook %i removed", n);

    body = ngx_pnalloc(r->pool, sizeof("{\"deleted\":}\n")
                                + NGX_INT_T_LEN);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"deleted\":%i}\n", n);

    return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
}
