
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh_api: a table of routes below the location's prefix, and the
 * endpoints on the registry (list with filters and paging, one device,
 * close a tunnel, gateway stats).  Webhook subscribers, the cluster-wide
 * list and the device's event log have their endpoints in
 * ngx_http_fcfh_events.c, ngx_http_fcfh_cluster.c and ngx_http_fcfh_amt.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_open.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_json.h"
#include "ngx_fcfh_cluster.h"
#include "ngx_http_fcfh.h"
#include "ngx_http_fcfh_status.h"
#include "ngx_http_fcfh_events.h"
#include "ngx_http_fcfh_api.h"


/*
 * A route: its path below the location, where "*" stands for one path
 * segment (possibly empty, never with a "/"), handed to the handler as
 * param; the methods it takes; its handler.  One path may have several
 * routes, one per handler; a request whose path matches but whose method
 * none of them takes gets 405 with the union of their methods in Allow.
 */

typedef struct {
    ngx_str_t                        path;
    ngx_uint_t                       methods;
    ngx_http_fcfh_api_pt             handler;
} ngx_http_fcfh_api_route_t;


static ngx_int_t ngx_http_fcfh_api_match(ngx_str_t *pattern,
    ngx_str_t *path, ngx_str_t *param);
static ngx_int_t ngx_http_fcfh_api_list(ngx_http_request_t *r,
    ngx_str_t *param);
static ngx_int_t ngx_http_fcfh_api_device(ngx_http_request_t *r,
    ngx_str_t *device);
static ngx_int_t ngx_http_fcfh_api_close(ngx_http_request_t *r,
    ngx_str_t *device);
static ngx_int_t ngx_http_fcfh_api_stats(ngx_http_request_t *r,
    ngx_str_t *param);
static ngx_int_t ngx_http_fcfh_arg_uint(ngx_http_request_t *r, char *name,
    ngx_uint_t max, ngx_uint_t *value);


#define NGX_HTTP_FCFH_READ   (NGX_HTTP_GET|NGX_HTTP_HEAD)

static ngx_http_fcfh_api_route_t  ngx_http_fcfh_api_routes[] = {

    { ngx_string("tunnels"), NGX_HTTP_FCFH_READ, ngx_http_fcfh_api_list },

    { ngx_string("tunnels/*"), NGX_HTTP_FCFH_READ,
      ngx_http_fcfh_api_device },

    { ngx_string("tunnels/*"), NGX_HTTP_DELETE, ngx_http_fcfh_api_close },

    { ngx_string("tunnels/*/close"), NGX_HTTP_POST,
      ngx_http_fcfh_api_close },

    /* asks the device: its clock, then its event log */
    { ngx_string("tunnels/*/evidence"), NGX_HTTP_FCFH_READ,
      ngx_http_fcfh_amt_evidence },

    { ngx_string("stats"), NGX_HTTP_FCFH_READ, ngx_http_fcfh_api_stats },

    { ngx_string("cluster/tunnels"), NGX_HTTP_FCFH_READ,
      ngx_http_fcfh_cluster_list },

    { ngx_string("webhooks"), NGX_HTTP_FCFH_READ,
      ngx_http_fcfh_webhooks_list },

    { ngx_string("webhooks"), NGX_HTTP_POST, ngx_http_fcfh_webhooks_add },

    { ngx_string("webhooks/*"), NGX_HTTP_DELETE,
      ngx_http_fcfh_webhooks_delete },

    { ngx_null_string, 0, NULL }
};


