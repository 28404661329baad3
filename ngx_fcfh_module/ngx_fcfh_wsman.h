
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * What the gateway reads of a device's WS-Management answers, once
 * ngx_fcfh_response_read() has read the HTTP answer (status, body, the
 * Digest challenge): the parameters of that challenge, and element texts
 * of the SOAP body.  Device input, so everything is bounded and checked;
 * nothing here allocates.  Fuzzed by t/unit/fuzz_wsman.c.
 */


#ifndef _NGX_FCFH_WSMAN_H_INCLUDED_
#define _NGX_FCFH_WSMAN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* longest challenge parameter or element text taken */
#define NGX_FCFH_WSMAN_MAX_VALUE     128


/* challenge: a WWW-Authenticate value "Digest ..." */
ngx_int_t ngx_fcfh_wsman_param(ngx_str_t *challenge, char *name,
    ngx_str_t *value);
ngx_uint_t ngx_fcfh_wsman_values(ngx_str_t *xml, const char *name,
    ngx_str_t *values, ngx_uint_t max);


#endif /* _NGX_FCFH_WSMAN_H_INCLUDED_ */
