
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Webhook subscribers (in the zone), their state file and the one
 * worker that delivers events to them (ngx_fcfh_webhook.c).
 */


#ifndef _NGX_FCFH_WEBHOOK_H_INCLUDED_
#define _NGX_FCFH_WEBHOOK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"


ngx_int_t ngx_fcfh_webhook_add(ngx_str_t *url, uint32_t types, u_char *key,
    size_t *key_len, const char **err);
ngx_int_t ngx_fcfh_webhook_add_zone(ngx_fcfh_main_conf_t *fmcf,
    ngx_slab_pool_t *shpool, ngx_fcfh_zone_t *zone, ngx_str_t *url,
    uint32_t types, uint32_t id, u_char *key, size_t key_len,
    const char **err);
ngx_int_t ngx_fcfh_webhook_delete(uint32_t id);
ngx_uint_t ngx_fcfh_webhook_list(ngx_fcfh_webhook_t *out);
ngx_int_t ngx_fcfh_webhook_save(ngx_str_t *file, ngx_log_t *log);
void ngx_fcfh_webhook_load(ngx_fcfh_main_conf_t *fmcf,
    ngx_slab_pool_t *shpool, ngx_fcfh_zone_t *zone, ngx_log_t *log);
char *ngx_fcfh_webhook_allow(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_fcfh_webhook_resolver(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_fcfh_webhook_ssl(ngx_cycle_t *cycle, ngx_fcfh_main_conf_t *fmcf);
ngx_int_t ngx_fcfh_webhook_listeners(ngx_cycle_t *cycle,
    ngx_fcfh_main_conf_t *fmcf);
void ngx_fcfh_webhook_poll(ngx_fcfh_main_conf_t *fmcf);
void ngx_fcfh_webhook_abort(ngx_fcfh_main_conf_t *fmcf);


#endif /* _NGX_FCFH_WEBHOOK_H_INCLUDED_ */
