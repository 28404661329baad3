
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * What the fuzz targets that need nginx's core (pools, arrays, strings)
 * link in place of the rest of nginx: logging is silent; anything a
 * parser must never reach (configuration, files, crypt) aborts, so that
 * reaching it is a finding.  The configuration and file ones are weak: a
 * unit test of a file loader gives its own.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_crypt.h>


volatile ngx_cycle_t  *ngx_cycle;
ngx_pid_t              ngx_pid;


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
}


__attribute__((weak)) ngx_int_t
ngx_conf_full_name(ngx_cycle_t *cycle, ngx_str_t *name, ngx_uint_t conf_prefix)
{
    abort();
}


__attribute__((weak)) void ngx_cdecl
ngx_conf_log_error(ngx_uint_t level, ngx_conf_t *cf, ngx_err_t err,
    const char *fmt, ...)
{
    abort();
}


ngx_int_t
ngx_crypt(ngx_pool_t *pool, u_char *key, u_char *salt, u_char **encrypted)
{
    abort();
}


__attribute__((weak)) ssize_t
ngx_read_file(ngx_file_t *file, u_char *buf, size_t size, off_t offset)
{
    abort();
}
