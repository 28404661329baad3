
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The APF session of one AMT device.
 *
 * Strict where it protects the gateway: PROTOCOLVERSION first and once,
 * no user authentication before the auth service, nothing forward- or
 * channel-related before authentication.  Tolerant where firmware differs:
 * the order of the two service requests, want_reply on forwards.
 *
 * Memory: an idle tunnel holds no buffers.  Reads go to a per-worker
 * scratch area; only a partial message is copied out ("hold"), and
 * replies use a recycled per-worker buffer until the socket takes them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_escape.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_cluster.h"
#include "ngx_fcfh_htpasswd.h"
#include "ngx_fcfh_proxy_parse.h"
#include "ngx_stream_fcfh_tunnel.h"


#define NGX_FCFH_SERVICE_AUTH        "auth@amt.intel.com"
#define NGX_FCFH_SERVICE_PFWD        "pfwd@amt.intel.com"

/* the fewest bytes kept for a partial message whose size is not known */
#define NGX_FCFH_MIN_HOLD            512

/* names a tunnel may claim in its life, and refusals it logs */
#define NGX_FCFH_MAX_RENAMES         16
#define NGX_FCFH_NAME_REFUSALS_LOGGED  4



static void ngx_stream_fcfh_tunnel_read_handler(ngx_event_t *rev);
static void ngx_stream_fcfh_tunnel_write_handler(ngx_event_t *wev);
static ngx_int_t ngx_stream_fcfh_tunnel_resume(ngx_stream_fcfh_tunnel_t *t);
static ngx_int_t ngx_stream_fcfh_tunnel_timer(ngx_stream_fcfh_tunnel_t *t);
static void ngx_stream_fcfh_tunnel_established(ngx_stream_fcfh_tunnel_t *t);
static ngx_int_t ngx_stream_fcfh_tunnel_options(ngx_stream_fcfh_tunnel_t *t);
static ngx_int_t ngx_stream_fcfh_tunnel_process(ngx_stream_fcfh_tunnel_t *t,
    u_char *buf, size_t len);
static ngx_int_t ngx_stream_fcfh_tunnel_message(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg);
static ngx_int_t ngx_stream_fcfh_tunnel_version(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg);
static ngx_int_t ngx_stream_fcfh_tunnel_service(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg);
static ngx_int_t ngx_stream_fcfh_tunnel_userauth(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg);
static ngx_int_t ngx_stream_fcfh_tunnel_identify(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg);
static ngx_int_t ngx_stream_fcfh_tunnel_bind_guid(
    ngx_stream_fcfh_tunnel_t *t, ngx_fcfh_cred_t *cred);
static ngx_int_t ngx_stream_fcfh_tunnel_register(
    ngx_stream_fcfh_tunnel_t *t);
static ngx_int_t ngx_stream_fcfh_tunnel_global(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg);
static ngx_int_t ngx_stream_fcfh_tunnel_forward(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_global_t *g);
static ngx_int_t ngx_stream_fcfh_tunnel_claim_name(
    ngx_stream_fcfh_tunnel_t *t, ngx_fcfh_apf_str_t *address);
static ngx_int_t ngx_stream_fcfh_tunnel_name_refused(
    ngx_stream_fcfh_tunnel_t *t, ngx_str_t *shown, const char *why);
static ngx_int_t ngx_stream_fcfh_tunnel_name_allowed(
    ngx_stream_fcfh_tunnel_t *t, ngx_str_t *name);
static ngx_int_t ngx_stream_fcfh_tunnel_name_match(
    ngx_stream_fcfh_tunnel_t *t, ngx_str_t *item, ngx_str_t *name);
static ngx_int_t ngx_stream_fcfh_tunnel_name_cert(
    ngx_stream_fcfh_tunnel_t *t, ngx_str_t *name);
#if (NGX_PCRE)
static ngx_int_t ngx_stream_fcfh_tunnel_name_regex(
    ngx_stream_fcfh_tunnel_t *t, ngx_str_t *item, ngx_str_t *name);
#endif
static ngx_int_t ngx_stream_fcfh_tunnel_channel_open(
    ngx_stream_fcfh_tunnel_t *t, ngx_fcfh_apf_channel_open_t *open);
static ngx_addr_t *ngx_stream_fcfh_tunnel_receiver(
    ngx_stream_fcfh_tunnel_t *t, ngx_fcfh_apf_str_t *address, uint32_t port,
    ngx_str_t *target);
static ngx_int_t ngx_stream_fcfh_tunnel_alert(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_global_t *g);
static ngx_int_t ngx_stream_fcfh_tunnel_alert_limit(
    ngx_stream_fcfh_tunnel_t *t);
static ngx_int_t ngx_stream_fcfh_tunnel_hold(ngx_stream_fcfh_tunnel_t *t,
    u_char *buf, size_t len, size_t need);
static ngx_int_t ngx_stream_fcfh_tunnel_queued(ngx_stream_fcfh_tunnel_t *t,
    size_t n);
static ngx_int_t ngx_stream_fcfh_tunnel_flush(ngx_stream_fcfh_tunnel_t *t);
static ngx_int_t ngx_stream_fcfh_tunnel_refuse(ngx_stream_fcfh_tunnel_t *t,
    uint32_t reason, ngx_uint_t level, const char *why);
static void ngx_stream_fcfh_tunnel_close(ngx_stream_fcfh_tunnel_t *t,
    ngx_uint_t status);
static void ngx_stream_fcfh_tunnel_evict(ngx_fcfh_link_t *link);
static void ngx_stream_fcfh_tunnel_drain(ngx_fcfh_link_t *link,
    ngx_msec_t exiting);
static void ngx_stream_fcfh_tunnel_unregister(ngx_stream_fcfh_tunnel_t *t);
static void ngx_stream_fcfh_tunnel_cleanup(void *data);
static void ngx_stream_fcfh_tunnel_peer(ngx_stream_fcfh_tunnel_t *t);
static u_char *ngx_stream_fcfh_tunnel_log_error(ngx_log_t *log, u_char *buf,
    size_t len);
#if (NGX_FCFH_SHORT_READS)
static void ngx_stream_fcfh_tunnel_short_reads(ngx_stream_fcfh_tunnel_t *t);
static long ngx_stream_fcfh_tunnel_bio_callback(BIO *b, int oper,
    const char *argp, size_t len, int argi, long argl, int ret,
    size_t *processed);
#endif


static ngx_str_t  ngx_stream_fcfh_service_auth =
    ngx_string(NGX_FCFH_SERVICE_AUTH);
static ngx_str_t  ngx_stream_fcfh_service_pfwd =
    ngx_string(NGX_FCFH_SERVICE_PFWD);


void
ngx_stream_fcfh_tunnel_handler(ngx_stream_session_t *s)
{
    ngx_connection_t          *c;
    ngx_pool_cleanup_t        *cln;
    ngx_fcfh_main_conf_t      *fmcf;
    ngx_stream_fcfh_tunnel_t  *t;

    c = s->connection;

    c->log->action = "handling AMT tunnel";

    fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

    if (fmcf->scratch == NULL) {
        /* single-process mode without a worker init: cannot happen */
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    t = ngx_pcalloc(c->pool, sizeof(ngx_stream_fcfh_tunnel_t));
    if (t == NULL) {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    cln = ngx_pool_cleanup_add(c->pool, 0);
    if (cln == NULL) {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    t->session = s;
    t->fmcf = fmcf;
    t->conf = ngx_stream_get_module_srv_conf(s, ngx_stream_fcfh_module);
    t->link.evict = ngx_stream_fcfh_tunnel_evict;
    t->link.drain = ngx_stream_fcfh_tunnel_drain;

    ngx_stream_set_ctx(s, t, ngx_stream_fcfh_module);

    cln->handler = ngx_stream_fcfh_tunnel_cleanup;
    cln->data = t;

    ngx_queue_insert_tail(&fmcf->tunnels, &t->link.queue);
    fmcf->ntunnels++;
    fmcf->churn++;

    ngx_stream_fcfh_tunnel_peer(t);

    s->log_handler = ngx_stream_fcfh_tunnel_log_error;

#if (NGX_FCFH_SHORT_READS)
    ngx_stream_fcfh_tunnel_short_reads(t);
#endif

    c->read->handler = ngx_stream_fcfh_tunnel_read_handler;
    c->write->handler = ngx_stream_fcfh_tunnel_write_handler;

    /* the whole handshake must finish by this deadline */
    ngx_add_timer(c->read, t->conf->handshake_timeout);

    if (c->buffer && c->buffer->pos < c->buffer->last) {
        /* bytes a preread phase already took off the socket */

        if (ngx_stream_fcfh_tunnel_process(t, c->buffer->pos,
                                           c->buffer->last - c->buffer->pos)
            != NGX_OK)
        {
            return;
        }

        c->buffer->pos = c->buffer->last;
    }

    ngx_stream_fcfh_tunnel_read_handler(c->read);
}


static void
ngx_stream_fcfh_tunnel_read_handler(ngx_event_t *rev)
{
    u_char                    *scratch;
    size_t                     held;
    ssize_t                    n;
    ngx_int_t                  rc;
    ngx_connection_t          *c;
    ngx_stream_session_t      *s;
    ngx_stream_fcfh_tunnel_t  *t;

    c = rev->data;
    s = c->data;
    t = ngx_stream_get_module_ctx(s, ngx_stream_fcfh_module);

    if (t->closing) {
        return;
    }

    if (t->out_failed) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "no memory for a message to the device, closing");
        t->close_reason = "out of memory";
        t->close_kind = NGX_FCFH_CLOSE_ERROR;
        ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    /* an event or a caller's retry: the socket may hold data again */
    t->drained = 0;

    if (rev->timedout) {
        rev->timedout = 0;

        if (t->established) {
            rc = ngx_stream_fcfh_tunnel_timer(t);

            if (rc != NGX_DECLINED) {
                /* re-armed, or the tunnel is closed */
                return;
            }
        }

        if (!t->established) {
            ngx_stream_fcfh_tunnel_refuse(t,
                                  NGX_FCFH_APF_DISC_CONNECTION_TIMED_OUT,
                                  NGX_LOG_INFO, "device handshake timed out");
        } else {
            t->close_reason = "idle timeout";
            t->close_kind = NGX_FCFH_CLOSE_IDLE;
            ngx_stream_fcfh_tunnel_refuse(t,
                                  NGX_FCFH_APF_DISC_CONNECTION_TIMED_OUT,
                                  NGX_LOG_NOTICE, "device idle timeout");
        }

        return;
    }

    if (c->close) {
        /* worker shutdown timer: the only way nginx closes a busy tunnel */
        t->close_reason = "worker exit";
        t->close_kind = NGX_FCFH_CLOSE_WORKER_EXIT;
        ngx_stream_fcfh_tunnel_refuse(t, NGX_FCFH_APF_DISC_BY_APPLICATION,
                                      NGX_LOG_INFO, "worker is exiting");
        return;
    }

    if (t->paused) {
        /* the device is not reading our replies: stop reading its input */
        return;
    }

    scratch = t->fmcf->scratch;

    while (rev->ready && !t->paused) {

        held = t->hold_len;

        if (held) {
            ngx_memcpy(scratch, t->hold, held);
        }

        n = c->recv(c, scratch + held, NGX_FCFH_SCRATCH_SIZE - held);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            if (t->hold_len || !t->established) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "device closed the connection %s",
                              t->established ? "mid-message"
                                             : "during the handshake");
            }

            if (t->close_reason == NULL) {
                t->close_reason = "closed by device";
            }

            ngx_stream_fcfh_tunnel_close(t, t->established
                                            ? NGX_STREAM_OK
                                            : NGX_STREAM_BAD_REQUEST);
            return;
        }

        t->bytes_in += n;
        s->received += n;

        if (t->hold) {
            ngx_free(t->hold);
            t->hold = NULL;
            t->hold_len = 0;
            t->hold_size = 0;
        }

        if (ngx_stream_fcfh_tunnel_process(t, scratch, held + n) != NGX_OK) {
            return;
        }
    }

    if (t->link.entry) {
        t->link.entry->bytes_in = t->bytes_in;
    }

    if (t->established) {
        /* any message proves the device is there (the timer re-arms) */
        t->last_input = ngx_current_msec;
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_INTERNAL_SERVER_ERROR);
    }
}


