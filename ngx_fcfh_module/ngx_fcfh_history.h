
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Device history (ngx_fcfh_history.c): one bounded record per device
 * GUID, kept in the registry's zone after the tunnel is gone, evicted
 * least recently seen first.  The registry calls the *_locked functions
 * under its lock; the API reads pages of devices, connected (the live
 * registry) and known (the records), merged.
 */


#ifndef _NGX_FCFH_HISTORY_H_INCLUDED_
#define _NGX_FCFH_HISTORY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"


/* fcfh_device_history's default, and what a record may take of the zone */
#define NGX_FCFH_HISTORY_DEFAULT     10000
#define NGX_FCFH_HISTORY_ZONE_SHARE  4           /* a quarter at most */


/* one device's record, in the zone: fixed size, strings cut */
struct ngx_fcfh_device_s {
    ngx_rbtree_node_t                node;        /* key: crc32(guid) */
    ngx_queue_t                      queue;       /* LRU, or the free list */
    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    uint64_t                         connections;
    time_t                           first_connected;
    time_t                           last_connected;
    time_t                           last_disconnected;   /* 0: never */
    uint32_t                         reason;      /* NGX_FCFH_CLOSE_* */
    uint32_t                         trigger;
    uint16_t                         auth;
    u_char                           fqdn_len;
    u_char                           identity_len;
    u_char                           user_len;
    u_char                           peer_len;
    u_char                           fqdn[64];
    u_char                           identity[64];
    u_char                           user[32];
    u_char                           peer[48];
};


/* the state filter of a devices page */
#define NGX_FCFH_DEVICES_ANY           0
#define NGX_FCFH_DEVICES_CONNECTED     1
#define NGX_FCFH_DEVICES_DISCONNECTED  2


/* a device as the API shows it: its record, its live tunnel, or both */
typedef struct {
    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    ngx_uint_t                       connected;
    ngx_uint_t                       recorded;    /* has a record */
    uint64_t                         connections;
    time_t                           first_connected;
    time_t                           last_connected;
    time_t                           last_disconnected;
    uint32_t                         reason;
    uint32_t                         trigger;
    ngx_uint_t                       auth;
    ngx_str_t                        fqdn;
    ngx_str_t                        identity;
    ngx_str_t                        user;
    ngx_str_t                        peer;
} ngx_fcfh_device_info_t;


/* a page of devices: filters, the cursor in, and what was found */
typedef struct {
    ngx_uint_t                       state;       /* NGX_FCFH_DEVICES_* */
    time_t                           since;       /* seen since; 0: any */
    ngx_uint_t                       limit;
    ngx_uint_t                       has_after;
    u_char                           after[NGX_FCFH_APF_GUID_SIZE];

    ngx_uint_t                       total;       /* matching, all pages */
    ngx_uint_t                       more;        /* a next page exists */
} ngx_fcfh_devices_query_t;


ngx_int_t ngx_fcfh_history_init_zone(ngx_slab_pool_t *shpool,
    ngx_fcfh_zone_t *zone, ngx_int_t configured, size_t zone_size,
    ngx_log_t *log);
void ngx_fcfh_history_connect_locked(ngx_fcfh_zone_t *zone,
    ngx_fcfh_entry_t *e);
void ngx_fcfh_history_fqdn_locked(ngx_fcfh_zone_t *zone,
    ngx_fcfh_entry_t *e);
void ngx_fcfh_history_ended_locked(ngx_fcfh_zone_t *zone,
    ngx_fcfh_entry_t *e, ngx_uint_t kind);

ngx_int_t ngx_fcfh_history_page(ngx_pool_t *pool,
    ngx_fcfh_devices_query_t *q, ngx_array_t *out);
ngx_int_t ngx_fcfh_history_device(ngx_pool_t *pool, u_char *guid,
    ngx_fcfh_device_info_t *info);
void ngx_fcfh_history_counts(ngx_uint_t *known, ngx_uint_t *capacity);


#endif /* _NGX_FCFH_HISTORY_H_INCLUDED_ */
