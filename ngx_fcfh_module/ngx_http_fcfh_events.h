
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh_events (Server-Sent Events) and the webhook subscribers' API
 * endpoints (ngx_http_fcfh_events.c)
 */


#ifndef _NGX_HTTP_FCFH_EVENTS_H_INCLUDED_
#define _NGX_HTTP_FCFH_EVENTS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_fcfh_events_handler(ngx_http_request_t *r);

/* fcfh_api routes (ngx_http_fcfh_api.c) */
ngx_int_t ngx_http_fcfh_webhooks_list(ngx_http_request_t *r,
    ngx_str_t *param);
ngx_int_t ngx_http_fcfh_webhooks_add(ngx_http_request_t *r,
    ngx_str_t *param);
ngx_int_t ngx_http_fcfh_webhooks_delete(ngx_http_request_t *r,
    ngx_str_t *param);


#endif /* _NGX_HTTP_FCFH_EVENTS_H_INCLUDED_ */