static void
ngx_stream_fcfh_tunnel_write_handler(ngx_event_t *wev)
{
    ngx_connection_t          *c;
    ngx_stream_session_t      *s;
    ngx_stream_fcfh_tunnel_t  *t;

    c = wev->data;
    s = c->data;
    t = ngx_stream_get_module_ctx(s, ngx_stream_fcfh_module);

    if (t->closing) {
        return;
    }

    if (ngx_stream_fcfh_tunnel_flush(t) != NGX_OK) {
        ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_OK);
        return;
    }

    ngx_stream_fcfh_channels_unblock(t);

    if (t->paused && t->out_bytes < NGX_FCFH_CHUNK_SIZE) {
        if (ngx_stream_fcfh_tunnel_resume(t) != NGX_OK) {
            return;
        }

        ngx_stream_fcfh_tunnel_read_handler(c->read);
    }
}


/* handles the input held while the device did not read its replies */

static ngx_int_t
ngx_stream_fcfh_tunnel_resume(ngx_stream_fcfh_tunnel_t *t)
{
    u_char  *scratch;
    size_t   len;

    if (t->held) {
        /* the device's input waited for a console, not for the device */
        t->held = 0;
        t->last_input = ngx_current_msec;
    }

    t->paused = 0;

    scratch = t->fmcf->scratch;
    len = t->hold_len;

    ngx_memcpy(scratch, t->hold, len);

    ngx_free(t->hold);
    t->hold = NULL;
    t->hold_len = 0;
    t->hold_size = 0;

    return ngx_stream_fcfh_tunnel_process(t, scratch, len);
}


/*
 * The read timer of an established tunnel fired: sends the keepalive
 * options when their quiet time is over, and re-arms for what is next.
 * Returns NGX_DECLINED when the device was idle too long, NGX_DONE when
 * the tunnel was closed, NGX_OK otherwise.
 */

static ngx_int_t
ngx_stream_fcfh_tunnel_timer(ngx_stream_fcfh_tunnel_t *t)
{
    ngx_msec_t      idle, left;
    ngx_msec_int_t  wait;

    if (t->options_wait) {
        wait = (ngx_msec_int_t) (t->options_at - ngx_current_msec);

        if (wait <= 0) {
            t->options_wait = 0;

            if (ngx_stream_fcfh_tunnel_options(t) != NGX_OK) {
                return NGX_DONE;
            }

            if (ngx_stream_fcfh_tunnel_flush(t) != NGX_OK) {
                ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_OK);
                return NGX_DONE;
            }
        }
    }

    if (t->held) {
        /*
         * Input waits unread for a console: what the device sent since,
         * keepalives too, is in it, so the idle time starts over.
         */
        t->last_input = ngx_current_msec;
    }

    idle = ngx_current_msec - t->last_input;

    if (idle >= t->conf->idle_timeout) {
        return NGX_DECLINED;
    }

    /* the device spoke since the timer was set */
    left = t->conf->idle_timeout - idle;

    if (t->options_wait) {
        wait = (ngx_msec_int_t) (t->options_at - ngx_current_msec);
        left = ngx_min(left, (ngx_msec_t) ngx_max(wait, 1));
    }

    ngx_add_timer(t->session->connection->read, left);

    return NGX_OK;
}


/*
 * The APF handshake is over: the idle timeout replaces its deadline.
 * Moving the timer for each keepalive would cost a timer tree delete and
 * insert each time; it is set once per idle period instead, and re-armed
 * for what is left of it when it fires (ngx_stream_fcfh_tunnel_timer).
 */

static void
ngx_stream_fcfh_tunnel_established(ngx_stream_fcfh_tunnel_t *t)
{
    t->established = 1;
    t->last_input = ngx_current_msec;

    ngx_add_timer(t->session->connection->read, t->conf->idle_timeout);
}


/*
 * Parses and handles every complete message in buf; keeps a trailing
 * partial one.  Returns NGX_OK, or NGX_DONE when the tunnel was closed.
 */

static ngx_int_t
ngx_stream_fcfh_tunnel_process(ngx_stream_fcfh_tunnel_t *t, u_char *buf,
    size_t len)
{
    u_char              text[64];
    size_t              need;
    ssize_t             n;
    ngx_int_t           rc;
    ngx_str_t           shown;
    ngx_connection_t   *c;
    ngx_fcfh_apf_msg_t  msg;

    c = t->session->connection;

    while (len) {

        if (t->out_bytes >= NGX_FCFH_OUT_HIGH) {
            /* replies pile up: send them before handling more */

            if (ngx_stream_fcfh_tunnel_flush(t) != NGX_OK) {
                ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_OK);
                return NGX_DONE;
            }

            if (t->out_bytes >= NGX_FCFH_OUT_HIGH) {
                t->paused = 1;
                need = 0;
                goto hold;
            }
        }

        need = 0;

        n = ngx_fcfh_apf_parse(buf, len, NGX_FCFH_APF_FROM_DEVICE, NULL, &msg,
                               &need);

        if (n == 0) {
            goto hold;
        }

        if (n < 0) {
            if (n == NGX_FCFH_APF_ERR_UNKNOWN_GLOBAL) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "device sent unknown global request \"%V\"",
                              ngx_fcfh_log_str(&shown, text, sizeof(text),
                                               msg.u.global.name.data,
                                               msg.u.global.name.len));

                if (msg.u.global.want_reply) {
                    ngx_stream_fcfh_tunnel_commit(t,
                        ngx_fcfh_apf_write_request_failure(
                            ngx_stream_fcfh_tunnel_reserve(t),
                            NGX_FCFH_CONTROL_MAX));
                }

                ngx_stream_fcfh_tunnel_refuse(t,
                                       NGX_FCFH_APF_DISC_PROTOCOL_ERROR,
                                       NGX_LOG_INFO,
                                       "cannot skip an unknown request");
                return NGX_DONE;
            }

            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "device sent a malformed APF message "
                          "(type %ui, %s)", (ngx_uint_t) buf[0],
                          ngx_fcfh_apf_strerror(n));

            ngx_stream_fcfh_tunnel_refuse(t, NGX_FCFH_APF_DISC_PROTOCOL_ERROR,
                                          NGX_LOG_DEBUG, "protocol error");
            return NGX_DONE;
        }

        rc = ngx_stream_fcfh_tunnel_message(t, &msg);

        if (rc == NGX_AGAIN) {
            /* a channel's buffer is full: keep this message for later */
            t->paused = 1;
            t->held = 1;
            need = 0;
            goto hold;
        }

        if (rc != NGX_OK) {
            return NGX_DONE;
        }

        buf += n;
        len -= n;
    }

    goto done;

hold:

    if (ngx_stream_fcfh_tunnel_hold(t, buf, len, need) != NGX_OK) {
        ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

done:

    if (t->forwards_changed) {
        t->forwards_changed = 0;

        if (t->link.entry) {
            ngx_fcfh_registry_set_ports(t->link.entry, t->ports, t->nports);
        }

        if (!t->connected) {
            /* the tunnel is usable now: tell the event subscribers */
            t->connected = 1;

            ngx_fcfh_event_emit(NGX_FCFH_EVENT_CONNECTED, 0, t->guid,
                                &t->fqdn, &t->identity, &t->user, &t->peer,
                                t->trigger);
        }
    }

    if (t->options_due) {
        t->options_due = 0;

        if (ngx_stream_fcfh_tunnel_options(t) != NGX_OK) {
            return NGX_DONE;
        }
    }

    if (t->out && ngx_stream_fcfh_tunnel_flush(t) != NGX_OK) {
        ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_OK);
        return NGX_DONE;
    }

    return NGX_OK;
}


