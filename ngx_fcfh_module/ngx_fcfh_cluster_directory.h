
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/* the directory in Redis (ngx_fcfh_cluster_directory.c) */


#ifndef _NGX_FCFH_CLUSTER_DIRECTORY_H_INCLUDED_
#define _NGX_FCFH_CLUSTER_DIRECTORY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh_cluster.h"
#include "ngx_fcfh_cluster_conf.h"


/* at worker start: the SHA1 by which the scripts run */
void ngx_fcfh_cluster_hash_scripts(ngx_fcfh_cluster_conf_t *ccf);

/* from the connection (ngx_fcfh_cluster_redis.c) */
void ngx_fcfh_cluster_directory_up(ngx_fcfh_cluster_conf_t *ccf);
void ngx_fcfh_cluster_directory_tick(ngx_fcfh_cluster_conf_t *ccf);

/*
 * The node of req->device: the answer continues the request with
 * ngx_fcfh_cluster_peer() or ends it with ngx_fcfh_cluster_finish()
 */
ngx_int_t ngx_fcfh_cluster_lookup(ngx_fcfh_cluster_conf_t *ccf,
    ngx_fcfh_cluster_req_t *req, ngx_uint_t by_guid);


#endif /* _NGX_FCFH_CLUSTER_DIRECTORY_H_INCLUDED_ */
