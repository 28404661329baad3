
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Requests to other nodes: a console's channel to a device another node
 * holds (ngx_fcfh_cluster_open(): the directory's lookup, then this
 * file), or a node told to close its older tunnel of a device that moved
 * here.  TCP, then TLS with this node's certificate (the other node's
 * checked against the cluster's CA and its node name, sessions kept per
 * node), then the relay preamble and its two status bytes.  A request is
 * heap-allocated because Redis may answer after the caller left
 * (ngx_fcfh_cluster_cancel()).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_relay.h"
#include "ngx_fcfh_open.h"
#include "ngx_fcfh_cluster.h"
#include "ngx_fcfh_cluster_conf.h"
#include "ngx_fcfh_cluster_directory.h"
#include "ngx_fcfh_cluster_peer.h"


static void ngx_fcfh_cluster_peer_connected(ngx_event_t *ev);
static void ngx_fcfh_cluster_peer_handshake(ngx_connection_t *c);
static ngx_fcfh_cluster_session_t *ngx_fcfh_cluster_session(
    ngx_fcfh_cluster_conf_t *ccf, ngx_str_t *node, ngx_uint_t add);
static void ngx_fcfh_cluster_save_session(ngx_connection_t *c);
static void ngx_fcfh_cluster_peer_open(ngx_event_t *ev);
static void ngx_fcfh_cluster_drop(ngx_fcfh_cluster_req_t *req);
static void ngx_fcfh_cluster_handed_over(ngx_event_t *ev);


/* a request, freed by ngx_fcfh_cluster_finish() or _cancel() */

ngx_fcfh_cluster_req_t *
ngx_fcfh_cluster_req(ngx_log_t *log)
{
    ngx_fcfh_cluster_req_t  *req;

    req = ngx_calloc(sizeof(ngx_fcfh_cluster_req_t), log);
    if (req == NULL) {
        return NULL;
    }

    req->log = log;
    req->op = NGX_FCFH_RELAY_OP_OPEN;
    req->node.data = req->node_data;
    req->device.data = req->device_data;
    req->target.console.data = req->console;

    return req;
}


/*
 * A console asked for a device this node does not hold: the directory
 * says which node does, then the request goes there.  NULL with
 * *result set when nothing was started (no directory, bad name).
 */

ngx_fcfh_cluster_req_t *
ngx_fcfh_cluster_open(ngx_str_t *device, ngx_uint_t op, ngx_uint_t port,
    ngx_str_t *console, ngx_uint_t console_port, ngx_log_t *log,
    ngx_fcfh_cluster_handler_pt handler, void *data, ngx_uint_t *result)
{
    u_char                    guid[NGX_FCFH_APF_GUID_SIZE];
    u_char                    text[NGX_FCFH_APF_GUID_TEXT_SIZE];
    ngx_uint_t                i, by_guid;
    ngx_fcfh_cluster_req_t   *req;
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    *result = NGX_FCFH_OPEN_NO_TUNNEL;

    if (ccf == NULL || ccf->node.len == 0) {
        return NULL;
    }

    if (device->len == 0 || device->len > NGX_FCFH_APF_DEFAULT_MAX_STRING) {
        return NULL;
    }

    /* no GUID or FQDN has these; the name goes into logs and keys */
    for (i = 0; i < device->len; i++) {
        if (device->data[i] <= 0x20 || device->data[i] >= 0x7f
            || device->data[i] == '"' || device->data[i] == '\\')
        {
            return NULL;
        }
    }

    if (ccf->state != NGX_FCFH_CLUSTER_UP) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "fcfh cluster: device \"%V\" is not on this node and "
                      "the directory is unavailable", device);
        *result = NGX_FCFH_OPEN_UNAVAILABLE;
        return NULL;
    }

    req = ngx_fcfh_cluster_req(log);
    if (req == NULL) {
        *result = NGX_FCFH_OPEN_ERROR;
        return NULL;
    }

    req->handler = handler;
    req->data = data;
    req->op = op;
    req->target.port = port;
    req->target.console_port = console_port;
    req->target.console.len = ngx_min(console->len,
                                      NGX_FCFH_RELAY_ADDR_SIZE - 1);
    ngx_memcpy(req->console, console->data, req->target.console.len);

    by_guid = (ngx_fcfh_apf_guid_from_text((char *) device->data, device->len,
                                           guid)
               == 0);

    if (by_guid) {
        /* the directory's spelling: lower case */
        ngx_fcfh_apf_guid_to_text(guid, (char *) text);
        req->device.len = NGX_FCFH_APF_GUID_TEXT_SIZE;
        ngx_memcpy(req->device.data, text, NGX_FCFH_APF_GUID_TEXT_SIZE);

    } else {
        req->device.len = device->len;
        ngx_strlow(req->device.data, device->data, device->len);
    }

    if (ngx_fcfh_cluster_lookup(ccf, req, by_guid) != NGX_OK) {
        ngx_free(req);
        *result = NGX_FCFH_OPEN_UNAVAILABLE;
        return NULL;
    }

    return req;
}