ngx_int_t
ngx_http_fcfh_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_str_t                   path, param;
    ngx_uint_t                  allowed;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_fcfh_api_route_t  *route;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    path = r->uri;

    if (path.len >= clcf->name.len
        && ngx_strncmp(path.data, clcf->name.data, clcf->name.len) == 0)
    {
        path.data += clcf->name.len;
        path.len -= clcf->name.len;
    }

    while (path.len && path.data[0] == '/') {
        path.data++;
        path.len--;
    }

    while (path.len && path.data[path.len - 1] == '/') {
        path.len--;
    }

    allowed = 0;

    for (route = ngx_http_fcfh_api_routes; route->handler; route++) {

        if (ngx_http_fcfh_api_match(&route->path, &path, &param) != NGX_OK) {
            continue;
        }

        if (r->method & route->methods) {
            return route->handler(r, &param);
        }

        allowed |= route->methods;
    }

    if (allowed) {
        return ngx_http_fcfh_api_not_allowed(r, allowed);
    }

    return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND, "unknown API path");
}


static ngx_int_t
ngx_http_fcfh_api_match(ngx_str_t *pattern, ngx_str_t *path,
    ngx_str_t *param)
{
    u_char  *p, *q, *pe, *qe;

    p = pattern->data;
    pe = p + pattern->len;
    q = path->data;
    qe = q + path->len;

    ngx_str_null(param);

    while (p < pe) {

        if (*p == '*') {
            param->data = q;

            while (q < qe && *q != '/') {
                q++;
            }

            param->len = q - param->data;
            p++;

            continue;
        }

        if (q == qe || *q != *p) {
            return NGX_DECLINED;
        }

        p++;
        q++;
    }

    return (q == qe) ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_fcfh_api_list(ngx_http_request_t *r, ngx_str_t *param)
{
    u_char                 *p, *body;
    size_t                  len;
    time_t                  since;
    ngx_str_t               guid, prefix, identity, trigger;
    ngx_uint_t              i, limit, offset, total, shown, v;
    ngx_array_t             entries;
    ngx_fcfh_entry_info_t  *info, *e;
    char                    text[NGX_FCFH_APF_GUID_TEXT_SIZE];

    limit = 100;
    offset = 0;
    since = 0;

    if (ngx_http_fcfh_arg_uint(r, "limit", 1000, &limit) != NGX_OK
        || limit == 0)
    {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "limit must be 1 to 1000");
    }

    if (ngx_http_fcfh_arg_uint(r, "offset", NGX_MAX_INT32_VALUE, &offset)
        != NGX_OK)
    {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "offset must be a number");
    }

    v = 0;

    if (ngx_http_fcfh_arg_uint(r, "since", NGX_MAX_INT32_VALUE, &v)
        != NGX_OK)
    {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "since must be a Unix time");
    }

    since = (time_t) v;

    if (ngx_http_arg(r, (u_char *) "guid", 4, &guid) != NGX_OK) {
        ngx_str_null(&guid);

    } else if (guid.len != NGX_FCFH_APF_GUID_TEXT_SIZE) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "guid must be 36 characters");
    }

    if (ngx_http_arg(r, (u_char *) "fqdn_prefix", 11, &prefix) != NGX_OK) {
        ngx_str_null(&prefix);
    }

    if (ngx_http_arg(r, (u_char *) "identity", 8, &identity) != NGX_OK) {
        ngx_str_null(&identity);
    }

    if (ngx_http_arg(r, (u_char *) "trigger", 7, &trigger) != NGX_OK) {
        ngx_str_null(&trigger);
    }

    ngx_fcfh_registry_sweep(r->connection->log);

    if (ngx_array_init(&entries, r->pool, 64, sizeof(ngx_fcfh_entry_info_t))
        != NGX_OK
        || ngx_fcfh_registry_snapshot(r->pool, NULL, &entries) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    info = entries.elts;
    total = 0;
    shown = 0;

    len = sizeof("{\"total\":,\"offset\":,\"limit\":,\"tunnels\":[]}\n")
          + 3 * NGX_INT_T_LEN;

    /* filter in place: matching entries move to the front */

    for (i = 0; i < entries.nelts; i++) {
        e = &info[i];

        if (guid.len) {
            ngx_fcfh_apf_guid_to_text(e->guid, text);

            if (ngx_strncasecmp((u_char *) text, guid.data, guid.len) != 0) {
                continue;
            }
        }

        if (prefix.len
            && (e->fqdn.len < prefix.len
                || ngx_strncasecmp(e->fqdn.data, prefix.data, prefix.len)
                   != 0))
        {
            continue;
        }

        if (identity.len
            && (e->identity.len != identity.len
                || ngx_strncmp(e->identity.data, identity.data,
                               identity.len) != 0))
        {
            continue;
        }

        if (trigger.len) {
            p = (u_char *) ngx_fcfh_apf_trigger_name(e->trigger);

            if (ngx_strlen(p) != trigger.len
                || ngx_strncmp(p, trigger.data, trigger.len) != 0)
            {
                continue;
            }
        }

        if (since && e->connected_at < since) {
            continue;
        }

        if (total >= offset && shown < limit) {
            info[shown++] = *e;
            len += ngx_http_fcfh_entry_size(e) + 1;
        }

        total++;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"total\":%ui,\"offset\":%ui,\"limit\":%ui,"
                    "\"tunnels\":[", total, offset, limit);

    for (i = 0; i < shown; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_http_fcfh_entry_json(p, &info[i]);
    }

    p = ngx_cpymem(p, "]}\n", 3);

    return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
}


