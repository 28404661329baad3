
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#ifndef _NGX_FCFH_HTPASSWD_H_INCLUDED_
#define _NGX_FCFH_HTPASSWD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>

#include "ngx_fcfh_apf.h"


#define NGX_FCFH_MAX_CRED_LINE       4096


/* an HMAC of the last password that passed, this process only */
#define NGX_FCFH_CRED_SEEN_SIZE      32


typedef struct {
    ngx_str_t                        user;
    ngx_str_t                        hash;     /* NUL-terminated */
    ngx_str_t                        guids;    /* third field, or empty */
    ngx_str_t                        names;    /* fourth, lower case */
    u_char                          *seen;     /* NULL: none yet */
    ngx_uint_t                       line;     /* in the file */
} ngx_fcfh_cred_t;


/* a GUID a user's line names: no other identity may register it */
typedef struct {
    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    ngx_fcfh_cred_t                 *cred;
} ngx_fcfh_reservation_t;


/* an exact device name a user's line lists: that user's alone */
typedef struct {
    ngx_str_t                        name;
    ngx_fcfh_cred_t                 *cred;
} ngx_fcfh_name_owner_t;


typedef struct {
    ngx_str_t                        file;
    ngx_array_t                      creds;    /* sorted by user */
    ngx_array_t                      reserved; /* sorted by GUID */
    ngx_array_t                      names;    /* sorted by name */
    u_char                           key[NGX_FCFH_CRED_SEEN_SIZE];
    ngx_pid_t                        key_pid;  /* the process the key is of */
    EVP_MAC_CTX                     *mac;      /* HMAC-SHA-256 under key */
} ngx_fcfh_htpasswd_t;


ngx_fcfh_htpasswd_t *ngx_fcfh_htpasswd_load(ngx_conf_t *cf, ngx_str_t *file);
ngx_int_t ngx_fcfh_htpasswd_parse(ngx_fcfh_htpasswd_t *h, u_char *data,
    size_t len, ngx_pool_t *pool, ngx_uint_t *line, const char **err);
ngx_int_t ngx_fcfh_htpasswd_check(ngx_fcfh_htpasswd_t *h, ngx_str_t *user,
    ngx_str_t *password, ngx_pool_t *pool, ngx_fcfh_cred_t **cred,
    ngx_uint_t *cached);
ngx_int_t ngx_fcfh_guid_list_allows(ngx_str_t *list, u_char *guid);
ngx_str_t *ngx_fcfh_htpasswd_reserved(ngx_fcfh_htpasswd_t *h, u_char *guid);
ngx_str_t *ngx_fcfh_htpasswd_name_owner(ngx_fcfh_htpasswd_t *h,
    ngx_str_t *name);
ngx_int_t ngx_fcfh_name_list_valid(ngx_str_t *list);
ngx_int_t ngx_fcfh_list_next(ngx_str_t *list, ngx_uint_t *next,
    ngx_str_t *item);
char *ngx_fcfh_htpasswd_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


#endif /* _NGX_FCFH_HTPASSWD_H_INCLUDED_ */
