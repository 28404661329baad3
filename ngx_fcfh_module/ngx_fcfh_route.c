
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Routing for every front door (see ngx_fcfh_route.h): the registry
 * lookup, then a local channel, a relay socket or another node, each
 * with its one copy of the opening steps and deadline.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_relay.h"
#include "ngx_fcfh_cluster.h"
#include "ngx_fcfh_open.h"
#include "ngx_fcfh_route.h"


static void ngx_fcfh_route_remote_opened(void *data, ngx_connection_t *c,
    ngx_uint_t result, ngx_uint_t reason, ngx_str_t *node);
static void ngx_fcfh_route_channel_opened(ngx_fcfh_channel_t *ch,
    ngx_uint_t result, ngx_uint_t reason);
static void ngx_fcfh_route_channel_done(ngx_fcfh_channel_t *ch);
static void ngx_fcfh_route_relay_handler(ngx_event_t *ev);
static void ngx_fcfh_route_handed_over(ngx_event_t *ev);
static void ngx_fcfh_route_result(ngx_fcfh_route_open_t *ro,
    ngx_uint_t result, ngx_uint_t reason);
static void ngx_fcfh_route_posted(ngx_event_t *ev);
static void ngx_fcfh_route_count(ngx_fcfh_route_open_t *ro,
    ngx_uint_t result);
static void ngx_fcfh_session_open(ngx_fcfh_route_open_t *ro);
static void ngx_fcfh_session_event(ngx_fcfh_session_t *s, ngx_uint_t type,
    ngx_uint_t why, off_t to_device, off_t to_console, ngx_msec_t duration);
static u_char *ngx_fcfh_session_text(u_char *p, u_char *last,
    ngx_fcfh_session_t *s);


ngx_uint_t
ngx_fcfh_route_find(ngx_fcfh_route_open_t *ro)
{
    ngx_uint_t  rc;

    ro->looked_up = 1;
    ro->found = 0;
    ro->elsewhere = 0;
    ro->counted = 0;

    if (ngx_fcfh_registry_route(&ro->device, &ro->route) == NGX_OK) {
        ro->found = 1;
        rc = ngx_fcfh_route_port(&ro->route, ro->port);

    } else if (ro->local_only || ngx_fcfh_cluster_node() == NULL) {
        rc = NGX_FCFH_OPEN_NO_TUNNEL;

    } else {
        /* not on this node: the cluster directory may know where */
        ro->elsewhere = 1;
        rc = NGX_FCFH_OPEN_OK;
    }

    if (rc != NGX_FCFH_OPEN_OK) {
        ngx_fcfh_route_count(ro, rc);
    }

    return rc;
}


void
ngx_fcfh_route_open(ngx_fcfh_route_open_t *ro)
{
    ngx_int_t                 rc;
    ngx_uint_t                result;
    ngx_connection_t         *c;
    ngx_fcfh_main_conf_t     *fmcf;
    ngx_fcfh_relay_target_t   target;

    ngx_fcfh_route_cancel(ro);

    ro->connection = NULL;
    ro->channel = NULL;
    ro->session.open = 0;
    ro->node.len = 0;
    ro->node.data = ro->node_data;
    ro->counted = 0;
    ro->in_open = 1;
    ro->opened = ngx_current_msec;

    /* the route found before, if any, is used again */

    if (!ro->looked_up) {
        result = ngx_fcfh_route_find(ro);

        if (result != NGX_FCFH_OPEN_OK) {
            ngx_fcfh_route_result(ro, result, 0);
            goto done;
        }
    }

    if (ro->elsewhere) {
        ro->remote = ngx_fcfh_cluster_open(&ro->device,
                                           NGX_FCFH_RELAY_OP_OPEN, ro->port,
                                           &ro->console, ro->console_port,
                                           ro->log,
                                           ngx_fcfh_route_remote_opened, ro,
                                           &result);

        if (ro->remote == NULL) {
            ngx_fcfh_route_result(ro, result, 0);
        }

        goto done;
    }

    if (ro->splice && ro->route.local) {
        fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

        rc = (fmcf->channel_ops.open == NULL)
             ? NGX_FCFH_OPEN_NO_TUNNEL
             : fmcf->channel_ops.open(ro->route.local, ro->port,
                                      &ro->console, ro->console_port,
                                      ro->splice,
                                      ngx_fcfh_route_channel_opened,
                                      ngx_fcfh_route_channel_done, ro,
                                      &ro->pending);

        if (rc != NGX_FCFH_OPEN_OK) {
            ro->pending = NULL;
            ngx_fcfh_route_result(ro, rc, 0);
        }

        goto done;
    }

    /* a worker of this nginx, maybe this one: through its relay socket */

    c = ngx_fcfh_relay_connect(ro->route.pid, ro->log, &result);

    if (c == NULL) {
        ngx_fcfh_route_result(ro, result, 0);
        goto done;
    }

    ro->peer = c;
    c->data = ro;
    c->read->handler = ngx_fcfh_route_relay_handler;
    c->write->handler = ngx_fcfh_route_relay_handler;

    ngx_memcpy(target.guid, ro->route.guid, NGX_FCFH_APF_GUID_SIZE);
    target.serial = ro->route.serial;
    target.port = ro->port;
    target.console = ro->console;
    target.console_port = ro->console_port;

    ngx_fcfh_relay_open_init(&ro->relay, &target, NGX_FCFH_RELAY_OP_OPEN,
                             ro->route.pid);

    /* the owner's channel open has its own deadline: one more second */
    ngx_add_timer(c->read, ro->timeout ? ro->timeout
                                       : NGX_FCFH_RELAY_TIMEOUT + 1000);

    ngx_fcfh_route_relay_handler(c->write);

done:

    ro->in_open = 0;
}