static ngx_int_t
ngx_http_fcfh_api_device(ngx_http_request_t *r, ngx_str_t *device)
{
    u_char                 *p, *body;
    ngx_array_t             entries;
    ngx_fcfh_entry_info_t  *info;

    ngx_fcfh_registry_sweep(r->connection->log);

    if (ngx_array_init(&entries, r->pool, 1, sizeof(ngx_fcfh_entry_info_t))
        != NGX_OK
        || ngx_fcfh_registry_snapshot(r->pool, device, &entries) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (entries.nelts == 0) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                       "no such device");
    }

    info = entries.elts;

    body = ngx_pnalloc(r->pool, ngx_http_fcfh_entry_size(info) + 1);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_fcfh_entry_json(body, info);
    *p++ = '\n';

    return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
}


static ngx_int_t
ngx_http_fcfh_api_close(ngx_http_request_t *r, ngx_str_t *device)
{
    u_char     *p, *body, name[64];
    ngx_int_t   rc;
    ngx_str_t   mode, shown;

    if (device->len == 0 || device->len > NGX_FCFH_APF_DEFAULT_MAX_STRING) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid device name");
    }

    if (ngx_http_arg(r, (u_char *) "mode", 4, &mode) == NGX_OK
        && !(mode.len == 6 && ngx_strncmp(mode.data, "tunnel", 6) == 0))
    {
        if (mode.len == 3 && ngx_strncmp(mode.data, "amt", 3) == 0) {
            /* the device forgets its CIRA settings, then the tunnel goes */
            return ngx_http_fcfh_amt_close(r, device);
        }

        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "mode is tunnel or amt");
    }

    rc = ngx_fcfh_registry_close(device, r->connection->log);

    if (rc == NGX_DECLINED && ngx_fcfh_cluster_node()) {
        /* another node may hold it: that node closes it */
        return ngx_http_fcfh_cluster_close(r, device);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                       "no such device");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "fcfh: tunnel of \"%V\" closed through the API",
                  ngx_fcfh_log_str(&shown, name, sizeof(name), device->data,
                                   device->len));

    body = ngx_pnalloc(r->pool, sizeof("{\"closed\":}\n") + 6 * device->len
                                + 2);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"closed\":", sizeof("{\"closed\":") - 1);
    p = ngx_fcfh_json_str(p, device);
    p = ngx_cpymem(p, "}\n", 2);

    return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
}


