
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <sys/un.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_relay.h"
#include "ngx_fcfh_open.h"


#define NGX_FCFH_RELAY_DEFAULT_DIR   "/run/nginx-fcfh"

#if (NGX_FCFH_ZONE_SECRET_SIZE != NGX_FCFH_RELAY_SECRET_SIZE)
#error the zone's secret is the relay preamble's MAC key
#endif


typedef struct {
    ngx_connection_t                *connection;
    ngx_fcfh_channel_t              *channel;
    ngx_pid_t                        peer_pid;    /* SO_PEERCRED, for logs */
    ngx_uid_t                        peer_uid;
    u_char                           preamble[NGX_FCFH_RELAY_PREAMBLE_SIZE];
    size_t                           got;
    u_char                           status[NGX_FCFH_RELAY_STATUS_SIZE];
    size_t                           sent;
    unsigned                         start:1;
} ngx_fcfh_relay_ctx_t;


static ngx_int_t ngx_fcfh_relay_path(ngx_fcfh_main_conf_t *fmcf,
    ngx_pid_t pid, struct sockaddr_un *sun);
static ngx_int_t ngx_fcfh_relay_reachable(u_char *path, ngx_uid_t uid,
    ngx_gid_t gid);
static void ngx_fcfh_relay_init_connection(ngx_connection_t *c);
static void ngx_fcfh_relay_read_preamble(ngx_event_t *rev);
static void ngx_fcfh_relay_refuse(ngx_fcfh_relay_ctx_t *ctx,
    const char *why);
static void ngx_fcfh_relay_open(ngx_fcfh_relay_ctx_t *ctx,
    ngx_fcfh_preamble_t *pre);
static void ngx_fcfh_relay_opened(ngx_fcfh_channel_t *ch, ngx_uint_t result,
    ngx_uint_t reason);
static void ngx_fcfh_relay_send_status(ngx_fcfh_relay_ctx_t *ctx,
    ngx_uint_t result, ngx_uint_t reason);
static void ngx_fcfh_relay_status_handler(ngx_event_t *wev);
static void ngx_fcfh_relay_wait_handler(ngx_event_t *rev);
static void ngx_fcfh_relay_done(ngx_fcfh_channel_t *ch);
static void ngx_fcfh_relay_close(ngx_connection_t *c);


