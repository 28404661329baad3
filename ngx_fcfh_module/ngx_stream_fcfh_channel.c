
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * APF channels between a device and console-side connections.
 *
 * Flow control: the device may send only the window we granted, which is
 * exactly the ring buffer's free space; credit goes back to it only as
 * the console side drains the buffer.  We send the device at most its
 * window, read from the console only while that window and the tunnel's
 * output queue have room.
 *
 * Close: CHANNEL_CLOSE is sent exactly once; our channel id is reused
 * only after the device's CHANNEL_CLOSE too (AMT reuses ids once it has
 * seen a CLOSE, so a second one could kill an unrelated channel), and
 * not right away: ids are handed out in turn.
 *
 * Device errors: a message that contradicts its channel's state ends that
 * channel, not the tunnel; messages for no channel of ours are dropped
 * within a budget per tunnel.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ngx_stream.h>

#include <poll.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_stream_fcfh_tunnel.h"
#include "ngx_stream_fcfh_channel.h"


#define NGX_FCFH_CHANNEL_OPEN_TIMEOUT  10000

/* after the console's end of file, how long a silent device may wait */
#define NGX_FCFH_CHANNEL_LINGER        30000
/* the same after the device's answer was all delivered: likely gone */
#define NGX_FCFH_CHANNEL_LINGER_QUIET  500

/* how long a channel the device contradicted waits for its CLOSE */
#define NGX_FCFH_CHANNEL_CLOSE_WAIT    30000

/* messages for no channel of ours a tunnel may send per period */
#define NGX_FCFH_CHANNEL_STRAYS        16
#define NGX_FCFH_CHANNEL_STRAY_PERIOD  60000

/* channel ids of a tunnel: in use ones, and as many lingering */
#define ngx_fcfh_channel_ids(t)        (2 * (t)->conf->max_channels)

#define ngx_fcfh_channel_buffered(ch)  ((ch)->head - (ch)->tail)


static void ngx_fcfh_channel_open_timeout(ngx_event_t *ev);
static void ngx_fcfh_channel_linger_timeout(ngx_event_t *ev);
static ngx_int_t ngx_fcfh_channel_peer_gone(ngx_connection_t *peer);
static void ngx_fcfh_channel_peer_read(ngx_event_t *rev);
static void ngx_fcfh_channel_peer_write(ngx_event_t *wev);
static ngx_int_t ngx_fcfh_channel_send_close(ngx_fcfh_channel_t *ch);
static uint32_t ngx_fcfh_channel_grow(ngx_fcfh_channel_t *ch, size_t max);
static void ngx_fcfh_channel_check_done(ngx_fcfh_channel_t *ch);
static void ngx_fcfh_channel_finish(ngx_fcfh_channel_t *ch);
static void ngx_fcfh_channel_free(ngx_fcfh_channel_t *ch);
static void ngx_fcfh_channel_detach(ngx_fcfh_channel_t *ch);
static ngx_fcfh_channel_t *ngx_fcfh_channel_create(
    ngx_stream_fcfh_tunnel_t *t, ngx_uint_t *result);
static void ngx_fcfh_channel_receiver_wait(ngx_event_t *rev);
static void ngx_fcfh_channel_receiver_connected(ngx_event_t *wev);
static void ngx_fcfh_channel_receiver_done(ngx_fcfh_channel_t *ch);
static void ngx_fcfh_channel_receiver_fail(ngx_fcfh_channel_t *ch);
static ngx_fcfh_channel_t *ngx_fcfh_channel_find(
    ngx_stream_fcfh_tunnel_t *t, uint32_t id);
static ngx_int_t ngx_fcfh_channel_expects(ngx_fcfh_channel_t *ch,
    ngx_uint_t type);
static const char *ngx_fcfh_channel_state(ngx_fcfh_channel_t *ch);
static ngx_int_t ngx_fcfh_channel_fault(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_channel_t *ch, ngx_fcfh_apf_msg_t *msg);
static ngx_int_t ngx_fcfh_channel_stray(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg, uint32_t id);
static void ngx_fcfh_channel_let_go(ngx_fcfh_channel_t *ch,
    ngx_uint_t result, ngx_uint_t unpost);
static void ngx_fcfh_channel_release(ngx_fcfh_channel_t *ch,
    ngx_uint_t result);
static void ngx_fcfh_channel_close_timeout(ngx_event_t *ev);


/*
 * A free channel id and a channel on it, with its buffer; NULL and an
 * NGX_FCFH_OPEN_* code in *result when there is none.
 */