/* TCP, then TLS with our node certificate, to the owner node */

void
ngx_fcfh_cluster_peer(ngx_fcfh_cluster_req_t *req, u_char *addr, size_t len)
{
    ngx_int_t          rc;
    ngx_addr_t         a;
    ngx_connection_t  *c;

    req->pool = ngx_create_pool(1024, ngx_cycle->log);
    if (req->pool == NULL) {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_ERROR, 0);
        return;
    }

    if (ngx_parse_addr_port(req->pool, &a, addr, len) != NGX_OK
        || ngx_inet_get_port(a.sockaddr) == 0)
    {
        ngx_log_error(NGX_LOG_ERR, req->log, 0,
                      "fcfh cluster: node \"%V\" published a bad address "
                      "\"%*s\"", &req->node, ngx_min(len, 64), addr);
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_UNAVAILABLE, 0);
        return;
    }

    req->pc.sockaddr = a.sockaddr;
    req->pc.socklen = a.socklen;
    req->pc.name = ngx_pcalloc(req->pool, sizeof(ngx_str_t));
    if (req->pc.name == NULL) {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_ERROR, 0);
        return;
    }

    req->pc.name->data = ngx_pnalloc(req->pool, len);
    if (req->pc.name->data == NULL) {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_ERROR, 0);
        return;
    }

    ngx_memcpy(req->pc.name->data, addr, len);
    req->pc.name->len = len;
    req->pc.get = ngx_event_get_peer;
    req->pc.log = req->log;
    req->pc.log_error = NGX_ERROR_INFO;

    rc = ngx_event_connect_peer(&req->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, req->log, 0,
                      "fcfh cluster: node \"%V\" at %V unreachable",
                      &req->node, req->pc.name);
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_UNAVAILABLE, 0);
        return;
    }

    c = req->pc.connection;
    c->data = req;
    c->pool = req->pool;

    /* small requests and answers both ways: no Nagle delay */
    (void) ngx_tcp_nodelay(c);
    c->read->handler = ngx_fcfh_cluster_peer_connected;
    c->write->handler = ngx_fcfh_cluster_peer_connected;

    ngx_add_timer(c->write, NGX_FCFH_CLUSTER_CONNECT);

    if (rc == NGX_AGAIN) {
        return;
    }

    ngx_fcfh_cluster_peer_connected(c->write);
}


