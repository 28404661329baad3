
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The directory's connection: hiredis on nginx's event loop, never a
 * blocking call.  One connection per worker, to the first configured
 * Redis server that answers ROLE "master" (after AUTH when configured);
 * on an error, a refusal or a replica's READONLY the next server is
 * tried, once a second, a whole round refused backing off up to 16 s; a
 * watchdog drops a connection whose commands go unanswered.  Every
 * command and answer passes through here, so that the count of commands
 * in flight and the time of the last answer stay right.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_cluster.h"
#include "ngx_fcfh_cluster_conf.h"
#include "ngx_fcfh_cluster_redis.h"
#include "ngx_fcfh_cluster_directory.h"


static void ngx_fcfh_cluster_watch(ngx_event_t *ev, ngx_int_t event,
    ngx_uint_t on);
static void ngx_fcfh_cluster_add_read(void *privdata);
static void ngx_fcfh_cluster_del_read(void *privdata);
static void ngx_fcfh_cluster_add_write(void *privdata);
static void ngx_fcfh_cluster_del_write(void *privdata);
static void ngx_fcfh_cluster_cleanup(void *privdata);
static void ngx_fcfh_cluster_read_handler(ngx_event_t *rev);
static void ngx_fcfh_cluster_write_handler(ngx_event_t *wev);
static void ngx_fcfh_cluster_connected(const redisAsyncContext *ac,
    int status);
static void ngx_fcfh_cluster_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_fcfh_cluster_gone(ngx_fcfh_cluster_conf_t *ccf,
    const char *why);
static void ngx_fcfh_cluster_role(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_fcfh_cluster_answered(redisAsyncContext *ac, void *r,
    void *privdata);


/* a connection to the current server; the answer comes to _connected */

void
ngx_fcfh_cluster_connect(ngx_fcfh_cluster_conf_t *ccf)
{
    redisAsyncContext         *ac;
    ngx_connection_t          *c;
    ngx_fcfh_cluster_redis_t  *r;

    r = ccf->redis->elts;
    r = &r[ccf->current % ccf->redis->nelts];

    ac = redisAsyncConnect((char *) r->host, r->port);

    if (ac == NULL || ac->err) {
        ngx_fcfh_cluster_gone(ccf, ac ? ac->errstr : "out of memory");

        if (ac) {
            redisAsyncFree(ac);
        }

        return;
    }

    c = ngx_get_connection(ac->c.fd, ngx_cycle->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_fcfh_cluster_gone(ccf, "no free connection");
        return;
    }

    c->data = ac;
    c->read->handler = ngx_fcfh_cluster_read_handler;
    c->write->handler = ngx_fcfh_cluster_write_handler;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    ccf->ac = ac;
    ccf->state = NGX_FCFH_CLUSTER_CONNECTING;
    ccf->pending = 0;
    ccf->last_answer = ngx_current_msec;

    ac->data = ccf;
    ac->ev.data = c;
    ac->ev.addRead = ngx_fcfh_cluster_add_read;
    ac->ev.delRead = ngx_fcfh_cluster_del_read;
    ac->ev.addWrite = ngx_fcfh_cluster_add_write;
    ac->ev.delWrite = ngx_fcfh_cluster_del_write;
    ac->ev.cleanup = ngx_fcfh_cluster_cleanup;

    redisAsyncSetConnectCallback(ac, ngx_fcfh_cluster_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_fcfh_cluster_disconnected);

    /* hiredis watches for the connect to finish: it asks for write */
    ngx_fcfh_cluster_add_write(c);
}


/*
 * hiredis reads and writes once per call, so its events are
 * level-triggered: edge-triggered ones could leave bytes unread.
 */

static void
ngx_fcfh_cluster_watch(ngx_event_t *ev, ngx_int_t event, ngx_uint_t on)
{
    if (on && !ev->active) {
        (void) ngx_add_event(ev, event, NGX_LEVEL_EVENT);

    } else if (!on && ev->active) {
        (void) ngx_del_event(ev, event, 0);
    }
}


static void
ngx_fcfh_cluster_add_read(void *privdata)
{
    ngx_fcfh_cluster_watch(((ngx_connection_t *) privdata)->read,
                           NGX_READ_EVENT, 1);
}


static void
ngx_fcfh_cluster_del_read(void *privdata)
{
    ngx_fcfh_cluster_watch(((ngx_connection_t *) privdata)->read,
                           NGX_READ_EVENT, 0);
}


static void
ngx_fcfh_cluster_add_write(void *privdata)
{
    ngx_fcfh_cluster_watch(((ngx_connection_t *) privdata)->write,
                           NGX_WRITE_EVENT, 1);
}


static void
ngx_fcfh_cluster_del_write(void *privdata)
{
    ngx_fcfh_cluster_watch(((ngx_connection_t *) privdata)->write,
                           NGX_WRITE_EVENT, 0);
}


/* hiredis closes the socket itself: the connection is only given back */

static void
ngx_fcfh_cluster_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_fcfh_cluster_del_read(c);
    ngx_fcfh_cluster_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}


