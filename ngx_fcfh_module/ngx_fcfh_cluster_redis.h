
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/* the directory's connection, per worker (ngx_fcfh_cluster_redis.c) */


#ifndef _NGX_FCFH_CLUSTER_REDIS_H_INCLUDED_
#define _NGX_FCFH_CLUSTER_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_fcfh_cluster_conf.h"


void ngx_fcfh_cluster_connect(ngx_fcfh_cluster_conf_t *ccf);
void ngx_fcfh_cluster_disconnect(ngx_fcfh_cluster_conf_t *ccf);

/* once a second: reconnect, watchdog, ngx_fcfh_cluster_directory_tick() */
void ngx_fcfh_cluster_tick(ngx_event_t *ev);

/*
 * A command: NGX_DECLINED without a connection.  fn gets the answer
 * (NULL: it is only checked); it must pass it to
 * ngx_fcfh_cluster_answer() first, which says whether it is usable.
 */
ngx_int_t ngx_fcfh_cluster_command(ngx_fcfh_cluster_conf_t *ccf,
    redisCallbackFn *fn, void *privdata, int argc, const char **argv,
    const size_t *argvlen);
ngx_uint_t ngx_fcfh_cluster_answer(ngx_fcfh_cluster_conf_t *ccf,
    redisReply *reply);


#endif /* _NGX_FCFH_CLUSTER_REDIS_H_INCLUDED_ */