static ngx_fcfh_channel_t *
ngx_fcfh_channel_create(ngx_stream_fcfh_tunnel_t *t, ngx_uint_t *result)
{
    ngx_uint_t           i, id, ids, active, used, free_id, unanswered;
    ngx_connection_t    *c;
    ngx_fcfh_channel_t  *ch, *linger;

    c = t->session->connection;

    *result = NGX_FCFH_OPEN_ERROR;

    ids = ngx_fcfh_channel_ids(t);

    if (t->channels == NULL) {
        t->channels = ngx_pcalloc(c->pool, ids * sizeof(ngx_fcfh_channel_t *));
        if (t->channels == NULL) {
            return NULL;
        }
    }

    /*
     * fcfh_max_channels counts channels in use.  A channel whose console
     * sent end of file lingers (it may be a half close) but does not
     * count: a console that opens and closes quickly must not find the
     * device full for NGX_FCFH_CHANNEL_LINGER.  Nor does an open given up
     * (timed out, or its console left) that the device has not answered:
     * a device busy for a while must not lock consoles out until it
     * reconnects.  Ids are twice the limit.
     *
     * The search for a free id starts after the last one given: a stale
     * message of the device for a channel just freed then finds no
     * channel rather than a new one on the same id.
     */

    active = 0;
    used = 0;
    unanswered = 0;
    free_id = ids;
    linger = NULL;

    for (i = 0; i < ids; i++) {
        id = (t->channel_next + i) % ids;
        ch = t->channels[id];

        if (ch == NULL) {
            if (free_id == ids) {
                free_id = id;
            }

            continue;
        }

        used++;

        if (ch->peer_eof || ch->close_sent || ch->aborted) {
            if (linger == NULL && ch->confirmed && !ch->close_sent) {
                linger = ch;
            }

            if (!ch->confirmed) {
                unanswered++;
            }

        } else {
            active++;
        }
    }

    if (active >= t->conf->max_channels || free_id == ids) {

        if (active >= t->conf->max_channels) {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "device has %ui channels open, refusing another",
                          active);

        } else {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "device has no free channel id (%ui channels "
                          "open, %ui opens it never answered, %ui "
                          "closing), refusing another",
                          active, unanswered, used - active - unanswered);
        }

        if (free_id == ids && linger) {
            /* ids all taken by channels on their way out: hurry one */
            (void) ngx_fcfh_channel_send_close(linger);
            ngx_fcfh_channel_check_done(linger);
        }

        *result = NGX_FCFH_OPEN_LIMIT;
        return NULL;
    }

    if (linger && used >= t->conf->max_channels) {
        /*
         * half the ids are on their way out: hurry one now, or consoles
         * that come and go faster than the linger would find them all
         * taken
         */
        (void) ngx_fcfh_channel_send_close(linger);
        ngx_fcfh_channel_check_done(linger);
    }

    id = free_id;

    ch = ngx_calloc(sizeof(ngx_fcfh_channel_t), c->log);
    if (ch == NULL) {
        return NULL;
    }

    ch->window = (uint32_t) t->conf->channel_window;

    ch->buf = ngx_alloc(ch->window, c->log);
    if (ch->buf == NULL) {
        ngx_free(ch);
        return NULL;
    }

    ch->tunnel = t;
    ch->log = c->log;
    ch->id = (uint32_t) id;
    ch->credit = ch->window;
    ch->open_timer.data = ch;
    ch->open_timer.log = c->log;

    t->channels[id] = ch;
    t->nchannels++;
    t->channel_next = (id + 1) % ids;

    if (t->link.entry) {
        t->link.entry->nchannels = (uint32_t) t->nchannels;
    }

    return ch;
}


/*
 * The device opened a channel toward an allowed receiver: connect to it,
 * and confirm the channel only once connected, so that the device learns
 * of an unreachable receiver as it would on a LAN.  Returns 0, or the
 * CHANNEL_OPEN_FAILURE reason for the caller to send.
 */

uint32_t
ngx_stream_fcfh_channel_accept(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_channel_open_t *open, ngx_addr_t *receiver,
    ngx_str_t *target)
{
    ngx_int_t               rc;
    ngx_uint_t              result;
    ngx_connection_t       *c, *rcv;
    ngx_fcfh_channel_t     *ch;
    ngx_peer_connection_t   pc;

    c = t->session->connection;

    ch = ngx_fcfh_channel_create(t, &result);
    if (ch == NULL) {
        return NGX_FCFH_APF_OPEN_RESOURCE_SHORTAGE;
    }

    ch->inbound = 1;
    ch->remote_id = open->sender;
    ch->remote_window = open->window;
    ch->port = (uint16_t) open->connected_port;
    ch->idle = NGX_FCFH_RECEIVER_IDLE;
    ch->done = ngx_fcfh_channel_receiver_done;
    ch->receiver = receiver;

    /* the receiver connection logs through the tunnel's log */

    ngx_memzero(&pc, sizeof(ngx_peer_connection_t));

    pc.sockaddr = receiver->sockaddr;
    pc.socklen = receiver->socklen;
    pc.name = &receiver->name;
    pc.get = ngx_event_get_peer;
    pc.log = c->log;
    pc.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "device channel to alert receiver %V failed: cannot "
                      "connect", target);

        if (pc.connection) {
            ngx_close_connection(pc.connection);
        }

        ch->done = NULL;
        ngx_fcfh_channel_free(ch);

        return NGX_FCFH_APF_OPEN_CONNECT_FAILED;
    }

    rcv = pc.connection;

    rcv->data = ch;
    rcv->read->handler = ngx_fcfh_channel_receiver_wait;
    rcv->write->handler = ngx_fcfh_channel_receiver_connected;

    ch->data = rcv;

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "device channel %uD to alert receiver %V: connecting",
                  ch->id, target);

    if (rc == NGX_AGAIN) {
        ngx_add_timer(rcv->write, NGX_FCFH_CHANNEL_OPEN_TIMEOUT);
        return 0;
    }

    ngx_post_event(rcv->write, &ngx_posted_events);

    return 0;
}


static void
ngx_fcfh_channel_receiver_wait(ngx_event_t *rev)
{
    /* the receiver spoke before the channel is up: read it later */
}


