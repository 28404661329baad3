
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * A request to another node, or to the directory on a caller's behalf
 * (ngx_fcfh_cluster_peer.c)
 */


#ifndef _NGX_FCFH_CLUSTER_PEER_H_INCLUDED_
#define _NGX_FCFH_CLUSTER_PEER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_relay.h"
#include "ngx_fcfh_cluster.h"


struct ngx_fcfh_cluster_req_s {
    ngx_fcfh_cluster_handler_pt      handler;
    ngx_fcfh_cluster_list_pt         list_handler;
    void                            *data;
    ngx_log_t                       *log;
    ngx_pool_t                      *pool;       /* the node connection's */
    ngx_pool_t                      *list_pool;  /* the caller's */
    ngx_peer_connection_t            pc;
    ngx_fcfh_relay_open_t            open;
    ngx_fcfh_relay_target_t          target;
    ngx_uint_t                       op;
    ngx_str_t                        node;
    ngx_str_t                        device;
    u_char                           console[NGX_FCFH_RELAY_ADDR_SIZE];
    u_char                           node_data[NGX_FCFH_CLUSTER_NAME_MAX];
    u_char                           device_data[
                                         NGX_FCFH_APF_DEFAULT_MAX_STRING];
    unsigned                         in_redis:1; /* an answer will come */
    unsigned                         gone:1;     /* the caller left */
};


ngx_fcfh_cluster_req_t *ngx_fcfh_cluster_req(ngx_log_t *log);

/* to the node at addr ("IP:port", from the directory) */
void ngx_fcfh_cluster_peer(ngx_fcfh_cluster_req_t *req, u_char *addr,
    size_t len);

/* the end of a request: the caller's handler runs, the request is freed */
void ngx_fcfh_cluster_finish(ngx_fcfh_cluster_req_t *req, ngx_uint_t result,
    ngx_uint_t reason);


#endif /* _NGX_FCFH_CLUSTER_PEER_H_INCLUDED_ */