char *
ngx_fcfh_relay_dir(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_fcfh_main_conf_t  *fmcf = conf;

    ngx_str_t  *value;

    if (fmcf->relay_dir.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    fmcf->relay_dir = value[1];

    if (ngx_conf_full_name(cf->cycle, &fmcf->relay_dir, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* "<dir>/<pid>.sock" must fit in sun_path */
    if (fmcf->relay_dir.len + sizeof("/4294967295.sock")
        > sizeof(((struct sockaddr_un *) 0)->sun_path))
    {
        return "is too long for a unix socket path";
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_fcfh_relay_path(ngx_fcfh_main_conf_t *fmcf, ngx_pid_t pid,
    struct sockaddr_un *sun)
{
    ngx_memzero(sun, sizeof(struct sockaddr_un));
    sun->sun_family = AF_UNIX;

    ngx_snprintf((u_char *) sun->sun_path, sizeof(sun->sun_path) - 1,
                 "%V/%P.sock%Z", &fmcf->relay_dir, pid);

    return NGX_OK;
}


/*
 * In the master, as root: the directory, owned by the workers' user.
 * Under nginx -t (ngx_init_modules() runs then too) only the check.
 */

ngx_int_t
ngx_fcfh_relay_init_module(ngx_cycle_t *cycle)
{
    ngx_err_t              err;
    ngx_uint_t             root;
    ngx_core_conf_t       *ccf;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(cycle);

    if (fmcf == NULL || fmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    if (fmcf->relay_dir.data == NULL) {
        ngx_str_set(&fmcf->relay_dir, NGX_FCFH_RELAY_DEFAULT_DIR);
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    root = (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT);

    if (root
        && ngx_fcfh_relay_reachable(fmcf->relay_dir.data, ccf->user,
                                    ccf->group)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "the workers' user cannot reach "
                      "fcfh_relay_dir \"%V\": a directory above it is "
                      "not searchable by them", &fmcf->relay_dir);
        return NGX_ERROR;
    }

    /* nginx -t leaves nothing on disk: the directory is made at start */

    if (ngx_test_config) {
        return NGX_OK;
    }

    if (ngx_create_dir(fmcf->relay_dir.data, 0700) == NGX_FILE_ERROR) {
        err = ngx_errno;

        if (err != NGX_EEXIST) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, err,
                          ngx_create_dir_n " \"%V\" failed",
                          &fmcf->relay_dir);
            return NGX_ERROR;
        }
    }

    if (root && chown((char *) fmcf->relay_dir.data, ccf->user, -1) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "chown(\"%V\", %d) failed", &fmcf->relay_dir, ccf->user);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * At configuration time, from each front door's merge: its ports join
 * the list that the owner side checks (ngx_fcfh_relay_open).
 */

ngx_int_t
ngx_fcfh_relay_allow_ports(ngx_conf_t *cf, ngx_uint_t *ports, ngx_uint_t n)
{
    ngx_uint_t             i, *p;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(cf->cycle);

    if (fmcf->relay_ports == NULL) {
        fmcf->relay_ports = ngx_array_create(cf->pool, 8, sizeof(ngx_uint_t));
        if (fmcf->relay_ports == NULL) {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < n; i++) {
        if (ngx_fcfh_ports_allow(fmcf->relay_ports, ports[i])) {
            continue;
        }

        p = ngx_array_push(fmcf->relay_ports);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *p = ports[i];
    }

    return NGX_OK;
}


/*
 * Each directory above path must be searchable by uid/gid (supplementary
 * groups are not considered): the workers bind their sockets there.
 */

static ngx_int_t
ngx_fcfh_relay_reachable(u_char *path, ngx_uid_t uid, ngx_gid_t gid)
{
    u_char           *p, dir[NGX_MAX_PATH];
    size_t            len;
    ngx_file_info_t   fi;

    len = ngx_strlen(path);

    if (len >= NGX_MAX_PATH) {
        return NGX_ERROR;
    }

    ngx_memcpy(dir, path, len + 1);

    for (p = dir + len; p > dir; p--) {

        if (*p != '/') {
            continue;
        }

        *p = '\0';

        if (p == dir || ngx_file_info(dir, &fi) == NGX_FILE_ERROR) {
            break;
        }

        if (!((fi.st_mode & S_IXOTH)
              || (fi.st_uid == uid && (fi.st_mode & S_IXUSR))
              || (fi.st_gid == gid && (fi.st_mode & S_IXGRP))))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * In each worker: the listener.  It is not in cycle->listening, so a
 * graceful shutdown does not close it: while an old worker still holds
 * tunnels, consoles in new workers reach them through it.
 */

ngx_int_t
ngx_fcfh_relay_init_process(ngx_cycle_t *cycle)
{
    ngx_socket_t           s;
    ngx_listening_t       *ls;
    ngx_connection_t      *c;
    struct sockaddr_un    *sun;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(cycle);

    if (fmcf->relay_dir.data == NULL) {
        ngx_str_set(&fmcf->relay_dir, NGX_FCFH_RELAY_DEFAULT_DIR);
    }

    sun = ngx_pcalloc(cycle->pool, sizeof(struct sockaddr_un));
    ls = ngx_pcalloc(cycle->pool, sizeof(ngx_listening_t));
    if (sun == NULL || ls == NULL) {
        return NGX_ERROR;
    }

    ngx_fcfh_relay_path(fmcf, ngx_pid, sun);

    s = ngx_socket(AF_UNIX, SOCK_STREAM, 0);
    if (s == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_socket_errno,
                      ngx_socket_n " for relay failed");
        return NGX_ERROR;
    }

    if (ngx_nonblocking(s) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_socket_errno,
                      ngx_nonblocking_n " for relay failed");
        goto failed;
    }

    (void) unlink(sun->sun_path);

    if (bind(s, (struct sockaddr *) sun, sizeof(struct sockaddr_un)) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_socket_errno,
                      "bind() to relay socket \"%s\" failed", sun->sun_path);
        goto failed;
    }

    if (listen(s, NGX_LISTEN_BACKLOG) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_socket_errno,
                      "listen() on relay socket \"%s\" failed",
                      sun->sun_path);
        goto failed;
    }

    ls->fd = s;
    ls->sockaddr = (struct sockaddr *) sun;
    ls->socklen = sizeof(struct sockaddr_un);
    ls->addr_text.data = (u_char *) sun->sun_path;
    ls->addr_text.len = ngx_strlen(sun->sun_path);
    ls->type = SOCK_STREAM;
    ls->backlog = NGX_LISTEN_BACKLOG;
    ls->handler = ngx_fcfh_relay_init_connection;
    ls->pool_size = 512;
    ls->log = *cycle->log;
    ls->logp = cycle->log;

    c = ngx_get_connection(s, cycle->log);
    if (c == NULL) {
        goto failed;
    }

    c->type = SOCK_STREAM;
    c->listening = ls;
    c->log = &ls->log;
    ls->connection = c;

    c->read->accept = 1;
    c->read->log = c->log;
    c->read->handler = ngx_event_accept;

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) == NGX_ERROR) {
        ngx_free_connection(c);
        goto failed;
    }

    fmcf->relay = c;

    return NGX_OK;

failed:

    (void) ngx_close_socket(s);
    (void) unlink(sun->sun_path);

    return NGX_ERROR;
}


void
ngx_fcfh_relay_exit_process(ngx_cycle_t *cycle)
{
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(cycle);

    if (fmcf->relay == NULL) {
        return;
    }

    ngx_close_connection(fmcf->relay);
    fmcf->relay = NULL;

    ngx_fcfh_relay_unlink(cycle, ngx_pid);
}


void
ngx_fcfh_relay_unlink(ngx_cycle_t *cycle, ngx_pid_t pid)
{
    struct sockaddr_un     sun;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(cycle);

    if (fmcf->relay_dir.data == NULL) {
        return;
    }

    ngx_fcfh_relay_path(fmcf, pid, &sun);

    (void) unlink(sun.sun_path);
}


/*
 * Whether a worker's relay socket is there (the health check): NGX_OK,
 * or NGX_DECLINED when the file is missing or is no socket.  One stat(),
 * no connection: cheap enough for a check every second.
 */

ngx_int_t
ngx_fcfh_relay_check(ngx_fcfh_main_conf_t *fmcf, ngx_pid_t pid)
{
    struct stat         st;
    struct sockaddr_un  sun;

    ngx_fcfh_relay_path(fmcf, pid, &sun);

    if (stat(sun.sun_path, &st) == -1 || !S_ISSOCK(st.st_mode)) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* owner side */

static void
ngx_fcfh_relay_init_connection(ngx_connection_t *c)
{
    struct ucred           cred;
    socklen_t              len;
    ngx_fcfh_relay_ctx_t  *ctx;

    c->log->action = "reading relay preamble";

    /*
     * the directory is private to the workers' user, check anyway; the
     * user is often shared with other daemons, so the preamble proves
     * the rest
     */

    len = sizeof(struct ucred);

    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
        ngx_log_error(NGX_LOG_ERR, c->log, ngx_socket_errno,
                      "getsockopt(SO_PEERCRED) on a relay connection "
                      "failed");
        ngx_fcfh_count(relay_errors, 1);
        ngx_fcfh_relay_close(c);
        return;
    }

    if (cred.uid != geteuid()) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "relay connection from pid %P uid %d refused: "
                      "not the workers' user", (ngx_pid_t) cred.pid,
                      (int) cred.uid);
        ngx_fcfh_count(relay_errors, 1);
        ngx_fcfh_relay_close(c);
        return;
    }

    ctx = ngx_pcalloc(c->pool, sizeof(ngx_fcfh_relay_ctx_t));
    if (ctx == NULL) {
        ngx_fcfh_relay_close(c);
        return;
    }

    ctx->connection = c;
    ctx->peer_pid = cred.pid;
    ctx->peer_uid = cred.uid;
    c->data = ctx;
    c->log_error = NGX_ERROR_INFO;

    c->read->handler = ngx_fcfh_relay_read_preamble;
    c->write->handler = ngx_fcfh_relay_status_handler;

    ngx_add_timer(c->read, NGX_FCFH_RELAY_TIMEOUT);

    ngx_fcfh_relay_read_preamble(c->read);
}


