
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh_api: a table of routes below the location's prefix, and the
 * endpoints on the registry (list with filters and paging, one device,
 * close a tunnel, gateway stats, health, the devices connected and known
 * to the device history).  Webhook subscribers, the cluster-wide
 * lists, the device's event log and console tokens have their endpoints in
 * ngx_http_fcfh_events.c, ngx_http_fcfh_cluster.c, ngx_http_fcfh_amt.c and
 * ngx_http_fcfh_token.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_open.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_history.h"
#include "ngx_fcfh_relay.h"
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
static ngx_int_t ngx_http_fcfh_api_trigger(ngx_str_t *name);
static ngx_int_t ngx_http_fcfh_api_health(ngx_http_request_t *r,
    ngx_str_t *param);
static ngx_int_t ngx_http_fcfh_api_devices(ngx_http_request_t *r,
    ngx_str_t *param);
static ngx_int_t ngx_http_fcfh_api_device_history(ngx_http_request_t *r,
    ngx_str_t *param);


/* GET health answers 503 once the zone is this full (%), by default */
#define NGX_HTTP_FCFH_HEALTH_ZONE    90


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

    { ngx_string("health"), NGX_HTTP_FCFH_READ, ngx_http_fcfh_api_health },

    { ngx_string("devices"), NGX_HTTP_FCFH_READ, ngx_http_fcfh_api_devices },

    { ngx_string("devices/*"), NGX_HTTP_FCFH_READ,
      ngx_http_fcfh_api_device_history },

    { ngx_string("cluster/tunnels"), NGX_HTTP_FCFH_READ,
      ngx_http_fcfh_cluster_list },

    /* the directory's device history, every node's */
    { ngx_string("cluster/devices"), NGX_HTTP_FCFH_READ,
      ngx_http_fcfh_cluster_devices },

    { ngx_string("cluster/devices/*"), NGX_HTTP_FCFH_READ,
      ngx_http_fcfh_cluster_devices },

    { ngx_string("webhooks"), NGX_HTTP_FCFH_READ,
      ngx_http_fcfh_webhooks_list },

    { ngx_string("webhooks"), NGX_HTTP_POST, ngx_http_fcfh_webhooks_add },

    { ngx_string("webhooks/*"), NGX_HTTP_DELETE,
      ngx_http_fcfh_webhooks_delete },

    /* Open AMT's path for a console token (ngx_http_fcfh_token.c) */
    { ngx_string("authorize/redirection/*"), NGX_HTTP_FCFH_READ,
      ngx_http_fcfh_token_issue },

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
        return ngx_http_fcfh_not_allowed(r, allowed);
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
    u_char                    *p, *body;
    ngx_str_t                  arg;
    ngx_uint_t                 v;
    const char                *err;
    ngx_array_t                entries;
    ngx_http_fcfh_page_t       pg;
    ngx_fcfh_tunnels_query_t   q;

    if (ngx_http_fcfh_page_args(r, &pg, &err) != NGX_OK) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST, err);
    }

    ngx_memzero(&q, sizeof(ngx_fcfh_tunnels_query_t));

    q.limit = pg.limit;
    q.has_after = pg.has_after;
    ngx_memcpy(q.after, pg.after, NGX_FCFH_APF_GUID_SIZE);
    q.trigger = -1;

    v = 0;

    if (ngx_http_fcfh_arg_uint(r, "since", NGX_MAX_INT32_VALUE, &v)
        != NGX_OK)
    {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "since must be a Unix time");
    }

    q.since = (time_t) v;

    if (ngx_http_arg(r, (u_char *) "guid", 4, &arg) == NGX_OK) {
        if (ngx_fcfh_apf_guid_from_text((char *) arg.data, arg.len, q.guid)
            != 0)
        {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                           "guid is not a GUID");
        }

        q.by_guid = 1;
    }

    if (ngx_http_arg(r, (u_char *) "fqdn_prefix", 11, &arg) == NGX_OK) {
        q.fqdn_prefix = arg;
    }

    if (ngx_http_arg(r, (u_char *) "identity", 8, &arg) == NGX_OK) {
        q.identity = arg;
    }

    if (ngx_http_arg(r, (u_char *) "trigger", 7, &arg) == NGX_OK) {
        q.trigger = ngx_http_fcfh_api_trigger(&arg);
    }

    ngx_fcfh_registry_sweep(r->connection->log);

    if (ngx_array_init(&entries, r->pool, pg.limit < 64 ? pg.limit : 64,
                       sizeof(ngx_fcfh_entry_info_t))
        != NGX_OK
        || ngx_fcfh_registry_page(r->pool, &q, &entries) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = ngx_pnalloc(r->pool,
                       sizeof("{") + ngx_http_fcfh_tunnels_size(&entries));
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *body = '{';

    p = ngx_http_fcfh_tunnels_json(body + 1, &q, &entries);

    return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
}


