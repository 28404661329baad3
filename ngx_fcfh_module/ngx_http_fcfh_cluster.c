
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The cluster-wide parts of fcfh_api (ngx_http_fcfh_api.c routes
 * here): closing a tunnel that another node holds, and one page of the
 * device directory shared by all nodes.  Both wait for Redis or another
 * node; the request is held (count) until the answer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_json.h"
#include "ngx_fcfh_relay.h"
#include "ngx_fcfh_cluster.h"
#include "ngx_http_fcfh.h"
#include "ngx_fcfh_open.h"


typedef struct {
    ngx_http_request_t              *request;
    ngx_fcfh_cluster_req_t          *req;
    ngx_str_t                        device;
} ngx_http_fcfh_cluster_ctx_t;


static ngx_http_fcfh_cluster_ctx_t *ngx_http_fcfh_cluster_ctx(
    ngx_http_request_t *r);
static void ngx_http_fcfh_cluster_cleanup(void *data);
static void ngx_http_fcfh_cluster_closed(void *data, ngx_connection_t *c,
    ngx_uint_t result, ngx_uint_t reason, ngx_str_t *node);
static void ngx_http_fcfh_cluster_listed(void *data, ngx_int_t rc,
    ngx_str_t *cursor, ngx_array_t *items);
static void ngx_http_fcfh_cluster_done(ngx_http_request_t *r, ngx_int_t rc);


static ngx_http_fcfh_cluster_ctx_t *
ngx_http_fcfh_cluster_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_fcfh_cluster_ctx_t  *ctx;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_fcfh_cluster_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_fcfh_cluster_ctx_t));
    ctx->request = r;

    cln->handler = ngx_http_fcfh_cluster_cleanup;

    return ctx;
}


/* the client left (or the worker ends the request): stop waiting */

static void
ngx_http_fcfh_cluster_cleanup(void *data)
{
    ngx_http_fcfh_cluster_ctx_t  *ctx = data;

    if (ctx->req) {
        ngx_fcfh_cluster_cancel(ctx->req);
        ctx->req = NULL;
    }
}


/* DELETE tunnels/<device> for a device this node does not hold */

ngx_int_t
ngx_http_fcfh_cluster_close(ngx_http_request_t *r, ngx_str_t *device)
{
    ngx_uint_t                    result;
    ngx_http_fcfh_cluster_ctx_t  *ctx;

    ctx = ngx_http_fcfh_cluster_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->device = *device;

    ctx->req = ngx_fcfh_cluster_open(device, NGX_FCFH_RELAY_OP_CLOSE, 0,
                                     &r->connection->addr_text, 0,
                                     r->connection->log,
                                     ngx_http_fcfh_cluster_closed, ctx,
                                     &result);

    if (ctx->req == NULL) {
        if (result == NGX_FCFH_OPEN_UNAVAILABLE) {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "cluster directory unavailable");
        }

        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                       "no such device");
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_fcfh_cluster_closed(void *data, ngx_connection_t *c,
    ngx_uint_t result, ngx_uint_t reason, ngx_str_t *node)
{
    ngx_http_fcfh_cluster_ctx_t  *ctx = data;

    u_char              *p, *body;
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    ctx->req = NULL;
    r = ctx->request;

    if (result == NGX_FCFH_OPEN_NO_TUNNEL) {
        rc = ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                     "no such device");
        ngx_http_fcfh_cluster_done(r, rc);
        return;
    }

    if (result != NGX_FCFH_OPEN_OK) {
        rc = ngx_http_fcfh_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "the node holding the device did not "
                                     "answer");
        ngx_http_fcfh_cluster_done(r, rc);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "fcfh: tunnel of \"%V\" on node \"%V\" closed through "
                  "the API", &ctx->device, node);

    body = ngx_pnalloc(r->pool, sizeof("{\"closed\":,\"node\":}\n")
                                + 6 * (ctx->device.len + node->len) + 4);
    if (body == NULL) {
        ngx_http_fcfh_cluster_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(body, "{\"closed\":", sizeof("{\"closed\":") - 1);
    p = ngx_fcfh_json_str(p, &ctx->device);
    p = ngx_cpymem(p, ",\"node\":", sizeof(",\"node\":") - 1);
    p = ngx_fcfh_json_str(p, node);
    p = ngx_cpymem(p, "}\n", 2);

    rc = ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);

    ngx_http_fcfh_cluster_done(r, rc);
}


