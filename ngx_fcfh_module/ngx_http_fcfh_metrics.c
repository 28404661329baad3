
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh_metrics: the gateway's counters and what a scrape computes from
 * the registry, in the Prometheus text exposition format, named by
 * Prometheus' conventions (units in the name, _total on counters,
 * snake_case label values, one family per quantity).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>

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
    ngx_fcfh_counters_t             *cn;          /* &counters */

    /*
     * the zone's counters copied once: both passes over the table see
     * the same numbers, and a histogram's buckets add up to its count
     */
    ngx_fcfh_counters_t              counters;
} ngx_http_fcfh_scrape_t;


/* a sample with a fixed label value: a counter or a computed value */
typedef struct {
    ngx_str_t                        label;   /* value; "": no label */
    size_t                           offset;  /* in the counters or scrape */
    ngx_uint_t                       scraped; /* 1: in the scrape */
} ngx_http_fcfh_sample_t;


/* one line of a family: its name's suffix, labels and value */

#define NGX_HTTP_FCFH_LABELS_MAX     2

typedef struct {
    ngx_str_t                        suffix;  /* histograms: "_bucket".. */
    ngx_uint_t                       nlabels;
    ngx_str_t                        name[NGX_HTTP_FCFH_LABELS_MAX];
    ngx_str_t                        value[NGX_HTTP_FCFH_LABELS_MAX];
    uint64_t                         number;
    ngx_uint_t                       msec;    /* number is ms: seconds */
    u_char                           text[NGX_INT64_LEN + 8]; /* le */
} ngx_http_fcfh_point_t;

/* a bound on a value's text: digits, and ".000" when in seconds */
#define NGX_HTTP_FCFH_NUMBER_LEN     (NGX_INT64_LEN + sizeof(".000") - 1)


typedef struct ngx_http_fcfh_family_s  ngx_http_fcfh_family_t;

/*
 * sample i of the family: NGX_OK; NGX_DECLINED, none this scrape (the
 * size still counts it); NGX_DONE past the last one
 */
typedef ngx_int_t (*ngx_http_fcfh_sample_pt)(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_http_fcfh_point_t *pt);

#define NGX_HTTP_FCFH_FIXED_MAX      5

struct ngx_http_fcfh_family_s {
    ngx_str_t                        name;
    ngx_str_t                        type;
    ngx_str_t                        help;
    ngx_str_t                        label;   /* label name; empty: none */
    ngx_http_fcfh_sample_pt          sample;
    /* fixed samples; a histogram's counters at fixed[0] */
    ngx_http_fcfh_sample_t           fixed[NGX_HTTP_FCFH_FIXED_MAX];

    /* or a counter per code, labelled with the code's name */
    ngx_uint_t                       ncodes;
    size_t                           codes;   /* in the counters */
    const char                    *(*code_name)(ngx_uint_t code);
};


static size_t ngx_http_fcfh_metrics_size(ngx_http_fcfh_scrape_t *s);
static u_char *ngx_http_fcfh_metrics_write(u_char *p,
    ngx_http_fcfh_scrape_t *s);
