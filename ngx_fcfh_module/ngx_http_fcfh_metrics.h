
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/* fcfh_metrics (ngx_http_fcfh_metrics.c) */


#ifndef _NGX_HTTP_FCFH_METRICS_H_INCLUDED_
#define _NGX_HTTP_FCFH_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_fcfh_metrics_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_FCFH_METRICS_H_INCLUDED_ */