/* a trigger by name; -2 (no tunnel has it) when unknown */

static ngx_int_t
ngx_http_fcfh_api_trigger(ngx_str_t *name)
{
    const char  *n;
    ngx_uint_t   i;

    for (i = 0; i < 16; i++) {
        n = ngx_fcfh_apf_trigger_name((uint32_t) i);

        if (ngx_strlen(n) == name->len
            && ngx_strncmp(n, name->data, name->len) == 0)
        {
            return i;
        }
    }

    return -2;
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
    ngx_uint_t            i, count, known, capacity;
    ngx_fcfh_totals_t     t;
    ngx_fcfh_counters_t  *cn;

    ngx_fcfh_registry_sweep(r->connection->log);

    cn = ngx_fcfh_registry_counters();

    if (cn == NULL
        || ngx_fcfh_registry_stats(&size, &used, &count) != NGX_OK
        || ngx_fcfh_registry_totals(&t) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_fcfh_history_counts(&known, &capacity);

    len = 2048 + (NGX_FCFH_FAIL_MAX + NGX_FCFH_CLOSE_MAX + NGX_FCFH_OPEN_MAX)
                 * (64 + NGX_ATOMIC_T_LEN);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"version\":2,\"module_version\":\"%s\","
                    "\"tunnels_connected\":%ui,\"devices_known\":%ui,"
                    "\"device_history_capacity\":%ui,"
                    "\"zone\":{\"size\":%uz,\"used\":%uz},"
                    "\"handshakes\":%uA,\"handshake_failures\":{",
                    NGX_FCFH_VERSION, count, known, capacity, size, used,
                    cn->handshakes);

    for (i = 0; i < NGX_FCFH_FAIL_MAX; i++) {
        p = ngx_sprintf(p, "%s\"%s\":%uA", i ? "," : "",
                        ngx_fcfh_failure_name(i), cn->failures[i]);
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

    /* the tunnels' bytes: of ended tunnels and of live ones, as metrics */

    p = ngx_sprintf(p, "},\"bytes_in\":%uL,\"bytes_out\":%uL,"
                    "\"channel_bytes_in\":%uA,\"channel_bytes_out\":%uA,"
                    "\"channel_errors\":%uA,\"channel_strays\":%uA,"
                    "\"relay_errors\":%uA,\"alerts_relayed\":%uA,"
                    "\"alerts_refused\":%uA,\"alerts_limited\":%uA,"
                    "\"auth_cache_hits\":%uA,\"events\":%uA,"
                    "\"events_dropped\":%uA,\"webhook_deliveries\":%uA,"
                    "\"webhook_failures\":%uA,\"cluster_relays\":%uA,"
                    "\"cluster\":",
                    (uint64_t) cn->bytes_in + t.bytes_in,
                    (uint64_t) cn->bytes_out + t.bytes_out,
                    cn->channel_bytes_in,
                    cn->channel_bytes_out, cn->channel_errors,
                    cn->channel_strays, cn->relay_errors,
                    cn->alerts_relayed, cn->alerts_refused,
                    cn->alerts_limited, cn->auth_cache_hits, cn->events,
                    cn->events_dropped, cn->webhook_deliveries,
                    cn->webhook_failures, cn->cluster_relays);

    node = ngx_fcfh_cluster_node();

    if (node) {
        /* the directory as the worker that answers sees it */
        p = ngx_cpymem(p, "{\"node\":", sizeof("{\"node\":") - 1);
        p = ngx_fcfh_json_str(p, node);
        p = ngx_sprintf(p, ",\"directory\":\"%s\"}}\n",
                        ngx_fcfh_cluster_up() ? "up" : "down");

    } else {
        p = ngx_cpymem(p, "null}\n", 6);
    }

    return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
}


/*
 * GET health, for load balancers and keepalived: 200 or 503, and why.
 * Cheap enough for a check every second: a few words of the zone read
 * under its lock, one stat() per worker's relay socket, no walk of the
 * tunnels.
 */

static ngx_int_t
ngx_http_fcfh_api_health(ngx_http_request_t *r, ngx_str_t *param)
{
    u_char                *p, *body;
    size_t                 size, used, len;
    ngx_str_t             *node;
    ngx_pid_t              pids[NGX_FCFH_MAX_WORKERS];
    ngx_uint_t             i, n, count, threshold, missing, percent;
    ngx_uint_t             zone_full, relay_bad, directory_down, exiting;
    ngx_fcfh_main_conf_t  *fmcf;

    threshold = NGX_HTTP_FCFH_HEALTH_ZONE;

    if (ngx_http_fcfh_arg_uint(r, "zone_threshold", 100, &threshold)
        != NGX_OK
        || threshold == 0)
    {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "zone_threshold must be 1 to 100");
    }

    fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

    if (ngx_fcfh_registry_stats(&size, &used, &count) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    percent = size ? used * 100 / size : 100;
    zone_full = (percent >= threshold);

    /* every worker's relay socket: the front doors reach tunnels by it */

    n = ngx_fcfh_registry_workers(pids, NGX_FCFH_MAX_WORKERS);
    missing = 0;

    if (fmcf->relay_dir.len) {
        for (i = 0; i < n; i++) {
            if (ngx_fcfh_relay_check(fmcf, pids[i]) != NGX_OK) {
                missing++;
            }
        }
    }

    relay_bad = (missing > 0);

    node = ngx_fcfh_cluster_node();
    directory_down = (node && !ngx_fcfh_cluster_up());

    exiting = (ngx_exiting || ngx_quit || ngx_terminate);

    len = sizeof("{\"status\":\"unavailable\",\"reasons\":["
                 "\"zone_nearly_full\",\"relay_socket_missing\","
                 "\"cluster_directory_down\",\"shutting_down\"],"
                 "\"tunnels_connected\":,\"zone\":{\"size\":,\"used\":,"
                 "\"used_percent\":,\"threshold_percent\":},"
                 "\"workers\":{\"live\":,\"relay_sockets_missing\":},"
                 "\"cluster\":{\"node\":,\"directory\":\"down\"},"
                 "\"shutting_down\":false}\n")
          + 8 * NGX_INT64_LEN + (node ? 6 * node->len : 0);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"status\":\"%s\",\"reasons\":[",
                    (zone_full || relay_bad || directory_down || exiting)
                    ? "unavailable" : "ok");

    i = 0;

    if (zone_full) {
        p = ngx_sprintf(p, "%s\"zone_nearly_full\"", i++ ? "," : "");
    }

    if (relay_bad) {
        p = ngx_sprintf(p, "%s\"relay_socket_missing\"", i++ ? "," : "");
    }

    if (directory_down) {
        p = ngx_sprintf(p, "%s\"cluster_directory_down\"", i++ ? "," : "");
    }

    if (exiting) {
        p = ngx_sprintf(p, "%s\"shutting_down\"", i++ ? "," : "");
    }

    p = ngx_sprintf(p, "],\"tunnels_connected\":%ui,\"zone\":{\"size\":%uz,"
                    "\"used\":%uz,\"used_percent\":%ui,"
                    "\"threshold_percent\":%ui},\"workers\":{\"live\":%ui,"
                    "\"relay_sockets_missing\":%ui},\"cluster\":",
                    count, size, used, percent, threshold, n, missing);

    if (node) {
        p = ngx_cpymem(p, "{\"node\":", sizeof("{\"node\":") - 1);
        p = ngx_fcfh_json_str(p, node);
        p = ngx_sprintf(p, ",\"directory\":\"%s\"}",
                        directory_down ? "down" : "up");

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    p = ngx_sprintf(p, ",\"shutting_down\":%s}\n",
                    exiting ? "true" : "false");

    return ngx_http_fcfh_send_json(r, i ? NGX_HTTP_SERVICE_UNAVAILABLE
                                        : NGX_HTTP_OK,
                                   body, p - body);
}


/*
 * GET devices[?state=connected|disconnected][&since=<unix time>]: the
 * devices connected now and those the history remembers, one page.
 */

static ngx_int_t
ngx_http_fcfh_api_devices(ngx_http_request_t *r, ngx_str_t *param)
{
    u_char                    *p, *body;
    size_t                     len;
    ngx_str_t                  arg;
    ngx_uint_t                 i, v;
    const char                *err;
    ngx_array_t                devices;
    ngx_http_fcfh_page_t       pg;
    ngx_fcfh_device_info_t    *info;
    ngx_fcfh_devices_query_t   q;

    if (ngx_http_fcfh_page_args(r, &pg, &err) != NGX_OK) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST, err);
    }

    ngx_memzero(&q, sizeof(ngx_fcfh_devices_query_t));

    q.limit = pg.limit;
    q.has_after = pg.has_after;
    ngx_memcpy(q.after, pg.after, NGX_FCFH_APF_GUID_SIZE);

    if (ngx_http_arg(r, (u_char *) "state", 5, &arg) == NGX_OK) {

        if (arg.len == 9 && ngx_strncmp(arg.data, "connected", 9) == 0) {
            q.state = NGX_FCFH_DEVICES_CONNECTED;

        } else if (arg.len == 12
                   && ngx_strncmp(arg.data, "disconnected", 12) == 0)
        {
            q.state = NGX_FCFH_DEVICES_DISCONNECTED;

        } else {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                           "state is connected or "
                                           "disconnected");
        }
    }

    v = 0;

    if (ngx_http_fcfh_arg_uint(r, "since", NGX_MAX_INT32_VALUE, &v)
        != NGX_OK)
    {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "since must be a Unix time");
    }

    q.since = (time_t) v;

    ngx_fcfh_registry_sweep(r->connection->log);

    if (ngx_array_init(&devices, r->pool, pg.limit < 64 ? pg.limit : 64,
                       sizeof(ngx_fcfh_device_info_t))
        != NGX_OK
        || ngx_fcfh_history_page(r->pool, &q, &devices) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    info = devices.elts;

    len = sizeof("{,\"devices\":[]}\n") + NGX_HTTP_FCFH_PAGE_JSON_LEN;

    for (i = 0; i < devices.nelts; i++) {
        len += ngx_http_fcfh_device_size(&info[i], NULL) + 1;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *body = '{';

    p = ngx_http_fcfh_page_json(body + 1, q.total, q.limit,
                                q.more ? info[devices.nelts - 1].guid : NULL);
    p = ngx_cpymem(p, ",\"devices\":[", sizeof(",\"devices\":[") - 1);

    for (i = 0; i < devices.nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_http_fcfh_device_json(p, &info[i], NULL);
    }

    p = ngx_cpymem(p, "]}\n", 3);

    return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
}


/* GET devices/<guid> */

static ngx_int_t
ngx_http_fcfh_api_device_history(ngx_http_request_t *r, ngx_str_t *param)
{
    u_char                  *p, *body;
    ngx_int_t                rc;
    ngx_fcfh_device_info_t   info;
    u_char                   guid[NGX_FCFH_APF_GUID_SIZE];

    if (ngx_fcfh_apf_guid_from_text((char *) param->data, param->len, guid)
        != 0)
    {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "a device here is named by its GUID");
    }

    ngx_fcfh_registry_sweep(r->connection->log);

    rc = ngx_fcfh_history_device(r->pool, guid, &info);

    if (rc == NGX_DECLINED) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                       "no such device");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = ngx_pnalloc(r->pool, ngx_http_fcfh_device_size(&info, NULL) + 1);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_fcfh_device_json(body, &info, NULL);
    *p++ = '\n';

    return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
}