static void
ngx_fcfh_cluster_peer_connected(ngx_event_t *ev)
{
    ngx_int_t                    rc;
    ngx_connection_t            *c;
    ngx_fcfh_cluster_req_t      *req;
    ngx_fcfh_cluster_conf_t     *ccf;
    ngx_fcfh_cluster_session_t  *sess;

    c = ev->data;
    req = c->data;

    if (ev->timedout) {
        ngx_log_error(NGX_LOG_WARN, req->log, NGX_ETIMEDOUT,
                      "fcfh cluster: node \"%V\" at %V did not answer",
                      &req->node, req->pc.name);
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_UNAVAILABLE, 0);
        return;
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    if (ngx_ssl_create_connection(ccf->ssl, c, NGX_SSL_CLIENT) != NGX_OK) {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_ERROR, 0);
        return;
    }

    sess = ngx_fcfh_cluster_session(ccf, &req->node, 0);

    if (sess && sess->session
        && ngx_ssl_set_session(c, sess->session) != NGX_OK)
    {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_ERROR, 0);
        return;
    }

    c->ssl->save_session = ngx_fcfh_cluster_save_session;

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        ngx_add_timer(c->read, NGX_FCFH_CLUSTER_CONNECT);
        c->ssl->handler = ngx_fcfh_cluster_peer_handshake;
        return;
    }

    ngx_fcfh_cluster_peer_handshake(c);
}


/* the session cache slot of a node: found, or (add) taken over */

static ngx_fcfh_cluster_session_t *
ngx_fcfh_cluster_session(ngx_fcfh_cluster_conf_t *ccf, ngx_str_t *node,
    ngx_uint_t add)
{
    ngx_uint_t                   i;
    ngx_fcfh_cluster_session_t  *s;

    for (i = 0; i < NGX_FCFH_CLUSTER_SESSIONS; i++) {
        s = &ccf->sessions[i];

        if (s->len == node->len
            && ngx_strncmp(s->name, node->data, node->len) == 0)
        {
            return s;
        }
    }

    if (!add) {
        return NULL;
    }

    s = &ccf->sessions[ccf->next_session++ % NGX_FCFH_CLUSTER_SESSIONS];

    if (s->session) {
        ngx_ssl_free_session(s->session);
        s->session = NULL;
    }

    s->len = node->len;
    ngx_memcpy(s->name, node->data, node->len);

    return s;
}


/* a session ticket from the node: kept (only while the request owns c) */

static void
ngx_fcfh_cluster_save_session(ngx_connection_t *c)
{
    ngx_ssl_session_t           *session;
    ngx_fcfh_cluster_req_t      *req;
    ngx_fcfh_cluster_session_t  *s;

    req = c->data;

    session = ngx_ssl_get_session(c);
    if (session == NULL) {
        return;
    }

    s = ngx_fcfh_cluster_session(ngx_fcfh_cluster_get_conf(ngx_cycle),
                                 &req->node, 1);

    if (s->session) {
        ngx_ssl_free_session(s->session);
    }

    s->session = session;
}


/* the other end must be a node of this cluster, and the one named */

static void
ngx_fcfh_cluster_peer_handshake(ngx_connection_t *c)
{
    long                     rc;
    ngx_fcfh_cluster_req_t  *req;

    req = c->data;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (!c->ssl->handshaked) {
        ngx_log_error(NGX_LOG_WARN, req->log, 0,
                      "fcfh cluster: TLS with node \"%V\" at %V failed",
                      &req->node, req->pc.name);
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_UNAVAILABLE, 0);
        return;
    }

    rc = SSL_get_verify_result(c->ssl->connection);

    if (rc != X509_V_OK) {
        ngx_log_error(NGX_LOG_ERR, req->log, 0,
                      "fcfh cluster: certificate of node \"%V\" at %V not "
                      "verified: (%l) %s", &req->node, req->pc.name, rc,
                      X509_verify_cert_error_string(rc));
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_UNAVAILABLE, 0);
        return;
    }

    if (ngx_ssl_check_host(c, &req->node) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, req->log, 0,
                      "fcfh cluster: certificate at %V does not name node "
                      "\"%V\"", req->pc.name, &req->node);
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_UNAVAILABLE, 0);
        return;
    }

    /* like nginx's own upstream TLS: no sendfile through it */
    c->sendfile = 0;

    /*
     * the same preamble as between workers, with this request's op and
     * no MAC: this node's secret stays here
     */
    ngx_fcfh_relay_open_init(&req->open, &req->target, req->op, 0);

    c->read->handler = ngx_fcfh_cluster_peer_open;
    c->write->handler = ngx_fcfh_cluster_peer_open;

    ngx_add_timer(c->read, NGX_FCFH_RELAY_TIMEOUT + 1000);

    ngx_fcfh_cluster_peer_open(c->write);
}


