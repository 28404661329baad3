
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Shared declarations of ngx_fcfh_module: the core module (zone and
 * per-worker state) that the stream and http modules build on.
 */


#ifndef _NGX_FCFH_H_INCLUDED_
#define _NGX_FCFH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_fcfh_apf.h"
#include "ngx_fcfh_webhook_target.h"
#include "ngx_fcfh_response.h"
#include "ngx_fcfh_webhook_sign.h"


#define NGX_FCFH_VERSION             "0.1.0"

/* the largest APF message the gateway accepts from a device */
#define NGX_FCFH_MAX_MESSAGE                                                  \
    (NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE + NGX_FCFH_APF_DEFAULT_MAX_DATA)

/* per-worker scratch: a held-over partial message plus one full read */
#define NGX_FCFH_SCRATCH_SIZE        (2 * NGX_FCFH_MAX_MESSAGE)

/* tunnels skip the read() that would only return EAGAIN (see tunnel.c) */
#if (NGX_SSL && NGX_HAVE_EPOLL && NGX_HAVE_EPOLLRDHUP                          \
     && OPENSSL_VERSION_NUMBER >= 0x1010100fL                                 \
     && !defined LIBRESSL_VERSION_NUMBER && !defined OPENSSL_IS_BORINGSSL)
#define NGX_FCFH_SHORT_READS         1
#else
#define NGX_FCFH_SHORT_READS         0
#endif

/* workers give the heap's free pages back after churn (see module.c) */
#if (defined __GLIBC__)
#define NGX_FCFH_HEAP_TRIM           1
#else
#define NGX_FCFH_HEAP_TRIM           0
#endif

/* an output chunk holds at most one TLS record's worth of APF messages */
#define NGX_FCFH_CHUNK_SIZE          16384

/* the largest control message the gateway sends */
#define NGX_FCFH_CONTROL_MAX         512

/* queued output toward one device above which its input is not read */
#define NGX_FCFH_OUT_HIGH            (4 * NGX_FCFH_CHUNK_SIZE)

#define NGX_FCFH_MAX_PORTS           16

/* the longest view of an outside string in a log line */
#define NGX_FCFH_LOG_STR_MAX         256

#define NGX_FCFH_WEBHOOKS            16
#define NGX_FCFH_WEBHOOK_URL_MAX     256

/* a delivery's last error, as GET webhooks shows it */
#define NGX_FCFH_WEBHOOK_ERROR_MAX   96

/*
 * a delivery's buffer: the request (path and Host from the URL, the
 * signature headers, the event's JSON: at most 2 * URL_MAX + 2560
 * bytes), then the answer's head
 */
#define NGX_FCFH_WEBHOOK_BUF_SIZE    4096


typedef struct ngx_fcfh_zone_s       ngx_fcfh_zone_t;
typedef struct ngx_fcfh_entry_s      ngx_fcfh_entry_t;
typedef struct ngx_fcfh_link_s       ngx_fcfh_link_t;


typedef struct ngx_fcfh_chunk_s      ngx_fcfh_chunk_t;

struct ngx_fcfh_chunk_s {
    ngx_fcfh_chunk_t                *next;
    u_char                          *pos;        /* next byte to send */
    u_char                          *last;       /* end of queued bytes */
    u_char                          *end;
    u_char                           data[NGX_FCFH_CHUNK_SIZE];
};


/* a tunnel as the worker-wide machinery (eviction, exit) sees it */
struct ngx_fcfh_link_s {
    ngx_queue_t                      queue;
    ngx_fcfh_entry_t                *entry;
    void                           (*evict)(ngx_fcfh_link_t *link);
    void                           (*drain)(ngx_fcfh_link_t *link,
                                            ngx_msec_t exiting);
};


/* a webhook delivery in flight, in the delivering worker */
typedef struct {
    ngx_peer_connection_t            pc;
    ngx_connection_t                *connection;
    ngx_resolver_ctx_t              *resolving;  /* the URL's host name */
    void                            *fmcf;
    ngx_sockaddr_t                   sockaddr;   /* the one connected to */
    socklen_t                        socklen;
    ngx_str_t                        peer;       /* pc.name: the address */
    uint32_t                         id;
    ngx_uint_t                       index;
    ngx_uint_t                       attempt;    /* failures so far */
    uint64_t                         seq;
    size_t                           len;
    size_t                           sent;
    size_t                           got;
    ngx_fcfh_response_t              answer;     /* its head, in buf */
    const char                      *why;        /* detail for the log */
    in_port_t                        port;
    size_t                           host_len;
    unsigned                         busy:1;     /* resolving or connected */
    unsigned                         connected:1;
    unsigned                         tls:1;
    unsigned                         literal:1;  /* the host is an address */
    u_char                           host[NGX_FCFH_WEBHOOK_URL_MAX + 1];
    u_char                           peer_text[NGX_SOCKADDR_STRLEN];
    u_char                           error[NGX_FCFH_WEBHOOK_ERROR_MAX + 1];
    u_char                           buf[NGX_FCFH_WEBHOOK_BUF_SIZE];
} ngx_fcfh_hook_t;


typedef struct ngx_fcfh_main_conf_s  ngx_fcfh_main_conf_t;


/*
 * A channel of a tunnel, as the core sees it: the stream module defines
 * it and gives the core (the relay) its operations, so that the core
 * calls no stream code directly.
 */
typedef struct ngx_fcfh_channel_s    ngx_fcfh_channel_t;

