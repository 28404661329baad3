
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh_status: a read-only JSON view of the registry, all tunnels or one
 * device (?device=); the tunnel object is the API's too.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_json.h"
#include "ngx_http_fcfh.h"
#include "ngx_http_fcfh_status.h"


ngx_int_t
ngx_http_fcfh_status_handler(ngx_http_request_t *r)
{
    u_char                    *p, *body;
    size_t                     len, size, used;
    ngx_int_t                  rc;
    ngx_str_t                  device;
    ngx_uint_t                 count;
    const char                *err;
    ngx_array_t                entries;
    ngx_http_fcfh_page_t       pg;
    ngx_fcfh_entry_info_t     *info;
    ngx_fcfh_tunnels_query_t   q;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_fcfh_not_allowed(r, NGX_HTTP_GET|NGX_HTTP_HEAD);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    /* a worker killed with SIGKILL leaves entries nobody else removes */
    ngx_fcfh_registry_sweep(r->connection->log);

    if (ngx_http_arg(r, (u_char *) "device", 6, &device) == NGX_OK) {
        if (device.len == 0 || device.len > NGX_FCFH_APF_DEFAULT_MAX_STRING) {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid device argument");
        }

        if (ngx_array_init(&entries, r->pool, 1,
                           sizeof(ngx_fcfh_entry_info_t))
            != NGX_OK
            || ngx_fcfh_registry_snapshot(r->pool, &device, &entries)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (entries.nelts == 0) {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                           "no such device");
        }

        info = entries.elts;

        body = ngx_pnalloc(r->pool, ngx_http_fcfh_entry_size(&info[0]) + 2);
        if (body == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_http_fcfh_entry_json(body, &info[0]);
        *p++ = '\n';

        return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
    }

    /* every tunnel, a page at a time as in every list of the API */

    if (ngx_http_fcfh_page_args(r, &pg, &err) != NGX_OK) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST, err);
    }

    ngx_memzero(&q, sizeof(ngx_fcfh_tunnels_query_t));

    q.limit = pg.limit;
    q.has_after = pg.has_after;
    ngx_memcpy(q.after, pg.after, NGX_FCFH_APF_GUID_SIZE);
    q.trigger = -1;

    if (ngx_array_init(&entries, r->pool, pg.limit < 64 ? pg.limit : 64,
                       sizeof(ngx_fcfh_entry_info_t))
        != NGX_OK
        || ngx_fcfh_registry_page(r->pool, &q, &entries) != NGX_OK
        || ngx_fcfh_registry_stats(&size, &used, &count) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = sizeof("{\"version\":2,\"module_version\":\"\",\"pid\":,"
                 "\"zone\":{\"size\":,\"used\":},")
          + sizeof(NGX_FCFH_VERSION) + 3 * NGX_INT64_LEN
          + ngx_http_fcfh_tunnels_size(&entries);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"version\":2,\"module_version\":\"%s\","
                    "\"pid\":%P,\"zone\":{\"size\":%uz,\"used\":%uz},",
                    NGX_FCFH_VERSION, ngx_pid, size, used);

    p = ngx_http_fcfh_tunnels_json(p, &q, &entries);

    return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
}


/* a bound on what ngx_http_fcfh_tunnels_json() writes */

size_t
ngx_http_fcfh_tunnels_size(ngx_array_t *entries)
{
    size_t                  len;
    ngx_uint_t              i;
    ngx_fcfh_entry_info_t  *info;

    info = entries->elts;

    len = sizeof(",\"tunnels\":[]}\n") - 1 + NGX_HTTP_FCFH_PAGE_JSON_LEN;

    for (i = 0; i < entries->nelts; i++) {
        len += ngx_http_fcfh_entry_size(&info[i]) + 1;
    }

    return len;
}


/*
 * The page fields and the "tunnels" array of fcfh_status and the API's
 * tunnel list, closing the object the caller opened.
 */

u_char *
ngx_http_fcfh_tunnels_json(u_char *p, ngx_fcfh_tunnels_query_t *q,
    ngx_array_t *entries)
{
    ngx_uint_t              i;
    ngx_fcfh_entry_info_t  *info;

    info = entries->elts;

    p = ngx_http_fcfh_page_json(p, q->total, q->limit,
                                q->more ? info[entries->nelts - 1].guid
                                        : NULL);

    p = ngx_cpymem(p, ",\"tunnels\":[", sizeof(",\"tunnels\":[") - 1);

    for (i = 0; i < entries->nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_http_fcfh_entry_json(p, &info[i]);
    }

    return ngx_cpymem(p, "]}\n", 3);
}


/* a bound on the tunnel object's JSON */