/*
 * Queues KEEPALIVE_OPTIONS_REQUEST, once: some AMT 15 firmware otherwise
 * sends keepalives every 90 s, the common idle timeout.  When is up to
 * fcfh_keepalive_options.
 */

static ngx_int_t
ngx_stream_fcfh_tunnel_options(ngx_stream_fcfh_tunnel_t *t)
{
    ssize_t  n;

    if (t->options_sent) {
        return NGX_OK;
    }

    t->options_sent = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, t->session->connection->log, 0,
                   "fcfh: keepalive options %T", t->conf->keepalive);

    n = ngx_fcfh_apf_write_keepalive_options(
            ngx_stream_fcfh_tunnel_reserve(t), NGX_FCFH_CONTROL_MAX,
            NGX_FCFH_APF_KEEPALIVE_OPTIONS_REQUEST,
            (uint32_t) t->conf->keepalive, 0);

    if (ngx_stream_fcfh_tunnel_queued(t, n) != NGX_OK) {
        return NGX_DONE;
    }

    if (t->link.entry) {
        t->link.entry->keepalive = (uint32_t) t->conf->keepalive;
    }

    return NGX_OK;
}


/* returns NGX_OK to go on, anything else once the tunnel is closed */

static ngx_int_t
ngx_stream_fcfh_tunnel_message(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = t->session->connection;

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, c->log, 0,
                   "fcfh: device message %s",
                   ngx_fcfh_apf_type_name(msg->type));

    if (msg->type == NGX_FCFH_APF_PROTOCOLVERSION) {
        return ngx_stream_fcfh_tunnel_version(t, msg);
    }

    if (!t->version_seen) {
        return ngx_stream_fcfh_tunnel_refuse(t,
                                   NGX_FCFH_APF_DISC_PROTOCOL_ERROR,
                                   NGX_LOG_INFO,
                                   "device did not start with PROTOCOLVERSION");
    }

    switch (msg->type) {

    case NGX_FCFH_APF_SERVICE_REQUEST:
        return ngx_stream_fcfh_tunnel_service(t, msg);

    case NGX_FCFH_APF_USERAUTH_REQUEST:
        return ngx_stream_fcfh_tunnel_userauth(t, msg);

    case NGX_FCFH_APF_KEEPALIVE_REQUEST:
        n = ngx_fcfh_apf_write_keepalive(ngx_stream_fcfh_tunnel_reserve(t),
                                         NGX_FCFH_CONTROL_MAX,
                                         NGX_FCFH_APF_KEEPALIVE_REPLY,
                                         msg->u.cookie);
        if (t->link.entry) {
            t->link.entry->last_keepalive = ngx_time();
        }

        return ngx_stream_fcfh_tunnel_queued(t, n);

    case NGX_FCFH_APF_KEEPALIVE_REPLY:
        if (t->link.entry) {
            t->link.entry->last_keepalive = ngx_time();
        }

        return NGX_OK;

    case NGX_FCFH_APF_KEEPALIVE_OPTIONS_REPLY:
        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, c->log, 0,
                       "fcfh: device keepalive options %uD %uD",
                       msg->u.keepalive_options.interval,
                       msg->u.keepalive_options.timeout);
        return NGX_OK;

    case NGX_FCFH_APF_DISCONNECT:
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "device disconnected, reason %uD (%s)",
                      msg->u.reason,
                      ngx_fcfh_apf_disconnect_reason_name(msg->u.reason));
        t->close_reason = "closed by device";
        ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_OK);
        return NGX_DONE;

    case NGX_FCFH_APF_GLOBAL_REQUEST:
        return ngx_stream_fcfh_tunnel_global(t, msg);

    case NGX_FCFH_APF_CHANNEL_OPEN:
        if (!t->established) {
            break;
        }

        return ngx_stream_fcfh_tunnel_channel_open(t,
                                                   &msg->u.channel_open);

    case NGX_FCFH_APF_CHANNEL_OPEN_CONFIRMATION:
    case NGX_FCFH_APF_CHANNEL_OPEN_FAILURE:
    case NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST:
    case NGX_FCFH_APF_CHANNEL_DATA:
    case NGX_FCFH_APF_CHANNEL_CLOSE:
        if (!t->established) {
            break;
        }

        switch (ngx_stream_fcfh_channel_message(t, msg)) {

        case NGX_OK:
            return NGX_OK;

        case NGX_AGAIN:
            return NGX_AGAIN;

        default:
            return ngx_stream_fcfh_tunnel_refuse(t,
                                       NGX_FCFH_APF_DISC_PROTOCOL_ERROR,
                                       NGX_LOG_DEBUG, "channel error");
        }

    default:
        break;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "device sent %s before the tunnel was established",
                  ngx_fcfh_apf_type_name(msg->type));

    return ngx_stream_fcfh_tunnel_refuse(t, NGX_FCFH_APF_DISC_PROTOCOL_ERROR,
                                         NGX_LOG_DEBUG, "out of order");
}


static ngx_int_t
ngx_stream_fcfh_tunnel_version(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg)
{
    u_char            *p;
    ngx_connection_t  *c;

    c = t->session->connection;

    if (t->version_seen) {
        return ngx_stream_fcfh_tunnel_refuse(t,
                                       NGX_FCFH_APF_DISC_PROTOCOL_ERROR,
                                       NGX_LOG_INFO,
                                       "device sent PROTOCOLVERSION twice");
    }

    t->version_seen = 1;
    t->major = msg->u.version.major;
    t->minor = msg->u.version.minor;
    t->trigger = msg->u.version.trigger;
    ngx_memcpy(t->guid, msg->u.version.guid, NGX_FCFH_APF_GUID_SIZE);

    p = ngx_pnalloc(c->pool, NGX_FCFH_APF_GUID_TEXT_SIZE);
    if (p == NULL) {
        ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    ngx_fcfh_apf_guid_to_text(t->guid, (char *) p);
    t->guid_text.data = p;
    t->guid_text.len = NGX_FCFH_APF_GUID_TEXT_SIZE;

    if (t->major != 1) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "device speaks APF %uD.%uD, only 1.x is supported",
                      t->major, t->minor);
        return ngx_stream_fcfh_tunnel_refuse(t,
                                   NGX_FCFH_APF_DISC_VERSION_NOT_SUPPORTED,
                                   NGX_LOG_DEBUG, "version");
    }

    ngx_log_debug3(NGX_LOG_DEBUG_STREAM, c->log, 0,
                   "fcfh: APF %uD.%uD trigger %s",
                   t->major, t->minor, ngx_fcfh_apf_trigger_name(t->trigger));

    return NGX_OK;
}


static ngx_int_t
ngx_stream_fcfh_tunnel_service(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg)
{
    u_char              text[64];
    ssize_t             n;
    ngx_str_t           name, shown;
    ngx_connection_t   *c;

    c = t->session->connection;

    name.data = (u_char *) msg->u.service.data;
    name.len = msg->u.service.len;

    if (name.len == ngx_stream_fcfh_service_auth.len
        && ngx_strncmp(name.data, ngx_stream_fcfh_service_auth.data,
                       name.len) == 0)
    {
        t->auth_service = 1;

    } else if (name.len == ngx_stream_fcfh_service_pfwd.len
               && ngx_strncmp(name.data, ngx_stream_fcfh_service_pfwd.data,
                              name.len) == 0)
    {
        /* firmware differs on whether this comes before or after auth */
        t->pfwd_service = 1;

        if (t->authenticated && !t->established) {
            ngx_stream_fcfh_tunnel_established(t);
        }

    } else {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "device requested unknown service \"%V\"",
                      ngx_fcfh_log_str(&shown, text, sizeof(text),
                                       name.data, name.len));

        return ngx_stream_fcfh_tunnel_refuse(t,
                                       NGX_FCFH_APF_DISC_SERVICE_NOT_AVAILABLE,
                                       NGX_LOG_DEBUG, "service");
    }

    n = ngx_fcfh_apf_write_service(ngx_stream_fcfh_tunnel_reserve(t),
                                   NGX_FCFH_CONTROL_MAX,
                                   NGX_FCFH_APF_SERVICE_ACCEPT,
                                   name.data, (uint32_t) name.len);

    return ngx_stream_fcfh_tunnel_queued(t, n);
}


