
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * JSON pieces shared by the operators' endpoints and the webhooks: one
 * event is the same object in a Server-Sent Events stream and in a
 * webhook POST.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_escape.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_json.h"
#include "ngx_fcfh_cluster.h"


static const char  *ngx_fcfh_close_names[] = {
    "device", "idle_timeout", "replaced", "api", "worker_exit", "error"
};


/*
 * Handshake failures by the DISCONNECT reason sent (0: none was sent,
 * the device left), in snake_case: keys in stats, label values in
 * metrics, the reason of an auth_failed event
 */
static const char  *ngx_fcfh_failure_names[] = {
    "closed_by_device", "host_not_allowed", "protocol_error",
    "key_exchange_failed", "reserved", "mac_error", "compression_error",
    "service_not_available", "protocol_version_not_supported",
    "host_key_not_verifiable", "connection_lost", "by_application",
    "too_many_connections", "auth_cancelled_by_user",
    "no_more_auth_methods", "invalid_credentials", "connection_timed_out",
    "by_policy", "temporarily_unavailable"
};


static const char  *ngx_fcfh_event_names[] = {
    "", "connected", "disconnected", "auth_failed", "alert", "fqdn_conflict",
    "console_open", "console_close"
};


static u_char *ngx_fcfh_event_json_console(u_char *p, ngx_fcfh_event_t *e);
static u_char *ngx_fcfh_event_json_where(u_char *p, ngx_fcfh_event_t *e,
    const char *identity);


const char *
ngx_fcfh_close_name(ngx_uint_t kind)
{
    return ngx_fcfh_close_names[ngx_min(kind, NGX_FCFH_CLOSE_MAX - 1)];
}


const char *
ngx_fcfh_failure_name(ngx_uint_t reason)
{
    if (reason >= sizeof(ngx_fcfh_failure_names) / sizeof(char *)) {
        return "unknown";
    }

    return ngx_fcfh_failure_names[reason];
}


const char *
ngx_fcfh_event_name(ngx_uint_t type)
{
    return (type < sizeof(ngx_fcfh_event_names) / sizeof(char *))
           ? ngx_fcfh_event_names[type] : "";
}


/* an event type by name, 0 when unknown */

ngx_uint_t
ngx_fcfh_event_type(u_char *name, size_t len)
{
    ngx_uint_t  i;

    for (i = 1; i < sizeof(ngx_fcfh_event_names) / sizeof(char *); i++) {
        if (ngx_strlen(ngx_fcfh_event_names[i]) == len
            && ngx_strncmp(ngx_fcfh_event_names[i], name, len) == 0)
        {
            return i;
        }
    }

    return 0;
}


/*
 * A string, escaped, or null when missing or empty; 6 bytes per input
 * byte at most.  Invalid UTF-8 from a device or a console becomes U+FFFD:
 * one device's bytes must not break every strict parser that reads us.
 */

u_char *
ngx_fcfh_json_str(u_char *p, ngx_str_t *s)
{
    if (s == NULL || s->len == 0) {
        return ngx_cpymem(p, "null", 4);
    }

    *p++ = '"';
    p = ngx_fcfh_escape_json(p, s->data, s->len);
    *p++ = '"';

    return p;
}


u_char *
ngx_fcfh_json_time(u_char *p, time_t t)
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


/* one event as a JSON object: at most NGX_FCFH_EVENT_JSON_MAX bytes */

