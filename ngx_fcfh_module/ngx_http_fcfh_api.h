
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/* fcfh_api and its route table (ngx_http_fcfh_api.c) */


#ifndef _NGX_HTTP_FCFH_API_H_INCLUDED_
#define _NGX_HTTP_FCFH_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * an endpoint: param is the path segment the route's "*" matched (empty
 * for a route without one)
 */
typedef ngx_int_t (*ngx_http_fcfh_api_pt)(ngx_http_request_t *r,
    ngx_str_t *param);


ngx_int_t ngx_http_fcfh_api_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_FCFH_API_H_INCLUDED_ */