/*
 * A device of GET devices, and of GET cluster/devices with the node of
 * its last tunnel (node not NULL).
 */

size_t
ngx_http_fcfh_device_size(ngx_fcfh_device_info_t *d, ngx_str_t *node)
{
    return sizeof(",\"node\":") + (node ? 6 * node->len + 2 : 0)
           + sizeof("{\"guid\":\"\",\"state\":\"disconnected\",\"fqdn\":,"
                  "\"identity\":,\"auth\":\"certificate\",\"user\":,"
                  "\"peer\":,\"trigger\":\"provisioning\","
                  "\"first_connected_at\":,\"last_connected_at\":,"
                  "\"last_disconnected_at\":,\"last_disconnect_reason\":"
                  "\"idle_timeout\",\"connections\":}")
           + NGX_FCFH_APF_GUID_TEXT_SIZE
           + 3 * sizeof("\"1970-01-01T00:00:00Z\"") + NGX_INT64_LEN
           + 6 * (d->fqdn.len + d->identity.len + d->user.len + d->peer.len)
           + 4 * sizeof("null");
}


u_char *
ngx_http_fcfh_device_json(u_char *p, ngx_fcfh_device_info_t *d,
    ngx_str_t *node)
{
    char  guid[NGX_FCFH_APF_GUID_TEXT_SIZE];

    ngx_fcfh_apf_guid_to_text(d->guid, guid);

    p = ngx_sprintf(p, "{\"guid\":\"%*s\",\"state\":\"%s\",\"fqdn\":",
                    (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, guid,
                    d->connected ? "connected" : "disconnected");
    p = ngx_fcfh_json_str(p, &d->fqdn);

    p = ngx_cpymem(p, ",\"identity\":", sizeof(",\"identity\":") - 1);
    p = ngx_fcfh_json_str(p, &d->identity);

    p = ngx_sprintf(p, ",\"auth\":\"%s\",\"user\":",
                    d->auth == NGX_FCFH_AUTH_CERTIFICATE ? "certificate"
                                                         : "password");
    p = ngx_fcfh_json_str(p, &d->user);

    p = ngx_cpymem(p, ",\"peer\":", sizeof(",\"peer\":") - 1);
    p = ngx_fcfh_json_str(p, &d->peer);

    p = ngx_sprintf(p, ",\"trigger\":\"%s\",\"first_connected_at\":",
                    ngx_fcfh_apf_trigger_name(d->trigger));
    p = ngx_fcfh_json_time(p, d->first_connected);

    p = ngx_cpymem(p, ",\"last_connected_at\":",
                   sizeof(",\"last_connected_at\":") - 1);
    p = ngx_fcfh_json_time(p, d->last_connected);

    p = ngx_cpymem(p, ",\"last_disconnected_at\":",
                   sizeof(",\"last_disconnected_at\":") - 1);
    p = ngx_fcfh_json_time(p, d->last_disconnected);

    if (d->last_disconnected) {
        p = ngx_sprintf(p, ",\"last_disconnect_reason\":\"%s\"",
                        ngx_fcfh_close_name(d->reason));

    } else {
        p = ngx_cpymem(p, ",\"last_disconnect_reason\":null",
                       sizeof(",\"last_disconnect_reason\":null") - 1);
    }

    /* no record (history off or full): how many is not known */

    if (d->recorded) {
        p = ngx_sprintf(p, ",\"connections\":%uL", d->connections);

    } else {
        p = ngx_cpymem(p, ",\"connections\":null",
                       sizeof(",\"connections\":null") - 1);
    }

    if (node) {
        p = ngx_cpymem(p, ",\"node\":", sizeof(",\"node\":") - 1);
        p = ngx_fcfh_json_str(p, node);
    }

    *p++ = '}';

    return p;
}