static ngx_int_t
ngx_stream_fcfh_tunnel_userauth(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg)
{
    u_char                   text[64];
    size_t                   size;
    ssize_t                  n;
    ngx_int_t                rc;
    ngx_str_t                shown;
    ngx_connection_t        *c;
    ngx_fcfh_apf_userauth_t *ua;

    c = t->session->connection;
    ua = &msg->u.userauth;

    if (!t->auth_service || t->authenticated) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "device sent USERAUTH_REQUEST %s",
                      t->authenticated ? "after authentication"
                                       : "before the auth service");

        return ngx_stream_fcfh_tunnel_refuse(t,
                                       NGX_FCFH_APF_DISC_PROTOCOL_ERROR,
                                       NGX_LOG_DEBUG, "userauth order");
    }

    if (ua->service.len != ngx_stream_fcfh_service_pfwd.len
        || ngx_strncmp(ua->service.data, ngx_stream_fcfh_service_pfwd.data,
                       ua->service.len) != 0)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "device authenticated for unknown service \"%V\"",
                      ngx_fcfh_log_str(&shown, text, sizeof(text),
                                       ua->service.data, ua->service.len));

        return ngx_stream_fcfh_tunnel_refuse(t,
                                       NGX_FCFH_APF_DISC_SERVICE_NOT_AVAILABLE,
                                       NGX_LOG_DEBUG, "userauth service");
    }

    size = NGX_FCFH_ESCAPE_LOG_MAX * ua->user.len;

    t->user.data = ngx_pnalloc(c->pool, size + 1);
    if (t->user.data == NULL) {
        ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    /* a printable copy for logs and the registry; auth uses the raw one */

    t->user.len = ngx_fcfh_escape_log(t->user.data, size, ua->user.data,
                                      ua->user.len);

    rc = ngx_stream_fcfh_tunnel_identify(t, msg);

    if (rc == NGX_OK) {
        rc = ngx_stream_fcfh_tunnel_register(t);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    t->authenticated = 1;

    if (t->pfwd_service) {
        ngx_stream_fcfh_tunnel_established(t);
    }

    n = ngx_fcfh_apf_write_userauth_success(ngx_stream_fcfh_tunnel_reserve(t),
                                            NGX_FCFH_CONTROL_MAX);

    return ngx_stream_fcfh_tunnel_queued(t, n);
}


/*
 * Who is this device: a verified client certificate mapped to an
 * identity by fcfh_cert_identity, else a user and password from the
 * credentials file.  Then: may that identity claim this GUID.
 */

static ngx_int_t
ngx_stream_fcfh_tunnel_identify(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg)
{
    u_char                   view[NGX_FCFH_LOG_STR_MAX];
    ngx_str_t                verify, identity, user, password, shown;
    ngx_int_t                rc;
    ngx_uint_t               cached;
    ngx_fcfh_cred_t         *cred;
    ngx_connection_t        *c;
    ngx_stream_session_t    *s;
    ngx_fcfh_apf_userauth_t *ua;

    s = t->session;
    c = s->connection;
    ua = &msg->u.userauth;
    cred = NULL;

#if (NGX_STREAM_SSL)

    if (t->conf->cert_identity && c->ssl) {

        if (ngx_ssl_get_client_verify(c, c->pool, &verify) != NGX_OK) {
            ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_INTERNAL_SERVER_ERROR);
            return NGX_DONE;
        }

        if (verify.len == 7 && ngx_strncmp(verify.data, "SUCCESS", 7) == 0) {

            if (ngx_stream_complex_value(s, t->conf->cert_identity, &identity)
                != NGX_OK)
            {
                ngx_stream_fcfh_tunnel_close(t,
                                             NGX_STREAM_INTERNAL_SERVER_ERROR);
                return NGX_DONE;
            }

            if (identity.len) {
                t->identity = identity;
                t->auth = NGX_FCFH_AUTH_CERTIFICATE;
                goto bind;
            }

            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "device certificate maps to no identity");
        }
    }

#endif

    if (t->conf->htpasswd == NULL || !ua->has_password) {
        ngx_log_error(NGX_LOG_NOTICE, c->log, 0,
                      "device authentication failed: user \"%V\", method "
                      "\"%*s\", no %s", &t->user,
                      (size_t) ngx_min(ua->method.len, 16), ua->method.data,
                      t->conf->htpasswd ? "password" : "accepted credentials");
        goto failed;
    }

    user.data = (u_char *) ua->user.data;
    user.len = ua->user.len;
    password.data = (u_char *) ua->password.data;
    password.len = ua->password.len;

    rc = ngx_fcfh_htpasswd_check(t->conf->htpasswd, &user, &password,
                                 c->pool, &cred, &cached);

    if (cached) {
        ngx_fcfh_count(auth_cache_hits, 1);
    }

    if (rc == NGX_ERROR) {
        ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_NOTICE, c->log, 0,
                      "device authentication failed: user \"%V\", "
                      "wrong password or unknown user", &t->user);
        goto failed;
    }

    t->identity = t->user;
    t->cred = cred;
    t->auth = NGX_FCFH_AUTH_PASSWORD;

bind:

    rc = ngx_stream_fcfh_tunnel_bind_guid(t, cred);

    if (rc == NGX_OK) {
        return NGX_OK;
    }

    if (rc == NGX_ERROR) {
        ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    ngx_stream_fcfh_tunnel_commit(t,
        ngx_fcfh_apf_write_userauth_failure(ngx_stream_fcfh_tunnel_reserve(t),
                                            NGX_FCFH_CONTROL_MAX));

    ngx_log_error(NGX_LOG_WARN, c->log, 0,
                  "device identity \"%V\" may not register GUID %V",
                  ngx_fcfh_log_str(&shown, view, sizeof(view),
                                   t->identity.data, t->identity.len),
                  &t->guid_text);

    ngx_fcfh_event_emit(NGX_FCFH_EVENT_AUTH_FAILED,
                        NGX_FCFH_APF_DISC_HOST_NOT_ALLOWED, t->guid, NULL,
                        &t->identity, &t->user, &t->peer, t->trigger);

    return ngx_stream_fcfh_tunnel_refuse(t, NGX_FCFH_APF_DISC_HOST_NOT_ALLOWED,
                                         NGX_LOG_DEBUG, "guid binding");

failed:

    ngx_fcfh_event_emit(NGX_FCFH_EVENT_AUTH_FAILED,
                        NGX_FCFH_APF_DISC_INVALID_CREDENTIALS, t->guid, NULL,
                        NULL, &t->user, &t->peer, t->trigger);

    ngx_stream_fcfh_tunnel_commit(t,
        ngx_fcfh_apf_write_userauth_failure(ngx_stream_fcfh_tunnel_reserve(t),
                                            NGX_FCFH_CONTROL_MAX));

    return ngx_stream_fcfh_tunnel_refuse(t,
                                   NGX_FCFH_APF_DISC_INVALID_CREDENTIALS,
                                   NGX_LOG_DEBUG, "authentication");
}


/*
 * NGX_OK: the identity may register the device's GUID; NGX_DECLINED: not.
 * A GUID that a credentials line names belongs to that user: any other
 * identity, even one allowed every GUID, is refused it, so a device
 * cannot take a bound GUID before its owner connects.
 */

static ngx_int_t
ngx_stream_fcfh_tunnel_bind_guid(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_cred_t *cred)
{
    ngx_int_t   rc;
    ngx_str_t   list, *owner;

    if (t->conf->device_guids) {
        if (ngx_stream_complex_value(t->session, t->conf->device_guids, &list)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        rc = ngx_fcfh_guid_list_allows(&list, t->guid);

        if (rc == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, t->session->connection->log, 0,
                          "fcfh_device_guids evaluated to an invalid GUID "
                          "list \"%V\"", &list);
            return NGX_DECLINED;
        }

    } else if (cred && cred->guids.len) {
        rc = ngx_fcfh_guid_list_allows(&cred->guids, t->guid);

    } else {
        /* no binding configured: any GUID not reserved for another */
        rc = NGX_DONE;
    }

    if (rc == NGX_OK) {
        /* named in the identity's own binding */
        t->bound = 1;
        return NGX_OK;
    }

    if (rc != NGX_DONE) {
        return NGX_DECLINED;
    }

    owner = ngx_fcfh_htpasswd_reserved(t->conf->htpasswd, t->guid);

    if (owner && (cred == NULL || owner != &cred->user)) {
        return NGX_DECLINED;
    }

    t->bound = (owner != NULL);

    return NGX_OK;
}


static ngx_int_t
ngx_stream_fcfh_tunnel_register(ngx_stream_fcfh_tunnel_t *t)
{
    u_char                    view[NGX_FCFH_LOG_STR_MAX];
    void                     *old;
    ngx_int_t                 rc;
    ngx_str_t                 shown;
    ngx_time_t               *tp;
    ngx_msec_int_t            age;
    ngx_connection_t         *c;
    ngx_fcfh_registration_t   reg;

    c = t->session->connection;

    ngx_memzero(&reg, sizeof(ngx_fcfh_registration_t));

    reg.guid = t->guid;
    reg.identity = t->identity;
    reg.user = t->user;
    reg.peer = t->peer;
    reg.auth = t->auth;
    reg.bound = t->bound;
    reg.trigger = t->trigger;
    reg.major = t->major;
    reg.minor = t->minor;
    reg.keepalive = 0;          /* until the gateway asks for it */
    reg.tunnel = &t->link;

#if (NGX_STREAM_SSL)

    if (c->ssl) {
        reg.tls_protocol.data = (u_char *) SSL_get_version(c->ssl->connection);
        reg.tls_protocol.len = ngx_strlen(reg.tls_protocol.data);
        reg.tls_cipher.data =
                        (u_char *) SSL_get_cipher_name(c->ssl->connection);
        reg.tls_cipher.len = ngx_strlen(reg.tls_cipher.data);
    }

#endif

    rc = ngx_fcfh_registry_add(&reg, &t->link.entry, &old, c->log);

    switch (rc) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "device GUID %V is connected already as another "
                      "identity, refused", &t->guid_text);

        ngx_fcfh_event_emit(NGX_FCFH_EVENT_AUTH_FAILED,
                            NGX_FCFH_APF_DISC_HOST_NOT_ALLOWED, t->guid, NULL,
                            &t->identity, &t->user, &t->peer, t->trigger);
        return ngx_stream_fcfh_tunnel_refuse(t,
                                       NGX_FCFH_APF_DISC_HOST_NOT_ALLOWED,
                                       NGX_LOG_DEBUG, "duplicate guid");

    case NGX_BUSY:
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "fcfh zone is full, device refused");
        return ngx_stream_fcfh_tunnel_refuse(t,
                                       NGX_FCFH_APF_DISC_TOO_MANY_CONNECTIONS,
                                       NGX_LOG_DEBUG, "zone full");

    case NGX_ABORT:
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "gateway holds fcfh_max_tunnels tunnels, device "
                      "refused");
        return ngx_stream_fcfh_tunnel_refuse(t,
                                       NGX_FCFH_APF_DISC_TOO_MANY_CONNECTIONS,
                                       NGX_LOG_DEBUG, "max tunnels");

    default:
        ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    ngx_fcfh_count(handshakes, 1);

    /* from the TCP accept: TLS, PROXY protocol and the APF exchanges */

    tp = ngx_timeofday();
    age = (ngx_msec_int_t) ((tp->sec - t->session->start_sec) * 1000
                            + (tp->msec - t->session->start_msec));

    ngx_fcfh_observe(handshake_time, (ngx_msec_t) ngx_max(age, 0));

    ngx_fcfh_cluster_publish(t->link.entry, c->log);

    if (old) {
        ngx_stream_fcfh_tunnel_evict(old);
    }

    ngx_log_error(NGX_LOG_NOTICE, c->log, 0,
                  "device tunnel up: identity \"%V\" (%s), trigger %s",
                  ngx_fcfh_log_str(&shown, view, sizeof(view),
                                   t->identity.data, t->identity.len),
                  t->auth == NGX_FCFH_AUTH_CERTIFICATE ? "certificate"
                                                       : "password",
                  ngx_fcfh_apf_trigger_name(t->trigger));

    return NGX_OK;
}