static void
ngx_fcfh_channel_receiver_connected(ngx_event_t *wev)
{
    int                        err;
    size_t                     n;
    socklen_t                  len;
    ngx_connection_t          *c;
    ngx_fcfh_channel_t        *ch;
    ngx_stream_fcfh_tunnel_t  *t;

    c = wev->data;
    ch = c->data;
    t = ch->tunnel;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_WARN, ch->log, NGX_ETIMEDOUT,
                      "device channel %uD: alert receiver %V did not "
                      "answer", ch->id, &ch->receiver->name);
        goto failed;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_log_error(NGX_LOG_WARN, ch->log, err,
                      "device channel %uD: connect() to alert receiver %V "
                      "failed", ch->id, &ch->receiver->name);
        goto failed;
    }

    n = ngx_fcfh_apf_write_channel_open_confirmation(
            ngx_stream_fcfh_tunnel_reserve(t), NGX_FCFH_CONTROL_MAX,
            ch->remote_id, ch->id, ch->window);

    if (n == 0 || t->out_failed) {
        goto failed;
    }

    ngx_stream_fcfh_tunnel_commit(t, n);
    ngx_post_event(t->session->connection->write, &ngx_posted_events);

    ch->confirmed = 1;
    ch->peer = c;

    ngx_stream_fcfh_tunnel_alerted(t, &ch->receiver->name, 1);

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, ch->log, 0,
                   "fcfh: device channel %uD to receiver confirmed", ch->id);

    ngx_fcfh_channel_start(ch);

    return;

failed:

    ngx_fcfh_channel_receiver_fail(ch);
}


/*
 * A device channel not confirmed yet ends: never confirmed, the failure
 * frees the device's id, no CLOSE
 */

static void
ngx_fcfh_channel_receiver_fail(ngx_fcfh_channel_t *ch)
{
    size_t                     n;
    ngx_connection_t          *rcv;
    ngx_stream_fcfh_tunnel_t  *t;

    t = ch->tunnel;
    rcv = ch->data;

    n = ngx_fcfh_apf_write_channel_open_failure(
            ngx_stream_fcfh_tunnel_reserve(t), NGX_FCFH_CONTROL_MAX,
            ch->remote_id, NGX_FCFH_APF_OPEN_CONNECT_FAILED);

    ngx_stream_fcfh_tunnel_commit(t, n);
    ngx_post_event(t->session->connection->write, &ngx_posted_events);

    ngx_stream_fcfh_tunnel_alerted(t, &ch->receiver->name, 0);

    ch->done = NULL;
    ch->data = NULL;

    if (rcv) {
        ngx_close_connection(rcv);
    }

    ngx_fcfh_channel_free(ch);
}


/* the channel toward a receiver ended: so does the connection to it */

static void
ngx_fcfh_channel_receiver_done(ngx_fcfh_channel_t *ch)
{
    ngx_connection_t  *c = ch->data;

    ch->data = NULL;

    if (c) {
        ngx_close_connection(c);
    }
}


/*
 * Asks the device to open a channel to port.  NGX_OK: opened() will be
 * called (never from within this call); otherwise *result-like code is
 * returned as NGX_DECLINED with ch->... not created: the caller answers
 * the console at once.  The return value is an NGX_FCFH_OPEN_* code.
 */

ngx_int_t
ngx_fcfh_channel_open(void *tunnel, ngx_uint_t port, ngx_str_t *originator,
    ngx_uint_t originator_port, ngx_connection_t *peer,
    ngx_fcfh_channel_open_pt opened, ngx_fcfh_channel_done_pt done,
    void *data, ngx_fcfh_channel_t **chp)
{
    size_t                     n;
    ngx_uint_t                 i, result;
    ngx_connection_t          *c;
    ngx_fcfh_channel_t        *ch;
    ngx_stream_fcfh_tunnel_t  *t = tunnel;

    static u_char              type[] = "forwarded-tcpip";

    *chp = NULL;

    if (t->closing || !t->established) {
        return NGX_FCFH_OPEN_NO_TUNNEL;
    }

    if (t->draining) {
        return NGX_FCFH_OPEN_DRAINING;
    }

    c = t->session->connection;

    for (i = 0; i < t->nports; i++) {
        if (t->ports[i] == port) {
            break;
        }
    }

    if (i == t->nports) {
        /* a device still registering its ports is not there yet */
        return (t->link.entry
                && ngx_time() - t->link.entry->ports_at < NGX_FCFH_SETTLE)
               ? NGX_FCFH_OPEN_NO_TUNNEL : NGX_FCFH_OPEN_PORT;
    }

    ch = ngx_fcfh_channel_create(t, &result);
    if (ch == NULL) {
        return result;
    }

    ch->peer = peer;
    ch->log = peer ? peer->log : c->log;
    ch->port = (uint16_t) port;
    ch->opened = opened;
    ch->done = done;
    ch->data = data;

    n = ngx_fcfh_apf_write_channel_open(ngx_stream_fcfh_tunnel_reserve(t),
            NGX_FCFH_CONTROL_MAX, type, sizeof(type) - 1, ch->id,
            ch->window, t->fqdn.data, (uint32_t) t->fqdn.len,
            (uint32_t) port, originator->data,
            (uint32_t) ngx_min(originator->len, 64),
            (uint32_t) originator_port);

    if (n == 0 || t->out_failed) {
        ngx_fcfh_channel_free(ch);
        return NGX_FCFH_OPEN_ERROR;
    }

    ngx_stream_fcfh_tunnel_commit(t, n);

    ch->open_timer.handler = ngx_fcfh_channel_open_timeout;
    ch->open_timer.data = ch;
    ch->open_timer.log = ch->log;
    ngx_add_timer(&ch->open_timer, NGX_FCFH_CHANNEL_OPEN_TIMEOUT);

    ngx_log_debug3(NGX_LOG_DEBUG_STREAM, c->log, 0,
                   "fcfh: channel %uD open to port %ui for %V",
                   ch->id, port, originator);

    ngx_post_event(c->write, &ngx_posted_events);

    *chp = ch;

    return NGX_FCFH_OPEN_OK;
}