static void
ngx_fcfh_cluster_read_handler(ngx_event_t *rev)
{
    ngx_connection_t  *c = rev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_fcfh_cluster_write_handler(ngx_event_t *wev)
{
    ngx_connection_t  *c = wev->data;

    redisAsyncHandleWrite(c->data);
}


static void
ngx_fcfh_cluster_connected(const redisAsyncContext *ac, int status)
{
    ngx_fcfh_cluster_conf_t  *ccf = ac->data;

    size_t       len[3];
    const char  *argv[3];

    if (status != REDIS_OK) {
        /* hiredis frees the context after this call */
        ccf->ac = NULL;
        ngx_fcfh_cluster_gone(ccf, ac->errstr);
        return;
    }

    if (ccf->redis_password.len) {
        argv[0] = "AUTH";
        len[0] = 4;
        argv[1] = (char *) ccf->redis_user.data;
        len[1] = ccf->redis_user.len;
        argv[2] = (char *) ccf->redis_password.data;
        len[2] = ccf->redis_password.len;

        if (ccf->redis_user.len == 0) {
            argv[1] = argv[2];
            len[1] = len[2];
        }

        (void) ngx_fcfh_cluster_command((ngx_fcfh_cluster_conf_t *) ccf,
                                        NULL, NULL,
                                        ccf->redis_user.len ? 3 : 2,
                                        argv, len);
    }

    /* only a master takes the directory: after a failover, the next */

    argv[0] = "ROLE";

    (void) ngx_fcfh_cluster_command(ccf, ngx_fcfh_cluster_role, NULL, 1,
                                    argv, NULL);
}


static void
ngx_fcfh_cluster_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_fcfh_cluster_conf_t  *ccf = ac->data;

    if (ccf->ac == ac) {
        ccf->ac = NULL;
    }

    ngx_fcfh_cluster_gone(ccf, (status == REDIS_OK) ? "closed" : ac->errstr);
}


/* the directory is down: local tunnels go on, a tick tries again */

static void
ngx_fcfh_cluster_gone(ngx_fcfh_cluster_conf_t *ccf, const char *why)
{
    ngx_fcfh_cluster_redis_t  *r;

    if (ccf->exiting) {
        return;
    }

    r = ccf->redis->elts;
    r = &r[ccf->current % ccf->redis->nelts];

    if (!ccf->down_logged) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "fcfh cluster: directory at %s:%d unavailable (%s); "
                      "local tunnels go on, devices of other nodes cannot "
                      "be reached", r->host, r->port, why);
        ccf->down_logged = 1;
    }

    ccf->state = NGX_FCFH_CLUSTER_DOWN;
    ccf->current++;

    /* each server once a second; a whole round refused: back off, 16 s */
    if (ccf->current % ccf->redis->nelts == 0) {
        ccf->backoff = ngx_min(ngx_max(ccf->backoff * 2, 1), 16);
    }

    ccf->retry_tick = ccf->ticks + ccf->backoff;
}


static void
ngx_fcfh_cluster_role(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply               *reply = r;
    ngx_fcfh_cluster_conf_t  *ccf = ac->data;

    ngx_uint_t                 level;
    ngx_fcfh_cluster_redis_t  *redis;

    if (!ngx_fcfh_cluster_answer(ccf, reply)) {
        if (reply) {
            /* NOAUTH and the like: logged; the next server, later */
            redisAsyncDisconnect(ac);
        }

        return;
    }

    redis = ccf->redis->elts;
    redis = &redis[ccf->current % ccf->redis->nelts];

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING
        || ngx_strcmp(reply->element[0]->str, "master") != 0)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "fcfh cluster: redis %s:%d is not a master, "
                      "trying the next one", redis->host, redis->port);
        redisAsyncDisconnect(ac);
        return;
    }

    level = ccf->down_logged ? NGX_LOG_NOTICE : NGX_LOG_INFO;

    ngx_log_error(level, ngx_cycle->log, 0,
                  "fcfh cluster: directory at %s:%d, node \"%V\"",
                  redis->host, redis->port, &ccf->node);

    ccf->state = NGX_FCFH_CLUSTER_UP;
    ccf->down_logged = 0;
    ccf->backoff = 0;

    /* the scripts, this node's key, our devices */
    ngx_fcfh_cluster_directory_up(ccf);
}