/*
 * GET cluster/tunnels[?cursor=N]: one page of the directory, every
 * node's devices, with the cursor of the next page ("0": the last).
 */

ngx_int_t
ngx_http_fcfh_cluster_list(ngx_http_request_t *r, ngx_str_t *param)
{
    ngx_str_t                     cursor;
    ngx_uint_t                    i;
    ngx_http_fcfh_cluster_ctx_t  *ctx;

    if (ngx_fcfh_cluster_node() == NULL) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                       "not a cluster node");
    }

    if (ngx_http_arg(r, (u_char *) "cursor", 6, &cursor) != NGX_OK) {
        ngx_str_set(&cursor, "0");
    }

    for (i = 0; i < cursor.len; i++) {
        if (cursor.data[i] < '0' || cursor.data[i] > '9' || i > 20) {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                           "cursor is a number");
        }
    }

    if (cursor.len == 0) {
        ngx_str_set(&cursor, "0");
    }

    ctx = ngx_http_fcfh_cluster_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->req = ngx_fcfh_cluster_list(&cursor, r->pool,
                                     ngx_http_fcfh_cluster_listed, ctx);

    if (ctx->req == NULL) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "cluster directory unavailable");
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_fcfh_cluster_listed(void *data, ngx_int_t rc, ngx_str_t *cursor,
    ngx_array_t *items)
{
    ngx_http_fcfh_cluster_ctx_t  *ctx = data;

    u_char                   *p, *body;
    size_t                    len;
    ngx_str_t                *self;
    ngx_uint_t                i;
    ngx_http_request_t       *r;
    ngx_fcfh_cluster_item_t  *it;

    ctx->req = NULL;
    r = ctx->request;

    if (rc != NGX_OK) {
        rc = ngx_http_fcfh_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "cluster directory unavailable");
        ngx_http_fcfh_cluster_done(r, rc);
        return;
    }

    self = ngx_fcfh_cluster_node();

    it = items->elts;
    len = sizeof("{\"node\":,\"cursor\":,\"tunnels\":[]}\n")
          + 6 * self->len + 6 * cursor->len + 2;

    for (i = 0; i < items->nelts; i++) {
        len += sizeof("{\"guid\":,\"node\":,\"fqdn\":,\"serial\":,"
                      "\"connected_at\":\"\",\"node_alive\":false},")
               + 6 * (it[i].guid.len + it[i].node.len + it[i].fqdn.len)
               + 6 + NGX_INT64_LEN + sizeof("1970-01-01T00:00:00Z");
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        ngx_http_fcfh_cluster_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(body, "{\"node\":", sizeof("{\"node\":") - 1);
    p = ngx_fcfh_json_str(p, self);
    p = ngx_cpymem(p, ",\"cursor\":", sizeof(",\"cursor\":") - 1);
    p = ngx_fcfh_json_str(p, cursor);
    p = ngx_cpymem(p, ",\"tunnels\":[", sizeof(",\"tunnels\":[") - 1);

    for (i = 0; i < items->nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "{\"guid\":", sizeof("{\"guid\":") - 1);
        p = ngx_fcfh_json_str(p, &it[i].guid);
        p = ngx_cpymem(p, ",\"node\":", sizeof(",\"node\":") - 1);
        p = ngx_fcfh_json_str(p, &it[i].node);
        p = ngx_cpymem(p, ",\"fqdn\":", sizeof(",\"fqdn\":") - 1);
        p = ngx_fcfh_json_str(p, it[i].fqdn.len ? &it[i].fqdn : NULL);
        p = ngx_sprintf(p, ",\"serial\":%uL,\"connected_at\":",
                        it[i].serial);
        p = ngx_fcfh_json_time(p, it[i].since);
        p = ngx_sprintf(p, ",\"node_alive\":%s}",
                        it[i].alive ? "true" : "false");
    }

    p = ngx_cpymem(p, "]}\n", 3);

    rc = ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);

    ngx_http_fcfh_cluster_done(r, rc);
}


static void
ngx_http_fcfh_cluster_done(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}
