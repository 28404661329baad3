
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The core module: the registry zone ("fcfh_zone") and the per-worker
 * state every tunnel and front door of this worker shares.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_escape.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_webhook.h"
#include "ngx_fcfh_relay.h"
#include "ngx_fcfh_cluster.h"

#if (NGX_FCFH_HEAP_TRIM)
#include <malloc.h>
#endif


/* how often a worker looks for tunnels another worker replaced */
#define NGX_FCFH_EVICT_POLL          250

/* how often, in polls, it looks for workers that died without cleanup */
#define NGX_FCFH_SWEEP_POLLS         40

#define NGX_FCFH_MAX_FREE_CHUNKS     64

/*
 * how often, in polls, a worker considers giving freed heap back (5 s);
 * it does once this many tunnels came or went since it last did, and
 * fewer than QUIET in the last 5 s or for the MAX_WAIT-th time in a row
 */
#define NGX_FCFH_TRIM_POLLS          20
#define NGX_FCFH_TRIM_CHURN          256
#define NGX_FCFH_TRIM_QUIET          16
#define NGX_FCFH_TRIM_MAX_WAIT       12


static void *ngx_fcfh_create_conf(ngx_cycle_t *cycle);
static char *ngx_fcfh_init_conf(ngx_cycle_t *cycle, void *conf);
static char *ngx_fcfh_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_fcfh_webhooks_state(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_fcfh_init_module(ngx_cycle_t *cycle);
static void ngx_fcfh_exit_process(ngx_cycle_t *cycle);
static void ngx_fcfh_evict_handler(ngx_event_t *ev);
#if (NGX_FCFH_HEAP_TRIM)
static void ngx_fcfh_heap_trim(ngx_fcfh_main_conf_t *fmcf, ngx_log_t *log);
#endif
static void ngx_fcfh_module_worker_gone(ngx_pid_t pid);


static ngx_command_t  ngx_fcfh_commands[] = {

    { ngx_string("fcfh_zone"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_fcfh_zone,
      0,
      0,
      NULL },

    { ngx_string("fcfh_relay_dir"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_fcfh_relay_dir,
      0,
      0,
      NULL },

    { ngx_string("fcfh_max_tunnels"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      0,
      offsetof(ngx_fcfh_main_conf_t, max_tunnels),
      NULL },

    { ngx_string("fcfh_device_history"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      0,
      offsetof(ngx_fcfh_main_conf_t, device_history),
      NULL },

    { ngx_string("fcfh_webhooks_state"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_fcfh_webhooks_state,
      0,
      0,
      NULL },

    { ngx_string("fcfh_webhook_allow"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE12,
      ngx_fcfh_webhook_allow,
      0,
      0,
      NULL },

    { ngx_string("fcfh_webhook_trusted_certificate"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_fcfh_main_conf_t, webhook_trusted),
      NULL },

    { ngx_string("fcfh_webhook_verify_depth"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      0,
      offsetof(ngx_fcfh_main_conf_t, webhook_verify_depth),
      NULL },

    { ngx_string("fcfh_webhook_resolver"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_1MORE,
      ngx_fcfh_webhook_resolver,
      0,
      0,
      NULL },

    { ngx_string("fcfh_webhook_resolver_timeout"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_fcfh_main_conf_t, webhook_resolver_timeout),
      NULL },

      ngx_null_command
};


static ngx_core_module_t  ngx_fcfh_module_ctx = {
    ngx_string("fcfh"),
    ngx_fcfh_create_conf,
    ngx_fcfh_init_conf
};


ngx_module_t  ngx_fcfh_module = {
    NGX_MODULE_V1,
    &ngx_fcfh_module_ctx,                  /* module context */
    ngx_fcfh_commands,                     /* module directives */
    NGX_CORE_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_fcfh_init_module,                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_fcfh_exit_process,                 /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_fcfh_create_conf(ngx_cycle_t *cycle)
{
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_pcalloc(cycle->pool, sizeof(ngx_fcfh_main_conf_t));
    if (fmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     fmcf->shm_zone = NULL;
     *     fmcf->scratch = NULL;
     *     fmcf->free_chunks = NULL;
     *     fmcf->webhook_allow = NULL;
     *     fmcf->webhook_own = NULL;
     *     fmcf->webhook_trusted = { 0, NULL };
     *     fmcf->webhook_ssl = NULL;
     *     fmcf->webhook_resolver = NULL;
     */

    fmcf->zone_size = NGX_CONF_UNSET_SIZE;
    fmcf->max_tunnels = NGX_CONF_UNSET;
    fmcf->device_history = NGX_CONF_UNSET;
    fmcf->webhook_verify_depth = NGX_CONF_UNSET;
    fmcf->webhook_resolver_timeout = NGX_CONF_UNSET_MSEC;
    ngx_queue_init(&fmcf->tunnels);

    return fmcf;
}


static char *
ngx_fcfh_init_conf(ngx_cycle_t *cycle, void *conf)
{
    ngx_fcfh_main_conf_t  *fmcf = conf;

    /* 0: as many as the zone holds */
    ngx_conf_init_value(fmcf->max_tunnels, 0);

    if (fmcf->max_tunnels < 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "\"fcfh_max_tunnels\" must not be negative");
        return NGX_CONF_ERROR;
    }

    /* unset stays unset: the zone then cuts the default without a word */

    if (fmcf->device_history != NGX_CONF_UNSET && fmcf->device_history < 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "\"fcfh_device_history\" must not be negative");
        return NGX_CONF_ERROR;
    }

    /* as nginx's proxy_ssl_verify_depth: leaf, intermediate, root */
    ngx_conf_init_value(fmcf->webhook_verify_depth, 1);
    ngx_conf_init_msec_value(fmcf->webhook_resolver_timeout, 10000);

    if (fmcf->webhook_verify_depth < 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "\"fcfh_webhook_verify_depth\" must not be "
                      "negative");
        return NGX_CONF_ERROR;
    }

    /* https webhooks only with a CA to verify receivers against */
    if (fmcf->webhook_trusted.len
        && ngx_fcfh_webhook_ssl(cycle, fmcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the http and stream blocks have added their listening sockets */
    if (fmcf->shm_zone
        && ngx_fcfh_webhook_listeners(cycle, fmcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_fcfh_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_fcfh_main_conf_t  *fmcf = conf;

    ssize_t     size;
    ngx_str_t  *value, name;

    if (fmcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < 512 * 1024) {
        /* the event ring alone takes about 300k */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small, the minimum is 512k",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&name, "fcfh");

    fmcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_fcfh_module);
    if (fmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    fmcf->shm_zone->init = ngx_fcfh_registry_init_zone;
    fmcf->shm_zone->data = fmcf;

    /* the registry's hooks into the layers it must not call itself */
    fmcf->zone_created = ngx_fcfh_webhook_load;
    fmcf->worker_gone = ngx_fcfh_module_worker_gone;
    fmcf->tunnel_swept = ngx_fcfh_cluster_history_end;
    fmcf->zone_size = size;

    return NGX_CONF_OK;
}


/* the file that keeps webhook subscribers across restarts */

static char *
ngx_fcfh_webhooks_state(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_fcfh_main_conf_t  *fmcf = conf;

    ngx_str_t  *value;

    if (fmcf->webhooks_state.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    fmcf->webhooks_state = value[1];

    if (ngx_conf_full_name(cf->cycle, &fmcf->webhooks_state, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* called by the stream and http directives that need the registry */

ngx_int_t
ngx_fcfh_check_zone(ngx_conf_t *cf, const char *directive)
{
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(cf->cycle);

    if (fmcf == NULL || fmcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" requires \"fcfh_zone\" in the main "
                           "context, before the stream and http blocks",
                           directive);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Called from the stream module's init_process: in a static build core
 * modules initialize before the event module, too early for connections
 * and timers.
 */

ngx_int_t
ngx_fcfh_init_worker(ngx_cycle_t *cycle)
{
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(cycle);

    if (fmcf == NULL || fmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    ngx_queue_init(&fmcf->tunnels);
    fmcf->ntunnels = 0;
    fmcf->alert_fd[0] = (ngx_socket_t) -1;
    fmcf->alert_fd[1] = (ngx_socket_t) -1;
    fmcf->free_chunks = NULL;
    fmcf->nfree_chunks = 0;

    fmcf->scratch = ngx_alloc(NGX_FCFH_SCRATCH_SIZE, cycle->log);
    if (fmcf->scratch == NULL) {
        return NGX_ERROR;
    }

    if (ngx_fcfh_registry_worker_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_fcfh_relay_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    fmcf->evict_event.handler = ngx_fcfh_evict_handler;
    fmcf->evict_event.data = fmcf;
    fmcf->evict_event.log = cycle->log;
    fmcf->evict_event.cancelable = 1;

    ngx_add_timer(&fmcf->evict_event, NGX_FCFH_EVICT_POLL);

    return ngx_fcfh_cluster_init_process(cycle);
}


static void
ngx_fcfh_exit_process(ngx_cycle_t *cycle)
{
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(cycle);

    if (fmcf == NULL || fmcf->shm_zone == NULL) {
        return;
    }

    ngx_fcfh_webhook_abort(fmcf);
    ngx_fcfh_cluster_exit_process(cycle);
    ngx_fcfh_relay_exit_process(cycle);
    ngx_fcfh_registry_worker_exit(cycle);
}


static ngx_int_t
ngx_fcfh_init_module(ngx_cycle_t *cycle)
{
    return ngx_fcfh_relay_init_module(cycle);
}


/*
 * Another worker replaced one of our tunnels (the same device connected
 * again there): it bumped our slot's counter, we close what it evicted.
 */

static void
ngx_fcfh_evict_handler(ngx_event_t *ev)
{
    ngx_uint_t             n;
    ngx_queue_t           *q, *next;
    ngx_fcfh_link_t       *link;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ev->data;

    if (++fmcf->polls % NGX_FCFH_SWEEP_POLLS == 0) {
        ngx_fcfh_registry_sweep(ev->log);
    }

#if (NGX_FCFH_HEAP_TRIM)
    if (fmcf->polls % NGX_FCFH_TRIM_POLLS == 0) {
        ngx_fcfh_heap_trim(fmcf, ev->log);
    }
#endif

    n = ngx_fcfh_registry_evictions(fmcf->slot);

    if (n != fmcf->evictions_seen) {
        fmcf->evictions_seen = n;

        for (q = ngx_queue_head(&fmcf->tunnels);
             q != ngx_queue_sentinel(&fmcf->tunnels);
             q = next)
        {
            next = ngx_queue_next(q);
            link = ngx_queue_data(q, ngx_fcfh_link_t, queue);

            if (link->entry && link->entry->evicted) {
                /* evict() unlinks the tunnel from the queue */
                link->evict(link);
            }
        }
    }

    ngx_fcfh_webhook_poll(fmcf);

    if (ngx_exiting) {
        /* reload or quit: each tunnel applies its server's fcfh_drain */

        if (!fmcf->exiting) {
            fmcf->exiting = 1;
            fmcf->exiting_since = ngx_current_msec;
        }

        for (q = ngx_queue_head(&fmcf->tunnels);
             q != ngx_queue_sentinel(&fmcf->tunnels);
             q = next)
        {
            next = ngx_queue_next(q);
            link = ngx_queue_data(q, ngx_fcfh_link_t, queue);

            /* drain() may close the tunnel and unlink it */
            link->drain(link, ngx_current_msec - fmcf->exiting_since);
        }
    }

    ngx_add_timer(ev, NGX_FCFH_EVICT_POLL);
}


#if (NGX_FCFH_HEAP_TRIM)

/*
 * Each TLS handshake allocates and frees far more than the tunnel then
 * keeps, and glibc keeps the holes this leaves between long-lived
 * tunnels' memory, as it keeps what tunnels that went away held: after a
 * reconnection storm or when devices leave, a worker would stay at its
 * peak.  malloc_trim() returns the free pages inside the heap to the
 * kernel.  It walks the free lists, so it runs only after enough churn,
 * when the churn calms down, at most every 5 s and at least every minute
 * while it goes on.
 */

static void
ngx_fcfh_heap_trim(ngx_fcfh_main_conf_t *fmcf, ngx_log_t *log)
{
    ngx_uint_t  churn, recent;
    ngx_msec_t  start;

    churn = fmcf->churn;
    recent = churn - fmcf->churn_seen;
    fmcf->churn_seen = churn;

    if (churn < NGX_FCFH_TRIM_CHURN) {
        return;
    }

    /* during a storm, wait for it to calm down, within reason */

    if (recent >= NGX_FCFH_TRIM_QUIET
        && ++fmcf->trim_waits < NGX_FCFH_TRIM_MAX_WAIT)
    {
        return;
    }

    fmcf->churn = 0;
    fmcf->churn_seen = 0;
    fmcf->trim_waits = 0;

    ngx_time_update();
    start = ngx_current_msec;

    (void) malloc_trim(0);

    ngx_time_update();

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "heap trimmed after %ui tunnels came or went, "
                  "in %M ms", churn, ngx_current_msec - start);
}

#endif


/* output chunks, recycled within the worker: no malloc per message */

ngx_fcfh_chunk_t *
ngx_fcfh_chunk_get(ngx_fcfh_main_conf_t *fmcf)
{
    ngx_fcfh_chunk_t  *ch;

    ch = fmcf->free_chunks;

    if (ch) {
        fmcf->free_chunks = ch->next;
        fmcf->nfree_chunks--;

    } else {
        ch = ngx_alloc(sizeof(ngx_fcfh_chunk_t), ngx_cycle->log);
        if (ch == NULL) {
            return NULL;
        }
    }

    ch->next = NULL;
    ch->pos = ch->data;
    ch->last = ch->data;
    ch->end = ch->data + NGX_FCFH_CHUNK_SIZE;

    return ch;
}


void
ngx_fcfh_chunk_free(ngx_fcfh_main_conf_t *fmcf, ngx_fcfh_chunk_t *ch)
{
    if (fmcf->nfree_chunks >= NGX_FCFH_MAX_FREE_CHUNKS) {
        ngx_free(ch);
        return;
    }

    ch->next = fmcf->free_chunks;
    fmcf->free_chunks = ch;
    fmcf->nfree_chunks++;
}


/*
 * The directive slot of port lists ("fcfh_proxy_ports 16992 16993"): an
 * array of ngx_uint_t at cmd->offset (NGX_CONF_UNSET_PTR until set).
 */

char *
ngx_fcfh_ports_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_int_t     port;
    ngx_str_t    *value;
    ngx_uint_t    i, *n;
    ngx_array_t **ports;

    ports = (ngx_array_t **) (p + cmd->offset);

    if (*ports != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    *ports = ngx_array_create(cf->pool, cf->args->nelts, sizeof(ngx_uint_t));
    if (*ports == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        port = ngx_atoi(value[i].data, value[i].len);

        if (port < 1 || port > 65535) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid port \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        n = ngx_array_push(*ports);
        if (n == NULL) {
            return NGX_CONF_ERROR;
        }

        *n = port;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_fcfh_ports_allow(ngx_array_t *ports, ngx_uint_t port)
{
    ngx_uint_t   i, *p;

    p = ports->elts;

    for (i = 0; i < ports->nelts; i++) {
        if (p[i] == port) {
            return 1;
        }
    }

    return 0;
}


/* a request header by name (first match), for headers nginx does not index */

ngx_table_elt_t *
ngx_fcfh_find_header(ngx_list_t *headers, char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/* a worker the registry swept is gone: its relay socket file goes too */

static void
ngx_fcfh_module_worker_gone(ngx_pid_t pid)
{
    ngx_fcfh_relay_unlink((ngx_cycle_t *) ngx_cycle, pid);
}


/*
 * A string from outside as a log line shows it (ngx_fcfh_escape_log()):
 * "%V" of the result in buf, never of the raw bytes.
 */

ngx_str_t *
ngx_fcfh_log_str(ngx_str_t *out, u_char *buf, size_t size,
    const u_char *src, size_t len)
{
    out->data = buf;
    out->len = ngx_fcfh_escape_log(buf, size, src, len);

    return out;
}


/*
 * Sends one alert datagram from this worker's UDP socket for the family,
 * made on first use.  Non-blocking: a full socket buffer drops the
 * datagram (logged), as UDP would anyway.
 */

ngx_int_t
ngx_fcfh_alert_send(ngx_addr_t *to, const u_char *data, size_t len,
    ngx_log_t *log)
{
    ngx_uint_t             v6;
    ngx_socket_t          *fd;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

    v6 = (to->sockaddr->sa_family == AF_INET6);
    fd = &fmcf->alert_fd[v6];

    if (*fd == (ngx_socket_t) -1) {
        *fd = ngx_socket(to->sockaddr->sa_family, SOCK_DGRAM, 0);

        if (*fd == (ngx_socket_t) -1) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_socket_errno,
                          ngx_socket_n " for alerts failed");
            return NGX_ERROR;
        }

        if (ngx_nonblocking(*fd) == -1) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_socket_errno,
                          ngx_nonblocking_n " for alerts failed");
            (void) ngx_close_socket(*fd);
            *fd = (ngx_socket_t) -1;
            return NGX_ERROR;
        }
    }

    if (sendto(*fd, data, len, 0, to->sockaddr, to->socklen) == -1) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_socket_errno,
                      "sendto() of an alert to %V failed", &to->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A TLS 1.2 or 1.3 client context that lives as long as the cycle, for
 * the caller to add certificates to; cf: a stand-in configuration the
 * ngx_ssl_*() calls that want one can take.
 */

ngx_ssl_t *
ngx_fcfh_ssl_client(ngx_cycle_t *cycle, ngx_conf_t *cf)
{
    ngx_ssl_t           *ssl;
    ngx_pool_cleanup_t  *cln;

    ngx_memzero(cf, sizeof(ngx_conf_t));

    cf->cycle = cycle;
    cf->pool = cycle->pool;
    cf->temp_pool = cycle->pool;
    cf->log = cycle->log;

    ssl = ngx_pcalloc(cycle->pool, sizeof(ngx_ssl_t));
    if (ssl == NULL) {
        return NULL;
    }

    ssl->log = cycle->log;

    if (ngx_ssl_create(ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL) != NGX_OK) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(ssl);
        return NULL;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = ssl;

    return ssl;
}