static void
ngx_fcfh_relay_read_preamble(ngx_event_t *rev)
{
    ssize_t                n, rc;
    ngx_connection_t      *c;
    ngx_fcfh_preamble_t    pre;
    ngx_fcfh_relay_ctx_t  *ctx;

    c = rev->data;
    ctx = c->data;

    if (rev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "relay preamble timed out");
        ngx_fcfh_relay_close(c);
        return;
    }

    for ( ;; ) {

        n = c->recv(c, ctx->preamble + ctx->got,
                    NGX_FCFH_RELAY_PREAMBLE_SIZE - ctx->got);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_fcfh_relay_close(c);
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            if (ctx->got) {
                ngx_fcfh_relay_refuse(ctx, "incomplete preamble");
                return;
            }

            ngx_fcfh_relay_close(c);
            return;
        }

        ctx->got += n;

        rc = ngx_fcfh_preamble_parse(ctx->preamble, ctx->got, &pre,
                                     ngx_fcfh_registry_secret(),
                                     (uint32_t) ngx_pid);

        if (rc < 0) {
            ngx_fcfh_relay_refuse(ctx, ngx_fcfh_preamble_error(rc));
            return;
        }

        if (rc > 0) {
            break;
        }
    }

    ngx_del_timer(rev);

    if (pre.op != NGX_FCFH_RELAY_OP_OPEN) {
        /* the other operations are between nodes only */
        ngx_fcfh_relay_refuse(ctx, "not an open");
        return;
    }

    ngx_fcfh_relay_open(ctx, &pre);
}


