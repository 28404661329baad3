
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The registry: every established tunnel of every worker, in one shared
 * memory zone, indexed by device GUID and by FQDN.
 *
 * Ownership rules that keep it consistent without a lock across syscalls:
 * - only the owner worker frees an entry it created, except that entries
 *   of a dead worker are freed by whoever sweeps them;
 * - an entry replaced by a newer tunnel of the same device is unlinked
 *   from the indexes at once ("evicted") and freed later by its owner;
 * - the owner updates its counters without the lock (aligned word stores,
 *   readers copy them under the lock and tolerate a stale value).
 */


#ifndef _NGX_FCFH_REGISTRY_H_INCLUDED_
#define _NGX_FCFH_REGISTRY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_open.h"


#define NGX_FCFH_ZONE_LAYOUT         13
#define NGX_FCFH_MAX_WORKERS         256
#define NGX_FCFH_ZONE_SECRET_SIZE    32

#define NGX_FCFH_AUTH_PASSWORD       1
#define NGX_FCFH_AUTH_CERTIFICATE    2


typedef struct ngx_fcfh_device_s     ngx_fcfh_device_t;


typedef struct {
    ngx_pid_t                        pid;
    ngx_uint_t                       generation;  /* each worker taking it */
    ngx_uint_t                       evictions;   /* bumped by others */
} ngx_fcfh_worker_slot_t;


/* why an established tunnel ended */
#define NGX_FCFH_CLOSE_DEVICE        0
#define NGX_FCFH_CLOSE_IDLE          1
#define NGX_FCFH_CLOSE_REPLACED      2
#define NGX_FCFH_CLOSE_API           3
#define NGX_FCFH_CLOSE_WORKER_EXIT   4
#define NGX_FCFH_CLOSE_ERROR         5
#define NGX_FCFH_CLOSE_MAX           6

/* handshake failures, by the DISCONNECT reason sent (0: device left) */
#define NGX_FCFH_FAIL_MAX            19

/*
 * the reasons ngx_stream_fcfh_tunnel.c sends (bits of the codes above):
 * fcfh_metrics shows a series for these, the others only once counted
 */
#define NGX_FCFH_FAIL_SENT                                                    \
    ((1 << 0) | (1 << NGX_FCFH_APF_DISC_HOST_NOT_ALLOWED)                     \
     | (1 << NGX_FCFH_APF_DISC_PROTOCOL_ERROR)                                \
     | (1 << NGX_FCFH_APF_DISC_SERVICE_NOT_AVAILABLE)                        \
     | (1 << NGX_FCFH_APF_DISC_VERSION_NOT_SUPPORTED)                        \
     | (1 << NGX_FCFH_APF_DISC_BY_APPLICATION)                               \
     | (1 << NGX_FCFH_APF_DISC_TOO_MANY_CONNECTIONS)                         \
     | (1 << NGX_FCFH_APF_DISC_INVALID_CREDENTIALS)                          \
     | (1 << NGX_FCFH_APF_DISC_CONNECTION_TIMED_OUT))

/*
 * Latency histograms in the zone: fixed bounds (ms, in
 * ngx_fcfh_histogram_bounds[]), one counter per bucket, not cumulative
 * (a scrape adds them up, so its +Inf bucket and its count are one
 * number), and the sum of the observations in ms.
 */
#define NGX_FCFH_HISTOGRAM_BOUNDS    12

/* the event ring: the newest NGX_FCFH_EVENTS events, for fcfh_events */
#define NGX_FCFH_EVENTS              1024

#define NGX_FCFH_EVENT_CONNECTED     1
#define NGX_FCFH_EVENT_DISCONNECTED  2
#define NGX_FCFH_EVENT_AUTH_FAILED   3
#define NGX_FCFH_EVENT_ALERT         4
#define NGX_FCFH_EVENT_FQDN_CONFLICT 5
#define NGX_FCFH_EVENT_CONSOLE_OPEN  6
#define NGX_FCFH_EVENT_CONSOLE_CLOSE 7
#define NGX_FCFH_EVENT_MAX           8

/*
 * AMT registers its ports one forward at a time after it connects: until
 * its ports have not changed for this long (s), a port it has not
 * registered is "not reachable yet", not "refused"
 */
#define NGX_FCFH_SETTLE              2