size_t
ngx_http_fcfh_entry_size(ngx_fcfh_entry_info_t *info)
{
    size_t  len;

    len = sizeof("{\"guid\":\"\",\"fqdn\":,\"ports\":[],\"owner_pid\":,"
                 "\"serial\":,\"peer\":,\"identity\":,\"auth\":\"certificate\","
                 "\"user\":,\"tls_protocol\":,\"tls_cipher\":,\"trigger\":\"\","
                 "\"trigger_code\":,\"protocol_version\":\".\","
                 "\"connected_at\":,\"last_keepalive\":,\"bytes_in\":,"
                 "\"bytes_out\":,\"keepalive_interval\":,\"channels\":,"
                 "\"keepalive_age\":,\"alerts\":,"
                 "\"trigger_evidence\":\"event_log_entry_at_connect\"}")
          + NGX_FCFH_APF_GUID_TEXT_SIZE
          + NGX_FCFH_MAX_PORTS * (NGX_INT32_LEN + 1)
          + 10 * NGX_INT64_LEN + 2 * sizeof("\"1970-01-01T00:00:00Z\"")
          + sizeof("provisioning");

    /* each string: quotes, or null, and up to 6 bytes per escaped byte */
    len += 6 * (info->fqdn.len + info->peer.len + info->identity.len
                + info->user.len + info->tls_protocol.len
                + info->tls_cipher.len)
           + 6 * sizeof("null");

    return len;
}


u_char *
ngx_http_fcfh_entry_json(u_char *p, ngx_fcfh_entry_info_t *info)
{
    char        guid[NGX_FCFH_APF_GUID_TEXT_SIZE];
    ngx_uint_t  i;

    ngx_fcfh_apf_guid_to_text(info->guid, guid);

    p = ngx_sprintf(p, "{\"guid\":\"%*s\",\"fqdn\":",
                    (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, guid);
    p = ngx_fcfh_json_str(p, &info->fqdn);

    p = ngx_cpymem(p, ",\"ports\":[", sizeof(",\"ports\":[") - 1);

    for (i = 0; i < info->nports; i++) {
        p = ngx_sprintf(p, i ? ",%ui" : "%ui", (ngx_uint_t) info->ports[i]);
    }

    p = ngx_sprintf(p, "],\"owner_pid\":%P,\"serial\":%uL,\"peer\":",
                    info->pid, info->serial);
    p = ngx_fcfh_json_str(p, &info->peer);

    p = ngx_cpymem(p, ",\"identity\":", sizeof(",\"identity\":") - 1);
    p = ngx_fcfh_json_str(p, &info->identity);

    p = ngx_sprintf(p, ",\"auth\":\"%s\",\"user\":",
                    info->auth == NGX_FCFH_AUTH_CERTIFICATE ? "certificate"
                                                            : "password");
    p = ngx_fcfh_json_str(p, &info->user);

    p = ngx_cpymem(p, ",\"tls_protocol\":", sizeof(",\"tls_protocol\":") - 1);
    p = ngx_fcfh_json_str(p, &info->tls_protocol);

    p = ngx_cpymem(p, ",\"tls_cipher\":", sizeof(",\"tls_cipher\":") - 1);
    p = ngx_fcfh_json_str(p, &info->tls_cipher);

    p = ngx_sprintf(p, ",\"trigger\":\"%s\",\"trigger_code\":%uD,"
                    "\"protocol_version\":\"%uD.%uD\",\"connected_at\":",
                    ngx_fcfh_apf_trigger_name(info->trigger), info->trigger,
                    (uint32_t) info->major, (uint32_t) info->minor);
    p = ngx_fcfh_json_time(p, info->connected_at);

    p = ngx_cpymem(p, ",\"last_keepalive\":",
                   sizeof(",\"last_keepalive\":") - 1);
    p = ngx_fcfh_json_time(p, info->last_keepalive);

    p = ngx_sprintf(p, ",\"bytes_in\":%uL,\"bytes_out\":%uL,"
                    "\"keepalive_interval\":%uD,\"channels\":%uD,"
                    "\"keepalive_age\":",
                    info->bytes_in, info->bytes_out, info->keepalive,
                    info->nchannels);

    if (info->last_keepalive) {
        p = ngx_sprintf(p, "%T", ngx_max(ngx_time() - info->last_keepalive,
                                         0));
    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    /* what the device's behaviour says about why it called */
    p = ngx_sprintf(p, ",\"alerts\":%uD,\"trigger_evidence\":%s}",
                    info->alerts,
                    info->alert_after_connect ? "\"alert_after_connect\""
                    : info->log_evidence ? "\"event_log_entry_at_connect\""
                    : "null");

    return p;
}