/*
 * A peer that is not one of our workers, or one that does not speak
 * this version: nothing is answered, nothing reaches a device.
 */

static void
ngx_fcfh_relay_refuse(ngx_fcfh_relay_ctx_t *ctx, const char *why)
{
    ngx_log_error(NGX_LOG_ERR, ctx->connection->log, 0,
                  "relay preamble from pid %P uid %d refused: %s",
                  ctx->peer_pid, (int) ctx->peer_uid, why);

    ngx_fcfh_count(relay_errors, 1);
    ngx_fcfh_relay_close(ctx->connection);
}


static void
ngx_fcfh_relay_open(ngx_fcfh_relay_ctx_t *ctx, ngx_fcfh_preamble_t *pre)
{
    ngx_str_t              console;
    ngx_int_t              rc;
    ngx_connection_t      *c;
    ngx_fcfh_link_t       *link;
    ngx_fcfh_main_conf_t  *fmcf;

    c = ctx->connection;
    fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

    /*
     * the front door checked its own port list; this worker checks that
     * some front door of its configuration allows the port, so that a
     * flaw in one cannot reach a port none offers (AMT's 623, 664)
     */

    if (fmcf->relay_ports == NULL
        || !ngx_fcfh_ports_allow(fmcf->relay_ports, pre->port))
    {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "relay from pid %P for port %ui refused: port not "
                      "allowed by any fcfh_proxy_ports or fcfh_pass_ports",
                      ctx->peer_pid, (ngx_uint_t) pre->port);
        ngx_fcfh_relay_send_status(ctx, NGX_FCFH_OPEN_PORT, 0);
        return;
    }

    console.data = (u_char *) pre->console;
    console.len = pre->console_len;

    link = ngx_fcfh_registry_local(pre->guid, pre->serial);

    if (link == NULL || fmcf->channel_ops.open == NULL) {
        ngx_fcfh_relay_send_status(ctx, NGX_FCFH_OPEN_NO_TUNNEL, 0);
        return;
    }

    rc = fmcf->channel_ops.open(link, pre->port, &console,
                                pre->console_port, c, ngx_fcfh_relay_opened,
                                ngx_fcfh_relay_done, ctx, &ctx->channel);

    if (rc != NGX_FCFH_OPEN_OK) {
        ngx_fcfh_relay_send_status(ctx, rc, 0);
        return;
    }

    /* until the device answers, only watch for the other side leaving */
    c->read->handler = ngx_fcfh_relay_wait_handler;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_fcfh_get_main_conf(ngx_cycle)->channel_ops.abort(ctx->channel);
        ctx->channel = NULL;
        ngx_fcfh_relay_close(c);
    }
}