/* an alert this soon after connecting: the alert brought the device */
#define NGX_FCFH_ALERT_EVIDENCE      10


/*
 * One event, fixed size, strings cut to their fields.  Console events
 * use fqdn for the device's name, identity for the node that holds the
 * device when another does, user for the console user, peer for the
 * console's address and port, reason for why a session ended.
 */
typedef struct {
    uint64_t                         seq;
    time_t                           time;
    ngx_pid_t                        pid;
    uint32_t                         type;
    uint32_t                         reason;   /* close kind, DISCONNECT, END */
    uint32_t                         trigger;
    uint64_t                         to_device;   /* console events */
    uint64_t                         to_console;
    uint64_t                         duration;    /* ms */
    uint16_t                         port;
    u_char                           front_door;
    u_char                           no_guid;     /* named, GUID unknown */
    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    u_char                           holder[NGX_FCFH_APF_GUID_SIZE];
    u_char                           fqdn_len;
    u_char                           identity_len;
    u_char                           user_len;
    u_char                           peer_len;
    u_char                           fqdn[64];
    u_char                           identity[64];
    u_char                           user[32];
    u_char                           peer[48];
} ngx_fcfh_event_t;


/*
 * A console session held against a per-device limit (the browsers'
 * relay: fcfh_webrelay_sessions), by the worker that serves it: its
 * key names the device and the kind of session ("<device> <mode>").
 */
#define NGX_FCFH_HOLD_KEY_MAX        96

typedef struct {
    ngx_queue_t                      queue;
    ngx_pid_t                        pid;
    ngx_uint_t                       slot;
    size_t                           key_len;
    u_char                           key[NGX_FCFH_HOLD_KEY_MAX];
} ngx_fcfh_hold_t;


/* a webhook subscriber, in the zone */
typedef struct {
    uint32_t                         id;         /* 0: a free slot */
    uint32_t                         types;      /* 1 << type; 0: all */
    time_t                           created;
    uint64_t                         cursor;     /* the last event done */
    uint64_t                         delivered;
    uint64_t                         failures;
    uint64_t                         dropped;
    time_t                           next_try;
    uint32_t                         backoff;    /* s */
    socklen_t                        socklen;    /* 0: host is a name */
    ngx_sockaddr_t                   sockaddr;   /* an address's */
    uint16_t                         port;
    uint16_t                         url_len;
    uint16_t                         host_len;
    uint16_t                         path_len;
    uint16_t                         last_error_len;
    uint8_t                          tls;        /* https */
    uint8_t                          key_len;
    u_char                           url[NGX_FCFH_WEBHOOK_URL_MAX];
    /* the URL's host: a name, or an address without brackets */
    u_char                           host[NGX_FCFH_WEBHOOK_URL_MAX];
    u_char                           path[NGX_FCFH_WEBHOOK_URL_MAX];
    /* the signing key: never shown by the API, never logged */
    u_char                           key[NGX_FCFH_WEBHOOK_KEY_MAX];
    u_char                           last_error[NGX_FCFH_WEBHOOK_ERROR_MAX];
} ngx_fcfh_webhook_t;


typedef struct {
    ngx_atomic_t                     bucket[NGX_FCFH_HISTOGRAM_BOUNDS + 1];
    ngx_atomic_t                     sum;         /* ms */
} ngx_fcfh_histogram_t;


