
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * JSON of the operators' endpoints and webhooks (ngx_fcfh_json.c): one
 * event is the same object in an SSE stream and in a webhook POST.
 */


#ifndef _NGX_FCFH_JSON_H_INCLUDED_
#define _NGX_FCFH_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"


#define NGX_FCFH_EVENT_JSON_MAX      2048

const char *ngx_fcfh_close_name(ngx_uint_t kind);
const char *ngx_fcfh_failure_name(ngx_uint_t reason);
const char *ngx_fcfh_event_name(ngx_uint_t type);
ngx_uint_t ngx_fcfh_event_type(u_char *name, size_t len);
u_char *ngx_fcfh_json_str(u_char *p, ngx_str_t *s);
u_char *ngx_fcfh_json_time(u_char *p, time_t t);
u_char *ngx_fcfh_event_json(u_char *p, ngx_fcfh_event_t *e);


#endif /* _NGX_FCFH_JSON_H_INCLUDED_ */
