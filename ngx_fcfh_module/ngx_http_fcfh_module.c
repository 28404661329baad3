
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The operators' front door of ngx_fcfh_module: "fcfh_status" (read-only
 * JSON view of the registry), "fcfh_api" (list with filters and paging,
 * one device, close a tunnel, gateway stats) and "fcfh_metrics"
 * (Prometheus text).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_escape.h"
#include "ngx_fcfh_open.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_webhook.h"
#include "ngx_fcfh_json.h"
#include "ngx_fcfh_cluster.h"
#include "ngx_http_fcfh.h"
#include "ngx_http_fcfh_exposure.h"


/*
 * fcfh_metrics: one table of metric families, in output order.  The
 * response is sized from the table, so a new family or sample needs no
 * guessed constant.
 */

/* what a scrape computes beyond the counters in the zone */
typedef struct {
    uint64_t                         trigger[5];  /* tunnels by trigger */
    uint64_t                         channels;
    uint64_t                         bytes_in;    /* live tunnels too */
    uint64_t                         bytes_out;
    uint64_t                         zone_size;
    uint64_t                         zone_used;
    uint64_t                         directory_up;
    ngx_str_t                       *node;        /* NULL: no cluster */
    ngx_fcfh_counters_t             *cn;
} ngx_http_fcfh_scrape_t;


/* a sample with a fixed label value: a counter or a computed value */
typedef struct {
    ngx_str_t                        label;   /* value; "": no label */
    size_t                           offset;  /* in the counters or scrape */
    ngx_uint_t                       scraped; /* 1: in the scrape */
} ngx_http_fcfh_sample_t;


typedef struct ngx_http_fcfh_family_s  ngx_http_fcfh_family_t;

/* sample i of the family: NGX_OK, or NGX_DONE past the last one */
typedef ngx_int_t (*ngx_http_fcfh_sample_pt)(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_str_t *label,
    uint64_t *value);

#define NGX_HTTP_FCFH_FIXED_MAX      5

struct ngx_http_fcfh_family_s {
    ngx_str_t                        name;
    ngx_str_t                        type;
    ngx_str_t                        help;
    ngx_str_t                        label;   /* label name; empty: none */
    ngx_http_fcfh_sample_pt          sample;
    ngx_http_fcfh_sample_t           fixed[NGX_HTTP_FCFH_FIXED_MAX];

    /* or a counter per code, labelled with the code's name */
    ngx_uint_t                       ncodes;
    size_t                           codes;   /* in the counters */
    const char                    *(*code_name)(ngx_uint_t code);
};