/* counters for fcfh_metrics, updated with atomic adds by every worker */
typedef struct {
    ngx_atomic_t                     handshakes;
    ngx_atomic_t                     failures[NGX_FCFH_FAIL_MAX];
    ngx_atomic_t                     closed[NGX_FCFH_CLOSE_MAX];
    ngx_atomic_t                     opens[NGX_FCFH_OPEN_MAX];
    ngx_atomic_t                     bytes_in;    /* of ended tunnels */
    ngx_atomic_t                     bytes_out;
    ngx_atomic_t                     channel_bytes_in;
    ngx_atomic_t                     channel_bytes_out;
    ngx_atomic_t                     channel_errors;  /* channel closed */
    ngx_atomic_t                     channel_strays;  /* no such channel */
    ngx_atomic_t                     relay_errors;
    ngx_atomic_t                     alerts_relayed;  /* udp and tcp */
    ngx_atomic_t                     alerts_refused;
    ngx_atomic_t                     alerts_limited;  /* fcfh_alert_limit */
    ngx_atomic_t                     auth_cache_hits;
    ngx_atomic_t                     cluster_relays;  /* via other nodes */
    ngx_atomic_t                     events;
    ngx_atomic_t                     events_dropped;  /* readers behind */
    ngx_atomic_t                     webhook_deliveries;
    ngx_atomic_t                     webhook_failures;
    /* console sessions, by front door (NGX_FCFH_FRONT_*) */
    ngx_atomic_t                     console_sessions[NGX_FCFH_FRONT_MAX];
    ngx_atomic_t                     console_closed[NGX_FCFH_FRONT_MAX];
    ngx_atomic_t                     console_to_device[NGX_FCFH_FRONT_MAX];
    ngx_atomic_t                     console_to_console[NGX_FCFH_FRONT_MAX];
    /* TCP accept to registration, of registered tunnels */
    ngx_fcfh_histogram_t             handshake_time;
    /* ngx_fcfh_route_open() to an OK, of consoles' requests */
    ngx_fcfh_histogram_t             open_time;
} ngx_fcfh_counters_t;


struct ngx_fcfh_zone_s {
    ngx_uint_t                       layout;
    /*
     * random, made by the master with the zone and never written out:
     * the workers that share the zone prove to each other with it that
     * they are this nginx (the relay preamble's MAC key)
     */
    u_char                           secret[NGX_FCFH_ZONE_SECRET_SIZE];
    ngx_rbtree_t                     guid_tree;
    ngx_rbtree_node_t                guid_sentinel;
    ngx_rbtree_t                     fqdn_tree;
    ngx_rbtree_node_t                fqdn_sentinel;
    ngx_queue_t                      entries;     /* every allocated entry */
    ngx_uint_t                       count;       /* indexed entries */
    ngx_queue_t                      holds;       /* ngx_fcfh_hold_t */
    ngx_uint_t                       nholds;
    uint64_t                         serial;
    ngx_fcfh_worker_slot_t           workers[NGX_FCFH_MAX_WORKERS];
    ngx_fcfh_counters_t              counters;
    uint64_t                         event_seq;   /* the newest event */
    ngx_fcfh_event_t                 events[NGX_FCFH_EVENTS];
    uint32_t                         webhook_seq;
    ngx_pid_t                        webhook_owner;  /* delivering worker */
    /* random, per zone: webhook-id is unique across restarts and nodes */
    u_char                           webhook_epoch[8];
    ngx_fcfh_webhook_t               webhooks[NGX_FCFH_WEBHOOKS];

    /* device history (ngx_fcfh_history.c): records by GUID, LRU order */
    ngx_rbtree_t                     history_tree;
    ngx_rbtree_node_t                history_sentinel;
    ngx_queue_t                      history_lru;  /* least recent first */
    ngx_queue_t                      history_free;
    ngx_uint_t                       history_max;
    ngx_uint_t                       history_count;
    ngx_fcfh_device_t               *history;
};


struct ngx_fcfh_entry_s {
    ngx_rbtree_node_t                node;        /* key: crc32(guid) */
    ngx_rbtree_node_t                fqdn_node;   /* key: crc32(fqdn) */
    ngx_queue_t                      queue;

    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    ngx_pid_t                        pid;
    ngx_uint_t                       slot;
    uint64_t                         serial;
    void                            *tunnel;     /* valid in the owner */

    time_t                           connected_at;

    /* written by the owner without the lock */
    time_t                           last_keepalive;
    uint64_t                         bytes_in;
    uint64_t                         bytes_out;

    uint32_t                         trigger;
    uint16_t                         major;
    uint16_t                         minor;
    uint32_t                         keepalive;   /* interval asked, s */
    uint32_t                         nchannels;   /* owner, no lock */
    uint32_t                         alerts;      /* owner, no lock */
    uint32_t                         alert_after_connect;  /* ditto */
    uint32_t                         log_evidence; /* fcfh_api, locked */

    uint16_t                         ports[NGX_FCFH_MAX_PORTS];
    uint16_t                         nports;
    time_t                           ports_at;    /* the last change */

    uint16_t                         fqdn_len;
    u_char                          *fqdn;       /* own slab allocation */