static void
ngx_fcfh_channel_open_timeout(ngx_event_t *ev)
{
    ngx_fcfh_channel_t  *ch = ev->data;

    ngx_fcfh_channel_open_pt  opened;

    ngx_log_error(NGX_LOG_WARN, ch->log, 0,
                  "device did not answer channel open to port %ui in time "
                  "(channel %uD)", (ngx_uint_t) ch->port, ch->id);

    /*
     * the id stays taken until the device answers or the tunnel ends (a
     * late answer must not find a new channel on it); it no longer counts
     * against fcfh_max_channels
     */

    ch->aborted = 1;

    opened = ch->opened;

    /* the opener is told once and forgets the channel */
    ch->opened = NULL;
    ch->done = NULL;
    ngx_fcfh_channel_detach(ch);

    if (opened) {
        opened(ch, NGX_FCFH_OPEN_TIMEOUT, 0);
    }
}


/*
 * The console side is told (result, for an opener still waiting) and
 * let go; the channel stays, without it, for the device's answer or CLOSE.
 */

static void
ngx_fcfh_channel_release(ngx_fcfh_channel_t *ch, ngx_uint_t result)
{
    ch->aborted = 1;

    /* our handlers only: nothing of ours may run after the peer is gone */
    ngx_fcfh_channel_let_go(ch, result, ch->started);
}


/*
 * The opener or the console side is told (result, for an opener still
 * waiting) and forgotten; unpost: the peer's events are ours to cancel.
 */

static void
ngx_fcfh_channel_let_go(ngx_fcfh_channel_t *ch, ngx_uint_t result,
    ngx_uint_t unpost)
{
    ngx_fcfh_channel_done_pt   done;
    ngx_fcfh_channel_open_pt   opened;

    opened = ch->opened;
    done = ch->done;

    ch->opened = NULL;
    ch->done = NULL;

    if (ch->peer && unpost) {
        if (ch->peer->read->posted) {
            ngx_delete_posted_event(ch->peer->read);
        }

        if (ch->peer->write->posted) {
            ngx_delete_posted_event(ch->peer->write);
        }
    }

    /* the callbacks close the console connection and its log */
    ngx_fcfh_channel_detach(ch);

    if (opened) {
        opened(ch, result, 0);

    } else if (done) {
        done(ch);
    }
}


/* the device did not close a channel it contradicted: free the id */

static void
ngx_fcfh_channel_close_timeout(ngx_event_t *ev)
{
    ngx_fcfh_channel_t  *ch = ev->data;

    ngx_log_error(NGX_LOG_INFO, ch->log, 0,
                  "device did not close channel %uD, freeing it", ch->id);

    ngx_fcfh_channel_finish(ch);
}


static void
ngx_fcfh_channel_linger_timeout(ngx_event_t *ev)
{
    ngx_fcfh_channel_t  *ch = ev->data;

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, ch->log, 0,
                   "fcfh: channel %uD idle after console end of file",
                   ch->id);

    (void) ngx_fcfh_channel_send_close(ch);
    ngx_fcfh_channel_check_done(ch);
}


/* the opener answered its console: splice from now on */

void
ngx_fcfh_channel_start(ngx_fcfh_channel_t *ch)
{
    ngx_connection_t  *peer;

    peer = ch->peer;

    ch->started = 1;

    /* a console that hung up is no error of the gateway */
    peer->log_error = NGX_ERROR_INFO;

    peer->data = ch;
    peer->read->handler = ngx_fcfh_channel_peer_read;
    peer->write->handler = ngx_fcfh_channel_peer_write;

    if (ngx_fcfh_channel_buffered(ch) || ch->close_recv) {
        ngx_post_event(peer->write, &ngx_posted_events);
    }

    ngx_post_event(peer->read, &ngx_posted_events);
}


/*
 * Console bytes already read by the opener (sent before the success
 * reply): into the channel ahead of anything read later.  NGX_ERROR when
 * they do not fit in the device's initial window.
 */

ngx_int_t
ngx_fcfh_channel_send(ngx_fcfh_channel_t *ch, u_char *data, size_t len)
{
    u_char                    *p;
    size_t                     size;
    ngx_stream_fcfh_tunnel_t  *t = ch->tunnel;

    while (len) {
        size = ngx_min(len, NGX_FCFH_CHANNEL_PACKET);

        if (t == NULL || size > ch->remote_window) {
            return NGX_ERROR;
        }

        p = ngx_stream_fcfh_tunnel_reserve_data(t, &size);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p + NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE, data, size);

        (void) ngx_fcfh_apf_write_channel_data_header(p,
                                  NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE,
                                  ch->remote_id, (uint32_t) size);

        ngx_stream_fcfh_tunnel_commit(t,
                             NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE + size);

        ch->remote_window -= (uint32_t) size;
        ch->bytes_out += size;
        data += size;
        len -= size;
    }

    ngx_post_event(t->session->connection->write, &ngx_posted_events);

    return NGX_OK;
}


/*
 * The console side went away before or after the channel opened: close
 * it toward the device; the slot is freed when the device closes too.
 */

void
ngx_fcfh_channel_abort(ngx_fcfh_channel_t *ch)
{
    ch->aborted = 1;
    ch->opened = NULL;
    ch->done = NULL;

    if (ch->peer) {
        if (ch->peer->read->posted) {
            ngx_delete_posted_event(ch->peer->read);
        }

        if (ch->peer->write->posted) {
            ngx_delete_posted_event(ch->peer->write);
        }

        ngx_fcfh_channel_detach(ch);
    }

    if (ch->tunnel == NULL) {
        ngx_fcfh_channel_free(ch);
        return;
    }

    if (ch->confirmed && !ch->close_sent) {
        (void) ngx_fcfh_channel_send_close(ch);
    }

    ngx_fcfh_channel_check_done(ch);
}


static ngx_fcfh_channel_t *
ngx_fcfh_channel_find(ngx_stream_fcfh_tunnel_t *t, uint32_t id)
{
    if (t->channels == NULL || id >= ngx_fcfh_channel_ids(t)) {
        return NULL;
    }

    return t->channels[id];
}


