
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * What the exposure checks of "nginx -t" share (ngx_fcfh_exposure.c):
 * whether a listener is reachable beyond loopback, whether nginx's
 * access rules turn the world away, and the list of listeners a warning
 * names.  The checks themselves are per layer: ngx_stream_fcfh_exposure.c
 * (fcfh_proxy) and ngx_http_fcfh_exposure.c (fcfh_pass and the
 * operators' endpoints).
 */


#ifndef _NGX_FCFH_EXPOSURE_H_INCLUDED_
#define _NGX_FCFH_EXPOSURE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* a front door or operators' endpoint, as its directive registered it */
typedef struct {
    ngx_str_t                        name;         /* the directive */
    u_char                          *file;
    ngx_uint_t                       line;
    void                           **conf;         /* its block's confs */
    void                            *server;       /* http: the server */
    void                           **credentials;  /* set: non-NULL */
    const char                      *credentials_directive;
} ngx_fcfh_exposure_t;


/* the listeners a warning names, cut to fit one log line */
#define NGX_FCFH_EXPOSURE_TEXT       320

typedef struct {
    u_char                          *last;
    ngx_uint_t                       count;
    ngx_uint_t                       cut;
    u_char                           text[NGX_FCFH_EXPOSURE_TEXT];
} ngx_fcfh_exposure_listeners_t;


ngx_fcfh_exposure_t *ngx_fcfh_exposure_push(ngx_conf_t *cf,
    ngx_array_t *entries, ngx_str_t *name, void **credentials,
    const char *directive);
ngx_module_t *ngx_fcfh_exposure_module(ngx_cycle_t *cycle, const char *name);
ngx_uint_t ngx_fcfh_exposure_credentials(ngx_fcfh_exposure_t *e);
ngx_uint_t ngx_fcfh_exposure_beyond_loopback(struct sockaddr *sa);
ngx_uint_t ngx_fcfh_exposure_rules_deny(void *access_conf,
    struct sockaddr *sa, ngx_uint_t ipv6only);
ngx_uint_t ngx_fcfh_exposure_closed(ngx_cycle_t *cycle,
    ngx_fcfh_exposure_t *e, const char *access, struct sockaddr *sa,
    ngx_uint_t ipv6only);
void ngx_fcfh_exposure_listeners_init(ngx_fcfh_exposure_listeners_t *l);
void ngx_fcfh_exposure_listeners_add(ngx_fcfh_exposure_listeners_t *l,
    ngx_str_t *addr);


#endif /* _NGX_FCFH_EXPOSURE_H_INCLUDED_ */