static ngx_int_t
ngx_stream_fcfh_tunnel_global(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg)
{
    u_char                  text[64];
    ssize_t                 n;
    ngx_int_t               ok;
    ngx_str_t               shown;
    ngx_connection_t       *c;
    ngx_fcfh_apf_global_t  *g;

    c = t->session->connection;
    g = &msg->u.global;

    if (!t->established) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "device sent global request \"%V\" before the tunnel "
                      "was established",
                      ngx_fcfh_log_str(&shown, text, sizeof(text),
                                       g->name.data, g->name.len));

        return ngx_stream_fcfh_tunnel_refuse(t,
                                       NGX_FCFH_APF_DISC_PROTOCOL_ERROR,
                                       NGX_LOG_DEBUG, "global order");
    }

    switch (g->kind) {

    case NGX_FCFH_APF_GLOBAL_TCPIP_FORWARD:
        return ngx_stream_fcfh_tunnel_forward(t, g);

    case NGX_FCFH_APF_GLOBAL_CANCEL_TCPIP_FORWARD:
        {
        ngx_uint_t  i;

        for (i = 0; i < t->nports; i++) {
            if (t->ports[i] == g->port) {
                t->ports[i] = t->ports[--t->nports];
                t->forwards_changed = 1;
                break;
            }
        }
        }

        /* answered whatever want_reply says, as field-proven peers do */
        n = ngx_fcfh_apf_write_request_success(
                ngx_stream_fcfh_tunnel_reserve(t),
                NGX_FCFH_CONTROL_MAX, -1);

        return ngx_stream_fcfh_tunnel_queued(t, n);

    default: /* NGX_FCFH_APF_GLOBAL_UDP_SEND_TO */
        ok = (ngx_stream_fcfh_tunnel_alert(t, g) == NGX_OK);

        if (!g->want_reply) {
            return NGX_OK;
        }

        n = ok ? ngx_fcfh_apf_write_request_success(
                     ngx_stream_fcfh_tunnel_reserve(t),
                     NGX_FCFH_CONTROL_MAX, -1)
               : ngx_fcfh_apf_write_request_failure(
                     ngx_stream_fcfh_tunnel_reserve(t),
                     NGX_FCFH_CONTROL_MAX);

        return ngx_stream_fcfh_tunnel_queued(t, n);
    }
}


/*
 * A datagram the device asks the gateway to send (udp-send-to: SNMP traps,
 * alerts).  Sent only to a receiver in fcfh_alert_receivers; anything
 * else is refused and logged.  Either way it is an alert event.
 */

static ngx_int_t
ngx_stream_fcfh_tunnel_alert(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_global_t *g)
{
    u_char             text[NGX_SOCKADDR_STRLEN];
    ngx_int_t          rc;
    ngx_str_t          target;
    ngx_addr_t        *addr;
    ngx_connection_t  *c;

    c = t->session->connection;

    if (ngx_stream_fcfh_tunnel_alert_limit(t) != NGX_OK) {
        return NGX_BUSY;
    }

    target.data = text;

    addr = ngx_stream_fcfh_tunnel_receiver(t, &g->address, g->port, &target);

    rc = addr ? ngx_fcfh_alert_send(addr, g->data.data, g->data.len, c->log)
              : NGX_DECLINED;

    if (rc == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "device alert datagram (%uD bytes) relayed to %V",
                      g->data.len, &target);

    } else if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "device alert datagram to %V refused: not in "
                      "fcfh_alert_receivers", &target);
    }

    ngx_stream_fcfh_tunnel_alerted(t, &target, rc == NGX_OK);

    return rc;
}


/*
 * fcfh_alert_limit: alerts (datagrams and channels the device opens) past
 * the limit in one period are counted and dropped, with one log line per
 * period: one device can neither flood the log nor push every other
 * event out of the ring.  NGX_OK: this alert may go on.
 */

static ngx_int_t
ngx_stream_fcfh_tunnel_alert_limit(ngx_stream_fcfh_tunnel_t *t)
{
    ngx_msec_t         now;
    ngx_connection_t  *c;

    if (t->conf->alert_limit == 0) {
        return NGX_OK;
    }

    c = t->session->connection;
    now = ngx_current_msec;

    if (t->alerts_since == 0
        || (ngx_msec_int_t) (now - t->alerts_since)
           >= (ngx_msec_int_t) t->conf->alert_period)
    {
        if (t->alerts_dropped) {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "device alerts over fcfh_alert_limit: %ui dropped",
                          t->alerts_dropped);
        }

        t->alerts_since = now ? now : 1;
        t->alerts_counted = 0;
        t->alerts_dropped = 0;
    }

    if (t->alerts_counted < t->conf->alert_limit) {
        t->alerts_counted++;
        return NGX_OK;
    }

    if (t->alerts_dropped++ == 0) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "device sends more than %ui alerts in %M ms, dropping "
                      "them", t->conf->alert_limit, t->conf->alert_period);
    }

    ngx_fcfh_count(alerts_limited, 1);

    return NGX_BUSY;
}


/*
 * A channel the device opens itself: "direct-tcpip" toward an event or
 * alert receiver (WS-Eventing deliveries, for one).  Connected only to a
 * receiver in fcfh_alert_receivers; the channel is confirmed once the
 * connection to the receiver is up.  Anything else is refused with the
 * SSH reason that says why, and logged.
 */

static ngx_int_t
ngx_stream_fcfh_tunnel_channel_open(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_channel_open_t *open)
{
    u_char             text[NGX_SOCKADDR_STRLEN], type[64];
    size_t             n;
    uint32_t           reason;
    ngx_str_t          target, shown;
    ngx_addr_t        *addr;
    ngx_connection_t  *c;

    static u_char      direct[] = "direct-tcpip";

    c = t->session->connection;

    if (ngx_stream_fcfh_tunnel_alert_limit(t) != NGX_OK) {
        n = ngx_fcfh_apf_write_channel_open_failure(
                ngx_stream_fcfh_tunnel_reserve(t), NGX_FCFH_CONTROL_MAX,
                open->sender, NGX_FCFH_APF_OPEN_RESOURCE_SHORTAGE);

        return ngx_stream_fcfh_tunnel_queued(t, n);
    }

    target.data = text;

    addr = ngx_stream_fcfh_tunnel_receiver(t, &open->connected_address,
                                           open->connected_port, &target);

    if (open->type.len != sizeof(direct) - 1
        || ngx_strncmp(open->type.data, direct, sizeof(direct) - 1) != 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, c->log, 0,
                      "device channel open \"%V\" to %V refused: unknown "
                      "channel type",
                      ngx_fcfh_log_str(&shown, type, sizeof(type),
                                       open->type.data, open->type.len),
                      &target);

        reason = NGX_FCFH_APF_OPEN_UNKNOWN_CHANNEL_TYPE;
        goto refused;
    }

    if (addr == NULL) {
        ngx_log_error(NGX_LOG_NOTICE, c->log, 0,
                      "device channel open \"direct-tcpip\" to %V refused: "
                      "not in fcfh_alert_receivers", &target);

        reason = NGX_FCFH_APF_OPEN_ADMINISTRATIVELY_PROHIBITED;
        goto refused;
    }

    /* the alert is accounted for once the receiver answered */

    reason = ngx_stream_fcfh_channel_accept(t, open, addr, &target);

    if (reason == 0) {
        return NGX_OK;
    }

refused:

    ngx_stream_fcfh_tunnel_alerted(t, &target, 0);

    n = ngx_fcfh_apf_write_channel_open_failure(
            ngx_stream_fcfh_tunnel_reserve(t), NGX_FCFH_CONTROL_MAX,
            open->sender, reason);

    return ngx_stream_fcfh_tunnel_queued(t, n);
}


/*
 * The receiver in fcfh_alert_receivers a device's target names, or NULL;
 * target is set to the target as text (device bytes made printable) in
 * a buffer of NGX_SOCKADDR_STRLEN the caller provides.
 */

static ngx_addr_t *
ngx_stream_fcfh_tunnel_receiver(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_str_t *address, uint32_t port, ngx_str_t *target)
{
    u_char          *text;
    socklen_t        socklen;
    in_addr_t        inaddr;
    ngx_uint_t       i;
    ngx_addr_t      *addr;
    ngx_sockaddr_t   sa;

    text = target->data;

    /* room for the port after at most 64 bytes of view */
    target->len = ngx_fcfh_escape_log(text, 64, address->data,
                                      address->len);
    target->len = ngx_snprintf(text + target->len,
                               NGX_SOCKADDR_STRLEN - target->len,
                               ":%uD", port)
                  - text;

    if (t->conf->alert_receivers == NULL || port == 0 || port > 65535) {
        return NULL;
    }

    /* receivers are compared by address: no name is ever resolved */

    ngx_memzero(&sa, sizeof(ngx_sockaddr_t));
    socklen = 0;

    inaddr = ngx_inet_addr((u_char *) address->data, address->len);

    if (inaddr != INADDR_NONE) {
        sa.sockaddr_in.sin_family = AF_INET;
        sa.sockaddr_in.sin_addr.s_addr = inaddr;
        sa.sockaddr_in.sin_port = htons((in_port_t) port);
        socklen = sizeof(struct sockaddr_in);

#if (NGX_HAVE_INET6)
    } else if (ngx_inet6_addr((u_char *) address->data, address->len,
                              sa.sockaddr_in6.sin6_addr.s6_addr)
               == NGX_OK)
    {
        sa.sockaddr_in6.sin6_family = AF_INET6;
        sa.sockaddr_in6.sin6_port = htons((in_port_t) port);
        socklen = sizeof(struct sockaddr_in6);
#endif
    }

    if (socklen == 0) {
        return NULL;
    }

    addr = t->conf->alert_receivers->elts;

    for (i = 0; i < t->conf->alert_receivers->nelts; i++) {
        if (ngx_cmp_sockaddr(addr[i].sockaddr, addr[i].socklen,
                             &sa.sockaddr, socklen, 1)
            == NGX_OK)
        {
            return &addr[i];
        }
    }

    return NULL;
}