void
ngx_fcfh_route_cancel(ngx_fcfh_route_open_t *ro)
{
    ngx_fcfh_main_conf_t  *fmcf;

    if (ro->post.posted) {
        /* told of nothing: what was opened for it goes too */
        ngx_delete_posted_event(&ro->post);

        if (ro->connection) {
            ngx_fcfh_relay_close_peer(ro->connection);
            ro->connection = NULL;
        }

        if (ro->channel) {
            fmcf = ngx_fcfh_get_main_conf(ngx_cycle);
            fmcf->channel_ops.abort(ro->channel);
            ro->channel = NULL;
        }
    }

    if (ro->remote) {
        ngx_fcfh_cluster_cancel(ro->remote);
        ro->remote = NULL;
    }

    if (ro->peer) {
        ngx_fcfh_relay_close_peer(ro->peer);
        ro->peer = NULL;
    }

    if (ro->pending) {
        fmcf = ngx_fcfh_get_main_conf(ngx_cycle);
        fmcf->channel_ops.abort(ro->pending);
        ro->pending = NULL;
    }
}


void
ngx_fcfh_route_refused(ngx_fcfh_route_open_t *ro, ngx_uint_t result)
{
    ro->counted = 0;
    ngx_fcfh_route_count(ro, result);
}


/* the other node's answer (ngx_fcfh_cluster.c) */

static void
ngx_fcfh_route_remote_opened(void *data, ngx_connection_t *c,
    ngx_uint_t result, ngx_uint_t reason, ngx_str_t *node)
{
    ngx_fcfh_route_open_t  *ro = data;

    ro->remote = NULL;

    if (node && node->len) {
        ro->node.len = ngx_min(node->len, sizeof(ro->node_data));
        ngx_memcpy(ro->node_data, node->data, ro->node.len);
    }

    if (c) {
        ro->peer = c;
        c->data = ro;
        c->log = ro->log;
        c->read->log = ro->log;
        c->write->log = ro->log;

        ngx_log_error(NGX_LOG_INFO, ro->log, 0,
                      "device %V is on node \"%V\"", &ro->device, &ro->node);
    }

    ngx_fcfh_route_result(ro, result, reason);
}


static void
ngx_fcfh_route_channel_opened(ngx_fcfh_channel_t *ch, ngx_uint_t result,
    ngx_uint_t reason)
{
    ngx_fcfh_route_open_t  *ro;

    ro = ngx_fcfh_get_main_conf(ngx_cycle)->channel_ops.data(ch);

    if (result != NGX_FCFH_OPEN_OK) {
        /* the channel is gone with this call */
        ro->pending = NULL;
    }

    ngx_fcfh_route_result(ro, result, reason);
}


static void
ngx_fcfh_route_channel_done(ngx_fcfh_channel_t *ch)
{
    ngx_fcfh_route_open_t  *ro;

    ro = ngx_fcfh_get_main_conf(ngx_cycle)->channel_ops.data(ch);

    ro->channel = NULL;

    if (ro->done) {
        ro->done(ro);
    }
}


/* the owner worker: preamble out, two status bytes in */

