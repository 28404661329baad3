
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * What the operators' endpoints share (ngx_http_fcfh_module.c), and the
 * entry points of the cluster-wide API and of the "amt" close mode.
 */


#ifndef _NGX_HTTP_FCFH_H_INCLUDED_
#define _NGX_HTTP_FCFH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_fcfh_send(ngx_http_request_t *r, ngx_uint_t status,
    u_char *type, u_char *data, size_t len);
ngx_int_t ngx_http_fcfh_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len);
ngx_int_t ngx_http_fcfh_api_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *text);

/* 405 with Allow: nginx's error page, or the API's JSON error */
ngx_int_t ngx_http_fcfh_not_allowed(ngx_http_request_t *r,
    ngx_uint_t methods);
ngx_int_t ngx_http_fcfh_api_not_allowed(ngx_http_request_t *r,
    ngx_uint_t methods);

/* the cluster-wide API (ngx_http_fcfh_cluster.c) */
ngx_int_t ngx_http_fcfh_cluster_close(ngx_http_request_t *r,
    ngx_str_t *device);
ngx_int_t ngx_http_fcfh_cluster_list(ngx_http_request_t *r,
    ngx_str_t *param);

/* the "amt" close mode (ngx_http_fcfh_amt.c) */
ngx_int_t ngx_http_fcfh_amt_close(ngx_http_request_t *r, ngx_str_t *device);
ngx_int_t ngx_http_fcfh_amt_evidence(ngx_http_request_t *r,
    ngx_str_t *device);


#endif /* _NGX_HTTP_FCFH_H_INCLUDED_ */
