
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

#include "ngx_fcfh_apf.h"
#include "ngx_fcfh_history.h"


ngx_int_t ngx_http_fcfh_send(ngx_http_request_t *r, ngx_uint_t status,
    u_char *type, u_char *data, size_t len);
ngx_int_t ngx_http_fcfh_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len);
ngx_int_t ngx_http_fcfh_api_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *text);

/* 405 with Allow and a JSON error */
ngx_int_t ngx_http_fcfh_not_allowed(ngx_http_request_t *r,
    ngx_uint_t methods);

/* every list: ?limit=&cursor=, and "total", "limit", "next_cursor" */
#define NGX_HTTP_FCFH_PAGE_LIMIT     100
#define NGX_HTTP_FCFH_PAGE_MAX       1000
#define NGX_HTTP_FCFH_PAGE_JSON_LEN                                           \
    (sizeof("\"total\":,\"limit\":,\"next_cursor\":\"\"")                      \
     + 2 * NGX_INT_T_LEN + NGX_FCFH_APF_GUID_TEXT_SIZE)

typedef struct {
    ngx_uint_t                       limit;
    ngx_uint_t                       has_after;
    u_char                           after[NGX_FCFH_APF_GUID_SIZE];
} ngx_http_fcfh_page_t;

ngx_int_t ngx_http_fcfh_page_args(ngx_http_request_t *r,
    ngx_http_fcfh_page_t *pg, const char **err);
u_char *ngx_http_fcfh_page_json(u_char *p, ngx_uint_t total,
    ngx_uint_t limit, u_char *next);
ngx_int_t ngx_http_fcfh_arg_uint(ngx_http_request_t *r, char *name,
    ngx_uint_t max, ngx_uint_t *value);

/* a device as GET devices shows it; node: its node, or NULL for none */
size_t ngx_http_fcfh_device_size(ngx_fcfh_device_info_t *d,
    ngx_str_t *node);
u_char *ngx_http_fcfh_device_json(u_char *p, ngx_fcfh_device_info_t *d,
    ngx_str_t *node);

/* the cluster-wide API (ngx_http_fcfh_cluster.c) */
ngx_int_t ngx_http_fcfh_cluster_close(ngx_http_request_t *r,
    ngx_str_t *device);
ngx_int_t ngx_http_fcfh_cluster_list(ngx_http_request_t *r,
    ngx_str_t *param);
ngx_int_t ngx_http_fcfh_cluster_devices(ngx_http_request_t *r,
    ngx_str_t *param);

/* the "amt" close mode (ngx_http_fcfh_amt.c) */
ngx_int_t ngx_http_fcfh_amt_close(ngx_http_request_t *r, ngx_str_t *device);
ngx_int_t ngx_http_fcfh_amt_evidence(ngx_http_request_t *r,
    ngx_str_t *device);
ngx_int_t ngx_http_fcfh_amt_credentials_find(ngx_http_request_t *r,
    u_char *guid, ngx_str_t *user, ngx_str_t *password);

/* console tokens (ngx_http_fcfh_token.c) */
ngx_int_t ngx_http_fcfh_token_issue(ngx_http_request_t *r,
    ngx_str_t *device);
ngx_int_t ngx_http_fcfh_token_check(ngx_http_request_t *r, ngx_str_t *token,
    ngx_str_t *device, u_char *guid, ngx_str_t *subject,
    const char **reason);
void **ngx_http_fcfh_token_secret_field(ngx_conf_t *cf);


#endif /* _NGX_HTTP_FCFH_H_INCLUDED_ */