static void
ngx_fcfh_relay_opened(ngx_fcfh_channel_t *ch, ngx_uint_t result,
    ngx_uint_t reason)
{
    ngx_fcfh_relay_ctx_t  *ctx;

    ctx = ngx_fcfh_get_main_conf(ngx_cycle)->channel_ops.data(ch);

    if (result != NGX_FCFH_OPEN_OK) {
        ctx->channel = NULL;
    }

    ngx_fcfh_relay_send_status(ctx, result, reason);
}


static void
ngx_fcfh_relay_send_status(ngx_fcfh_relay_ctx_t *ctx, ngx_uint_t result,
    ngx_uint_t reason)
{
    ctx->status[0] = (u_char) result;
    ctx->status[1] = (u_char) ngx_min(reason, 255);
    ctx->start = (result == NGX_FCFH_OPEN_OK);

    ngx_fcfh_relay_status_handler(ctx->connection->write);
}


static void
ngx_fcfh_relay_status_handler(ngx_event_t *wev)
{
    ssize_t                n;
    ngx_connection_t      *c;
    ngx_fcfh_relay_ctx_t  *ctx;

    c = wev->data;
    ctx = c->data;

    while (ctx->sent < NGX_FCFH_RELAY_STATUS_SIZE) {

        n = c->send(c, ctx->status + ctx->sent,
                    NGX_FCFH_RELAY_STATUS_SIZE - ctx->sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                break;
            }

            return;
        }

        if (n == NGX_ERROR) {
            break;
        }

        ctx->sent += n;
    }

    if (ctx->sent == NGX_FCFH_RELAY_STATUS_SIZE && ctx->start) {
        ngx_fcfh_get_main_conf(ngx_cycle)->channel_ops.start(ctx->channel);
        return;
    }

    if (ctx->channel) {
        ngx_fcfh_get_main_conf(ngx_cycle)->channel_ops.abort(ctx->channel);
        ctx->channel = NULL;
    }

    ngx_fcfh_relay_close(c);
}


static void
ngx_fcfh_relay_wait_handler(ngx_event_t *rev)
{
    u_char                 buf[1];
    ssize_t                n;
    ngx_connection_t      *c;
    ngx_fcfh_relay_ctx_t  *ctx;

    c = rev->data;
    ctx = c->data;

    /* early bytes stay in the socket for the channel to read */
    n = recv(c->fd, buf, 1, MSG_PEEK);

    if (n == 0 || (n == -1 && ngx_socket_errno != NGX_EAGAIN)) {
        if (ctx->channel) {
            ngx_fcfh_get_main_conf(ngx_cycle)->channel_ops.abort(ctx->channel);
            ctx->channel = NULL;
        }

        ngx_fcfh_relay_close(c);
    }
}


static void
ngx_fcfh_relay_done(ngx_fcfh_channel_t *ch)
{
    ngx_fcfh_relay_ctx_t  *ctx;

    ctx = ngx_fcfh_get_main_conf(ngx_cycle)->channel_ops.data(ch);

    ctx->channel = NULL;
    ngx_fcfh_relay_close(ctx->connection);
}