/*
 * A channel message from the device.  NGX_OK: handled; NGX_AGAIN: data
 * that does not fit yet (the caller holds it and stops reading);
 * NGX_ERROR: the connection as a whole is broken, the caller disconnects
 * the device.  A message that contradicts its channel's state ends that
 * channel only; one for no channel of ours is dropped, within a budget.
 */

ngx_int_t
ngx_stream_fcfh_channel_message(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg)
{
    size_t                     len, room, off, part;
    uint32_t                   id;
    uint64_t                   window;
    ngx_connection_t          *c;
    ngx_fcfh_channel_t        *ch;
    ngx_fcfh_channel_open_pt   opened;

    c = t->session->connection;

    switch (msg->type) {

    case NGX_FCFH_APF_CHANNEL_OPEN_CONFIRMATION:
        id = msg->u.confirmation.recipient;
        break;

    case NGX_FCFH_APF_CHANNEL_OPEN_FAILURE:
        id = msg->u.open_failure.recipient;
        break;

    case NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST:
        id = msg->u.window_adjust.recipient;
        break;

    case NGX_FCFH_APF_CHANNEL_DATA:
        id = msg->u.channel_data.recipient;
        break;

    default: /* NGX_FCFH_APF_CHANNEL_CLOSE */
        id = msg->u.recipient;
        break;
    }

    ch = ngx_fcfh_channel_find(t, id);

    if (ch == NULL) {
        return ngx_fcfh_channel_stray(t, msg, id);
    }

    if (!ngx_fcfh_channel_expects(ch, msg->type)) {
        return ngx_fcfh_channel_fault(t, ch, msg);
    }

    switch (msg->type) {

    case NGX_FCFH_APF_CHANNEL_OPEN_CONFIRMATION:
        ch->confirmed = 1;
        ch->remote_id = msg->u.confirmation.sender;
        ch->remote_window = msg->u.confirmation.window;

        if (ch->open_timer.timer_set) {
            ngx_del_timer(&ch->open_timer);
        }

        if (ch->aborted) {
            /* nobody waits for it any more: freed on the device's CLOSE */
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "device confirmed channel %uD after its open was "
                          "given up, closing it", ch->id);

            if (ch->faulted) {
                ch->open_timer.handler = ngx_fcfh_channel_close_timeout;
                ngx_add_timer(&ch->open_timer, NGX_FCFH_CHANNEL_CLOSE_WAIT);
            }

            return ngx_fcfh_channel_send_close(ch);
        }

        opened = ch->opened;
        ch->opened = NULL;

        if (opened) {
            opened(ch, NGX_FCFH_OPEN_OK, 0);
        }

        return NGX_OK;

    case NGX_FCFH_APF_CHANNEL_OPEN_FAILURE:
        if (ch->aborted) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "device refused channel %uD to port %ui after its "
                          "open was given up, reason %uD",
                          ch->id, (ngx_uint_t) ch->port,
                          msg->u.open_failure.reason);

        } else {
            ngx_log_error(NGX_LOG_INFO, ch->log, 0,
                          "device refused channel to port %ui, reason %uD",
                          (ngx_uint_t) ch->port, msg->u.open_failure.reason);
        }

        opened = ch->opened;
        ch->opened = NULL;
        ch->done = NULL;
        ngx_fcfh_channel_detach(ch);

        if (opened) {
            opened(ch, NGX_FCFH_OPEN_REFUSED, msg->u.open_failure.reason);
        }

        ngx_fcfh_channel_free(ch);

        return NGX_OK;

    case NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST:
        window = (uint64_t) ch->remote_window + msg->u.window_adjust.bytes;
        ch->remote_window = (uint32_t) ngx_min(window, 0xffffffff);

        if (ch->started && ch->peer && !ch->peer_eof) {
            ngx_post_event(ch->peer->read, &ngx_posted_events);
        }

        return NGX_OK;

    case NGX_FCFH_APF_CHANNEL_DATA:
        len = msg->u.channel_data.data.len;

        if (ch->peer == NULL || ch->peer_error) {
            /* nobody to deliver to: drop, as the channel is closing */
            ch->credit = ch->window;
            return NGX_OK;
        }

        room = ch->window - ngx_fcfh_channel_buffered(ch);

        if (len > room) {
            /*
             * More than the window: hold the device's input until the
             * console drained enough (never more memory).
             */
            if (len > ch->window) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "device sent %uz bytes on channel %uD, more "
                              "than its window", len, ch->id);
                return NGX_ERROR;
            }

            if (!ch->blocked_input) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "device ignores the window of channel %uD, "
                              "pausing it", ch->id);
            }

            ch->blocked_input = 1;

            return NGX_AGAIN;
        }

        /* copy into the ring, in up to two parts */

        off = ch->head % ch->window;
        part = ngx_min(len, ch->window - off);

        ngx_memcpy(ch->buf + off, msg->u.channel_data.data.data, part);
        ngx_memcpy(ch->buf, msg->u.channel_data.data.data + part,
                   len - part);

        ch->head += len;
        ch->bytes_in += len;

        if (ch->open_timer.timer_set) {
            /* lingering after the console's end of file: still talking */
            ngx_add_timer(&ch->open_timer, NGX_FCFH_CHANNEL_LINGER);
        }
        ch->credit = (len > ch->credit) ? 0 : ch->credit - (uint32_t) len;

        if (ch->started) {
            ngx_fcfh_channel_peer_write(ch->peer->write);
        }

        return NGX_OK;

    default: /* NGX_FCFH_APF_CHANNEL_CLOSE */
        ch->close_recv = 1;

        if (!ch->close_sent && ngx_fcfh_channel_send_close(ch) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ch->started && ch->peer) {
            ngx_post_event(ch->peer->write, &ngx_posted_events);
        }

        ngx_fcfh_channel_check_done(ch);

        return NGX_OK;
    }
}


