
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * What the files of the cluster share (ngx_fcfh_cluster.c,
 * ngx_fcfh_cluster_redis.c, ngx_fcfh_cluster_directory.c,
 * ngx_fcfh_cluster_peer.c): the configuration of ngx_fcfh_cluster_module
 * and each worker's state, the directory's connection and the TLS
 * sessions with other nodes.
 */


#ifndef _NGX_FCFH_CLUSTER_CONF_H_INCLUDED_
#define _NGX_FCFH_CLUSTER_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_cluster.h"


/* the directory's connection */
#define NGX_FCFH_CLUSTER_DOWN        0
#define NGX_FCFH_CLUSTER_CONNECTING  1
#define NGX_FCFH_CLUSTER_UP          2

#define NGX_FCFH_CLUSTER_TICK        1000    /* ms */

/* the directory's Lua scripts (ngx_fcfh_cluster_directory.c) */
#define NGX_FCFH_CLUSTER_SCRIPTS     6


typedef struct {
    u_char                           host[NGX_SOCKADDR_STRLEN + 1];
    int                              port;
} ngx_fcfh_cluster_redis_t;


/* a TLS session with another node, for a short handshake next time */
#define NGX_FCFH_CLUSTER_SESSIONS    16

typedef struct {
    size_t                           len;
    u_char                           name[NGX_FCFH_CLUSTER_NAME_MAX];
    ngx_ssl_session_t               *session;
} ngx_fcfh_cluster_session_t;


/*
 * Ends of tunnels for the device history that came while the directory
 * was down (or before this worker's connection was up: a new worker
 * sweeps the tunnels of the one it replaces), written when it is up;
 * the oldest go first when more come.
 */
#define NGX_FCFH_CLUSTER_ENDS        64

typedef struct {
    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    time_t                           time;
    ngx_uint_t                       kind;
} ngx_fcfh_cluster_end_t;


typedef struct {
    ngx_str_t                        node;
    ngx_str_t                        address;
    ngx_array_t                     *redis;     /* ngx_fcfh_cluster_redis_t */
    ngx_str_t                        redis_user;  /* AUTH, from a file */
    ngx_str_t                        redis_password;
    ngx_str_t                        certificate;
    ngx_str_t                        certificate_key;
    ngx_str_t                        trusted;
    time_t                           history_ttl;  /* s; 0: no history */
    ngx_ssl_t                       *ssl;

    /* per-process state, valid in workers only */
    redisAsyncContext               *ac;
    ngx_uint_t                       current;    /* index into redis */
    ngx_uint_t                       state;
    ngx_uint_t                       pending;    /* commands not answered */
    ngx_msec_t                       last_answer;
    ngx_uint_t                       ticks;
    ngx_uint_t                       backoff;    /* ticks between tries */
    ngx_uint_t                       retry_tick;
    time_t                           refreshed;
    ngx_event_t                      tick;
    u_char                           sha[NGX_FCFH_CLUSTER_SCRIPTS][40];
    ngx_fcfh_cluster_session_t       sessions[NGX_FCFH_CLUSTER_SESSIONS];
    ngx_uint_t                       next_session;
    ngx_fcfh_cluster_end_t           ends[NGX_FCFH_CLUSTER_ENDS];
    ngx_uint_t                       nends;      /* held, in ends[] */
    ngx_uint_t                       next_end;
    unsigned                         exiting:1;
    unsigned                         down_logged:1;
} ngx_fcfh_cluster_conf_t;


#define ngx_fcfh_cluster_get_conf(cycle)                                      \
    ((ngx_fcfh_cluster_conf_t *) ngx_get_conf((cycle)->conf_ctx,              \
                                              ngx_fcfh_cluster_module))


extern ngx_module_t  ngx_fcfh_cluster_module;


ngx_uint_t ngx_fcfh_cluster_node_valid(u_char *p, size_t len);


#endif /* _NGX_FCFH_CLUSTER_CONF_H_INCLUDED_ */