static void
ngx_fcfh_cluster_peer_open(ngx_event_t *ev)
{
    ngx_uint_t               result, reason;
    ngx_connection_t        *c;
    ngx_fcfh_cluster_req_t  *req;

    c = ev->data;
    req = c->data;

    if (ev->timedout) {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_TIMEOUT, 0);
        return;
    }

    if (ngx_fcfh_relay_open_result(c, &req->open, &result, &reason)
        == NGX_AGAIN)
    {
        return;
    }

    ngx_fcfh_cluster_finish(req, result, reason);
}


/*
 * The end of a request: the connection goes to the caller when a
 * channel opened, else it is closed; the request is freed either way.
 */

void
ngx_fcfh_cluster_finish(ngx_fcfh_cluster_req_t *req, ngx_uint_t result,
    ngx_uint_t reason)
{
    ngx_uint_t         level;
    ngx_connection_t  *c;

    c = req->pc.connection;

    if (c) {
        if (c->ssl) {
            /* from here c->data is the caller's */
            c->ssl->save_session = NULL;
        }

        if (c->read->timer_set) {
            ngx_del_timer(c->read);
        }

        if (c->write->timer_set) {
            ngx_del_timer(c->write);
        }
    }

    if (req->op != NGX_FCFH_RELAY_OP_OPEN || result != NGX_FCFH_OPEN_OK
        || req->handler == NULL)
    {
        ngx_fcfh_cluster_drop(req);
        c = NULL;

    } else {
        /* the caller sets its own handlers before it reads or writes */
        c->read->handler = ngx_fcfh_cluster_handed_over;
        c->write->handler = ngx_fcfh_cluster_handed_over;
    }

    if (req->handler == NULL && req->op == NGX_FCFH_RELAY_OP_REPLACED) {
        level = (result == NGX_FCFH_OPEN_OK) ? NGX_LOG_INFO : NGX_LOG_WARN;

        ngx_log_error(level, ngx_cycle->log, 0,
                      "fcfh cluster: node \"%V\" %s its tunnel of %V",
                      &req->node,
                      result == NGX_FCFH_OPEN_OK ? "closed"
                                                 : "could not close",
                      &req->device);
    }

    if (req->op == NGX_FCFH_RELAY_OP_OPEN && result == NGX_FCFH_OPEN_OK) {
        ngx_fcfh_count(cluster_relays, 1);
    }

    if (req->handler) {
        req->handler(req->data, c, result, reason, &req->node);
    }

    ngx_free(req);
}


static void
ngx_fcfh_cluster_handed_over(ngx_event_t *ev)
{
    /* the caller's splice reads what arrived meanwhile */
}


/* the connection to the other node, if any, and its pool go */

static void
ngx_fcfh_cluster_drop(ngx_fcfh_cluster_req_t *req)
{
    ngx_connection_t  *c;

    c = req->pc.connection;
    req->pc.connection = NULL;

    if (c) {
        ngx_fcfh_relay_close_with(c, req->pool);

    } else if (req->pool) {
        ngx_destroy_pool(req->pool);
    }

    req->pool = NULL;
}


void
ngx_fcfh_cluster_cancel(ngx_fcfh_cluster_req_t *req)
{
    if (req->in_redis) {
        /* freed when Redis answers or the connection to it ends */
        req->gone = 1;
        return;
    }

    ngx_fcfh_cluster_drop(req);
    ngx_free(req);
}