static char *ngx_http_fcfh_handler(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_fcfh_api_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_fcfh_api_list(ngx_http_request_t *r);
static ngx_int_t ngx_http_fcfh_api_device(ngx_http_request_t *r,
    ngx_str_t *device);
static ngx_int_t ngx_http_fcfh_api_close(ngx_http_request_t *r,
    ngx_str_t *device);
static ngx_int_t ngx_http_fcfh_api_stats(ngx_http_request_t *r);
static ngx_int_t ngx_http_fcfh_api_webhooks(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_int_t ngx_http_fcfh_arg_uint(ngx_http_request_t *r, char *name,
    ngx_uint_t max, ngx_uint_t *value);
static ngx_int_t ngx_http_fcfh_metrics_handler(ngx_http_request_t *r);
static size_t ngx_http_fcfh_metrics_size(ngx_http_fcfh_scrape_t *s);
static u_char *ngx_http_fcfh_metrics_write(u_char *p,
    ngx_http_fcfh_scrape_t *s);
static ngx_int_t ngx_http_fcfh_sample_fixed(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_str_t *label,
    uint64_t *value);
static ngx_int_t ngx_http_fcfh_sample_code(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_str_t *label,
    uint64_t *value);
static const char *ngx_http_fcfh_failure_name(ngx_uint_t code);
static const char *ngx_http_fcfh_open_name(ngx_uint_t code);
static ngx_int_t ngx_http_fcfh_sample_node(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_str_t *label,
    uint64_t *value);
typedef struct ngx_http_fcfh_events_ctx_s  ngx_http_fcfh_events_ctx_t;

static ngx_int_t ngx_http_fcfh_events_handler(ngx_http_request_t *r);
static void ngx_http_fcfh_events_timer(ngx_event_t *ev);
static void ngx_http_fcfh_events_read(ngx_http_request_t *r);
static void ngx_http_fcfh_events_write(ngx_http_request_t *r);
static ngx_chain_t *ngx_http_fcfh_events_buf(
    ngx_http_fcfh_events_ctx_t *ctx);
static ngx_int_t ngx_http_fcfh_events_send(ngx_http_fcfh_events_ctx_t *ctx,
    ngx_chain_t *cl);
static void ngx_http_fcfh_events_cleanup(void *data);
static ngx_int_t ngx_http_fcfh_status_handler(ngx_http_request_t *r);
static size_t ngx_http_fcfh_entry_size(ngx_fcfh_entry_info_t *info);
static u_char *ngx_http_fcfh_entry_json(u_char *p,
    ngx_fcfh_entry_info_t *info);
static ngx_int_t ngx_http_fcfh_send(ngx_http_request_t *r, ngx_uint_t status,
    u_char *type, u_char *data, size_t len);


static ngx_command_t  ngx_http_fcfh_commands[] = {

    { ngx_string("fcfh_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fcfh_handler,
      0,
      0,
      (void *) ngx_http_fcfh_status_handler },

    { ngx_string("fcfh_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fcfh_handler,
      0,
      0,
      (void *) ngx_http_fcfh_api_handler },

    { ngx_string("fcfh_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fcfh_handler,
      0,
      0,
      (void *) ngx_http_fcfh_metrics_handler },

    { ngx_string("fcfh_events"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fcfh_handler,
      0,
      0,
      (void *) ngx_http_fcfh_events_handler },

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


/* every directive here installs its handler (cmd->post) in the location */

static char *
ngx_http_fcfh_handler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (ngx_fcfh_check_zone(cf, (const char *) cmd->name.data) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;

    if (ngx_http_fcfh_exposure_add(cf, &cmd->name, NULL, NULL) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

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


static u_char *
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




ngx_int_t
ngx_http_fcfh_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len)
{
    return ngx_http_fcfh_send(r, status, (u_char *) "application/json", data,
                              len);
}


static ngx_int_t
ngx_http_fcfh_send(ngx_http_request_t *r, ngx_uint_t status, u_char *type,
    u_char *data, size_t len)
{
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_chain_t  out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type.data = type;
    r->headers_out.content_type.len = ngx_strlen(type);
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


/*
 * The API, below the location's prefix:
 *
 *     GET     tunnels[?guid=&fqdn_prefix=&identity=&trigger=&since=
 *                      &limit=&offset=]
 *     GET     tunnels/<guid-or-fqdn>
 *     DELETE  tunnels/<guid-or-fqdn>          (or POST .../close)
 *     GET     stats
 */

static ngx_int_t
ngx_http_fcfh_api_handler(ngx_http_request_t *r)
{
    u_char                    *p, *last;
    ngx_int_t                  rc;
    ngx_str_t                  path, device;
    ngx_http_core_loc_conf_t  *clcf;

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

    if (path.len == 5 && ngx_strncmp(path.data, "stats", 5) == 0) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "use GET");
        }

        return ngx_http_fcfh_api_stats(r);
    }

    if (path.len == 8 && ngx_strncmp(path.data, "webhooks", 8) == 0) {
        return ngx_http_fcfh_api_webhooks(r, NULL);
    }

    if (path.len > 9 && ngx_strncmp(path.data, "webhooks/", 9) == 0) {
        device.data = path.data + 9;
        device.len = path.len - 9;

        return ngx_http_fcfh_api_webhooks(r, &device);
    }

    if (path.len == 15 && ngx_strncmp(path.data, "cluster/tunnels", 15) == 0)
    {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "use GET");
        }

        return ngx_http_fcfh_cluster_list(r);
    }

    if (path.len == 7 && ngx_strncmp(path.data, "tunnels", 7) == 0) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "use GET");
        }

        return ngx_http_fcfh_api_list(r);
    }

    if (path.len <= 8 || ngx_strncmp(path.data, "tunnels/", 8) != 0) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                       "unknown API path");
    }

    device.data = path.data + 8;
    last = path.data + path.len;

    p = ngx_strlchr(device.data, last, '/');

    if (p == NULL) {
        device.len = last - device.data;

        if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
            return ngx_http_fcfh_api_device(r, &device);
        }

        if (r->method & NGX_HTTP_DELETE) {
            return ngx_http_fcfh_api_close(r, &device);
        }

        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                       "use GET or DELETE");
    }

    device.len = p - device.data;

    if (last - p == 9 && ngx_strncmp(p, "/evidence", 9) == 0) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "use GET");
        }

        /* asks the device: its clock, then its event log */
        return ngx_http_fcfh_amt_evidence(r, &device);
    }

    if (last - p == 6 && ngx_strncmp(p, "/close", 6) == 0) {
        if (!(r->method & NGX_HTTP_POST)) {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "use POST");
        }

        return ngx_http_fcfh_api_close(r, &device);
    }

    return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND, "unknown API path");
}