static void
ngx_fcfh_route_relay_handler(ngx_event_t *ev)
{
    ngx_uint_t              result, reason;
    ngx_connection_t       *c;
    ngx_fcfh_route_open_t  *ro;

    c = ev->data;
    ro = c->data;

    if (c->read->timedout) {
        ngx_fcfh_route_result(ro, NGX_FCFH_OPEN_TIMEOUT, 0);
        return;
    }

    if (ngx_fcfh_relay_open_result(c, &ro->relay, &result, &reason)
        == NGX_AGAIN)
    {
        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    ngx_fcfh_route_result(ro, result, reason);
}


static void
ngx_fcfh_route_handed_over(ngx_event_t *ev)
{
    /* the front door's handlers read what arrived meanwhile */
}


/*
 * The end of an open: what it opened becomes the front door's, or is
 * closed; the front door is told from an event of its own.
 */

static void
ngx_fcfh_route_result(ngx_fcfh_route_open_t *ro, ngx_uint_t result,
    ngx_uint_t reason)
{
    ngx_connection_t  *c;

    c = ro->peer;
    ro->peer = NULL;

    if (result == NGX_FCFH_OPEN_OK) {
        if (c) {
            c->read->handler = ngx_fcfh_route_handed_over;
            c->write->handler = ngx_fcfh_route_handed_over;
            ro->connection = c;
        }

        ro->channel = ro->pending;

    } else if (c) {
        ngx_fcfh_relay_close_peer(c);
    }

    ro->pending = NULL;

    ngx_fcfh_route_count(ro, result);

    if (result == NGX_FCFH_OPEN_OK && !ro->internal) {
        /* what a console waits for a channel: refusals are counted only */
        ngx_fcfh_observe(open_time, ngx_current_msec - ro->opened);
    }

    if (result == NGX_FCFH_OPEN_OK) {
        ngx_fcfh_session_open(ro);
    }

    if (ro->in_open) {
        ro->result = result;
        ro->reason = reason;
        ro->post.handler = ngx_fcfh_route_posted;
        ro->post.data = ro;
        ro->post.log = ro->log;
        ngx_post_event(&ro->post, &ngx_posted_events);
        return;
    }

    ro->handler(ro, result, reason);
}


static void
ngx_fcfh_route_posted(ngx_event_t *ev)
{
    ngx_fcfh_route_open_t  *ro = ev->data;

    ro->handler(ro, ro->result, ro->reason);
}


/* console_requests: each request once, whichever way it ended */

static void
ngx_fcfh_route_count(ngx_fcfh_route_open_t *ro, ngx_uint_t result)
{
    if (ro->counted) {
        return;
    }

    ro->counted = 1;

    if (ro->internal) {
        return;
    }

    ngx_fcfh_count(opens[ngx_min(result, NGX_FCFH_OPEN_MAX - 1)], 1);
}


/* the audit: a console session opened */

static void
ngx_fcfh_session_open(ngx_fcfh_route_open_t *ro)
{
    u_char              *p, text[512];
    size_t               len;
    ngx_fcfh_session_t  *s;

    s = &ro->session;

    ngx_memzero(s, sizeof(ngx_fcfh_session_t));

    if (ro->internal || ro->front_door >= NGX_FCFH_FRONT_MAX) {
        return;
    }

    s->open = 1;
    s->start = ngx_current_msec;
    s->port = (uint16_t) ro->port;
    s->front_door = (u_char) ro->front_door;

    if (ro->found) {
        ngx_memcpy(s->guid, ro->route.guid, NGX_FCFH_APF_GUID_SIZE);
        s->name_len = (u_char) ro->route.fqdn_len;
        ngx_memcpy(s->name, ro->route.fqdn, s->name_len);

    } else if (ngx_fcfh_apf_guid_from_text((char *) ro->device.data,
                                           ro->device.len, s->guid)
               != 0)
    {
        /* another node holds it, named by name: as the console named it */
        s->no_guid = 1;
        s->name_len = (u_char) ngx_min(ro->device.len, sizeof(s->name));
        ngx_strlow(s->name, ro->device.data, s->name_len);
    }

    /* empty strings may have no data at all */

    if (ro->node.len) {
        s->node_len = (u_char) ngx_min(ro->node.len, sizeof(s->node));
        ngx_memcpy(s->node, ro->node.data, s->node_len);
    }

    if (ro->user.len) {
        s->user_len = (u_char) ngx_min(ro->user.len, sizeof(s->user));
        ngx_memcpy(s->user, ro->user.data, s->user_len);
    }

    p = ngx_snprintf(s->console, sizeof(s->console),
                     ngx_strlchr(ro->console.data,
                                 ro->console.data + ro->console.len, ':')
                     ? "[%V]:%ui" : "%V:%ui",
                     &ro->console, ro->console_port);
    s->console_len = (u_char) (p - s->console);

    ngx_fcfh_count(console_sessions[s->front_door], 1);

    ngx_fcfh_session_event(s, NGX_FCFH_EVENT_CONSOLE_OPEN, 0, 0, 0, 0);

    p = ngx_fcfh_session_text(text, text + sizeof(text), s);
    len = p - text;

    ngx_log_error(NGX_LOG_NOTICE, ro->log, 0, "console session opened: %*s",
                  len, text);
}


void
ngx_fcfh_route_close(ngx_fcfh_route_open_t *ro, ngx_uint_t why,
    off_t to_device, off_t to_console)
{
    ngx_fcfh_session_close(&ro->session, why, to_device, to_console);
}


void
ngx_fcfh_session_close(ngx_fcfh_session_t *s, ngx_uint_t why,
    off_t to_device, off_t to_console)
{
    u_char      *p, text[512];
    ngx_msec_t   duration;

    if (!s->open) {
        return;
    }

    s->open = 0;

    why = ngx_min(why, NGX_FCFH_END_MAX - 1);
    s->to_device += ngx_max(to_device, 0);
    s->to_console += ngx_max(to_console, 0);
    to_device = s->to_device;
    to_console = s->to_console;
    duration = ngx_current_msec - s->start;

    ngx_fcfh_count(console_closed[s->front_door], 1);
    ngx_fcfh_count(console_to_device[s->front_door], to_device);
    ngx_fcfh_count(console_to_console[s->front_door], to_console);

    ngx_fcfh_session_event(s, NGX_FCFH_EVENT_CONSOLE_CLOSE, why, to_device,
                           to_console, duration);

    p = ngx_fcfh_session_text(text, text + sizeof(text), s);

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "console session closed (%s): %*s, %O bytes to the "
                  "device, %O to the console, %M.%03M s",
                  ngx_fcfh_end_name(why), (size_t) (p - text), text,
                  to_device, to_console, duration / 1000, duration % 1000);
}


