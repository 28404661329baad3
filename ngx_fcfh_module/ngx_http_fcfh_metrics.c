
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh_metrics: the gateway's counters and what a scrape computes from
 * the registry, in the Prometheus text exposition format.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_escape.h"
#include "ngx_fcfh_open.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_history.h"
#include "ngx_fcfh_json.h"
#include "ngx_fcfh_cluster.h"
#include "ngx_http_fcfh.h"
#include "ngx_http_fcfh_metrics.h"


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
    uint64_t                         devices_known;
    uint64_t                         console_open;  /* sessions */
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


static size_t ngx_http_fcfh_metrics_size(ngx_http_fcfh_scrape_t *s);
static u_char *ngx_http_fcfh_metrics_write(u_char *p,
    ngx_http_fcfh_scrape_t *s);
static ngx_int_t ngx_http_fcfh_sample_fixed(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_str_t *label,
    uint64_t *value);
static ngx_int_t ngx_http_fcfh_sample_code(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_str_t *label,
    uint64_t *value);
static const char *ngx_http_fcfh_open_name(ngx_uint_t code);
static ngx_int_t ngx_http_fcfh_sample_node(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_str_t *label,
    uint64_t *value);


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
      ngx_fcfh_failure_name },

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

    { ngx_string("fcfh_console_sessions_total"), ngx_string("counter"),
      ngx_string("Console sessions opened (a channel the device "
                 "confirmed), by front door."),
      ngx_string("front_door"), ngx_http_fcfh_sample_code,
      { { ngx_null_string, 0, 0 } },
      NGX_FCFH_FRONT_MAX, offsetof(ngx_fcfh_counters_t, console_sessions),
      ngx_fcfh_front_door_name },

    { ngx_string("fcfh_console_sessions_open"), ngx_string("gauge"),
      ngx_string("Console sessions open."),
      ngx_null_string, ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_scraped("", console_open) },
      0, 0, NULL },

    { ngx_string("fcfh_console_bytes_to_device_total"),
      ngx_string("counter"),
      ngx_string("Bytes consoles sent to the devices in ended sessions, by "
                 "front door."),
      ngx_string("front_door"), ngx_http_fcfh_sample_code,
      { { ngx_null_string, 0, 0 } },
      NGX_FCFH_FRONT_MAX, offsetof(ngx_fcfh_counters_t, console_to_device),
      ngx_fcfh_front_door_name },

    { ngx_string("fcfh_console_bytes_to_console_total"),
      ngx_string("counter"),
      ngx_string("Bytes the devices sent to consoles in ended sessions, by "
                 "front door."),
      ngx_string("front_door"), ngx_http_fcfh_sample_code,
      { { ngx_null_string, 0, 0 } },
      NGX_FCFH_FRONT_MAX, offsetof(ngx_fcfh_counters_t, console_to_console),
      ngx_fcfh_front_door_name },

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

    { ngx_string("fcfh_devices_known"), ngx_string("gauge"),
      ngx_string("Devices the gateway knows: connected now, or with a "
                 "record in the device history."),
      ngx_null_string, ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_scraped("", devices_known) },
      0, 0, NULL },

    /* only on a cluster node */
    { ngx_string("fcfh_cluster_directory_up"), ngx_string("gauge"),
      ngx_string("Whether the worker that answered reaches the cluster "
                 "directory (Redis)."),
      ngx_string("node"), ngx_http_fcfh_sample_node,
      { { ngx_null_string, 0, 0 } },
      0, 0, NULL }
};


ngx_int_t
ngx_http_fcfh_metrics_handler(ngx_http_request_t *r)
{
    u_char                  *p, *body;
    size_t                   size, used, len;
    ngx_int_t                rc;
    ngx_uint_t               i, count, known, capacity;
    ngx_fcfh_totals_t        t;
    ngx_http_fcfh_scrape_t   s;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_fcfh_not_allowed(r, NGX_HTTP_GET|NGX_HTTP_HEAD);
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
        || ngx_fcfh_registry_totals(&t) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* live tunnels add their own bytes to those of ended ones */

    s.bytes_in = s.cn->bytes_in + t.bytes_in;
    s.bytes_out = s.cn->bytes_out + t.bytes_out;
    s.channels = t.channels;
    s.zone_size = size;
    s.zone_used = used;

    for (i = 0; i < 5; i++) {
        s.trigger[i] = t.trigger[i];
    }

    ngx_fcfh_history_counts(&known, &capacity);
    s.devices_known = known;

    s.node = ngx_fcfh_cluster_node();
    s.directory_up = ngx_fcfh_cluster_up() ? 1 : 0;

    for (i = 0; i < NGX_FCFH_FRONT_MAX; i++) {
        /* a worker that crashed never closed its sessions */
        if (s.cn->console_sessions[i] > s.cn->console_closed[i]) {
            s.console_open += s.cn->console_sessions[i]
                              - s.cn->console_closed[i];
        }
    }

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