ngx_int_t
ngx_fcfh_cluster_command(ngx_fcfh_cluster_conf_t *ccf, redisCallbackFn *fn,
    void *privdata, int argc, const char **argv, const size_t *argvlen)
{
    if (ccf->ac == NULL) {
        return NGX_DECLINED;
    }

    if (redisAsyncCommandArgv(ccf->ac, fn ? fn : ngx_fcfh_cluster_answered,
                              privdata, argc, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    if (ccf->pending++ == 0) {
        ccf->last_answer = ngx_current_msec;
    }

    return NGX_OK;
}


static void
ngx_fcfh_cluster_answered(redisAsyncContext *ac, void *r, void *privdata)
{
    (void) ngx_fcfh_cluster_answer(ac->data, r);
}


/*
 * Every answer passes here: the count of commands in flight, the time
 * of the last answer (for the watchdog), errors logged.  A replica's
 * READONLY means a failover happened: the next server is tried.
 * Returns whether the answer is a usable one.
 */

ngx_uint_t
ngx_fcfh_cluster_answer(ngx_fcfh_cluster_conf_t *ccf, redisReply *reply)
{
    if (ccf->pending) {
        ccf->pending--;
    }

    ccf->last_answer = ngx_current_msec;

    if (reply == NULL) {
        return 0;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "fcfh cluster: redis: %s", reply->str);

        /* a failover, or scripts flushed: a new connection loads them */
        if ((ngx_strncmp(reply->str, "READONLY", 8) == 0
             || ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
            && ccf->ac)
        {
            redisAsyncDisconnect(ccf->ac);
        }

        return 0;
    }

    return 1;
}


/*
 * Once a second: reconnect when down, the watchdog when Redis stopped
 * answering, this node's liveness key every other tick, and the expiry
 * of our device entries once a minute.
 */

void
ngx_fcfh_cluster_tick(ngx_event_t *ev)
{
    ngx_uint_t                connecting;
    redisAsyncContext        *ac;
    ngx_fcfh_cluster_conf_t  *ccf = ev->data;

    /* an old worker keeps its tunnels published while they last */
    if (ngx_terminate || ccf->exiting) {
        return;
    }

    ccf->ticks++;

    if (ccf->ac == NULL) {
        if (ccf->ticks >= ccf->retry_tick) {
            ngx_fcfh_cluster_connect(ccf);
        }

    } else if ((ccf->pending || ccf->state == NGX_FCFH_CLUSTER_CONNECTING)
               && ngx_current_msec - ccf->last_answer
                  > NGX_FCFH_CLUSTER_TIMEOUT)
    {
        /* a server that drops packets: no answer, not even to connect */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "fcfh cluster: redis did not answer %s in %ui ms, "
                      "trying again",
                      ccf->pending ? "commands" : "the connection",
                      (ngx_uint_t) NGX_FCFH_CLUSTER_TIMEOUT);

        connecting = (ccf->state == NGX_FCFH_CLUSTER_CONNECTING);

        ac = ccf->ac;
        ccf->ac = NULL;
        redisAsyncFree(ac);

        if (connecting) {
            /* hiredis calls no disconnect callback before it connected */
            ngx_fcfh_cluster_gone(ccf, "connection timed out");
        }

    } else if (ccf->state == NGX_FCFH_CLUSTER_UP) {
        ngx_fcfh_cluster_directory_tick(ccf);
    }

    ngx_add_timer(ev, NGX_FCFH_CLUSTER_TICK);
}


/* the worker exits: what the last closed tunnels queued gets one try */

void
ngx_fcfh_cluster_disconnect(ngx_fcfh_cluster_conf_t *ccf)
{
    redisAsyncContext  *ac;

    ac = ccf->ac;

    if (ac == NULL) {
        return;
    }

    /* the releases of the tunnels closed last */
    if (ccf->state == NGX_FCFH_CLUSTER_UP) {
        redisAsyncHandleWrite(ac);
    }

    ccf->ac = NULL;
    redisAsyncFree(ac);
}