static void
ngx_fcfh_session_event(ngx_fcfh_session_t *s, ngx_uint_t type,
    ngx_uint_t why, off_t to_device, off_t to_console, ngx_msec_t duration)
{
    ngx_fcfh_event_t  e;

    ngx_memzero(&e, sizeof(ngx_fcfh_event_t));

    e.type = (uint32_t) type;
    e.reason = (uint32_t) why;
    e.to_device = (uint64_t) to_device;
    e.to_console = (uint64_t) to_console;
    e.duration = duration;
    e.port = s->port;
    e.front_door = s->front_door;
    e.no_guid = s->no_guid;

    ngx_memcpy(e.guid, s->guid, NGX_FCFH_APF_GUID_SIZE);

    /* each field of the session is at most the event's */
    e.fqdn_len = s->name_len;
    ngx_memcpy(e.fqdn, s->name, s->name_len);
    e.identity_len = s->node_len;
    ngx_memcpy(e.identity, s->node, s->node_len);
    e.user_len = s->user_len;
    ngx_memcpy(e.user, s->user, s->user_len);
    e.peer_len = s->console_len;
    ngx_memcpy(e.peer, s->console, s->console_len);

    ngx_fcfh_event_put(&e);
}


/* device <guid> ("name") port N via <front door> from <console>, ... */

static u_char *
ngx_fcfh_session_text(u_char *p, u_char *last, ngx_fcfh_session_t *s)
{
    u_char     buf[NGX_FCFH_LOG_STR_MAX];
    char       guid[NGX_FCFH_APF_GUID_TEXT_SIZE];
    ngx_str_t  shown;

    p = ngx_slprintf(p, last, "device");

    if (!s->no_guid) {
        ngx_fcfh_apf_guid_to_text(s->guid, guid);
        p = ngx_slprintf(p, last, " %*s", (size_t) sizeof(guid), guid);
    }

    if (s->name_len) {
        p = ngx_slprintf(p, last, " \"%V\"",
                         ngx_fcfh_log_str(&shown, buf, sizeof(buf), s->name,
                                          s->name_len));
    }

    /* another node's console: as that node sent it */
    p = ngx_slprintf(p, last, " port %ud via %s from %V",
                     (unsigned) s->port,
                     ngx_fcfh_front_door_name(s->front_door),
                     ngx_fcfh_log_str(&shown, buf, sizeof(buf), s->console,
                                      s->console_len));

    if (s->user_len) {
        p = ngx_slprintf(p, last, ", user \"%V\"",
                         ngx_fcfh_log_str(&shown, buf, sizeof(buf), s->user,
                                          s->user_len));
    }

    if (s->node_len) {
        p = ngx_slprintf(p, last, ", on node \"%V\"",
                         ngx_fcfh_log_str(&shown, buf, sizeof(buf), s->node,
                                          s->node_len));
    }

    return p;
}