    uint16_t                         identity_len;
    uint16_t                         user_len;
    uint16_t                         peer_len;
    uint16_t                         tls_protocol_len;
    uint16_t                         tls_cipher_len;

    unsigned                         auth:2;
    unsigned                         bound:1;     /* binding names GUID */
    unsigned                         evicted:1;
    unsigned                         indexed:1;
    unsigned                         fqdn_indexed:1;
    unsigned                         close_api:1; /* evicted by the API */
    unsigned                         ended:1;     /* in the history */

    u_char                           data[1];     /* the strings above */
};


/* what a tunnel registers */
typedef struct {
    u_char                          *guid;
    ngx_str_t                        identity;
    ngx_str_t                        user;
    ngx_str_t                        peer;
    ngx_str_t                        tls_protocol;
    ngx_str_t                        tls_cipher;
    ngx_uint_t                       auth;
    ngx_uint_t                       bound;
    uint32_t                         trigger;
    uint32_t                         major;
    uint32_t                         minor;
    uint32_t                         keepalive;
    void                            *tunnel;
} ngx_fcfh_registration_t;


/* a copy of an entry, taken under the lock, for readers */
typedef struct {
    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    ngx_pid_t                        pid;
    uint64_t                         serial;
    time_t                           connected_at;
    time_t                           last_keepalive;
    uint64_t                         bytes_in;
    uint64_t                         bytes_out;
    uint32_t                         trigger;
    uint16_t                         major;
    uint16_t                         minor;
    uint32_t                         keepalive;
    uint32_t                         nchannels;
    uint32_t                         alerts;
    ngx_uint_t                       alert_after_connect;
    ngx_uint_t                       log_evidence;
    ngx_uint_t                       auth;
    ngx_uint_t                       nports;
    uint16_t                         ports[NGX_FCFH_MAX_PORTS];
    ngx_str_t                        fqdn;
    ngx_str_t                        identity;
    ngx_str_t                        user;
    ngx_str_t                        peer;
    ngx_str_t                        tls_protocol;
    ngx_str_t                        tls_cipher;
} ngx_fcfh_entry_info_t;


/* a page of tunnels: filters, the cursor in, and what was found */
typedef struct {
    ngx_uint_t                       by_guid;
    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    ngx_str_t                        fqdn_prefix;
    ngx_str_t                        identity;
    ngx_int_t                        trigger;     /* -1: any */
    time_t                           since;       /* connected since */
    ngx_uint_t                       limit;
    ngx_uint_t                       has_after;
    u_char                           after[NGX_FCFH_APF_GUID_SIZE];

    ngx_uint_t                       total;       /* matching, all pages */
    ngx_uint_t                       more;        /* a next page exists */
} ngx_fcfh_tunnels_query_t;


/* what the live tunnels add up to, for stats and metrics */
typedef struct {
    ngx_uint_t                       count;
    uint64_t                         bytes_in;
    uint64_t                         bytes_out;
    uint64_t                         channels;
    uint64_t                         trigger[5];  /* user..periodic, other */
} ngx_fcfh_totals_t;


/* where a console's request goes */
typedef struct {
    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    ngx_pid_t                        pid;
    uint64_t                         serial;
    ngx_uint_t                       nports;
    uint16_t                         ports[NGX_FCFH_MAX_PORTS];
    ngx_uint_t                       settled;    /* see NGX_FCFH_SETTLE */
    ngx_fcfh_link_t                 *local;      /* owned by this worker */
    size_t                           fqdn_len;   /* cut to fqdn[] */
    u_char                           fqdn[64];
} ngx_fcfh_route_t;


ngx_int_t ngx_fcfh_registry_init_zone(ngx_shm_zone_t *shm_zone, void *data);

ngx_int_t ngx_fcfh_registry_add(ngx_fcfh_registration_t *reg,
    ngx_fcfh_entry_t **entry, void **evict_local, ngx_log_t *log);
void ngx_fcfh_registry_remove(ngx_fcfh_entry_t *entry);
ngx_int_t ngx_fcfh_registry_set_fqdn(ngx_fcfh_entry_t *entry, u_char *fqdn,
    size_t len, u_char *holder, ngx_log_t *log);
