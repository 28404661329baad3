
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Routing: the one way a front door reaches a port of a device.
 *
 * A front door (SOCKS5/CONNECT, fcfh_pass, the WS-Management client, the
 * other nodes' fcfh_cluster_relay, ...) fills in an ngx_fcfh_route_open_t
 * and calls ngx_fcfh_route_open().  The routing layer looks the device
 * up, then opens the channel by whichever way leads to it:
 *
 *   - a tunnel of this worker, when the front door offers a connection
 *     to splice (ro->splice): the channel reads and writes that
 *     connection itself (ro->channel);
 *   - a tunnel of any worker of this nginx (this one too, without
 *     splice): through that worker's relay socket (ro->connection);
 *   - a tunnel of another gateway node (unless ro->local_only): through
 *     that node's fcfh_cluster_relay, over mutual TLS (ro->connection).
 *
 * Each front door keeps its own protocol and its own answers to the
 * NGX_FCFH_OPEN_* results (ngx_fcfh_open.h); the results are counted
 * here (console_requests), once per request.
 *
 * Use:
 *
 *     ngx_memzero(ro, sizeof(ngx_fcfh_route_open_t));
 *     ro->device = ...; ro->port = ...; ro->console = ...; ...
 *     ro->handler = my_opened; ro->data = my_ctx;
 *
 *     rc = ngx_fcfh_route_find(ro);      optional: refuse at once
 *     if (rc != NGX_FCFH_OPEN_OK) { answer rc; return; }
 *
 *     ngx_fcfh_route_open(ro);           my_opened() follows, once
 *
 *     my_opened(ro, result, reason):
 *         NGX_FCFH_OPEN_OK: ro->connection (or ro->channel) is the
 *         front door's now: its bytes are the channel's, both ways;
 *         set c->data and the handlers, close it with
 *         ngx_fcfh_relay_close_peer() (or ngx_fcfh_channel_abort());
 *         the console session is open (console_open was emitted):
 *         when it ends, ngx_fcfh_route_close(ro, why, bytes...);
 *         anything else: nothing is left open, answer the refusal.
 *
 * The handler is always called from an event handler of its own, never
 * from within ngx_fcfh_route_open() (an http front door runs its posted
 * requests after it).  A front door that goes away first (console gone,
 * request freed) calls ngx_fcfh_route_cancel(), which may be called at
 * any time, any number of times: from its pool cleanup, say.
 *
 * An ngx_fcfh_route_open_t may be opened again once its handler ran or
 * it was cancelled, and its session ended: the route found stays and is
 * used again (the WS-Management client opens one channel per exchange).
 */


#ifndef _NGX_FCFH_ROUTE_H_INCLUDED_
#define _NGX_FCFH_ROUTE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_open.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_relay.h"
#include "ngx_fcfh_cluster.h"


/*
 * A console session, for the audit: from the channel's opening (the
 * console_open event) to its end (console_close), with what the events
 * carry, copied and cut to their fields, so that it may outlive the
 * request that opened it (fcfh_pass keeps it with a kept channel).  The
 * front door ends it once, with ngx_fcfh_route_close() or
 * ngx_fcfh_session_close(); a second end does nothing.
 */
typedef struct {
    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    ngx_msec_t                       start;
    uint64_t                         to_device;  /* so far (fcfh_pass) */
    uint64_t                         to_console;
    uint16_t                         port;
    u_char                           front_door;
    u_char                           no_guid;    /* named, GUID unknown */
    u_char                           name_len;
    u_char                           node_len;
    u_char                           user_len;
    u_char                           console_len;
    u_char                           name[64];
    u_char                           node[NGX_FCFH_CLUSTER_NAME_MAX];
    u_char                           user[32];
    u_char                           console[48];  /* address:port */
    unsigned                         open:1;
} ngx_fcfh_session_t;


typedef struct ngx_fcfh_route_open_s  ngx_fcfh_route_open_t;

/* result: an NGX_FCFH_OPEN_* code; reason: the device's refusal reason */
typedef void (*ngx_fcfh_route_opened_pt)(ngx_fcfh_route_open_t *ro,
    ngx_uint_t result, ngx_uint_t reason);

/*
 * A spliced channel ended after an OK (the device closed it, its tunnel
 * ended, or the channel saw its console side end): ro->channel is NULL
 * already, the channel itself is freed when done() returns.
 */
typedef void (*ngx_fcfh_route_done_pt)(ngx_fcfh_route_open_t *ro);


struct ngx_fcfh_route_open_s {
    /* in: set by the front door; the strings must live until it ends */
    ngx_str_t                        device;     /* GUID or name, as named */
    ngx_uint_t                       port;
    ngx_str_t                        console;    /* who asks: address */
    ngx_uint_t                       console_port;
    ngx_str_t                        user;       /* console user, or empty */
    ngx_uint_t                       front_door; /* NGX_FCFH_FRONT_*,
                                                    ngx_fcfh_open.h */
    ngx_log_t                       *log;

    /*
     * optional (stream): a tunnel of this worker is spliced onto this
     * connection directly; done() tells that the channel ended
     */
    ngx_connection_t                *splice;
    ngx_fcfh_route_done_pt           done;

    ngx_msec_t                       timeout;    /* 0: the relay's own */
    ngx_fcfh_route_opened_pt         handler;
    void                            *data;

    unsigned                         local_only:1;  /* this node or none */
    unsigned                         internal:1;    /* not a console: the
                                                       gateway's own client,
                                                       neither counted nor
                                                       audited */

    /* out */
    ngx_connection_t                *connection; /* relay or node */
    ngx_fcfh_channel_t              *channel;    /* spliced, local */
    ngx_str_t                        node;       /* the other node, if one */
    ngx_fcfh_route_t                 route;      /* when found here */
    ngx_fcfh_session_t               session;    /* open after an OK */
    unsigned                         found:1;    /* in this node's registry */
    unsigned                         elsewhere:1; /* to ask the cluster */

    /* private */
    unsigned                         looked_up:1;
    unsigned                         in_open:1;
    unsigned                         counted:1;
    ngx_uint_t                       result;
    ngx_uint_t                       reason;
    ngx_msec_t                       opened;     /* for open_time */
    ngx_connection_t                *peer;
    ngx_fcfh_channel_t              *pending;
    ngx_fcfh_cluster_req_t          *remote;
    ngx_event_t                      post;
    ngx_fcfh_relay_open_t            relay;
    u_char                           node_data[NGX_FCFH_CLUSTER_NAME_MAX];
};


/*
 * Looks the device up, without I/O: NGX_FCFH_OPEN_OK (found here and
 * the port registered, or elsewhere set: the cluster will be asked),
 * else the refusal (NGX_FCFH_OPEN_NO_TUNNEL, NGX_FCFH_OPEN_PORT), counted;
 * ro->found tells "here but still registering" from "not here".
 * ngx_fcfh_route_open() calls it when the front door did not.
 */
ngx_uint_t ngx_fcfh_route_find(ngx_fcfh_route_open_t *ro);

/* opens the channel: ro->handler is called once, unless cancelled */
void ngx_fcfh_route_open(ngx_fcfh_route_open_t *ro);

/* the front door gave up before the handler: nothing of it stays open */
void ngx_fcfh_route_cancel(ngx_fcfh_route_open_t *ro);

/* a refusal the front door decided itself, counted like the others */
void ngx_fcfh_route_refused(ngx_fcfh_route_open_t *ro, ngx_uint_t result);

/*
 * The console session that an OK opened ended: why (NGX_FCFH_END_*,
 * ngx_fcfh_open.h) and the bytes the channel carried each way (added to
 * s->to_device and s->to_console, which a front door may count in as it
 * goes).  Once only: later calls, and calls for a session never opened,
 * do nothing.
 */
void ngx_fcfh_route_close(ngx_fcfh_route_open_t *ro, ngx_uint_t why,
    off_t to_device, off_t to_console);
void ngx_fcfh_session_close(ngx_fcfh_session_t *s, ngx_uint_t why,
    off_t to_device, off_t to_console);


#endif /* _NGX_FCFH_ROUTE_H_INCLUDED_ */
