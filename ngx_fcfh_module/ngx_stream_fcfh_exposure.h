
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/* the exposure check of the stream front doors (ngx_stream_fcfh_exposure.c) */


#ifndef _NGX_STREAM_FCFH_EXPOSURE_H_INCLUDED_
#define _NGX_STREAM_FCFH_EXPOSURE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>


/*
 * Called by a console front door's directive in its server{}: nginx -t
 * warns when one of the server's listeners is open to the world.
 * credentials: the front door's credentials field (non-NULL after the
 * merge when it asks consoles for a password), named "directive".
 */
ngx_int_t ngx_stream_fcfh_exposure_add(ngx_conf_t *cf, ngx_str_t *name,
    void **credentials, const char *directive);


#endif /* _NGX_STREAM_FCFH_EXPOSURE_H_INCLUDED_ */