static void
ngx_fcfh_relay_close(ngx_connection_t *c)
{
    ngx_pool_t  *pool;

    pool = c->pool;
    ngx_close_connection(c);
    ngx_destroy_pool(pool);
}


/* front door side */

/*
 * The preamble for worker "owner", with the MAC that proves this nginx;
 * owner 0: for another node, without (mutual TLS proves the node).
 */

void
ngx_fcfh_relay_open_init(ngx_fcfh_relay_open_t *op,
    ngx_fcfh_relay_target_t *target, ngx_uint_t opcode, ngx_pid_t owner)
{
    u_char               *secret;
    ngx_fcfh_preamble_t   pre;

    op->sent = 0;
    op->got = 0;

    pre.op = opcode;
    pre.port = target->port;
    ngx_memcpy(pre.guid, target->guid, NGX_FCFH_APF_GUID_SIZE);
    pre.serial = target->serial;
    pre.console_port = target->console_port;
    pre.console = target->console.data;
    pre.console_len = target->console.len;

    secret = owner ? ngx_fcfh_registry_secret() : NULL;

    ngx_fcfh_preamble_write(op->preamble, &pre, secret, (uint32_t) owner);
}


/*
 * The opening exchange as far as the socket allows: the preamble out,
 * then the owner's two-byte answer in (op->status: an NGX_FCFH_OPEN_*
 * result and the device's refusal reason).  NGX_OK: answered; NGX_AGAIN:
 * again on the next event; NGX_ABORT: the preamble could not be sent;
 * NGX_DECLINED: the owner closed without answering (it went away);
 * NGX_ERROR: the event could not be armed.
 */

ngx_int_t
ngx_fcfh_relay_open_process(ngx_connection_t *c, ngx_fcfh_relay_open_t *op)
{
    ssize_t  n;

    while (op->sent < NGX_FCFH_RELAY_PREAMBLE_SIZE) {
        n = c->send(c, op->preamble + op->sent,
                    NGX_FCFH_RELAY_PREAMBLE_SIZE - op->sent);

        if (n == NGX_AGAIN) {
            return (ngx_handle_write_event(c->write, 0) == NGX_OK)
                   ? NGX_AGAIN : NGX_ERROR;
        }

        if (n == NGX_ERROR) {
            return NGX_ABORT;
        }

        op->sent += n;
    }

    while (op->got < NGX_FCFH_RELAY_STATUS_SIZE) {
        n = c->recv(c, op->status + op->got,
                    NGX_FCFH_RELAY_STATUS_SIZE - op->got);

        if (n == NGX_AGAIN) {
            return (ngx_handle_read_event(c->read, 0) == NGX_OK)
                   ? NGX_AGAIN : NGX_ERROR;
        }

        if (n == NGX_ERROR || n == 0) {
            return NGX_DECLINED;
        }

        op->got += n;
    }

    return NGX_OK;
}


/*
 * The opening exchange, to its end: NGX_AGAIN, or NGX_OK with *result
 * an NGX_FCFH_OPEN_* code and *reason the device's refusal reason: the
 * owner's answer, "no such device" when the owner went away, "internal
 * error" when the event could not be armed.
 */

ngx_int_t
ngx_fcfh_relay_open_result(ngx_connection_t *c, ngx_fcfh_relay_open_t *op,
    ngx_uint_t *result, ngx_uint_t *reason)
{
    *reason = 0;

    switch (ngx_fcfh_relay_open_process(c, op)) {

    case NGX_AGAIN:
        return NGX_AGAIN;

    case NGX_OK:
        *result = op->status[0];
        *reason = op->status[1];
        break;

    case NGX_ERROR:
        *result = NGX_FCFH_OPEN_ERROR;
        break;

    default: /* NGX_ABORT, NGX_DECLINED: the owner is gone */
        *result = NGX_FCFH_OPEN_NO_TUNNEL;
        break;
    }

    return NGX_OK;
}