/*
 * Every alert, datagram or channel, relayed or not, is counted and is an
 * event; a first one right after connecting is the evidence of an
 * alert-triggered connection.
 */

void
ngx_stream_fcfh_tunnel_alerted(ngx_stream_fcfh_tunnel_t *t,
    ngx_str_t *target, ngx_uint_t relayed)
{
    if (relayed) {
        ngx_fcfh_count(alerts_relayed, 1);

    } else {
        ngx_fcfh_count(alerts_refused, 1);
    }

    if (t->link.entry) {
        t->link.entry->alerts++;

        if (t->link.entry->alerts == 1
            && ngx_time() - t->link.entry->connected_at
               <= NGX_FCFH_ALERT_EVIDENCE)
        {
            t->link.entry->alert_after_connect = 1;
        }
    }

    ngx_fcfh_event_emit(NGX_FCFH_EVENT_ALERT, relayed, t->guid, &t->fqdn,
                        &t->identity, target, &t->peer, t->trigger);
}


/*
 * The name a device gives in tcpip-forward becomes a way to reach it only
 * if it is a name (DNS name or IP literal), the device's binding allows
 * it, and no other device's live tunnel holds it.  Otherwise the forward
 * still succeeds and the device keeps the name it had.  NGX_ERROR: no
 * memory.
 */

static ngx_int_t
ngx_stream_fcfh_tunnel_claim_name(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_str_t *address)
{
    u_char                 holder[NGX_FCFH_APF_GUID_SIZE];
    u_char                 text[NGX_FCFH_APF_GUID_TEXT_SIZE];
    u_char                 view[NGX_FCFH_LOG_STR_MAX];
    size_t                 len, size;
    ngx_int_t              rc;
    ngx_str_t              name, shown;
    ngx_connection_t      *c;
    ngx_fcfh_proxy_host_t  host;

    c = t->session->connection;

    len = ngx_min(address->len, NGX_FCFH_APF_DEFAULT_MAX_STRING);

    /*
     * The first name gets a copy of its own size; a longer one later, the
     * longest size once: a tunnel that renames itself on every forward
     * still holds at most two copies.
     */

    if (t->name_tried.data == NULL
        || (len > t->name_tried.len && !t->name_tried_max))
    {
        size = (t->name_tried.data == NULL)
               ? len : NGX_FCFH_APF_DEFAULT_MAX_STRING;

        t->name_tried.data = ngx_pnalloc(c->pool, size);
        if (t->name_tried.data == NULL) {
            return NGX_ERROR;
        }

        t->name_tried_max = (size == NGX_FCFH_APF_DEFAULT_MAX_STRING);
    }

    t->name_tried.len = len;
    ngx_memcpy(t->name_tried.data, address->data, len);

    ngx_fcfh_log_str(&shown, view, sizeof(view), (u_char *) address->data,
                     address->len);

    rc = ngx_fcfh_proxy_parse_host((const uint8_t *) address->data,
                                   address->len, &host);

    if (rc != NGX_FCFH_PROXY_HOST_NAME && rc != NGX_FCFH_PROXY_HOST_IPV4
        && rc != NGX_FCFH_PROXY_HOST_IPV6)
    {
        /* a GUID-shaped name would shadow the GUID routing */
        return ngx_stream_fcfh_tunnel_name_refused(t, &shown,
                   rc == NGX_FCFH_PROXY_HOST_GUID
                   ? "a GUID is not a name"
                   : "not a DNS name or IP address");
    }

    /* each claim costs memory, a lookup and maybe a regex: bounded */

    if (t->renames++ >= NGX_FCFH_MAX_RENAMES) {
        return ngx_stream_fcfh_tunnel_name_refused(t, &shown,
                                           "the device renamed itself too "
                                           "often");
    }

    name.len = host.text.len;
    name.data = ngx_pnalloc(c->pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    ngx_strlow(name.data, (u_char *) host.text.data, name.len);

    rc = ngx_stream_fcfh_tunnel_name_allowed(t, &name);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_stream_fcfh_tunnel_name_refused(t, &shown,
                                           "not in the names the device's "
                                           "identity may claim");
    }

    if (rc == NGX_BUSY) {
        return ngx_stream_fcfh_tunnel_name_refused(t, &shown,
                                           "bound to another identity");
    }

    if (t->link.entry == NULL) {
        return NGX_OK;
    }

    rc = ngx_fcfh_registry_set_fqdn(t->link.entry, name.data, name.len,
                                    holder, c->log);

    if (rc == NGX_DECLINED) {
        ngx_fcfh_apf_guid_to_text(holder, (char *) text);

        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "device name \"%V\" is held by device %*s, not "
                      "registered", &name,
                      (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, text);

        ngx_fcfh_event_conflict(t->guid, holder, &name, &t->identity,
                                &t->peer);
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "fcfh zone is full, device name \"%V\" not indexed",
                      &name);
        return NGX_OK;
    }

    /* channel opens name the device by the name it registered */
    t->fqdn = name;

    /* the cluster directory learns the name too */
    ngx_fcfh_cluster_publish(t->link.entry, c->log);

    return NGX_OK;
}


static ngx_int_t
ngx_stream_fcfh_tunnel_name_refused(ngx_stream_fcfh_tunnel_t *t,
    ngx_str_t *shown, const char *why)
{
    /* a few lines per tunnel: a device cannot flood the log this way */

    if (t->name_refusals++ < NGX_FCFH_NAME_REFUSALS_LOGGED) {
        ngx_log_error(NGX_LOG_NOTICE, t->session->connection->log, 0,
                      "device name \"%V\" not registered: %s", shown, why);
    }

    return NGX_OK;
}


/*
 * fcfh_device_names, else the fourth field of the device's credentials
 * line: NGX_OK when the binding allows the name (or there is none),
 * NGX_DECLINED when not, NGX_BUSY when another user's line lists it.  The
 * list: "*", "certificate" (the name is in the client certificate's SAN
 * or subject CN), "*.suffix" or ".suffix", "~regex", or exact names.
 */