/*
 * Whether a message fits the channel's state: the answer to our open,
 * then data, window and close until the device's CLOSE, then nothing.
 * The device may still send data and window adjusts after our CLOSE:
 * it may not have seen it yet.
 */

static ngx_int_t
ngx_fcfh_channel_expects(ngx_fcfh_channel_t *ch, ngx_uint_t type)
{
    if (ch->close_recv) {
        return 0;
    }

    if (!ch->confirmed) {
        return !ch->inbound
               && (type == NGX_FCFH_APF_CHANNEL_OPEN_CONFIRMATION
                   || type == NGX_FCFH_APF_CHANNEL_OPEN_FAILURE);
    }

    return type == NGX_FCFH_APF_CHANNEL_DATA
           || type == NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST
           || type == NGX_FCFH_APF_CHANNEL_CLOSE;
}


static const char *
ngx_fcfh_channel_state(ngx_fcfh_channel_t *ch)
{
    if (!ch->confirmed) {
        return ch->inbound ? "opened by the device, not yet confirmed"
                           : (ch->aborted ? "open given up, unanswered"
                                          : "not yet confirmed");
    }

    if (ch->close_recv) {
        return "closed by the device";
    }

    return ch->close_sent ? "closed by the gateway" : "open";
}


/*
 * The device contradicted the state of one of our channels (a failure
 * after the confirmation, a second confirmation or CLOSE, data before the
 * confirmation or after its CLOSE...): that channel ends, the tunnel and
 * its other channels do not.  Our CLOSE is sent once, if ever; the id
 * waits for the device's CLOSE a while.  A channel that goes on being
 * contradicted counts against the tunnel's budget like an unknown one.
 */

static ngx_int_t
ngx_fcfh_channel_fault(ngx_stream_fcfh_tunnel_t *t, ngx_fcfh_channel_t *ch,
    ngx_fcfh_apf_msg_t *msg)
{
    ngx_connection_t  *c;

    if (ch->faulted) {
        return ngx_fcfh_channel_stray(t, msg, ch->id);
    }

    c = t->session->connection;

    ch->faulted = 1;

    ngx_fcfh_count(channel_errors, 1);

    ngx_log_error(NGX_LOG_NOTICE, c->log, 0,
                  "device sent %s for channel %uD (%s), closing the channel",
                  ngx_fcfh_apf_type_name(msg->type), ch->id,
                  ngx_fcfh_channel_state(ch));

    if (!ch->confirmed) {

        if (ch->inbound) {
            /* ours to answer yet: a failure, as for an unreachable one */
            ngx_fcfh_channel_receiver_fail(ch);
            return t->out_failed ? NGX_ERROR : NGX_OK;
        }

        /*
         * the console is told now; the device may still answer our open,
         * so the id stays taken until it does (not counted as in use)
         */

        if (ch->open_timer.timer_set) {
            ngx_del_timer(&ch->open_timer);
        }

        ngx_fcfh_channel_release(ch, NGX_FCFH_OPEN_REFUSED);

        return NGX_OK;
    }

    if (ch->close_recv) {
        /* both CLOSEs are done: what the console has not taken goes */
        ch->peer_error = 1;
        ngx_fcfh_channel_check_done(ch);
        return NGX_OK;
    }

    ngx_fcfh_channel_release(ch, NGX_FCFH_OPEN_ERROR);

    if (ngx_fcfh_channel_send_close(ch) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a device this confused may never close it: the id is freed anyway */

    ch->open_timer.handler = ngx_fcfh_channel_close_timeout;
    ngx_add_timer(&ch->open_timer, NGX_FCFH_CHANNEL_CLOSE_WAIT);

    return NGX_OK;
}


/*
 * A message for a channel id we never gave or already freed (a device's
 * stale duplicate, say) is dropped.  More than NGX_FCFH_CHANNEL_STRAYS of
 * them in NGX_FCFH_CHANNEL_STRAY_PERIOD end the tunnel: a device must not
 * keep the gateway busy with them, and the budget bounds their log lines.
 */

static ngx_int_t
ngx_fcfh_channel_stray(ngx_stream_fcfh_tunnel_t *t, ngx_fcfh_apf_msg_t *msg,
    uint32_t id)
{
    ngx_connection_t  *c;

    c = t->session->connection;

    ngx_fcfh_count(channel_strays, 1);

    if (ngx_current_msec - t->strays_since >= NGX_FCFH_CHANNEL_STRAY_PERIOD) {
        t->strays_since = ngx_current_msec;
        t->strays = 0;
    }

    if (++t->strays > NGX_FCFH_CHANNEL_STRAYS) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "device sent %s for no open channel (%uD), more than "
                      "%d such messages in %d s",
                      ngx_fcfh_apf_type_name(msg->type), id,
                      NGX_FCFH_CHANNEL_STRAYS,
                      NGX_FCFH_CHANNEL_STRAY_PERIOD / 1000);
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "device sent %s for no open channel (%uD), dropped",
                  ngx_fcfh_apf_type_name(msg->type), id);

    return NGX_OK;
}


static ngx_int_t
ngx_fcfh_channel_send_close(ngx_fcfh_channel_t *ch)
{
    ngx_stream_fcfh_tunnel_t  *t = ch->tunnel;

    if (ch->close_sent || t == NULL) {
        return NGX_OK;
    }

    ch->close_sent = 1;

    ngx_stream_fcfh_tunnel_commit(t,
        ngx_fcfh_apf_write_channel_close(ngx_stream_fcfh_tunnel_reserve(t),
                                         NGX_FCFH_CONTROL_MAX,
                                         ch->remote_id));

    ngx_post_event(t->session->connection->write, &ngx_posted_events);

    return t->out_failed ? NGX_ERROR : NGX_OK;
}