static ngx_int_t
ngx_http_fcfh_api_list(ngx_http_request_t *r)
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
ngx_http_fcfh_api_stats(ngx_http_request_t *r)
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


/* text is the gateway's own, or device text without quotes/backslashes */

ngx_int_t
ngx_http_fcfh_api_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *text)
{
    u_char  *p, *body;
    size_t   len;

    len = sizeof("{\"error\":\"\"}\n") + ngx_strlen(text);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_snprintf(body, len, "{\"error\":\"%s\"}\n", text);

    return ngx_http_fcfh_send_json(r, status, body, p - body);
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


/* Prometheus text exposition format */

#define ngx_http_fcfh_counter(label, field)                                  \
    { ngx_string(label), offsetof(ngx_fcfh_counters_t, field), 0 }

#define ngx_http_fcfh_scraped(label, field)                                  \
    { ngx_string(label), offsetof(ngx_http_fcfh_scrape_t, field), 1 }


static const ngx_http_fcfh_family_t  ngx_http_fcfh_families[] = {

    { ngx_string("fcfh_tunnels"), ngx_string("gauge"),
      ngx_string("Established device tunnels."),
      ngx_string("trigger"), ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_scraped("user", trigger[0]),
        ngx_http_fcfh_scraped("alert", trigger[1]),
        ngx_http_fcfh_scraped("provisioning", trigger[2]),
        ngx_http_fcfh_scraped("periodic", trigger[3]),
        ngx_http_fcfh_scraped("other", trigger[4]) },
      0, 0, NULL },

    { ngx_string("fcfh_handshakes_total"), ngx_string("counter"),
      ngx_string("Tunnels established."),
      ngx_null_string, ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_counter("", handshakes) },
      0, 0, NULL },

    { ngx_string("fcfh_handshake_failures_total"), ngx_string("counter"),
      ngx_string("Handshakes refused or abandoned, by the DISCONNECT "
                 "reason sent."),
      ngx_string("reason"), ngx_http_fcfh_sample_code,
      { { ngx_null_string, 0, 0 } },
      NGX_FCFH_FAIL_MAX, offsetof(ngx_fcfh_counters_t, failures),
      ngx_http_fcfh_failure_name },

    { ngx_string("fcfh_tunnels_closed_total"), ngx_string("counter"),
      ngx_string("Established tunnels ended, by cause."),
      ngx_string("reason"), ngx_http_fcfh_sample_code,
      { { ngx_null_string, 0, 0 } },
      NGX_FCFH_CLOSE_MAX, offsetof(ngx_fcfh_counters_t, closed),
      ngx_fcfh_close_name },

    { ngx_string("fcfh_keepalive_timeouts_total"), ngx_string("counter"),
      ngx_string("Tunnels dropped for silence."),
      ngx_null_string, ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_counter("", closed[NGX_FCFH_CLOSE_IDLE]) },
      0, 0, NULL },

    { ngx_string("fcfh_console_requests_total"), ngx_string("counter"),
      ngx_string("Console requests for a channel, by result."),
      ngx_string("result"), ngx_http_fcfh_sample_code,
      { { ngx_null_string, 0, 0 } },
      NGX_FCFH_OPEN_MAX, offsetof(ngx_fcfh_counters_t, opens),
      ngx_http_fcfh_open_name },

    { ngx_string("fcfh_channels"), ngx_string("gauge"),
      ngx_string("Channels open."),
      ngx_null_string, ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_scraped("", channels) },
      0, 0, NULL },

    { ngx_string("fcfh_tunnel_bytes_total"), ngx_string("counter"),
      ngx_string("APF bytes inside the device tunnels."),
      ngx_string("direction"), ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_scraped("in", bytes_in),
        ngx_http_fcfh_scraped("out", bytes_out) },
      0, 0, NULL },

    { ngx_string("fcfh_channel_bytes_total"), ngx_string("counter"),
      ngx_string("Console payload bytes of ended channels."),
      ngx_string("direction"), ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_counter("from_device", channel_bytes_in),
        ngx_http_fcfh_counter("to_device", channel_bytes_out) },
      0, 0, NULL },

    { ngx_string("fcfh_channel_errors_total"), ngx_string("counter"),
      ngx_string("Device channel messages that contradicted the channel's "
                 "state (the channel was closed) or named no open channel "
                 "(dropped, within a budget per tunnel)."),
      ngx_string("kind"), ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_counter("state", channel_errors),
        ngx_http_fcfh_counter("no_channel", channel_strays) },
      0, 0, NULL },

    { ngx_string("fcfh_relay_errors_total"), ngx_string("counter"),
      ngx_string("Relays to a worker that was gone, and relay peers or "
                 "sockets refused."),
      ngx_null_string, ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_counter("", relay_errors) },
      0, 0, NULL },

    { ngx_string("fcfh_alerts_total"), ngx_string("counter"),
      ngx_string("Alerts the devices sent (datagrams and channels), by "
                 "result."),
      ngx_string("result"), ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_counter("relayed", alerts_relayed),
        ngx_http_fcfh_counter("refused", alerts_refused),
        ngx_http_fcfh_counter("limited", alerts_limited) },
      0, 0, NULL },

    { ngx_string("fcfh_auth_cache_hits_total"), ngx_string("counter"),
      ngx_string("Logins (device or console) known from an earlier one, "
                 "without the password hash."),
      ngx_null_string, ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_counter("", auth_cache_hits) },
      0, 0, NULL },

    { ngx_string("fcfh_events_total"), ngx_string("counter"),
      ngx_string("Events published."),
      ngx_null_string, ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_counter("", events) },
      0, 0, NULL },

    { ngx_string("fcfh_events_dropped_total"), ngx_string("counter"),
      ngx_string("Events subscribers were too slow for."),
      ngx_null_string, ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_counter("", events_dropped) },
      0, 0, NULL },

    { ngx_string("fcfh_webhook_deliveries_total"), ngx_string("counter"),
      ngx_string("Webhook POSTs by result."),
      ngx_string("result"), ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_counter("ok", webhook_deliveries),
        ngx_http_fcfh_counter("failed", webhook_failures) },
      0, 0, NULL },

    { ngx_string("fcfh_zone_bytes"), ngx_string("gauge"),
      ngx_string("Registry zone size and pages used."),
      ngx_string("kind"), ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_scraped("size", zone_size),
        ngx_http_fcfh_scraped("used", zone_used) },
      0, 0, NULL },

    { ngx_string("fcfh_cluster_relays_total"), ngx_string("counter"),
      ngx_string("Console channels opened through another gateway node."),
      ngx_null_string, ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_counter("", cluster_relays) },
      0, 0, NULL },

    /* only on a cluster node */
    { ngx_string("fcfh_cluster_directory_up"), ngx_string("gauge"),
      ngx_string("Whether the worker that answered reaches the cluster "
                 "directory (Redis)."),
      ngx_string("node"), ngx_http_fcfh_sample_node,
      { { ngx_null_string, 0, 0 } },
      0, 0, NULL }
};