static ngx_int_t
ngx_http_fcfh_api_stats(ngx_http_request_t *r, ngx_str_t *param)
{
    u_char               *p, *body;
    size_t                size, used, len;
    ngx_str_t            *node;
    ngx_uint_t            i, count;
    ngx_fcfh_counters_t  *cn;

    ngx_fcfh_registry_sweep(r->connection->log);

    cn = ngx_fcfh_registry_counters();

    if (cn == NULL
        || ngx_fcfh_registry_stats(&size, &used, &count) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 1936 + (NGX_FCFH_FAIL_MAX + NGX_FCFH_CLOSE_MAX + NGX_FCFH_OPEN_MAX)
                 * (64 + NGX_ATOMIC_T_LEN);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"version\":1,\"module_version\":\"%s\","
                    "\"tunnels\":%ui,\"zone\":{\"size\":%uz,\"used\":%uz},"
                    "\"handshakes\":%uA,\"handshake_failures\":{",
                    NGX_FCFH_VERSION, count, size, used, cn->handshakes);

    for (i = 0; i < NGX_FCFH_FAIL_MAX; i++) {
        p = ngx_sprintf(p, "%s\"%s\":%uA", i ? "," : "",
                        i ? ngx_fcfh_apf_disconnect_reason_name(i)
                          : "closed by device",
                        cn->failures[i]);
    }

    p = ngx_cpymem(p, "},\"closed\":{", sizeof("},\"closed\":{") - 1);

    for (i = 0; i < NGX_FCFH_CLOSE_MAX; i++) {
        p = ngx_sprintf(p, "%s\"%s\":%uA", i ? "," : "",
                        ngx_fcfh_close_name(i), cn->closed[i]);
    }

    p = ngx_cpymem(p, "},\"console_requests\":{",
                   sizeof("},\"console_requests\":{") - 1);

    for (i = 0; i < NGX_FCFH_OPEN_MAX; i++) {
        p = ngx_sprintf(p, "%s\"%s\":%uA", i ? "," : "",
                        ngx_fcfh_open_results[i].name, cn->opens[i]);
    }

    p = ngx_sprintf(p, "},\"bytes_in\":%uA,\"bytes_out\":%uA,"
                    "\"channel_bytes_in\":%uA,\"channel_bytes_out\":%uA,"
                    "\"channel_errors\":%uA,\"channel_strays\":%uA,"
                    "\"relay_errors\":%uA,\"alerts_relayed\":%uA,"
                    "\"alerts_refused\":%uA,\"alerts_limited\":%uA,"
                    "\"auth_cache_hits\":%uA,\"events\":%uA,"
                    "\"events_dropped\":%uA,\"webhook_deliveries\":%uA,"
                    "\"webhook_failures\":%uA,\"cluster_relays\":%uA,"
                    "\"cluster\":",
                    cn->bytes_in, cn->bytes_out, cn->channel_bytes_in,
                    cn->channel_bytes_out, cn->channel_errors,
                    cn->channel_strays, cn->relay_errors,
                    cn->alerts_relayed, cn->alerts_refused,
                    cn->alerts_limited, cn->auth_cache_hits, cn->events,
                    cn->events_dropped, cn->webhook_deliveries,
                    cn->webhook_failures, cn->cluster_relays);

    node = ngx_fcfh_cluster_node();

    if (node) {
        /* the directory as the worker that answers sees it */
        p = ngx_sprintf(p, "{\"node\":\"%V\",\"directory\":\"%s\"}}\n",
                        node, ngx_fcfh_cluster_up() ? "up" : "down");

    } else {
        p = ngx_cpymem(p, "null}\n", 6);
    }

    return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
}

/* NGX_OK: absent, or a number up to max; NGX_ERROR: anything else */

static ngx_int_t
ngx_http_fcfh_arg_uint(ngx_http_request_t *r, char *name, ngx_uint_t max,
    ngx_uint_t *value)
{
    ngx_int_t  n;
    ngx_str_t  arg;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK) {
        return NGX_OK;
    }

    n = ngx_atoi(arg.data, arg.len);

    if (n == NGX_ERROR || (ngx_uint_t) n > max) {
        return NGX_ERROR;
    }

    *value = n;

    return NGX_OK;
}
