
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * What the gateway reads of a device's WS-Management answers: the HTTP
 * response (status, body sized or chunked, the Digest challenge), the
 * parameters of that challenge, and element texts of the SOAP body.
 * Device input, so everything is bounded and checked; nothing here
 * allocates.  Fuzzed by t/unit/fuzz_wsman.c.
 */


#ifndef _NGX_FCFH_WSMAN_H_INCLUDED_
#define _NGX_FCFH_WSMAN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* longest challenge parameter or element text taken */
#define NGX_FCFH_WSMAN_MAX_VALUE     128


typedef struct {
    ngx_uint_t                       status;
    ngx_str_t                        body;       /* decoded */
    ngx_str_t                        challenge;  /* "Digest ...", or empty */
} ngx_fcfh_wsman_response_t;


ngx_int_t ngx_fcfh_wsman_response(u_char *buf, size_t len, ngx_uint_t eof,
    ngx_fcfh_wsman_response_t *rsp);
ngx_int_t ngx_fcfh_wsman_param(ngx_str_t *challenge, char *name,
    ngx_str_t *value);
ngx_uint_t ngx_fcfh_wsman_values(ngx_str_t *xml, const char *name,
    ngx_str_t *values, ngx_uint_t max);


#endif /* _NGX_FCFH_WSMAN_H_INCLUDED_ */