static ngx_int_t
ngx_stream_fcfh_tunnel_name_allowed(ngx_stream_fcfh_tunnel_t *t,
    ngx_str_t *name)
{
    ngx_int_t    rc;
    ngx_str_t    list, item, *owner;
    ngx_uint_t   next;

    if (t->conf->device_names) {
        if (ngx_stream_complex_value(t->session, t->conf->device_names,
                                     &list)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (t->cred && t->cred->names.len) {
        list = t->cred->names;

    } else {
        ngx_str_set(&list, "*");
    }

    rc = NGX_DECLINED;
    next = 0;

    while (rc == NGX_DECLINED
           && ngx_fcfh_list_next(&list, &next, &item) == NGX_OK)
    {
        rc = ngx_stream_fcfh_tunnel_name_match(t, &item, name);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    /* a name a credentials line lists is that user's alone */

    owner = ngx_fcfh_htpasswd_name_owner(t->conf->htpasswd, name);

    if (owner && (t->cred == NULL || owner != &t->cred->user)) {
        return NGX_BUSY;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_stream_fcfh_tunnel_name_match(ngx_stream_fcfh_tunnel_t *t,
    ngx_str_t *item, ngx_str_t *name)
{
    size_t   n;
    u_char  *suffix;

    if (item->len == 1 && item->data[0] == '*') {
        return NGX_OK;
    }

    if (item->len == sizeof("certificate") - 1
        && ngx_strncmp(item->data, "certificate", item->len) == 0)
    {
        return ngx_stream_fcfh_tunnel_name_cert(t, name);
    }

    if (item->data[0] == '~') {
#if (NGX_PCRE)
        return ngx_stream_fcfh_tunnel_name_regex(t, item, name);
#else
        ngx_log_error(NGX_LOG_ERR, t->session->connection->log, 0,
                      "fcfh_device_names: regular expressions need PCRE");
        return NGX_DECLINED;
#endif
    }

    if (item->data[0] == '*' || item->data[0] == '.') {
        suffix = item->data + (item->data[0] == '*');
        n = item->len - (item->data[0] == '*');

        /* at least one label before the suffix */
        return (n && suffix[0] == '.' && name->len > n
                && ngx_strncasecmp(name->data + name->len - n, suffix, n)
                   == 0)
               ? NGX_OK : NGX_DECLINED;
    }

    return (item->len == name->len
            && ngx_strncasecmp(item->data, name->data, name->len) == 0)
           ? NGX_OK : NGX_DECLINED;
}


/* the name is one the device's verified client certificate was made for */

static ngx_int_t
ngx_stream_fcfh_tunnel_name_cert(ngx_stream_fcfh_tunnel_t *t,
    ngx_str_t *name)
{
#if (NGX_STREAM_SSL)
    int                rc;
    u_char             ip[NGX_SOCKADDR_STRLEN];
    X509              *cert;
    ngx_connection_t  *c;

    c = t->session->connection;

    if (c->ssl == NULL || t->auth != NGX_FCFH_AUTH_CERTIFICATE) {
        return NGX_DECLINED;
    }

    cert = SSL_get_peer_certificate(c->ssl->connection);
    if (cert == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_fcfh_proxy_parse_host(name->data, name->len, NULL)
        == NGX_FCFH_PROXY_HOST_NAME)
    {
        rc = X509_check_host(cert, (char *) name->data, name->len, 0, NULL);

    } else {
        ngx_memcpy(ip, name->data, ngx_min(name->len, sizeof(ip) - 1));
        ip[ngx_min(name->len, sizeof(ip) - 1)] = '\0';
        rc = X509_check_ip_asc(cert, (char *) ip, 0);
    }

    X509_free(cert);

    return (rc == 1) ? NGX_OK : NGX_DECLINED;
#else
    return NGX_DECLINED;
#endif
}


#if (NGX_PCRE)

/* compiled per use, in a pool of its own: names arrive once per tunnel */

static ngx_int_t
ngx_stream_fcfh_tunnel_name_regex(ngx_stream_fcfh_tunnel_t *t,
    ngx_str_t *item, ngx_str_t *name)
{
    u_char               errstr[NGX_MAX_CONF_ERRSTR];
    ngx_int_t            rc;
    ngx_pool_t          *pool;
    ngx_connection_t    *c;
    ngx_regex_compile_t  rx;

    c = t->session->connection;

    pool = ngx_create_pool(1024, c->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&rx, sizeof(ngx_regex_compile_t));

    rx.pattern.data = item->data + 1;
    rx.pattern.len = item->len - 1;
    rx.options = NGX_REGEX_CASELESS;
    rx.pool = pool;
    rx.err.len = NGX_MAX_CONF_ERRSTR;
    rx.err.data = errstr;

    if (ngx_regex_compile(&rx) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0, "fcfh_device_names: %V",
                      &rx.err);
        ngx_destroy_pool(pool);
        return NGX_DECLINED;
    }

    rc = ngx_regex_exec(rx.regex, name, NULL, 0);

    ngx_destroy_pool(pool);

    return (rc >= 0) ? NGX_OK : NGX_DECLINED;
}

#endif


static ngx_int_t
ngx_stream_fcfh_tunnel_forward(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_global_t *g)
{
    ssize_t            n;
    ngx_uint_t         i;
    ngx_connection_t  *c;

    c = t->session->connection;

    if (t->conf->keepalive_options == NGX_FCFH_KA_OPTIONS_QUIET
        && !t->options_sent)
    {
        /* the options wait until the device stopped registering ports */
        t->options_wait = 1;
        t->options_at = ngx_current_msec + t->conf->keepalive_quiet;
        ngx_add_timer(c->read, t->conf->keepalive_quiet);
    }

    if (g->port == 0 || g->port > 65535) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "device asked to forward invalid port %uD", g->port);
        goto failure;
    }

    for (i = 0; i < t->nports; i++) {
        if (t->ports[i] == g->port) {
            break;
        }
    }

    if (i == t->nports) {
        if (t->nports >= t->conf->max_forwards) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "device asked to forward port %uD, over the "
                          "limit of %ui forwards", g->port,
                          t->conf->max_forwards);
            goto failure;
        }

        t->ports[t->nports++] = (uint16_t) g->port;
        t->forwards_changed = 1;
    }

    /* AMT names itself in every forward: each new name is tried once */

    if (g->address.len
        && (g->address.len != t->name_tried.len
            || ngx_strncasecmp(t->name_tried.data, (u_char *) g->address.data,
                               g->address.len) != 0)
        && ngx_stream_fcfh_tunnel_claim_name(t, &g->address) == NGX_ERROR)
    {
        ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    if (g->port == NGX_FCFH_PORT_KVM
        && t->conf->keepalive_options == NGX_FCFH_KA_OPTIONS_5900)
    {
        /* real AMT registers it last; the options follow its answer */
        t->options_due = 1;
    }

    n = ngx_fcfh_apf_write_request_success(ngx_stream_fcfh_tunnel_reserve(t),
                                           NGX_FCFH_CONTROL_MAX,
                                           g->port);

    return ngx_stream_fcfh_tunnel_queued(t, n);

failure:

    n = ngx_fcfh_apf_write_request_failure(ngx_stream_fcfh_tunnel_reserve(t),
                                           NGX_FCFH_CONTROL_MAX);

    return ngx_stream_fcfh_tunnel_queued(t, n);
}


/* keeps a partial message until the rest arrives */

static ngx_int_t
ngx_stream_fcfh_tunnel_hold(ngx_stream_fcfh_tunnel_t *t, u_char *buf,
    size_t len, size_t need)
{
    size_t  size;

    /* a partial message, or all input left while paused */
    size = ngx_max(len, need);
    size = ngx_max(size, NGX_FCFH_MIN_HOLD);
    size = ngx_min(size, NGX_FCFH_SCRATCH_SIZE);

    if (len > size) {
        /* cannot happen: reads never exceed the scratch area */
        return NGX_ERROR;
    }

    t->hold = ngx_alloc(size, t->session->connection->log);
    if (t->hold == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(t->hold, buf, len);
    t->hold_len = len;
    t->hold_size = size;

    return NGX_OK;
}


/*
 * Where the next control message goes: NGX_FCFH_CONTROL_MAX bytes of room
 * at the tail of the output queue.  The caller passes what the writer
 * returned to ngx_stream_fcfh_tunnel_queued() or _commit().  Without
 * memory it returns a scratch area and the queueing then fails.
 */

u_char *
ngx_stream_fcfh_tunnel_reserve(ngx_stream_fcfh_tunnel_t *t)
{
    ngx_fcfh_chunk_t  *ch;

    static u_char      none[NGX_FCFH_CONTROL_MAX];

    ch = t->out_tail;

    if (ch == NULL || (size_t) (ch->end - ch->last) < NGX_FCFH_CONTROL_MAX) {
        ch = ngx_fcfh_chunk_get(t->fmcf);

        if (ch == NULL) {
            t->out_failed = 1;
            return none;
        }

        if (t->out_tail) {
            t->out_tail->next = ch;

        } else {
            t->out = ch;
        }

        t->out_tail = ch;
    }

    return ch->last;
}


void
ngx_stream_fcfh_tunnel_commit(ngx_stream_fcfh_tunnel_t *t, size_t n)
{
    if (t->out_failed) {
        /*
         * a message toward the device is lost (no memory): the channel
         * states no longer match the device's, so the tunnel ends, from
         * the read handler, not under the caller's feet
         */
        ngx_post_event(t->session->connection->read, &ngx_posted_events);
        return;
    }

    t->out_tail->last += n;
    t->out_bytes += n;
}


/*
 * Room for one CHANNEL_DATA: returns where its header goes, with *size
 * (in: the most payload wanted) cut to the payload that fits in the tail
 * chunk.  Data goes straight from the console socket into the chunk.
 */

u_char *
ngx_stream_fcfh_tunnel_reserve_data(ngx_stream_fcfh_tunnel_t *t,
    size_t *size)
{
    size_t             room;
    ngx_fcfh_chunk_t  *ch;

    ch = t->out_tail;

    if (ch == NULL
        || (size_t) (ch->end - ch->last)
           < NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE + 512)
    {
        ch = ngx_fcfh_chunk_get(t->fmcf);
        if (ch == NULL) {
            return NULL;
        }

        if (t->out_tail) {
            t->out_tail->next = ch;

        } else {
            t->out = ch;
        }

        t->out_tail = ch;
    }

    room = ch->end - ch->last - NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE;

    if (*size > room) {
        *size = room;
    }

    return ch->last;
}


static ngx_int_t
ngx_stream_fcfh_tunnel_queued(ngx_stream_fcfh_tunnel_t *t, size_t n)
{
    if (t->out_failed || n == 0) {
        ngx_log_error(NGX_LOG_ERR, t->session->connection->log, 0,
                      "no memory for a reply to the device, closing");
        t->close_reason = "out of memory";
        t->close_kind = NGX_FCFH_CLOSE_ERROR;
        ngx_stream_fcfh_tunnel_close(t, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    ngx_stream_fcfh_tunnel_commit(t, n);

    return NGX_OK;
}


/*
 * Sends what is queued, chunk by chunk.  Bytes stay at their address
 * until sent: OpenSSL requires a retried SSL_write() to pass the same
 * buffer (appending to it meanwhile is allowed).
 */

static ngx_int_t
ngx_stream_fcfh_tunnel_flush(ngx_stream_fcfh_tunnel_t *t)
{
    ssize_t            n;
    ngx_fcfh_chunk_t  *ch;
    ngx_connection_t  *c;

    c = t->session->connection;

    while (t->out) {
        ch = t->out;

        if (ch->pos < ch->last) {
            n = c->send(c, ch->pos, ch->last - ch->pos);

            if (n == NGX_ERROR) {
                t->close_reason = "send failed";
                t->close_kind = NGX_FCFH_CLOSE_ERROR;
                return NGX_ERROR;
            }

            if (n == NGX_AGAIN) {
                if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                    return NGX_ERROR;
                }

                break;
            }

            ch->pos += n;
            t->out_bytes -= n;
            t->bytes_out += n;

            if (ch->pos < ch->last) {
                continue;
            }
        }

        t->out = ch->next;

        if (t->out == NULL) {
            t->out_tail = NULL;
        }

        ngx_fcfh_chunk_free(t->fmcf, ch);
    }

    if (t->link.entry) {
        t->link.entry->bytes_out = t->bytes_out;
    }

    return NGX_OK;
}


/*
 * Every refusal: DISCONNECT with a reason code, one log line, close.
 * Returns NGX_DONE so callers can "return ngx_..._refuse(...)".
 */

static ngx_int_t
ngx_stream_fcfh_tunnel_refuse(ngx_stream_fcfh_tunnel_t *t, uint32_t reason,
    ngx_uint_t level, const char *why)
{
    ngx_connection_t  *c;

    c = t->session->connection;

    if (level != NGX_LOG_DEBUG) {
        ngx_log_error(level, c->log, 0, "%s, disconnecting (reason %uD)",
                      why, reason);

    } else {
        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, c->log, 0,
                       "fcfh: %s, disconnecting (reason %uD)", why, reason);
    }

    t->disconnect = reason;

    if (t->close_reason == NULL) {
        t->close_reason = why;
    }

    ngx_stream_fcfh_tunnel_commit(t,
        ngx_fcfh_apf_write_disconnect(ngx_stream_fcfh_tunnel_reserve(t),
                                      NGX_FCFH_CONTROL_MAX, reason));

    /* one attempt: a device that does not read loses the reason only */
    (void) ngx_stream_fcfh_tunnel_flush(t);

    ngx_stream_fcfh_tunnel_close(t, t->established ? NGX_STREAM_OK
                                                   : NGX_STREAM_FORBIDDEN);
    return NGX_DONE;
}


static void
ngx_stream_fcfh_tunnel_close(ngx_stream_fcfh_tunnel_t *t, ngx_uint_t status)
{
    ngx_connection_t  *c;

    if (t->closing) {
        return;
    }

    t->closing = 1;
    c = t->session->connection;

#if (NGX_STREAM_SSL)

    if (c->ssl) {
        /*
         * Send close_notify but do not wait for the device's: a device
         * still sending would make SSL_shutdown() fail loudly.
         */
        c->ssl->no_wait_shutdown = 1;
    }

#endif

    if (t->link.entry) {
        ngx_log_error(NGX_LOG_NOTICE, c->log, 0,
                      "device tunnel down: %s, %uL bytes in, %uL out",
                      t->close_reason ? t->close_reason : "closed",
                      t->bytes_in, t->bytes_out);

        ngx_fcfh_registry_ended(t->link.entry, t->close_kind);

        ngx_fcfh_count(closed[t->close_kind], 1);
        ngx_fcfh_count(bytes_in, t->bytes_in);
        ngx_fcfh_count(bytes_out, t->bytes_out);

        ngx_fcfh_event_emit(NGX_FCFH_EVENT_DISCONNECTED, t->close_kind,
                            t->guid, &t->fqdn, &t->identity, &t->user,
                            &t->peer, t->trigger);

    } else {
        /* a handshake that did not make it, by the reason we gave */
        ngx_fcfh_count(failures[ngx_min(t->disconnect,
                                        NGX_FCFH_FAIL_MAX - 1)], 1);
    }

    ngx_stream_fcfh_tunnel_unregister(t);
    ngx_stream_fcfh_channels_close(t);

    ngx_stream_finalize_session(t->session, status);
}


/* a newer connection of the same device took over the registry entry */

static void
ngx_stream_fcfh_tunnel_evict(ngx_fcfh_link_t *link)
{
    ngx_stream_fcfh_tunnel_t  *t;

    t = (ngx_stream_fcfh_tunnel_t *) link;

    if (t->closing) {
        return;
    }

    if (t->link.entry && t->link.entry->close_api) {
        t->close_reason = "closed by the API";
        t->close_kind = NGX_FCFH_CLOSE_API;

    } else {
        t->close_reason = "replaced by a newer connection";
        t->close_kind = NGX_FCFH_CLOSE_REPLACED;
    }

    ngx_stream_fcfh_tunnel_refuse(t, NGX_FCFH_APF_DISC_BY_APPLICATION,
                                  NGX_LOG_NOTICE, t->close_reason);
}


/*
 * The worker is exiting (reload, quit) since "exiting" ms.  With
 * fcfh_drain set, once that time is up the device is asked to reconnect
 * (to a new worker) as soon as no console uses its tunnel; meanwhile no
 * new channel is opened.  Without it the tunnel stays until the device
 * leaves: AMT may take minutes to hours to come back after a drop.
 */

static void
ngx_stream_fcfh_tunnel_drain(ngx_fcfh_link_t *link, ngx_msec_t exiting)
{
    ngx_stream_fcfh_tunnel_t  *t;

    t = (ngx_stream_fcfh_tunnel_t *) link;

    if (t->closing || t->conf->drain < 0
        || exiting < (ngx_msec_t) t->conf->drain)
    {
        return;
    }

    t->draining = 1;

    if (t->nchannels) {
        return;
    }

    t->close_reason = "drained for a reload";
    t->close_kind = NGX_FCFH_CLOSE_WORKER_EXIT;

    ngx_stream_fcfh_tunnel_refuse(t, NGX_FCFH_APF_DISC_BY_APPLICATION,
                                  NGX_LOG_INFO, t->close_reason);
}


/*
 * Out of the registry before its channels end: a front door that sees one
 * of them end (in another worker, at the same moment) finds the tunnel
 * gone, and so tells the device's leaving from a channel the device
 * closed.
 */

static void
ngx_stream_fcfh_tunnel_unregister(ngx_stream_fcfh_tunnel_t *t)
{
    if (t->link.entry) {
        /* not closed by ngx_stream_fcfh_tunnel_close(): said nothing */
        ngx_fcfh_cluster_unpublish(t->link.entry,
                                   t->closing ? t->close_kind
                                              : NGX_FCFH_CLOSE_ERROR);
        ngx_fcfh_registry_remove(t->link.entry);
        t->link.entry = NULL;
    }
}


static void
ngx_stream_fcfh_tunnel_cleanup(void *data)
{
    ngx_stream_fcfh_tunnel_t  *t = data;

    ngx_fcfh_chunk_t  *ch;

    ngx_stream_fcfh_tunnel_unregister(t);
    ngx_stream_fcfh_channels_close(t);

    if (t->hold) {
        ngx_free(t->hold);
        t->hold = NULL;
    }

    while (t->out) {
        ch = t->out;
        t->out = ch->next;
        ngx_fcfh_chunk_free(t->fmcf, ch);
    }

    t->out_tail = NULL;

    ngx_queue_remove(&t->link.queue);
    t->fmcf->ntunnels--;
    t->fmcf->churn++;
}


/*
 * The device's own address: the PROXY protocol's when a balancer is used.
 * Made in a buffer on the stack and kept at its own length: the longest
 * address text would be most of it kept for every tunnel.
 */

static void
ngx_stream_fcfh_tunnel_peer(ngx_stream_fcfh_tunnel_t *t)
{
    u_char            *p;
    u_char             text[NGX_SOCKADDR_STRLEN + sizeof("[]:65535")];
    size_t             len;
    ngx_connection_t  *c;

    c = t->session->connection;

    if (c->proxy_protocol) {
        if (ngx_strlchr(c->proxy_protocol->src_addr.data,
                        c->proxy_protocol->src_addr.data
                        + c->proxy_protocol->src_addr.len, ':'))
        {
            p = ngx_snprintf(text, sizeof(text), "[%V]:%d",
                             &c->proxy_protocol->src_addr,
                             (int) c->proxy_protocol->src_port);
        } else {
            p = ngx_snprintf(text, sizeof(text), "%V:%d",
                             &c->proxy_protocol->src_addr,
                             (int) c->proxy_protocol->src_port);
        }

        len = p - text;

    } else {
        len = ngx_sock_ntop(c->sockaddr, c->socklen, text, sizeof(text), 1);
    }

    p = ngx_pnalloc(c->pool, len);
    if (p == NULL) {
        return;
    }

    ngx_memcpy(p, text, len);

    t->peer.data = p;
    t->peer.len = len;
}


static u_char *
ngx_stream_fcfh_tunnel_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char                    *p;
    ngx_stream_session_t      *s;
    ngx_stream_fcfh_tunnel_t  *t;

    s = log->data;
    t = ngx_stream_get_module_ctx(s, ngx_stream_fcfh_module);

    p = buf;

    if (t == NULL) {
        return p;
    }

    if (s->connection->proxy_protocol) {
        p = ngx_snprintf(p, len, ", device address: %V", &t->peer);
        len -= p - buf;
        buf = p;
    }

    if (t->guid_text.len) {
        p = ngx_snprintf(p, len, ", device: %V", &t->guid_text);
        len -= p - buf;
        buf = p;
    }

    if (t->fqdn.len) {
        p = ngx_snprintf(p, len, ", fqdn: %V", &t->fqdn);
        len -= p - buf;
        buf = p;
    }

    if (t->user.len) {
        p = ngx_snprintf(p, len, ", user: \"%V\"", &t->user);
    }

    return p;
}


#if (NGX_FCFH_SHORT_READS)

/*
 * A keepalive is one small TLS record.  ngx_ssl_recv() calls SSL_read()
 * until it wants more, which costs a read() returning EAGAIN after every
 * record.  With EPOLLRDHUP, ngx_unix_recv() spares that call on plain
 * sockets: a short read proves the socket drained, data arriving later
 * raises a new edge, and a pending EOF is known from the event.  The same
 * rule is applied here below OpenSSL, on the socket BIO: after a short
 * read, further reads in the same run of the read handler answer "retry"
 * without the system call.  The flag is the tunnel's own (nginx's
 * rev->available also counts bytes in ngx_ssl_recv()), and every run of
 * the handler clears it.  Not with kernel TLS, whose reads stop at
 * record boundaries.
 */

static void
ngx_stream_fcfh_tunnel_short_reads(ngx_stream_fcfh_tunnel_t *t)
{
    BIO               *rbio;
    ngx_connection_t  *c;

    c = t->session->connection;

    if (c->ssl == NULL
        || !(ngx_event_flags & NGX_USE_EPOLL_EVENT)
        || !ngx_use_epoll_rdhup)
    {
        return;
    }

    rbio = SSL_get_rbio(c->ssl->connection);

    if (rbio == NULL
        || BIO_method_type(rbio) != BIO_TYPE_SOCKET
        || BIO_get_ktls_recv(rbio))
    {
        return;
    }

    BIO_set_callback_arg(rbio, (char *) t);
    BIO_set_callback_ex(rbio, ngx_stream_fcfh_tunnel_bio_callback);
}


static long
ngx_stream_fcfh_tunnel_bio_callback(BIO *b, int oper, const char *argp,
    size_t len, int argi, long argl, int ret, size_t *processed)
{
    ngx_stream_fcfh_tunnel_t  *t;

    if (oper == BIO_CB_READ) {
        t = (ngx_stream_fcfh_tunnel_t *) BIO_get_callback_arg(b);

        /* never on the way out: SSL_shutdown() may want a last read */

        if (t->drained && !t->closing
            && !t->session->connection->read->pending_eof)
        {
            BIO_clear_retry_flags(b);
            BIO_set_retry_read(b);
            return -1;
        }

        return ret;
    }

    if (oper == (BIO_CB_READ|BIO_CB_RETURN) && ret > 0 && processed) {
        t = (ngx_stream_fcfh_tunnel_t *) BIO_get_callback_arg(b);
        t->drained = (*processed < len);
    }

    return ret;
}

#endif
