
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The cluster-wide parts of fcfh_api (ngx_http_fcfh_api.c routes
 * here): closing a tunnel that another node holds, one page of the
 * device directory shared by all nodes, and the devices' history there.
 * All wait for Redis or another node; the request is held (count) until
 * the answer.
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
    ngx_uint_t                       one;        /* a device, not a page */
} ngx_http_fcfh_cluster_ctx_t;


static ngx_http_fcfh_cluster_ctx_t *ngx_http_fcfh_cluster_ctx(
    ngx_http_request_t *r);
static void ngx_http_fcfh_cluster_cleanup(void *data);
static void ngx_http_fcfh_cluster_closed(void *data, ngx_connection_t *c,
    ngx_uint_t result, ngx_uint_t reason, ngx_str_t *node);
static void ngx_http_fcfh_cluster_listed(void *data, ngx_int_t rc,
    ngx_str_t *cursor, ngx_array_t *items);
static void ngx_http_fcfh_cluster_devices_listed(void *data, ngx_int_t rc,
    ngx_str_t *cursor, ngx_array_t *items);
static ngx_int_t ngx_http_fcfh_cluster_cursor(ngx_http_request_t *r,
    ngx_str_t *cursor);
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
 * node's devices, with the cursor of the next page (null: the last).
 */

ngx_int_t
ngx_http_fcfh_cluster_list(ngx_http_request_t *r, ngx_str_t *param)
{
    ngx_str_t                     cursor;
    ngx_http_fcfh_cluster_ctx_t  *ctx;

    if (ngx_fcfh_cluster_node() == NULL) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                       "not a cluster node");
    }

    if (ngx_http_fcfh_cluster_cursor(r, &cursor) != NGX_OK) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "cursor is a number");
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
    len = sizeof("{\"node\":,\"total\":null,\"limit\":,\"next_cursor\":,"
                 "\"tunnels\":[]}\n")
          + 6 * self->len + 6 * cursor->len + 2 + NGX_INT_T_LEN;

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
    /*
     * the paging fields of every list; the directory is scanned, so the
     * total is not known, and a page holds about "limit" devices
     */
    p = ngx_sprintf(p, ",\"total\":null,\"limit\":%d,\"next_cursor\":",
                    NGX_FCFH_CLUSTER_PAGE);

    if (cursor->len == 1 && cursor->data[0] == '0') {
        p = ngx_cpymem(p, "null", 4);

    } else {
        p = ngx_fcfh_json_str(p, cursor);
    }

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


/*
 * GET cluster/devices[?cursor=N]: one page of the devices' history in
 * the directory, every node's, as GET devices shows them with the node
 * of their last tunnel; GET cluster/devices/<guid>: one device.
 */

ngx_int_t
ngx_http_fcfh_cluster_devices(ngx_http_request_t *r, ngx_str_t *param)
{
    u_char                        guid[NGX_FCFH_APF_GUID_SIZE];
    u_char                       *text;
    ngx_str_t                     cursor, one;
    ngx_http_fcfh_cluster_ctx_t  *ctx;

    if (ngx_fcfh_cluster_node() == NULL) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                       "not a cluster node");
    }

    ngx_str_null(&one);

    if (param->len) {
        if (ngx_fcfh_apf_guid_from_text((char *) param->data, param->len,
                                        guid)
            != 0)
        {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                           "a device here is named by its "
                                           "GUID");
        }

        /* the directory's keys hold the GUID in lower case */

        text = ngx_pnalloc(r->pool, NGX_FCFH_APF_GUID_TEXT_SIZE);
        if (text == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_fcfh_apf_guid_to_text(guid, (char *) text);

        one.data = text;
        one.len = NGX_FCFH_APF_GUID_TEXT_SIZE;
        ngx_str_set(&cursor, "0");

    } else if (ngx_http_fcfh_cluster_cursor(r, &cursor) != NGX_OK) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "cursor is a number");
    }

    ctx = ngx_http_fcfh_cluster_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->one = (one.len != 0);

    ctx->req = ngx_fcfh_cluster_devices(&cursor, one.len ? &one : NULL,
                                        r->pool,
                                        ngx_http_fcfh_cluster_devices_listed,
                                        ctx);

    if (ctx->req == NULL) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "cluster directory unavailable");
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_fcfh_cluster_devices_listed(void *data, ngx_int_t rc,
    ngx_str_t *cursor, ngx_array_t *items)
{
    ngx_http_fcfh_cluster_ctx_t  *ctx = data;

    u_char                     *p, *body;
    size_t                      len;
    ngx_str_t                  *self;
    ngx_uint_t                  i;
    ngx_http_request_t         *r;
    ngx_fcfh_cluster_device_t  *dev;

    ctx->req = NULL;
    r = ctx->request;

    if (rc != NGX_OK) {
        rc = ngx_http_fcfh_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "cluster directory unavailable");
        ngx_http_fcfh_cluster_done(r, rc);
        return;
    }

    dev = items->elts;

    if (ctx->one) {
        if (items->nelts == 0) {
            rc = ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                         "no such device");
            ngx_http_fcfh_cluster_done(r, rc);
            return;
        }

        body = ngx_pnalloc(r->pool, ngx_http_fcfh_device_size(&dev[0].info,
                                                              &dev[0].node)
                                    + 1);
        if (body == NULL) {
            ngx_http_fcfh_cluster_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p = ngx_http_fcfh_device_json(body, &dev[0].info, &dev[0].node);
        *p++ = '\n';

        rc = ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
        ngx_http_fcfh_cluster_done(r, rc);
        return;
    }

    self = ngx_fcfh_cluster_node();

    len = sizeof("{\"node\":,\"total\":null,\"limit\":,\"next_cursor\":,"
                 "\"devices\":[]}\n")
          + 6 * self->len + 6 * cursor->len + 2 + NGX_INT_T_LEN;

    for (i = 0; i < items->nelts; i++) {
        len += ngx_http_fcfh_device_size(&dev[i].info, &dev[i].node) + 1;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        ngx_http_fcfh_cluster_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(body, "{\"node\":", sizeof("{\"node\":") - 1);
    p = ngx_fcfh_json_str(p, self);

    /* as cluster/tunnels: a scan, about "limit" devices a page */
    p = ngx_sprintf(p, ",\"total\":null,\"limit\":%d,\"next_cursor\":",
                    NGX_FCFH_CLUSTER_PAGE);

    if (cursor->len == 1 && cursor->data[0] == '0') {
        p = ngx_cpymem(p, "null", 4);

    } else {
        p = ngx_fcfh_json_str(p, cursor);
    }

    p = ngx_cpymem(p, ",\"devices\":[", sizeof(",\"devices\":[") - 1);

    for (i = 0; i < items->nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_http_fcfh_device_json(p, &dev[i].info, &dev[i].node);
    }

    p = ngx_cpymem(p, "]}\n", 3);

    rc = ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);

    ngx_http_fcfh_cluster_done(r, rc);
}


/* ?cursor=N of a directory scan: digits, "0" (the first page) if none */

static ngx_int_t
ngx_http_fcfh_cluster_cursor(ngx_http_request_t *r, ngx_str_t *cursor)
{
    ngx_uint_t  i;

    if (ngx_http_arg(r, (u_char *) "cursor", 6, cursor) != NGX_OK
        || cursor->len == 0)
    {
        ngx_str_set(cursor, "0");
        return NGX_OK;
    }

    for (i = 0; i < cursor->len; i++) {
        if (cursor->data[i] < '0' || cursor->data[i] > '9' || i > 20) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_fcfh_cluster_done(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}