ngx_int_t ngx_fcfh_registry_drop_fqdn(u_char *guid, uint64_t serial,
    ngx_str_t *name);
void ngx_fcfh_registry_set_ports(ngx_fcfh_entry_t *entry, uint16_t *ports,
    ngx_uint_t n);

ngx_int_t ngx_fcfh_registry_route(ngx_str_t *device, ngx_fcfh_route_t *route);
ngx_uint_t ngx_fcfh_route_port(ngx_fcfh_route_t *route, ngx_uint_t port);
ngx_fcfh_link_t *ngx_fcfh_registry_local(u_char *guid, uint64_t serial);
ngx_int_t ngx_fcfh_registry_close(ngx_str_t *device, ngx_log_t *log);
ngx_int_t ngx_fcfh_registry_close_guid(u_char *guid, uint64_t serial,
    ngx_uint_t api);
void ngx_fcfh_registry_set_evidence(u_char *guid, uint64_t serial);
ngx_fcfh_counters_t *ngx_fcfh_registry_counters(void);
u_char *ngx_fcfh_registry_secret(void);
ngx_slab_pool_t *ngx_fcfh_registry_shpool(ngx_fcfh_zone_t **zone);

void ngx_fcfh_event_emit(ngx_uint_t type, ngx_uint_t reason, u_char *guid,
    ngx_str_t *fqdn, ngx_str_t *identity, ngx_str_t *user, ngx_str_t *peer,
    ngx_uint_t trigger);
void ngx_fcfh_event_conflict(u_char *guid, u_char *holder, ngx_str_t *fqdn,
    ngx_str_t *identity, ngx_str_t *peer);
void ngx_fcfh_event_put(ngx_fcfh_event_t *e);
ngx_int_t ngx_fcfh_event_next(uint64_t after, ngx_fcfh_event_t *ev,
    uint64_t *dropped);
uint64_t ngx_fcfh_event_last(void);

#define ngx_fcfh_count(field, n)                                              \
    do {                                                                      \
        ngx_fcfh_counters_t *c_ = ngx_fcfh_registry_counters();              \
        if (c_) {                                                             \
            (void) ngx_atomic_fetch_add(&c_->field, n);                       \
        }                                                                     \
    } while (0)

/* one observation of a histogram of the counters, in ms */
#define ngx_fcfh_observe(field, ms)                                           \
    do {                                                                      \
        ngx_fcfh_counters_t *c_ = ngx_fcfh_registry_counters();              \
        if (c_) {                                                             \
            ngx_fcfh_histogram_add(&c_->field, ms);                           \
        }                                                                     \
    } while (0)

extern const ngx_msec_t  ngx_fcfh_histogram_bounds[NGX_FCFH_HISTOGRAM_BOUNDS];

void ngx_fcfh_histogram_add(ngx_fcfh_histogram_t *h, ngx_msec_t ms);

ngx_int_t ngx_fcfh_registry_snapshot(ngx_pool_t *pool, ngx_str_t *device,
    ngx_array_t *out);
ngx_int_t ngx_fcfh_registry_stats(size_t *size, size_t *used,
    ngx_uint_t *count);
ngx_int_t ngx_fcfh_registry_page(ngx_pool_t *pool,
    ngx_fcfh_tunnels_query_t *q, ngx_array_t *out);
ngx_int_t ngx_fcfh_registry_totals(ngx_fcfh_totals_t *t);
ngx_uint_t ngx_fcfh_registry_workers(ngx_pid_t *pids, ngx_uint_t max);
void ngx_fcfh_registry_ended(ngx_fcfh_entry_t *entry, ngx_uint_t kind);

ngx_int_t ngx_fcfh_registry_hold(ngx_str_t *key, ngx_uint_t limit,
    ngx_fcfh_hold_t **hold, ngx_uint_t *held);
void ngx_fcfh_registry_unhold(ngx_fcfh_hold_t *hold);

ngx_int_t ngx_fcfh_registry_worker_init(ngx_cycle_t *cycle);
void ngx_fcfh_registry_worker_exit(ngx_cycle_t *cycle);
ngx_uint_t ngx_fcfh_registry_evictions(ngx_uint_t slot);
void ngx_fcfh_registry_sweep(ngx_log_t *log);


#endif /* _NGX_FCFH_REGISTRY_H_INCLUDED_ */