u_char *
ngx_fcfh_event_json(u_char *p, ngx_fcfh_event_t *e)
{
    char        guid[NGX_FCFH_APF_GUID_TEXT_SIZE];
    ngx_str_t   s;

    ngx_fcfh_apf_guid_to_text(e->guid, guid);

    p = ngx_sprintf(p, "{\"id\":%uL,\"event\":\"%s\",\"time\":", e->seq,
                    ngx_fcfh_event_name(e->type));
    p = ngx_fcfh_json_time(p, e->time);
    if (e->type == NGX_FCFH_EVENT_CONSOLE_OPEN
        || e->type == NGX_FCFH_EVENT_CONSOLE_CLOSE)
    {
        return ngx_fcfh_event_json_console(p, e);
    }

    p = ngx_sprintf(p, ",\"guid\":\"%*s\"",
                    (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, guid);
    p = ngx_fcfh_event_json_where(p, e, "identity");

    /* an alert's "user" slot holds where the datagram was for */
    if (e->type == NGX_FCFH_EVENT_ALERT) {
        p = ngx_cpymem(p, ",\"receiver\":", sizeof(",\"receiver\":") - 1);

    } else {
        p = ngx_cpymem(p, ",\"user\":", sizeof(",\"user\":") - 1);
    }

    s.data = e->user;
    s.len = e->user_len;
    p = ngx_fcfh_json_str(p, &s);

    p = ngx_cpymem(p, ",\"peer\":", sizeof(",\"peer\":") - 1);
    s.data = e->peer;
    s.len = e->peer_len;
    p = ngx_fcfh_json_str(p, &s);

    p = ngx_sprintf(p, ",\"trigger\":\"%s\"",
                    ngx_fcfh_apf_trigger_name(e->trigger));

    switch (e->type) {

    case NGX_FCFH_EVENT_DISCONNECTED:
        p = ngx_sprintf(p, ",\"reason\":\"%s\"",
                        ngx_fcfh_close_name(e->reason));
        break;

    case NGX_FCFH_EVENT_ALERT:
        p = ngx_sprintf(p, ",\"relayed\":%s", e->reason ? "true" : "false");
        break;

    case NGX_FCFH_EVENT_FQDN_CONFLICT:
        ngx_fcfh_apf_guid_to_text(e->holder, guid);
        p = ngx_sprintf(p, ",\"holder\":\"%*s\"",
                        (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, guid);
        break;

    case NGX_FCFH_EVENT_AUTH_FAILED:
        p = ngx_sprintf(p, ",\"reason\":\"%s\"",
                        ngx_fcfh_failure_name(e->reason));
        break;
    }

    *p++ = '}';

    return p;
}


/*
 * A console session's event, after "id", "event" and "time": the device
 * (guid null when another node holds it and the console named it by
 * name), this gateway node, the node that holds the device, the port,
 * the front door, the console and its user; at the end, why, the bytes
 * each way and the duration.
 */

static u_char *
ngx_fcfh_event_json_console(u_char *p, ngx_fcfh_event_t *e)
{
    char        guid[NGX_FCFH_APF_GUID_TEXT_SIZE];
    ngx_str_t   s;

    if (e->no_guid) {
        p = ngx_cpymem(p, ",\"guid\":null", sizeof(",\"guid\":null") - 1);

    } else {
        ngx_fcfh_apf_guid_to_text(e->guid, guid);
        p = ngx_sprintf(p, ",\"guid\":\"%*s\"",
                        (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, guid);
    }

    p = ngx_fcfh_event_json_where(p, e, "device_node");

    p = ngx_sprintf(p, ",\"port\":%ud,\"front_door\":\"%s\",\"console\":",
                    (unsigned) e->port,
                    ngx_fcfh_front_door_name(e->front_door));
    s.data = e->peer;
    s.len = e->peer_len;
    p = ngx_fcfh_json_str(p, &s);

    p = ngx_cpymem(p, ",\"user\":", sizeof(",\"user\":") - 1);
    s.data = e->user;
    s.len = e->user_len;
    p = ngx_fcfh_json_str(p, &s);

    if (e->type == NGX_FCFH_EVENT_CONSOLE_CLOSE) {
        p = ngx_sprintf(p, ",\"reason\":\"%s\",\"bytes_to_device\":%uL,"
                        "\"bytes_to_console\":%uL,\"duration_ms\":%uL",
                        ngx_fcfh_end_name(e->reason), e->to_device,
                        e->to_console, e->duration);
    }

    *p++ = '}';

    return p;
}


/*
 * What every event says after its device: the worker, the device's name,
 * this gateway node in a cluster, and the identity slot under the name
 * the kind of event gives it.
 */

static u_char *
ngx_fcfh_event_json_where(u_char *p, ngx_fcfh_event_t *e,
    const char *identity)
{
    ngx_str_t   s, *node;

    p = ngx_sprintf(p, ",\"worker\":%P,\"fqdn\":", e->pid);

    s.data = e->fqdn;
    s.len = e->fqdn_len;
    p = ngx_fcfh_json_str(p, &s);

    /* in a cluster: which gateway node saw it */
    node = ngx_fcfh_cluster_node();

    if (node) {
        p = ngx_sprintf(p, ",\"node\":\"%V\"", node);
    }

    p = ngx_sprintf(p, ",\"%s\":", identity);

    s.data = e->identity;
    s.len = e->identity_len;

    return ngx_fcfh_json_str(p, &s);
}