static void ngx_http_fcfh_point_label(ngx_http_fcfh_point_t *pt,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_fcfh_sample_fixed(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_http_fcfh_point_t *pt);
static ngx_int_t ngx_http_fcfh_sample_code(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_http_fcfh_point_t *pt);
static ngx_int_t ngx_http_fcfh_sample_failure(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_http_fcfh_point_t *pt);
static ngx_int_t ngx_http_fcfh_sample_histogram(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_http_fcfh_point_t *pt);
static ngx_int_t ngx_http_fcfh_sample_build(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_http_fcfh_point_t *pt);
static const char *ngx_http_fcfh_open_name(ngx_uint_t code);
static ngx_int_t ngx_http_fcfh_sample_node(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_http_fcfh_point_t *pt);


/* Prometheus text exposition format */

#define ngx_http_fcfh_counter(label, field)                                  \
    { ngx_string(label), offsetof(ngx_fcfh_counters_t, field), 0 }

#define ngx_http_fcfh_scraped(label, field)                                  \
    { ngx_string(label), offsetof(ngx_http_fcfh_scrape_t, field), 1 }

/* a histogram in the counters: its fixed[0] */
#define ngx_http_fcfh_histogram(field)                                       \
    { { ngx_string(""), offsetof(ngx_fcfh_counters_t, field), 0 } }


static const ngx_http_fcfh_family_t  ngx_http_fcfh_families[] = {

    { ngx_string("fcfh_build_info"), ngx_string("gauge"),
      ngx_string("The module's version and the nginx version it was built "
                 "for; always 1."),
      ngx_null_string, ngx_http_fcfh_sample_build,
      { { ngx_null_string, 0, 0 } },
      0, 0, NULL },

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

    { ngx_string("fcfh_handshake_duration_seconds"), ngx_string("histogram"),
      ngx_string("Time from a device's TCP connection to its tunnel's "
                 "registration (TLS and APF handshakes), of established "
                 "tunnels."),
      ngx_null_string, ngx_http_fcfh_sample_histogram,
      ngx_http_fcfh_histogram(handshake_time),
      0, 0, NULL },

    { ngx_string("fcfh_handshake_failures_total"), ngx_string("counter"),
      ngx_string("Handshakes refused or abandoned, by the DISCONNECT "
                 "reason sent (closed_by_device: none was, the device "
                 "left)."),
      ngx_string("reason"), ngx_http_fcfh_sample_failure,
      { { ngx_null_string, 0, 0 } },
      NGX_FCFH_FAIL_MAX, offsetof(ngx_fcfh_counters_t, failures),
      ngx_fcfh_failure_name },

    { ngx_string("fcfh_tunnels_closed_total"), ngx_string("counter"),
      ngx_string("Established tunnels ended, by cause."),
      ngx_string("reason"), ngx_http_fcfh_sample_code,
      { { ngx_null_string, 0, 0 } },
      NGX_FCFH_CLOSE_MAX, offsetof(ngx_fcfh_counters_t, closed),
      ngx_fcfh_close_name },

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

    { ngx_string("fcfh_console_open_duration_seconds"),
      ngx_string("histogram"),
      ngx_string("Time from a console's request for a channel (the routing "
                 "API's open) to the channel open, of requests that got "
                 "one."),
      ngx_null_string, ngx_http_fcfh_sample_histogram,
      ngx_http_fcfh_histogram(open_time),
      0, 0, NULL },

    { ngx_string("fcfh_console_to_device_bytes_total"),
      ngx_string("counter"),
      ngx_string("Bytes consoles sent to the devices in ended sessions, by "
                 "front door."),
      ngx_string("front_door"), ngx_http_fcfh_sample_code,
      { { ngx_null_string, 0, 0 } },
      NGX_FCFH_FRONT_MAX, offsetof(ngx_fcfh_counters_t, console_to_device),
      ngx_fcfh_front_door_name },

    { ngx_string("fcfh_console_to_console_bytes_total"),
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

    { ngx_string("fcfh_zone_size_bytes"), ngx_string("gauge"),
      ngx_string("Size of the shared memory zone (fcfh_zone)."),
      ngx_null_string, ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_scraped("", zone_size) },
      0, 0, NULL },

    { ngx_string("fcfh_zone_used_bytes"), ngx_string("gauge"),
      ngx_string("Bytes of the zone in use (the slab allocator's pages "
                 "handed out)."),
      ngx_null_string, ngx_http_fcfh_sample_fixed,
      { ngx_http_fcfh_scraped("", zone_used) },
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
    ngx_fcfh_counters_t     *cn;
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

    cn = ngx_fcfh_registry_counters();

    if (cn == NULL
        || ngx_fcfh_registry_stats(&size, &used, &count) != NGX_OK
        || ngx_fcfh_registry_totals(&t) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* word by word, as every reader of the counters: no lock */

    ngx_memcpy(&s.counters, cn, sizeof(ngx_fcfh_counters_t));
    s.cn = &s.counters;

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


/*
 * a bound on the text: every name, help and label, and the longest
 * value, of every sample a family may have (those it leaves out of this
 * scrape too)
 */

static size_t
ngx_http_fcfh_metrics_size(ngx_http_fcfh_scrape_t *s)
{
    size_t                         len;
    ngx_int_t                      rc;
    ngx_uint_t                     i, j, k;
    ngx_http_fcfh_point_t          pt;
    const ngx_http_fcfh_family_t  *f;

    len = 0;

    for (k = 0; k < sizeof(ngx_http_fcfh_families)
                    / sizeof(ngx_http_fcfh_family_t); k++)
    {
        f = &ngx_http_fcfh_families[k];

        len += sizeof("# HELP  \n# TYPE  \n") - 1
               + 2 * f->name.len + f->help.len + f->type.len;

        for (i = 0; /* void */; i++) {
            rc = f->sample(s, f, i, &pt);

            if (rc == NGX_DONE) {
                break;
            }

            len += f->name.len + pt.suffix.len + sizeof("{} \n") - 1
                   + NGX_HTTP_FCFH_NUMBER_LEN;

            for (j = 0; j < pt.nlabels; j++) {
                len += pt.name[j].len + sizeof(",=\"\"") - 1
                       + NGX_FCFH_ESCAPE_PROM_MAX * pt.value[j].len;
            }
        }
    }

    return len;
}


static u_char *
ngx_http_fcfh_metrics_write(u_char *p, ngx_http_fcfh_scrape_t *s)
{
    ngx_int_t                      rc;
    ngx_uint_t                     i, j, k, n;
    ngx_http_fcfh_point_t          pt;
    const ngx_http_fcfh_family_t  *f;

    for (k = 0; k < sizeof(ngx_http_fcfh_families)
                    / sizeof(ngx_http_fcfh_family_t); k++)
    {
        f = &ngx_http_fcfh_families[k];

        /* a family without samples is left out, its help too */

        n = 0;

        for (i = 0; /* void */; i++) {
            rc = f->sample(s, f, i, &pt);

            if (rc == NGX_DONE) {
                break;
            }

            if (rc != NGX_OK) {
                continue;
            }

            if (n++ == 0) {
                p = ngx_sprintf(p, "# HELP %V %V\n# TYPE %V %V\n",
                                &f->name, &f->help, &f->name, &f->type);
            }

            p = ngx_cpymem(p, f->name.data, f->name.len);

            if (pt.suffix.len) {
                /* no copy from the NULL of an empty suffix */
                p = ngx_cpymem(p, pt.suffix.data, pt.suffix.len);
            }

            /*
             * every value escaped: the node's name is the configuration's,
             * the others are ours and come out unchanged
             */

            if (pt.nlabels) {
                *p++ = '{';

                for (j = 0; j < pt.nlabels; j++) {
                    p = ngx_sprintf(p, "%s%V=\"", j ? "," : "", &pt.name[j]);
                    p = ngx_fcfh_escape_prom(p, pt.value[j].data,
                                             pt.value[j].len);
                    *p++ = '"';
                }

                *p++ = '}';
            }

            if (pt.msec) {
                p = ngx_sprintf(p, " %uL.%03uL\n",
                                pt.number / 1000, pt.number % 1000);

            } else {
                p = ngx_sprintf(p, " %uL\n", pt.number);
            }
        }
    }

    return p;
}


static void
ngx_http_fcfh_point_label(ngx_http_fcfh_point_t *pt, ngx_str_t *name,
    ngx_str_t *value)
{
    pt->name[pt->nlabels] = *name;
    pt->value[pt->nlabels] = *value;
    pt->nlabels++;
}


/* a sample of a fixed label: a counter, or a value of this scrape */

static ngx_int_t
ngx_http_fcfh_sample_fixed(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_http_fcfh_point_t *pt)
{
    const ngx_http_fcfh_sample_t  *x;

    if (i >= NGX_HTTP_FCFH_FIXED_MAX || f->fixed[i].label.data == NULL) {
        return NGX_DONE;
    }

    x = &f->fixed[i];

    ngx_memzero(pt, sizeof(ngx_http_fcfh_point_t));

    if (f->label.len) {
        ngx_http_fcfh_point_label(pt, (ngx_str_t *) &f->label,
                                  (ngx_str_t *) &x->label);
    }

    pt->number = x->scraped ? *(uint64_t *) ((u_char *) s + x->offset)
                            : *(ngx_atomic_t *) ((u_char *) s->cn + x->offset);

    return NGX_OK;
}


/* a counter per code (failure, close kind, open result), by its name */

static ngx_int_t
ngx_http_fcfh_sample_code(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_http_fcfh_point_t *pt)
{
    ngx_str_t  value;

    if (i >= f->ncodes) {
        return NGX_DONE;
    }

    ngx_memzero(pt, sizeof(ngx_http_fcfh_point_t));

    value.data = (u_char *) f->code_name(i);
    value.len = ngx_strlen(value.data);

    ngx_http_fcfh_point_label(pt, (ngx_str_t *) &f->label, &value);

    pt->number = ((ngx_atomic_t *) ((u_char *) s->cn + f->codes))[i];

    return NGX_OK;
}


/*
 * handshake failures: a series for each reason the gateway sends; one it
 * never sends (reserved, MAC error...) only if it was counted all the same
 */

static ngx_int_t
ngx_http_fcfh_sample_failure(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_http_fcfh_point_t *pt)
{
    ngx_int_t  rc;

    rc = ngx_http_fcfh_sample_code(s, f, i, pt);

    if (rc == NGX_OK
        && !(NGX_FCFH_FAIL_SENT & (1 << i))
        && pt->number == 0)
    {
        return NGX_DECLINED;
    }

    return rc;
}


/*
 * a histogram: its cumulative buckets by upper bound in seconds ("le"),
 * then _sum (seconds) and _count (the +Inf bucket)
 */

static ngx_int_t
ngx_http_fcfh_sample_histogram(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_http_fcfh_point_t *pt)
{
    u_char                *p;
    uint64_t               total;
    ngx_msec_t             bound;
    ngx_str_t              le;
    ngx_uint_t             k;
    ngx_fcfh_histogram_t  *h;

    static ngx_str_t       le_name = ngx_string("le");
    static ngx_str_t       suffixes[] = {
        ngx_string("_bucket"), ngx_string("_sum"), ngx_string("_count")
    };

    if (i > NGX_FCFH_HISTOGRAM_BOUNDS + 2) {
        return NGX_DONE;
    }

    ngx_memzero(pt, sizeof(ngx_http_fcfh_point_t));

    h = (ngx_fcfh_histogram_t *) ((u_char *) s->cn + f->fixed[0].offset);

    if (f->label.len) {
        /* a family label, on every line: its value is fixed[0]'s */
        ngx_http_fcfh_point_label(pt, (ngx_str_t *) &f->label,
                                  (ngx_str_t *) &f->fixed[0].label);
    }

    if (i == NGX_FCFH_HISTOGRAM_BOUNDS + 1) {
        pt->suffix = suffixes[1];
        pt->number = h->sum;
        pt->msec = 1;
        return NGX_OK;
    }

    /* buckets up to i; _count: all of them */

    total = 0;

    for (k = 0; k <= ngx_min(i, NGX_FCFH_HISTOGRAM_BOUNDS); k++) {
        total += h->bucket[k];
    }

    pt->number = total;

    if (i == NGX_FCFH_HISTOGRAM_BOUNDS + 2) {
        pt->suffix = suffixes[2];
        return NGX_OK;
    }

    pt->suffix = suffixes[0];

    if (i == NGX_FCFH_HISTOGRAM_BOUNDS) {
        ngx_str_set(&le, "+Inf");

    } else {
        /* the bound in seconds, without trailing zeros: 0.005, 2.5, 30 */

        bound = ngx_fcfh_histogram_bounds[i];

        p = ngx_sprintf(pt->text, "%ui", (ngx_uint_t) (bound / 1000));

        if (bound % 1000) {
            p = ngx_sprintf(p, ".%03ui", (ngx_uint_t) (bound % 1000));

            while (p[-1] == '0') {
                p--;
            }
        }

        le.data = pt->text;
        le.len = p - pt->text;
    }

    ngx_http_fcfh_point_label(pt, &le_name, &le);

    return NGX_OK;
}


static ngx_int_t
ngx_http_fcfh_sample_build(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_http_fcfh_point_t *pt)
{
    static ngx_str_t  version = ngx_string("version");
    static ngx_str_t  nginx_name = ngx_string("nginx_version");
    static ngx_str_t  ours = ngx_string(NGX_FCFH_VERSION);
    static ngx_str_t  nginx = ngx_string(NGINX_VERSION);

    if (i > 0) {
        return NGX_DONE;
    }

    ngx_memzero(pt, sizeof(ngx_http_fcfh_point_t));

    ngx_http_fcfh_point_label(pt, &version, &ours);
    ngx_http_fcfh_point_label(pt, &nginx_name, &nginx);

    pt->number = 1;

    return NGX_OK;
}


static const char *
ngx_http_fcfh_open_name(ngx_uint_t code)
{
    return ngx_fcfh_open_results[code].name;
}


static ngx_int_t
ngx_http_fcfh_sample_node(ngx_http_fcfh_scrape_t *s,
    const ngx_http_fcfh_family_t *f, ngx_uint_t i, ngx_http_fcfh_point_t *pt)
{
    if (i > 0 || s->node == NULL) {
        return NGX_DONE;
    }

    ngx_memzero(pt, sizeof(ngx_http_fcfh_point_t));

    ngx_http_fcfh_point_label(pt, (ngx_str_t *) &f->label, s->node);

    pt->number = s->directory_up;

    return NGX_OK;
}
