
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/* fcfh_status and the tunnel object (ngx_http_fcfh_status.c) */


#ifndef _NGX_HTTP_FCFH_STATUS_H_INCLUDED_
#define _NGX_HTTP_FCFH_STATUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fcfh_registry.h"


ngx_int_t ngx_http_fcfh_status_handler(ngx_http_request_t *r);

/* one tunnel as JSON: a bound on its size, and the writer */
size_t ngx_http_fcfh_entry_size(ngx_fcfh_entry_info_t *info);
u_char *ngx_http_fcfh_entry_json(u_char *p, ngx_fcfh_entry_info_t *info);

/* a page of tunnels: its fields, the "tunnels" array, the object closed */
size_t ngx_http_fcfh_tunnels_size(ngx_array_t *entries);
u_char *ngx_http_fcfh_tunnels_json(u_char *p, ngx_fcfh_tunnels_query_t *q,
    ngx_array_t *entries);


#endif /* _NGX_HTTP_FCFH_STATUS_H_INCLUDED_ */
