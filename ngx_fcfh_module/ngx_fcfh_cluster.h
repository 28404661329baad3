
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Scale-out: several gateway nodes share one device directory in Redis.
 *
 * Each worker keeps one hiredis connection, driven by nginx's event loop
 * (never a blocking call), to the first configured Redis server that
 * says it is a master.  A worker publishes its own tunnels there when
 * they register (and again after Redis comes back), removes them when
 * they close, refreshes their expiry once a minute and keeps this node's
 * liveness key alive every two seconds.  A console request for a device
 * this node does not hold asks the directory, then opens the channel
 * through the owner node's cluster relay listener over mutual TLS, with
 * the same preamble as the relay between workers.
 *
 * Keys (a Redis database of its own per cluster):
 *     fcfh:d:<GUID>   hash: node, serial, since, fqdn   (expires, 300 s)
 *     fcfh:f:<fqdn>   the GUID                          (expires, 300 s)
 *     fcfh:n:<node>   the node's cluster relay address  (expires, 6 s)
 *     fcfh:h:<GUID>   hash: the device's history         (expires,
 *                     fcfh_cluster_history_ttl; see
 *                     ngx_fcfh_cluster_directory.c)
 * A device entry counts only while its node's key lives, so a dead node
 * stops being routed to within NGX_FCFH_CLUSTER_NODE_TTL seconds.
 */


#ifndef _NGX_FCFH_CLUSTER_H_INCLUDED_
#define _NGX_FCFH_CLUSTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_history.h"


#define NGX_FCFH_CLUSTER_NODE_TTL    6       /* s */
#define NGX_FCFH_CLUSTER_HEARTBEAT   2000    /* ms */
#define NGX_FCFH_CLUSTER_ENTRY_TTL   300     /* s */
#define NGX_FCFH_CLUSTER_REFRESH     60      /* s */
#define NGX_FCFH_CLUSTER_TIMEOUT     3000    /* ms: a Redis answer */
#define NGX_FCFH_CLUSTER_CONNECT     5000    /* ms: another node */
#define NGX_FCFH_CLUSTER_NAME_MAX    32

/* "certificate:" and the identity, as the directory keeps it */
#define NGX_FCFH_CLUSTER_IDENTITY_MAX  (sizeof("certificate:") + 255)

#define NGX_FCFH_CLUSTER_PAGE        500     /* devices per list page */

/* fcfh_cluster_history_ttl's default */
#define NGX_FCFH_CLUSTER_HISTORY_TTL  (30 * 86400)   /* s */


typedef struct ngx_fcfh_cluster_req_s  ngx_fcfh_cluster_req_t;

/*
 * The end of a request to another node: result is an NGX_FCFH_OPEN_*
 * code.  For an open that succeeded, c is the connection to the owner
 * node, ready for the channel's bytes; the caller closes it with
 * ngx_fcfh_relay_close_peer().  node names the owner node when known.
 */
typedef void (*ngx_fcfh_cluster_handler_pt)(void *data, ngx_connection_t *c,
    ngx_uint_t result, ngx_uint_t reason, ngx_str_t *node);

/* one page of the cluster-wide list, for fcfh_api */
typedef struct {
    ngx_str_t                        guid;
    ngx_str_t                        node;
    ngx_str_t                        fqdn;
    uint64_t                         serial;
    time_t                           since;
    ngx_uint_t                       alive;      /* its node answers */
} ngx_fcfh_cluster_item_t;

typedef void (*ngx_fcfh_cluster_list_pt)(void *data, ngx_int_t rc,
    ngx_str_t *cursor, ngx_array_t *items);

/* a device's history record in the directory, for fcfh_api */
typedef struct {
    ngx_fcfh_device_info_t           info;
    ngx_str_t                        node;       /* of its last tunnel */
} ngx_fcfh_cluster_device_t;


ngx_str_t *ngx_fcfh_cluster_node(void);
ngx_uint_t ngx_fcfh_cluster_up(void);
ngx_int_t ngx_fcfh_cluster_init_process(ngx_cycle_t *cycle);
void ngx_fcfh_cluster_exit_process(ngx_cycle_t *cycle);

void ngx_fcfh_cluster_publish(ngx_fcfh_entry_t *entry, ngx_log_t *log);
void ngx_fcfh_cluster_unpublish(ngx_fcfh_entry_t *entry, ngx_uint_t kind);
void ngx_fcfh_cluster_history_end(u_char *guid, ngx_uint_t kind);

ngx_fcfh_cluster_req_t *ngx_fcfh_cluster_open(ngx_str_t *device,
    ngx_uint_t op, ngx_uint_t port, ngx_str_t *console,
    ngx_uint_t console_port, ngx_log_t *log,
    ngx_fcfh_cluster_handler_pt handler, void *data, ngx_uint_t *result);
void ngx_fcfh_cluster_cancel(ngx_fcfh_cluster_req_t *req);

ngx_fcfh_cluster_req_t *ngx_fcfh_cluster_list(ngx_str_t *cursor,
    ngx_pool_t *pool, ngx_fcfh_cluster_list_pt handler, void *data);

/* items: ngx_fcfh_cluster_device_t; guid NULL: a page of all devices */
ngx_fcfh_cluster_req_t *ngx_fcfh_cluster_devices(ngx_str_t *cursor,
    ngx_str_t *guid, ngx_pool_t *pool, ngx_fcfh_cluster_list_pt handler,
    void *data);


#endif /* _NGX_FCFH_CLUSTER_H_INCLUDED_ */