typedef void (*ngx_fcfh_channel_open_pt)(ngx_fcfh_channel_t *ch,
    ngx_uint_t result, ngx_uint_t reason);
typedef void (*ngx_fcfh_channel_done_pt)(ngx_fcfh_channel_t *ch);

typedef struct {
    ngx_int_t                      (*open)(void *tunnel, ngx_uint_t port,
                                           ngx_str_t *originator,
                                           ngx_uint_t originator_port,
                                           ngx_connection_t *peer,
                                           ngx_fcfh_channel_open_pt opened,
                                           ngx_fcfh_channel_done_pt done,
                                           void *data,
                                           ngx_fcfh_channel_t **chp);
    void                           (*start)(ngx_fcfh_channel_t *ch);
    void                           (*abort)(ngx_fcfh_channel_t *ch);
    void                          *(*data)(ngx_fcfh_channel_t *ch);
} ngx_fcfh_channel_ops_t;

/*
 * What the registry tells the layers above it, through hooks the core
 * module sets: it knows nothing of webhooks or relay sockets itself.
 */
typedef void (*ngx_fcfh_zone_created_pt)(ngx_fcfh_main_conf_t *fmcf,
    ngx_slab_pool_t *shpool, ngx_fcfh_zone_t *zone, ngx_log_t *log);
typedef void (*ngx_fcfh_worker_gone_pt)(ngx_pid_t pid);
/* a tunnel of a dead worker, swept: its device, how it ended */
typedef void (*ngx_fcfh_tunnel_swept_pt)(u_char *guid, ngx_uint_t kind);


struct ngx_fcfh_main_conf_s {
    ngx_shm_zone_t                  *shm_zone;
    ngx_fcfh_zone_created_pt         zone_created;  /* a fresh zone */
    ngx_fcfh_worker_gone_pt          worker_gone;   /* swept by anyone */
    ngx_fcfh_tunnel_swept_pt         tunnel_swept;  /* its tunnels */
    ngx_fcfh_channel_ops_t           channel_ops;   /* the stream module's */
    size_t                           zone_size;
    ngx_int_t                        max_tunnels; /* 0: the zone's size */
    ngx_int_t                        device_history;  /* records; 0: off */

    /* per-process state, valid in workers only */
    ngx_queue_t                      tunnels;     /* this worker's tunnels */
    ngx_uint_t                       ntunnels;
    ngx_uint_t                       churn;       /* tunnels come or gone */
    ngx_uint_t                       churn_seen;  /* at the last check */
    ngx_uint_t                       trim_waits;
    u_char                          *scratch;     /* NGX_FCFH_SCRATCH_SIZE */
    ngx_fcfh_chunk_t                *free_chunks; /* recycled output */
    ngx_uint_t                       nfree_chunks;
    ngx_event_t                      evict_event; /* polls eviction notes */
    ngx_uint_t                       slot;        /* worker slot in zone */
    ngx_uint_t                       evictions_seen;
    ngx_uint_t                       polls;
    ngx_msec_t                       exiting_since;
    unsigned                         exiting:1;

    ngx_socket_t                     alert_fd[2]; /* UDP: IPv4, IPv6 */

    ngx_str_t                        webhooks_state;
    ngx_array_t                     *webhook_allow;  /* NULL: the default */
    ngx_array_t                     *webhook_own;    /* our listeners */
    ngx_str_t                        webhook_trusted; /* CA file, https */
    ngx_int_t                        webhook_verify_depth;
    ngx_ssl_t                       *webhook_ssl;    /* NULL: no https */
    ngx_resolver_t                  *webhook_resolver;  /* NULL: no names */
    ngx_msec_t                       webhook_resolver_timeout;
    ngx_fcfh_hook_t                  hooks[NGX_FCFH_WEBHOOKS];

    ngx_str_t                        relay_dir;
    ngx_connection_t                *relay;       /* this worker's listener */
    ngx_array_t                     *relay_ports; /* any front door's */
};


extern ngx_module_t  ngx_fcfh_module;
extern ngx_module_t  ngx_stream_fcfh_module;
extern ngx_module_t  ngx_http_fcfh_module;


#define ngx_fcfh_get_main_conf(cycle)                                         \
    ((ngx_fcfh_main_conf_t *) ngx_get_conf((cycle)->conf_ctx,                 \
                                           ngx_fcfh_module))


ngx_int_t ngx_fcfh_check_zone(ngx_conf_t *cf, const char *directive);
ngx_int_t ngx_fcfh_init_worker(ngx_cycle_t *cycle);
char *ngx_fcfh_ports_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_fcfh_ports_allow(ngx_array_t *ports, ngx_uint_t port);
ngx_int_t ngx_fcfh_alert_send(ngx_addr_t *to, const u_char *data, size_t len,
    ngx_log_t *log);
ngx_str_t *ngx_fcfh_log_str(ngx_str_t *out, u_char *buf, size_t size,
    const u_char *src, size_t len);
ngx_table_elt_t *ngx_fcfh_find_header(ngx_list_t *headers, char *name);
ngx_fcfh_chunk_t *ngx_fcfh_chunk_get(ngx_fcfh_main_conf_t *fmcf);
void ngx_fcfh_chunk_free(ngx_fcfh_main_conf_t *fmcf, ngx_fcfh_chunk_t *ch);
ngx_ssl_t *ngx_fcfh_ssl_client(ngx_cycle_t *cycle, ngx_conf_t *cf);


#endif /* _NGX_FCFH_H_INCLUDED_ */