/*
 * Connects to the relay socket of worker pid.  A unix stream connect
 * completes at once or fails at once (EAGAIN: backlog full), so no
 * connect event is needed; failures are reported quietly as
 * "no tunnel" since they mean the owner is gone.  A socket that another
 * process listens on is an internal error, loudly.
 */

ngx_connection_t *
ngx_fcfh_relay_connect(ngx_pid_t pid, ngx_log_t *log, ngx_uint_t *result)
{
    socklen_t              len;
    ngx_err_t              err;
    struct ucred           cred;
    ngx_socket_t           s;
    ngx_connection_t      *c;
    struct sockaddr_un     sun;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

    *result = NGX_FCFH_OPEN_ERROR;

    ngx_fcfh_relay_path(fmcf, pid, &sun);

    s = ngx_socket(AF_UNIX, SOCK_STREAM, 0);
    if (s == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_socket_errno,
                      ngx_socket_n " for relay failed");
        return NULL;
    }

    if (ngx_nonblocking(s) == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_socket_errno,
                      ngx_nonblocking_n " for relay failed");
        (void) ngx_close_socket(s);
        return NULL;
    }

    if (connect(s, (struct sockaddr *) &sun, sizeof(struct sockaddr_un))
        == -1)
    {
        err = ngx_socket_errno;

        ngx_log_error(NGX_LOG_INFO, log, err,
                      "relay to worker %P (\"%s\") failed", pid,
                      sun.sun_path);

        (void) ngx_close_socket(s);

        if (err == NGX_EAGAIN) {
            *result = NGX_FCFH_OPEN_LIMIT;
            return NULL;
        }

        /* the owner is gone: its entries must not route anyone else */
        ngx_fcfh_count(relay_errors, 1);
        ngx_fcfh_registry_sweep(log);

        *result = NGX_FCFH_OPEN_NO_TUNNEL;
        return NULL;
    }

    /*
     * whoever listens there must be the worker the registry names: a
     * process of the workers' user could have bound its own socket at
     * that path, and would get the preamble, MAC included
     */

    len = sizeof(struct ucred);

    if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_socket_errno,
                      "getsockopt(SO_PEERCRED) on relay socket \"%s\" "
                      "failed", sun.sun_path);
        goto refused;
    }

    if (cred.pid != pid) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "relay socket \"%s\" is held by pid %P uid %d, "
                      "not by worker %P: nothing sent", sun.sun_path,
                      (ngx_pid_t) cred.pid, (int) cred.uid, pid);
        goto refused;
    }

    c = ngx_get_connection(s, log);
    if (c == NULL) {
        (void) ngx_close_socket(s);
        return NULL;
    }

    c->type = SOCK_STREAM;
    c->log_error = NGX_ERROR_INFO;
    c->recv = ngx_recv;
    c->send = ngx_send;
    c->recv_chain = ngx_recv_chain;
    c->send_chain = ngx_send_chain;
    c->log = log;
    c->read->log = log;
    c->write->log = log;
    c->write->ready = 1;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    *result = NGX_FCFH_OPEN_OK;

    return c;

refused:

    (void) ngx_close_socket(s);
    ngx_fcfh_count(relay_errors, 1);

    return NULL;
}


/*
 * Closes the front door's connection to a tunnel's owner: a relay
 * socket (the caller's pool), or a TLS connection to another node
 * (ngx_fcfh_cluster.c), which has its own pool.
 */

void
ngx_fcfh_relay_close_peer(ngx_connection_t *c)
{
    ngx_fcfh_relay_close_with(c, c->ssl ? c->pool : NULL);
}


/* a peer connection, TLS or not, and the pool that goes with it if any */

void
ngx_fcfh_relay_close_with(ngx_connection_t *c, ngx_pool_t *pool)
{
#if (NGX_SSL)
    if (c->ssl) {
        c->ssl->no_wait_shutdown = 1;
        (void) ngx_ssl_shutdown(c);
    }
#endif

    ngx_close_connection(c);

    if (pool) {
        ngx_destroy_pool(pool);
    }
}