/*
 * An end of file is a half close or the peer is gone entirely.  A unix
 * socket (the relay) tells them apart: POLLHUP once both directions are
 * shut.  A TCP console's close looks like a half close until a write
 * fails.
 */

static ngx_int_t
ngx_fcfh_channel_peer_gone(ngx_connection_t *peer)
{
    struct pollfd  pfd;

    pfd.fd = peer->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;

    if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP|POLLERR))) {
        return 1;
    }

    return 0;
}


/* console to device */

static void
ngx_fcfh_channel_peer_read(ngx_event_t *rev)
{
    u_char                    *p;
    size_t                     size;
    ssize_t                    n;
    ngx_connection_t          *peer;
    ngx_fcfh_channel_t        *ch;
    ngx_stream_fcfh_tunnel_t  *t;

    peer = rev->data;
    ch = peer->data;
    t = ch->tunnel;

    if (rev->timedout) {
        rev->timedout = 0;

        ngx_log_error(NGX_LOG_INFO, ch->log, NGX_ETIMEDOUT,
                      "console session idle, closing channel %uD", ch->id);

        ch->peer_error = 1;
        ch->timedout = 1;
        (void) ngx_fcfh_channel_send_close(ch);
        ngx_fcfh_channel_check_done(ch);
        return;
    }

    if (ch->idle) {
        ngx_add_timer(rev, ch->idle);
    }

    if (t == NULL || ch->peer_eof || ch->peer_error || ch->close_sent) {
        return;
    }

    while (rev->ready) {

        if (ch->remote_window == 0) {
            /* WINDOW_ADJUST posts this event again */
            break;
        }

        if (t->out_bytes >= NGX_FCFH_OUT_HIGH) {
            ch->blocked = 1;
            break;
        }

        size = ngx_min(ch->remote_window, NGX_FCFH_CHANNEL_PACKET);

        p = ngx_stream_fcfh_tunnel_reserve_data(t, &size);

        if (p == NULL) {
            ch->peer_error = 1;
            break;
        }

        n = peer->recv(peer, p + NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE,
                       size);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR || n == 0) {
            if (n == 0 && !ngx_fcfh_channel_peer_gone(peer)) {
                ch->peer_eof = 1;

            } else {
                ch->peer_error = 1;
            }

            break;
        }

        (void) ngx_fcfh_apf_write_channel_data_header(p,
                                  NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE,
                                  ch->remote_id, (uint32_t) n);

        ngx_stream_fcfh_tunnel_commit(t,
                             NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE + n);

        ch->remote_window -= (uint32_t) n;
        ch->bytes_out += n;
        ch->device_last = 0;
    }

    if (ch->peer_error) {
        (void) ngx_fcfh_channel_send_close(ch);
        ngx_fcfh_channel_check_done(ch);
        return;
    }

    if (ch->peer_eof) {
        /*
         * The console is done sending.  APF has no half close, and a
         * CLOSE would end the device's answer too: keep delivering until
         * the device closes, the console goes away, or the device stays
         * silent for NGX_FCFH_CHANNEL_LINGER (a TCP console's full close
         * looks like a half close until a write fails).  An end of file
         * after the device's answer was all delivered is most likely a
         * request and its response done: a short silence ends it (more
         * device data arms the long linger again).
         */
        ch->open_timer.handler = ngx_fcfh_channel_linger_timeout;
        ngx_add_timer(&ch->open_timer,
                      (ch->device_last && ngx_fcfh_channel_buffered(ch) == 0)
                      ? NGX_FCFH_CHANNEL_LINGER_QUIET
                      : NGX_FCFH_CHANNEL_LINGER);

        ngx_post_event(t->session->connection->write, &ngx_posted_events);
        return;
    }

    ngx_post_event(t->session->connection->write, &ngx_posted_events);

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ch->peer_error = 1;
        (void) ngx_fcfh_channel_send_close(ch);
        ngx_fcfh_channel_check_done(ch);
    }
}


/* device to console */

static void
ngx_fcfh_channel_peer_write(ngx_event_t *wev)
{
    size_t                     off, size;
    ssize_t                    n;
    uint32_t                   grow;
    ngx_connection_t          *peer;
    ngx_fcfh_channel_t        *ch;
    ngx_stream_fcfh_tunnel_t  *t;

    peer = wev->data;
    ch = peer->data;
    t = ch->tunnel;

    if (ch->peer_error) {
        return;
    }

    while (ngx_fcfh_channel_buffered(ch)) {

        off = ch->tail % ch->window;
        size = ngx_min(ngx_fcfh_channel_buffered(ch),
                       ch->window - off);

        n = peer->send(peer, ch->buf + off, size);

        if (n == NGX_AGAIN) {
            ch->peer_full = 1;
            break;
        }

        if (n == NGX_ERROR) {
            ch->peer_error = 1;
            (void) ngx_fcfh_channel_send_close(ch);
            ngx_fcfh_channel_check_done(ch);
            return;
        }

        ch->tail += n;
        ch->unacked += (uint32_t) n;
        ch->device_last = 1;
    }

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ch->peer_error = 1;
    }

    if (ch->idle && !ch->peer_error) {
        /* data toward the console counts as activity too */
        ngx_add_timer(peer->read, ch->idle);
    }

    if (t && !ch->close_recv && !ch->close_sent
        && ch->unacked >= ch->window / 4)
    {
        /* credit only what the console side has taken */

        grow = ngx_fcfh_channel_grow(ch, t->conf->channel_window_max);

        ngx_stream_fcfh_tunnel_commit(t,
            ngx_fcfh_apf_write_window_adjust(
                ngx_stream_fcfh_tunnel_reserve(t), NGX_FCFH_CONTROL_MAX,
                ch->remote_id, ch->unacked + grow));

        ch->credit += ch->unacked + grow;
        ch->unacked = 0;

        ngx_post_event(t->session->connection->write, &ngx_posted_events);
    }

    if (t && ch->blocked_input) {
        /* the tunnel held a message for this channel: let it retry */
        ch->blocked_input = 0;
        ngx_post_event(t->session->connection->write, &ngx_posted_events);
    }

    ngx_fcfh_channel_check_done(ch);
}


