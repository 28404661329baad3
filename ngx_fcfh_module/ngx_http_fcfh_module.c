
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * HTTP side of ngx_fcfh_module: "fcfh_status", a read-only JSON view of
 * the registry for operators and tests.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"


static char *ngx_http_fcfh_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_fcfh_status_handler(ngx_http_request_t *r);
static size_t ngx_http_fcfh_entry_size(ngx_fcfh_entry_info_t *info);
static u_char *ngx_http_fcfh_entry_json(u_char *p,
    ngx_fcfh_entry_info_t *info);
static u_char *ngx_http_fcfh_json_str(u_char *p, ngx_str_t *s);
static u_char *ngx_http_fcfh_json_time(u_char *p, time_t t);
static ngx_int_t ngx_http_fcfh_send_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *data, size_t len);


static ngx_command_t  ngx_http_fcfh_commands[] = {

    { ngx_string("fcfh_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fcfh_status,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_fcfh_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_fcfh_module = {
    NGX_MODULE_V1,
    &ngx_http_fcfh_module_ctx,             /* module context */
    ngx_http_fcfh_commands,                /* module directives */
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


static char *
ngx_http_fcfh_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (ngx_fcfh_check_zone(cf, "fcfh_status") != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    clcf->handler = ngx_http_fcfh_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_fcfh_status_handler(ngx_http_request_t *r)
{
    u_char                 *p, *body;
    size_t                  len, size, used;
    ngx_int_t               rc;
    ngx_str_t               device, *filter;
    ngx_uint_t              i, count;
    ngx_array_t             entries;
    ngx_fcfh_entry_info_t  *info;

    static u_char           not_found[] = "{\"error\":\"no such device\"}\n";
    static u_char           bad_arg[] =
                                "{\"error\":\"invalid device argument\"}\n";

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    filter = NULL;

    if (ngx_http_arg(r, (u_char *) "device", 6, &device) == NGX_OK) {
        if (device.len == 0 || device.len > NGX_FCFH_APF_DEFAULT_MAX_STRING) {
            return ngx_http_fcfh_send_json(r, NGX_HTTP_BAD_REQUEST, bad_arg,
                                           sizeof(bad_arg) - 1);
        }

        filter = &device;
    }

    /* a worker killed with SIGKILL leaves entries nobody else removes */
    ngx_fcfh_registry_sweep(r->connection->log);

    if (ngx_array_init(&entries, r->pool, filter ? 1 : 64,
                       sizeof(ngx_fcfh_entry_info_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_fcfh_registry_snapshot(r->pool, filter, &entries) != NGX_OK
        || ngx_fcfh_registry_stats(&size, &used, &count) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    info = entries.elts;

    if (filter) {
        if (entries.nelts == 0) {
            return ngx_http_fcfh_send_json(r, NGX_HTTP_NOT_FOUND, not_found,
                                           sizeof(not_found) - 1);
        }

        len = ngx_http_fcfh_entry_size(&info[0]) + 2;

        body = ngx_pnalloc(r->pool, len);
        if (body == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_http_fcfh_entry_json(body, &info[0]);
        *p++ = '\n';

        return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
    }

    len = sizeof("{\"version\":1,\"module_version\":\"\",\"pid\":,"
                 "\"tunnels_total\":,\"zone\":{\"size\":,\"used\":},"
                 "\"tunnels\":[]}\n")
          + sizeof(NGX_FCFH_VERSION) + 4 * NGX_INT64_LEN;

    for (i = 0; i < entries.nelts; i++) {
        len += ngx_http_fcfh_entry_size(&info[i]) + 1;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"version\":1,\"module_version\":\"%s\","
                    "\"pid\":%P,\"tunnels_total\":%ui,"
                    "\"zone\":{\"size\":%uz,\"used\":%uz},\"tunnels\":[",
                    NGX_FCFH_VERSION, ngx_pid, entries.nelts, size, used);

    for (i = 0; i < entries.nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_http_fcfh_entry_json(p, &info[i]);
    }

    p = ngx_cpymem(p, "]}\n", 3);

    return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
}


static size_t
ngx_http_fcfh_entry_size(ngx_fcfh_entry_info_t *info)
{
    size_t  len;

    len = sizeof("{\"guid\":\"\",\"fqdn\":,\"ports\":[],\"owner_pid\":,"
                 "\"serial\":,\"peer\":,\"identity\":,\"auth\":\"certificate\","
                 "\"user\":,\"tls_protocol\":,\"tls_cipher\":,\"trigger\":\"\","
                 "\"trigger_code\":,\"protocol_version\":\".\","
                 "\"connected_at\":,\"last_keepalive\":,\"bytes_in\":,"
                 "\"bytes_out\":,\"keepalive_interval\":}")
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


static u_char *
ngx_http_fcfh_entry_json(u_char *p, ngx_fcfh_entry_info_t *info)
{
    char        guid[NGX_FCFH_APF_GUID_TEXT_SIZE];
    ngx_uint_t  i;

    ngx_fcfh_apf_guid_to_text(info->guid, guid);

    p = ngx_sprintf(p, "{\"guid\":\"%*s\",\"fqdn\":",
                    (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, guid);
    p = ngx_http_fcfh_json_str(p, &info->fqdn);

    p = ngx_cpymem(p, ",\"ports\":[", sizeof(",\"ports\":[") - 1);

    for (i = 0; i < info->nports; i++) {
        p = ngx_sprintf(p, i ? ",%ui" : "%ui", (ngx_uint_t) info->ports[i]);
    }

    p = ngx_sprintf(p, "],\"owner_pid\":%P,\"serial\":%uL,\"peer\":",
                    info->pid, info->serial);
    p = ngx_http_fcfh_json_str(p, &info->peer);

    p = ngx_cpymem(p, ",\"identity\":", sizeof(",\"identity\":") - 1);
    p = ngx_http_fcfh_json_str(p, &info->identity);

    p = ngx_sprintf(p, ",\"auth\":\"%s\",\"user\":",
                    info->auth == NGX_FCFH_AUTH_CERTIFICATE ? "certificate"
                                                            : "password");
    p = ngx_http_fcfh_json_str(p, &info->user);

    p = ngx_cpymem(p, ",\"tls_protocol\":", sizeof(",\"tls_protocol\":") - 1);
    p = ngx_http_fcfh_json_str(p, &info->tls_protocol);

    p = ngx_cpymem(p, ",\"tls_cipher\":", sizeof(",\"tls_cipher\":") - 1);
    p = ngx_http_fcfh_json_str(p, &info->tls_cipher);

    p = ngx_sprintf(p, ",\"trigger\":\"%s\",\"trigger_code\":%uD,"
                    "\"protocol_version\":\"%uD.%uD\",\"connected_at\":",
                    ngx_fcfh_apf_trigger_name(info->trigger), info->trigger,
                    (uint32_t) info->major, (uint32_t) info->minor);
    p = ngx_http_fcfh_json_time(p, info->connected_at);

    p = ngx_cpymem(p, ",\"last_keepalive\":",
                   sizeof(",\"last_keepalive\":") - 1);
    p = ngx_http_fcfh_json_time(p, info->last_keepalive);

    p = ngx_sprintf(p, ",\"bytes_in\":%uL,\"bytes_out\":%uL,"
                    "\"keepalive_interval\":%uD}",
                    info->bytes_in, info->bytes_out, info->keepalive);

    return p;
}


static u_char *
ngx_http_fcfh_json_str(u_char *p, ngx_str_t *s)
{
    if (s->len == 0) {
        return ngx_cpymem(p, "null", 4);
    }

    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, s->data, s->len);
    *p++ = '"';

    return p;
}


static u_char *
ngx_http_fcfh_json_time(u_char *p, time_t t)
{
    ngx_tm_t  tm;

    if (t == 0) {
        return ngx_cpymem(p, "null", 4);
    }

    ngx_gmtime(t, &tm);

    return ngx_sprintf(p, "\"%4d-%02d-%02dT%02d:%02d:%02dZ\"",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}


static ngx_int_t
ngx_http_fcfh_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len)
{
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_chain_t  out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