static ngx_int_t
ngx_http_fcfh_metrics_handler(ngx_http_request_t *r)
{
    u_char                  *p, *body;
    size_t                   size, used, len;
    ngx_int_t                rc;
    ngx_uint_t               i, count;
    ngx_array_t              entries;
    ngx_fcfh_entry_info_t   *info;
    ngx_http_fcfh_scrape_t   s;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_fcfh_registry_sweep(r->connection->log);

    ngx_memzero(&s, sizeof(ngx_http_fcfh_scrape_t));

    s.cn = ngx_fcfh_registry_counters();

    if (s.cn == NULL
        || ngx_fcfh_registry_stats(&size, &used, &count) != NGX_OK
        || ngx_array_init(&entries, r->pool, 64,
                          sizeof(ngx_fcfh_entry_info_t)) != NGX_OK
        || ngx_fcfh_registry_snapshot(r->pool, NULL, &entries) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* live tunnels add their own bytes to those of ended ones */

    s.bytes_in = s.cn->bytes_in;
    s.bytes_out = s.cn->bytes_out;
    s.zone_size = size;
    s.zone_used = used;

    info = entries.elts;

    for (i = 0; i < entries.nelts; i++) {
        s.bytes_in += info[i].bytes_in;
        s.bytes_out += info[i].bytes_out;
        s.channels += info[i].nchannels;
        s.trigger[(info[i].trigger >= 1 && info[i].trigger <= 4)
                  ? info[i].trigger - 1 : 4]++;
    }

    s.node = ngx_fcfh_cluster_node();
    s.directory_up = ngx_fcfh_cluster_up() ? 1 : 0;

    len = ngx_http_fcfh_metrics_size(&s);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_fcfh_metrics_write(body, &s);

    return ngx_http_fcfh_send(r, NGX_HTTP_OK,
                              (u_char *) "text/plain; version=0.0.4", body,
                              p - body);
}


/* a bound on the text: every name, help and label, and the longest value */

static size_t
ngx_http_fcfh_metrics_size(ngx_http_fcfh_scrape_t *s)
{
    size_t                         len;
    uint64_t                       value;
    ngx_str_t                      label;
    ngx_uint_t                     i, k;
    const ngx_http_fcfh_family_t  *f;

    len = 0;

    for (k = 0; k < sizeof(ngx_http_fcfh_families)
                    / sizeof(ngx_http_fcfh_family_t); k++)
    {
        f = &ngx_http_fcfh_families[k];

        len += sizeof("# HELP  \n# TYPE  \n") - 1
               + 2 * f->name.len + f->help.len + f->type.len;

        for (i = 0; f->sample(s, f, i, &label, &value) == NGX_OK; i++) {
            len += f->name.len + sizeof("{=\"\"} \n") - 1 + f->label.len
                   + NGX_FCFH_ESCAPE_PROM_MAX * label.len + NGX_INT64_LEN;
        }
    }

    return len;
}


static u_char *
ngx_http_fcfh_metrics_write(u_char *p, ngx_http_fcfh_scrape_t *s)
{
    uint64_t                       value;
    ngx_str_t                      label;
    ngx_uint_t                     i, k;
    const ngx_http_fcfh_family_t  *f;

    for (k = 0; k < sizeof(ngx_http_fcfh_families)
                    / sizeof(ngx_http_fcfh_family_t); k++)
    {
        f = &ngx_http_fcfh_families[k];

        /* a family without samples is left out, its help too */

        if (f->sample(s, f, 0, &label, &value) != NGX_OK) {
            continue;
        }

        p = ngx_sprintf(p, "# HELP %V %V\n# TYPE %V %V\n",
                        &f->name, &f->help, &f->name, &f->type);

        for (i = 0; f->sample(s, f, i, &label, &value) == NGX_OK; i++) {
            p = ngx_cpymem(p, f->name.data, f->name.len);

            /*
             * every value escaped: the node's name is the configuration's,
             * the others are ours and come out unchanged
             */

            if (f->label.len) {
                p = ngx_sprintf(p, "{%V=\"", &f->label);
                p = ngx_fcfh_escape_prom(p, label.data, label.len);
                *p++ = '"';
                *p++ = '}';
            }

            p = ngx_sprintf(p, " %uL\n", value);
        }
    }

    return p;
}


/* a sample of a fixed label: a counter, or a value of this scrape */

static ngx_int_t
ngx_http_fcfh_sample_fixed(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_str_t *label,
    uint64_t *value)
{
    const ngx_http_fcfh_sample_t  *x;

    if (i >= NGX_HTTP_FCFH_FIXED_MAX || f->fixed[i].label.data == NULL) {
        return NGX_DONE;
    }

    x = &f->fixed[i];

    *label = x->label;
    *value = x->scraped ? *(uint64_t *) ((u_char *) s + x->offset)
                        : *(ngx_atomic_t *) ((u_char *) s->cn + x->offset);

    return NGX_OK;
}


/* a counter per code (failure, close kind, open result), by its name */

static ngx_int_t
ngx_http_fcfh_sample_code(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_str_t *label,
    uint64_t *value)
{
    if (i >= f->ncodes) {
        return NGX_DONE;
    }

    label->data = (u_char *) f->code_name(i);
    label->len = ngx_strlen(label->data);
    *value = ((ngx_atomic_t *) ((u_char *) s->cn + f->codes))[i];

    return NGX_OK;
}


static const char *
ngx_http_fcfh_failure_name(ngx_uint_t code)
{
    /* 0: no DISCONNECT was sent, the device left */
    return code ? ngx_fcfh_apf_disconnect_reason_name(code)
                : "closed by device";
}


static const char *
ngx_http_fcfh_open_name(ngx_uint_t code)
{
    return ngx_fcfh_open_results[code].name;
}


static ngx_int_t
ngx_http_fcfh_sample_node(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_str_t *label,
    uint64_t *value)
{
    if (i > 0 || s->node == NULL) {
        return NGX_DONE;
    }

    *label = *s->node;
    *value = s->directory_up;

    return NGX_OK;
}


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


struct ngx_http_fcfh_events_ctx_s {
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
};



static ngx_int_t
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
        return NGX_HTTP_NOT_ALLOWED;
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
 *     GET     webhooks
 *     POST    webhooks?url=http://<ip>:<port>/<path>[&events=a,b]
 *     DELETE  webhooks/<id>
 */

static ngx_int_t
ngx_http_fcfh_api_webhooks(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char                *p, *body, *last, *start;
    uint32_t               types;
    ngx_int_t              rc, n, saved;
    ngx_str_t              url, events, s;
    ngx_uint_t             i, j, count, type;
    ngx_fcfh_webhook_t     list[NGX_FCFH_WEBHOOKS];
    ngx_fcfh_main_conf_t  *fmcf;
    const char            *err;

    fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

    if (id) {
        if (!(r->method & NGX_HTTP_DELETE)) {
            return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "use DELETE");
        }

        n = ngx_atoi(id->data, id->len);

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

    if (r->method & NGX_HTTP_POST) {
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

        rc = ngx_fcfh_webhook_add(&url, types, 0, &err);

        if (rc <= 0) {
            return ngx_http_fcfh_api_error(r,
                       rc == NGX_BUSY ? NGX_HTTP_CONFLICT
                                      : NGX_HTTP_BAD_REQUEST, err);
        }

        saved = ngx_fcfh_webhook_save(&fmcf->webhooks_state,
                                      r->connection->log);

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "fcfh: webhook %i added: \"%V\"", rc, &url);

        body = ngx_pnalloc(r->pool, sizeof("{\"id\":,\"persisted\":false}\n")
                                    + NGX_INT_T_LEN);
        if (body == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the subscriber works either way; say when it will not persist */
        p = ngx_sprintf(body, "{\"id\":%i,\"persisted\":%s}\n", rc,
                        saved == NGX_OK ? "true" : "false");

        return ngx_http_fcfh_send_json(r, NGX_HTTP_CREATED, body, p - body);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                       "use GET or POST");
    }

    count = ngx_fcfh_webhook_list(list);

    body = ngx_pnalloc(r->pool, 64 + count * (6 * NGX_FCFH_WEBHOOK_URL_MAX
                                              + 512));
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"webhooks\":[", sizeof("{\"webhooks\":[") - 1);

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