/*
 * A bulk transfer (IDE redirection, KVM) through a small window pays a
 * WINDOW_ADJUST, a TLS record each way, per quarter window, and waits
 * for it over the path's round trip.  Like TCP's receive window tuning,
 * a channel whose console took twice its window of data without falling
 * behind doubles the window, up to fcfh_channel_window_max, so that only
 * channels that move bulk data hold larger buffers.  The ring is empty
 * then, so the new one needs no copy.  Returns the bytes added.
 */

static uint32_t
ngx_fcfh_channel_grow(ngx_fcfh_channel_t *ch, size_t max)
{
    u_char    *buf;
    uint32_t   window;

    if (ch->peer_full) {
        /* the console is the bottleneck: a larger window would not help */
        ch->peer_full = 0;
        ch->grow_mark = ch->bytes_in;
        return 0;
    }

    if (ch->window >= max
        || ch->bytes_in - ch->grow_mark < 2 * (uint64_t) ch->window
        || ngx_fcfh_channel_buffered(ch))
    {
        return 0;
    }

    window = (uint32_t) ngx_min((size_t) ch->window * 2, max);

    buf = ngx_alloc(window, ch->log);
    if (buf == NULL) {
        return 0;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_STREAM, ch->log, 0,
                   "fcfh channel %uD window %uD -> %uD",
                   ch->id, ch->window, window);

    ngx_free(ch->buf);
    ch->buf = buf;
    ch->head = 0;
    ch->tail = 0;
    ch->grow_mark = ch->bytes_in;

    window -= ch->window;
    ch->window += window;

    return window;
}


/* frees the channel once nothing is left to do in either direction */

static void
ngx_fcfh_channel_check_done(ngx_fcfh_channel_t *ch)
{
    if (ch->tunnel && !(ch->close_sent && ch->close_recv)) {
        return;
    }

    if (ch->peer && !ch->peer_error && ngx_fcfh_channel_buffered(ch)) {
        /* deliver what the device sent before it closed */
        return;
    }

    ngx_fcfh_channel_finish(ch);
}


static void
ngx_fcfh_channel_finish(ngx_fcfh_channel_t *ch)
{
    ngx_fcfh_channel_let_go(ch, ch->tunnel ? NGX_FCFH_OPEN_ERROR
                                           : NGX_FCFH_OPEN_NO_TUNNEL, 1);

    ngx_fcfh_channel_free(ch);
}


/*
 * The console connection is going away: the channel and its timer must
 * not log through that connection's log afterwards.
 */

static void
ngx_fcfh_channel_detach(ngx_fcfh_channel_t *ch)
{
    ngx_stream_fcfh_tunnel_t  *t = ch->tunnel;

    ch->peer = NULL;
    ch->log = t ? t->session->connection->log : ngx_cycle->log;
    ch->open_timer.log = ch->log;
}


static void
ngx_fcfh_channel_free(ngx_fcfh_channel_t *ch)
{
    ngx_stream_fcfh_tunnel_t  *t = ch->tunnel;

    if (ch->open_timer.timer_set) {
        ngx_del_timer(&ch->open_timer);
    }

    if (t && t->channels && t->channels[ch->id] == ch) {
        t->channels[ch->id] = NULL;
        t->nchannels--;

        if (t->link.entry) {
            t->link.entry->nchannels = (uint32_t) t->nchannels;
        }
    }

    ngx_fcfh_count(channel_bytes_in, ch->bytes_in);
    ngx_fcfh_count(channel_bytes_out, ch->bytes_out);

    ngx_free(ch->buf);
    ngx_free(ch);
}


/* the tunnel is closing: every channel ends with it */

void
ngx_stream_fcfh_channels_close(ngx_stream_fcfh_tunnel_t *t)
{
    ngx_uint_t           i;
    ngx_fcfh_channel_t  *ch;

    if (t->channels == NULL) {
        return;
    }

    for (i = 0; i < ngx_fcfh_channel_ids(t); i++) {
        ch = t->channels[i];

        if (ch == NULL) {
            continue;
        }

        t->channels[i] = NULL;
        t->nchannels--;

        ch->tunnel = NULL;
        ch->peer_error = 1;

        ngx_fcfh_channel_finish(ch);
    }
}


/* the tunnel's output drained: channels that waited for room read again */

void
ngx_stream_fcfh_channels_unblock(ngx_stream_fcfh_tunnel_t *t)
{
    ngx_uint_t           i;
    ngx_fcfh_channel_t  *ch;

    if (t->channels == NULL || t->out_bytes >= NGX_FCFH_OUT_HIGH / 2) {
        return;
    }

    for (i = 0; i < ngx_fcfh_channel_ids(t); i++) {
        ch = t->channels[i];

        if (ch && ch->blocked && ch->started && ch->peer) {
            ch->blocked = 0;
            ngx_post_event(ch->peer->read, &ngx_posted_events);
        }
    }
}


/* the opener's data, for the core, to which a channel is opaque */

void *
ngx_fcfh_channel_data(ngx_fcfh_channel_t *ch)
{
    return ch->data;
}
