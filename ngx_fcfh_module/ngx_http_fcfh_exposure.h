
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/* the exposure check of the http front doors (ngx_http_fcfh_exposure.c) */


#ifndef _NGX_HTTP_FCFH_EXPOSURE_H_INCLUDED_
#define _NGX_HTTP_FCFH_EXPOSURE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * Called by the directive of a console front door (fcfh_pass,
 * fcfh_webrelay) or an operators' endpoint (fcfh_status, fcfh_api,
 * fcfh_events, fcfh_metrics) in its location{}: nginx -t warns when the
 * location is open to the world on one of its server's listeners.
 * credentials: the front door's credentials field (non-NULL after the
 * merge when it asks consoles for a password), named "directive"; NULL
 * for those without their own.
 */
ngx_int_t ngx_http_fcfh_exposure_add(ngx_conf_t *cf, ngx_str_t *name,
    void **credentials, const char *directive);


#endif /* _NGX_HTTP_FCFH_EXPOSURE_H_INCLUDED_ */
