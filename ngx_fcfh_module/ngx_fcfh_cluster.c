
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ngx_sha1.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_relay.h"
#include "ngx_fcfh_cluster.h"
#include "ngx_fcfh_open.h"


#define NGX_FCFH_CLUSTER_DOWN        0
#define NGX_FCFH_CLUSTER_CONNECTING  1
#define NGX_FCFH_CLUSTER_UP          2

#define NGX_FCFH_CLUSTER_TICK        1000    /* ms */

/* the directory's Lua scripts, loaded once per connection, run by SHA1 */
#define NGX_FCFH_CLUSTER_CLAIM       0
#define NGX_FCFH_CLUSTER_RELEASE     1
#define NGX_FCFH_CLUSTER_LOOKUP      2
#define NGX_FCFH_CLUSTER_LIST        3
#define NGX_FCFH_CLUSTER_SCRIPTS     4


typedef struct {
    u_char                           host[NGX_SOCKADDR_STRLEN + 1];
    int                              port;
} ngx_fcfh_cluster_redis_t;


/* a TLS session with another node, for a short handshake next time */
#define NGX_FCFH_CLUSTER_SESSIONS    16

typedef struct {
    size_t                           len;
    u_char                           name[NGX_FCFH_CLUSTER_NAME_MAX];
    ngx_ssl_session_t               *session;
} ngx_fcfh_cluster_session_t;


typedef struct {
    ngx_str_t                        node;
    ngx_str_t                        address;
    ngx_array_t                     *redis;     /* ngx_fcfh_cluster_redis_t */
    ngx_str_t                        redis_user;  /* AUTH, from a file */
    ngx_str_t                        redis_password;
    ngx_str_t                        certificate;
    ngx_str_t                        certificate_key;
    ngx_str_t                        trusted;
    ngx_ssl_t                       *ssl;

    /* per-process state, valid in workers only */
    redisAsyncContext               *ac;
    ngx_uint_t                       current;    /* index into redis */
    ngx_uint_t                       state;
    ngx_uint_t                       pending;    /* commands not answered */
    ngx_msec_t                       last_answer;
    ngx_uint_t                       ticks;
    ngx_uint_t                       backoff;    /* ticks between tries */
    ngx_uint_t                       retry_tick;
    time_t                           refreshed;
    ngx_event_t                      tick;
    u_char                           sha[NGX_FCFH_CLUSTER_SCRIPTS][40];
    ngx_fcfh_cluster_session_t       sessions[NGX_FCFH_CLUSTER_SESSIONS];
    ngx_uint_t                       next_session;
    unsigned                         exiting:1;
    unsigned                         down_logged:1;
} ngx_fcfh_cluster_conf_t;


struct ngx_fcfh_cluster_req_s {
    ngx_fcfh_cluster_handler_pt      handler;
    ngx_fcfh_cluster_list_pt         list_handler;
    void                            *data;
    ngx_log_t                       *log;
    ngx_pool_t                      *pool;       /* the node connection's */
    ngx_pool_t                      *list_pool;  /* the caller's */
    ngx_peer_connection_t            pc;
    ngx_fcfh_relay_open_t            open;
    ngx_fcfh_relay_target_t          target;
    ngx_uint_t                       op;
    ngx_str_t                        node;
    ngx_str_t                        device;
    u_char                           console[NGX_FCFH_RELAY_ADDR_SIZE];
    u_char                           node_data[NGX_FCFH_CLUSTER_NAME_MAX];
    u_char                           device_data[
                                         NGX_FCFH_APF_DEFAULT_MAX_STRING];
    unsigned                         in_redis:1; /* an answer will come */
    unsigned                         gone:1;     /* the caller left */
};


static void *ngx_fcfh_cluster_create_conf(ngx_cycle_t *cycle);
static char *ngx_fcfh_cluster_init_conf(ngx_cycle_t *cycle, void *conf);
static char *ngx_fcfh_cluster_node_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_fcfh_cluster_address_slot(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_fcfh_cluster_redis_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_fcfh_cluster_auth_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_fcfh_cluster_ssl(ngx_cycle_t *cycle,
    ngx_fcfh_cluster_conf_t *ccf);

static void ngx_fcfh_cluster_hash_scripts(ngx_fcfh_cluster_conf_t *ccf);
static void ngx_fcfh_cluster_script(ngx_fcfh_cluster_conf_t *ccf,
    ngx_uint_t n, const char **argv, size_t *len);
static void ngx_fcfh_cluster_connect(ngx_fcfh_cluster_conf_t *ccf);
static void ngx_fcfh_cluster_watch(ngx_event_t *ev, ngx_int_t event,
    ngx_uint_t on);
static void ngx_fcfh_cluster_add_read(void *privdata);
static void ngx_fcfh_cluster_del_read(void *privdata);
static void ngx_fcfh_cluster_add_write(void *privdata);
static void ngx_fcfh_cluster_del_write(void *privdata);
static void ngx_fcfh_cluster_cleanup(void *privdata);
static void ngx_fcfh_cluster_read_handler(ngx_event_t *rev);
static void ngx_fcfh_cluster_write_handler(ngx_event_t *wev);
static void ngx_fcfh_cluster_connected(const redisAsyncContext *ac,
    int status);
static void ngx_fcfh_cluster_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_fcfh_cluster_gone(ngx_fcfh_cluster_conf_t *ccf,
    const char *why);
static void ngx_fcfh_cluster_role(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_int_t ngx_fcfh_cluster_command(ngx_fcfh_cluster_conf_t *ccf,
    redisCallbackFn *fn, void *privdata, int argc, const char **argv,
    const size_t *argvlen);
static void ngx_fcfh_cluster_answered(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_uint_t ngx_fcfh_cluster_answer(ngx_fcfh_cluster_conf_t *ccf,
    redisReply *reply);
static void ngx_fcfh_cluster_tick(ngx_event_t *ev);
static void ngx_fcfh_cluster_heartbeat(ngx_fcfh_cluster_conf_t *ccf);
static void ngx_fcfh_cluster_refresh(ngx_fcfh_cluster_conf_t *ccf);
static void ngx_fcfh_cluster_publish_all(ngx_fcfh_cluster_conf_t *ccf);
static void ngx_fcfh_cluster_claimed(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_uint_t ngx_fcfh_cluster_node_valid(u_char *p, size_t len);
static void ngx_fcfh_cluster_name_held(u_char *guid, redisReply *holder,
    uint64_t serial);
static uint64_t ngx_fcfh_cluster_serial(redisReply *r);

static ngx_fcfh_cluster_req_t *ngx_fcfh_cluster_req(ngx_log_t *log);
static void ngx_fcfh_cluster_looked_up(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_fcfh_cluster_peer(ngx_fcfh_cluster_req_t *req, u_char *addr,
    size_t len);
static void ngx_fcfh_cluster_peer_connected(ngx_event_t *ev);
static void ngx_fcfh_cluster_peer_handshake(ngx_connection_t *c);
static ngx_fcfh_cluster_session_t *ngx_fcfh_cluster_session(
    ngx_fcfh_cluster_conf_t *ccf, ngx_str_t *node, ngx_uint_t add);
static void ngx_fcfh_cluster_save_session(ngx_connection_t *c);
static void ngx_fcfh_cluster_peer_open(ngx_event_t *ev);
static void ngx_fcfh_cluster_finish(ngx_fcfh_cluster_req_t *req,
    ngx_uint_t result, ngx_uint_t reason);
static void ngx_fcfh_cluster_drop(ngx_fcfh_cluster_req_t *req);
static void ngx_fcfh_cluster_handed_over(ngx_event_t *ev);
static ngx_int_t ngx_fcfh_cluster_dup(ngx_pool_t *pool, ngx_str_t *dst,
    redisReply *r);
static void ngx_fcfh_cluster_listed(redisAsyncContext *ac, void *r,
    void *privdata);


static ngx_command_t  ngx_fcfh_cluster_commands[] = {

    { ngx_string("fcfh_cluster_node"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_fcfh_cluster_node_slot,
      0,
      offsetof(ngx_fcfh_cluster_conf_t, node),
      NULL },

    { ngx_string("fcfh_cluster_address"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_fcfh_cluster_address_slot,
      0,
      offsetof(ngx_fcfh_cluster_conf_t, address),
      NULL },

    { ngx_string("fcfh_cluster_redis"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_1MORE,
      ngx_fcfh_cluster_redis_slot,
      0,
      0,
      NULL },

    { ngx_string("fcfh_cluster_redis_auth_file"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_fcfh_cluster_auth_slot,
      0,
      0,
      NULL },

    { ngx_string("fcfh_cluster_ssl_certificate"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_fcfh_cluster_conf_t, certificate),
      NULL },

    { ngx_string("fcfh_cluster_ssl_certificate_key"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_fcfh_cluster_conf_t, certificate_key),
      NULL },

    { ngx_string("fcfh_cluster_ssl_trusted_certificate"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_fcfh_cluster_conf_t, trusted),
      NULL },

      ngx_null_command
};


static ngx_core_module_t  ngx_fcfh_cluster_module_ctx = {
    ngx_string("fcfh_cluster"),
    ngx_fcfh_cluster_create_conf,
    ngx_fcfh_cluster_init_conf
};


ngx_module_t  ngx_fcfh_cluster_module = {
    NGX_MODULE_V1,
    &ngx_fcfh_cluster_module_ctx,          /* module context */
    ngx_fcfh_cluster_commands,             /* module directives */
    NGX_CORE_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * The directory's scripts: each runs atomically in Redis, so a claim, a
 * removal or a lookup never sees half of another.
 *
 * claim: KEYS[1] device key; ARGV node, serial, since, ttl, fqdn,
 * identity, bound.  The newest tunnel wins, by connection time (the
 * nodes' clocks must agree: NTP), but only against a tunnel of the same
 * identity, or of one merely allowed any GUID when this one's binding
 * names it: the rule of one node, across nodes.  Answers {kind, node,
 * serial, address, GUID, holder, own serial}: kind "moved" when another
 * live node held an older tunnel (it must close it), "newer" when another
 * live node holds a newer one (this node's is stale: it closes it, the
 * entry stays), "taken" when another live node holds it as another
 * identity (this node closes its tunnel), "held" when only the name was
 * refused; else 0.  A name belongs to one device: when another device's
 * live entry holds it, the claim leaves it out and names that device in
 * "holder".
 */

static const char  ngx_fcfh_cluster_claim_lua[] =
    "local k = KEYS[1] "
    "local g = string.sub(k, 8) "
    "local old = redis.call('HMGET', k, 'node', 'serial', 'since', "
    "                       'identity', 'bound') "
    "local a = false "
    "if old[1] and old[1] ~= ARGV[1] then "
    "  a = redis.call('GET', 'fcfh:n:' .. old[1]) "
    "  if a and old[4] and old[4] ~= ARGV[6] "
    "     and not (ARGV[7] == '1' and old[5] ~= '1') then "
    "    return {'taken', old[1], ARGV[2], '', g, '', ARGV[2]} "
    "  end "
    "  if a and tonumber(old[3] or '0') > tonumber(ARGV[3]) then "
    "    return {'newer', old[1], ARGV[2], '', g, '', ARGV[2]} "
    "  end "
    "end "
    "local f = ARGV[5] "
    "local h = '' "
    "if f ~= '' then "
    "  local o = redis.call('GET', 'fcfh:f:' .. f) "
    "  if o and o ~= g then "
    "    local v = redis.call('HMGET', 'fcfh:d:' .. o, 'node', 'fqdn') "
    "    if v[1] and v[2] == f "
    "       and redis.call('EXISTS', 'fcfh:n:' .. v[1]) == 1 then "
    "      h = o "
    "      f = '' "
    "    end "
    "  end "
    "end "
    "redis.call('HSET', k, 'node', ARGV[1], 'serial', ARGV[2], "
    "           'since', ARGV[3], 'fqdn', f, 'identity', ARGV[6], "
    "           'bound', ARGV[7]) "
    "redis.call('EXPIRE', k, ARGV[4]) "
    "if f ~= '' then "
    "  redis.call('SET', 'fcfh:f:' .. f, g, 'EX', ARGV[4]) "
    "end "
    "if a then return {'moved', old[1], old[2] or '0', a, g, h, ARGV[2]} end "
    "if h ~= '' then return {'held', '', '0', '', g, h, ARGV[2]} end "
    "return 0";

/* release: KEYS[1] device key; ARGV node, serial: only our own entry */

static const char  ngx_fcfh_cluster_release_lua[] =
    "local v = redis.call('HMGET', KEYS[1], 'node', 'serial', 'fqdn') "
    "if v[1] ~= ARGV[1] or v[2] ~= ARGV[2] then return 0 end "
    "redis.call('DEL', KEYS[1]) "
    "if v[3] and v[3] ~= '' then "
    "  local f = 'fcfh:f:' .. v[3] "
    "  if redis.call('GET', f) == string.sub(KEYS[1], 8) then "
    "    redis.call('DEL', f) "
    "  end "
    "end "
    "return 1";

/*
 * lookup: ARGV GUID text or '', FQDN or ''.  Answers {GUID, node,
 * serial, address}, the address empty when the node's key expired.
 */

static const char  ngx_fcfh_cluster_lookup_lua[] =
    "local g = ARGV[1] "
    "if g == '' then "
    "  g = redis.call('GET', 'fcfh:f:' .. ARGV[2]) "
    "  if not g then return 0 end "
    "end "
    "local v = redis.call('HMGET', 'fcfh:d:' .. g, 'node', 'serial') "
    "if not v[1] then return 0 end "
    "local a = redis.call('GET', 'fcfh:n:' .. v[1]) or '' "
    "return {g, v[1], v[2] or '0', a}";

/* list: ARGV cursor, count.  {cursor, then 6 fields per device} */

static const char  ngx_fcfh_cluster_list_lua[] =
    "local r = redis.call('SCAN', ARGV[1], 'MATCH', 'fcfh:d:*', "
    "                     'COUNT', ARGV[2]) "
    "local out = {r[1]} "
    "for _, k in ipairs(r[2]) do "
    "  local v = redis.call('HMGET', k, 'node', 'serial', 'since', 'fqdn') "
    "  if v[1] then "
    "    local alive = redis.call('EXISTS', 'fcfh:n:' .. v[1]) "
    "    table.insert(out, string.sub(k, 8)) "
    "    table.insert(out, v[1]) "
    "    table.insert(out, v[2] or '0') "
    "    table.insert(out, v[3] or '0') "
    "    table.insert(out, v[4] or '') "
    "    table.insert(out, tostring(alive)) "
    "  end "
    "end "
    "return out";


static ngx_str_t  ngx_fcfh_cluster_scripts[NGX_FCFH_CLUSTER_SCRIPTS] = {
    { sizeof(ngx_fcfh_cluster_claim_lua) - 1,
      (u_char *) ngx_fcfh_cluster_claim_lua },
    { sizeof(ngx_fcfh_cluster_release_lua) - 1,
      (u_char *) ngx_fcfh_cluster_release_lua },
    { sizeof(ngx_fcfh_cluster_lookup_lua) - 1,
      (u_char *) ngx_fcfh_cluster_lookup_lua },
    { sizeof(ngx_fcfh_cluster_list_lua) - 1,
      (u_char *) ngx_fcfh_cluster_list_lua }
};


#define ngx_fcfh_cluster_get_conf(cycle)                                      \
    ((ngx_fcfh_cluster_conf_t *) ngx_get_conf((cycle)->conf_ctx,              \
                                              ngx_fcfh_cluster_module))


static void *
ngx_fcfh_cluster_create_conf(ngx_cycle_t *cycle)
{
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_pcalloc(cycle->pool, sizeof(ngx_fcfh_cluster_conf_t));
    if (ccf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ccf->node = { 0, NULL };
     *     ccf->address = { 0, NULL };
     *     ccf->redis = NULL;
     *     ccf->certificate = { 0, NULL };
     *     ccf->ssl = NULL;
     */

    return ccf;
}


static char *
ngx_fcfh_cluster_init_conf(ngx_cycle_t *cycle, void *conf)
{
    ngx_fcfh_cluster_conf_t  *ccf = conf;

    const char  *missing;

    if (ccf->node.len == 0) {
        if (ccf->address.len || ccf->redis || ccf->redis_password.len
            || ccf->certificate.len
            || ccf->certificate_key.len || ccf->trusted.len)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "fcfh_cluster_* directives need "
                          "\"fcfh_cluster_node\"");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    missing = NULL;

    if (ccf->address.len == 0) {
        missing = "fcfh_cluster_address";

    } else if (ccf->redis == NULL) {
        missing = "fcfh_cluster_redis";

    } else if (ccf->certificate.len == 0) {
        missing = "fcfh_cluster_ssl_certificate";

    } else if (ccf->certificate_key.len == 0) {
        missing = "fcfh_cluster_ssl_certificate_key";

    } else if (ccf->trusted.len == 0) {
        missing = "fcfh_cluster_ssl_trusted_certificate";
    }

    if (missing) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "\"fcfh_cluster_node\" needs \"%s\"", missing);
        return NGX_CONF_ERROR;
    }

    if (ngx_fcfh_cluster_ssl(cycle, ccf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the name goes into Redis keys and must match the node's certificate */

static char *
ngx_fcfh_cluster_node_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_fcfh_cluster_conf_t  *ccf = conf;

    ngx_str_t  *value;

    if (ccf->node.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > NGX_FCFH_CLUSTER_NAME_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "node name \"%V\" must have 1 to %d characters",
                           &value[1], NGX_FCFH_CLUSTER_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    if (!ngx_fcfh_cluster_node_valid(value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "node name \"%V\": letters, digits, "
                           "\"-\", \".\" and \"_\" only", &value[1]);
        return NGX_CONF_ERROR;
    }

    ccf->node = value[1];

    return NGX_CONF_OK;
}


/*
 * A node name as nodes are configured; what the directory answers is
 * held to it too, before it reaches a log line or a JSON document.
 */

static ngx_uint_t
ngx_fcfh_cluster_node_valid(u_char *p, size_t len)
{
    u_char  *last;

    if (len == 0 || len > NGX_FCFH_CLUSTER_NAME_MAX) {
        return 0;
    }

    for (last = p + len; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'
              || *p == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* IP:port, as other nodes connect to it: no name to resolve there */

static char *
ngx_fcfh_cluster_address_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_fcfh_cluster_conf_t  *ccf = conf;

    ngx_str_t   *value;
    ngx_addr_t   addr;

    if (ccf->address.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_parse_addr_port(cf->pool, &addr, value[1].data, value[1].len)
        != NGX_OK
        || ngx_inet_get_port(addr.sockaddr) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not an IP address with a port",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    ccf->address = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_fcfh_cluster_redis_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_fcfh_cluster_conf_t  *ccf = conf;

    size_t                     len;
    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_addr_t                 addr;
    ngx_fcfh_cluster_redis_t  *r;

    if (ccf->redis) {
        return "is duplicate";
    }

    ccf->redis = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                  sizeof(ngx_fcfh_cluster_redis_t));
    if (ccf->redis == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_parse_addr_port(cf->pool, &addr, value[i].data, value[i].len)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is not an IP address (with an "
                               "optional port)", &value[i]);
            return NGX_CONF_ERROR;
        }

        r = ngx_array_push(ccf->redis);
        if (r == NULL) {
            return NGX_CONF_ERROR;
        }

        r->port = ngx_inet_get_port(addr.sockaddr);

        if (r->port == 0) {
            r->port = 6379;
        }

        len = ngx_sock_ntop(addr.sockaddr, addr.socklen, r->host,
                            NGX_SOCKADDR_STRLEN, 0);
        r->host[len] = '\0';
    }

    return NGX_CONF_OK;
}


/*
 * Redis credentials: one line, "password" (requirepass) or "user
 * password" (an ACL user), kept out of nginx.conf like other secrets.
 */

static char *
ngx_fcfh_cluster_auth_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_fcfh_cluster_conf_t  *ccf = conf;

    u_char           *p, *last, *sp;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t        *value, name;
    ngx_file_t        file;
    ngx_file_info_t   fi;
    u_char            buf[512];

    if (ccf->redis_password.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &name);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = name;
    file.log = cf->log;

    n = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) != NGX_FILE_ERROR) {
        if (fi.st_mode & S_IROTH) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "credentials file \"%V\" is readable by any "
                               "user", &name);
        }

        n = ngx_read_file(&file, buf, sizeof(buf), 0);
    }

    ngx_close_file(fd);

    if (n == NGX_ERROR || n == (ssize_t) sizeof(buf)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": unreadable or longer than %uz bytes",
                           &name, sizeof(buf) - 1);
        return NGX_CONF_ERROR;
    }

    last = buf + n;

    while (last > buf && (last[-1] == '\n' || last[-1] == '\r'
                          || last[-1] == ' '))
    {
        last--;
    }

    sp = NULL;

    for (p = buf; p < last; p++) {
        if (*p < 0x21 && !(*p == ' ' && sp == NULL)) {
            sp = (u_char *) -1;
            break;
        }

        if (*p == ' ') {
            sp = p;
        }
    }

    if (last == buf || sp == (u_char *) -1 || sp == buf || sp + 1 == last) {
        ngx_explicit_memzero(buf, sizeof(buf));
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must hold one line: \"password\" or "
                           "\"user password\"", &name);
        return NGX_CONF_ERROR;
    }

    if (sp) {
        ccf->redis_user.len = sp - buf;
        ccf->redis_user.data = ngx_pstrdup(cf->pool, &ccf->redis_user);
        p = sp + 1;

    } else {
        p = buf;
    }

    ccf->redis_password.len = last - p;
    ccf->redis_password.data = ngx_pnalloc(cf->pool, last - p);

    if (ccf->redis_password.data == NULL
        || (sp && ccf->redis_user.data == NULL))
    {
        ngx_explicit_memzero(buf, sizeof(buf));
        return NGX_CONF_ERROR;
    }

    if (sp) {
        ngx_memcpy(ccf->redis_user.data, buf, ccf->redis_user.len);
    }

    ngx_memcpy(ccf->redis_password.data, p, ccf->redis_password.len);
    ngx_explicit_memzero(buf, sizeof(buf));

    return NGX_CONF_OK;
}


/* the client side of the mutual TLS between nodes */

static ngx_int_t
ngx_fcfh_cluster_ssl(ngx_cycle_t *cycle, ngx_fcfh_cluster_conf_t *ccf)
{
    ngx_conf_t           cf;
    ngx_pool_cleanup_t  *cln;

    ngx_memzero(&cf, sizeof(ngx_conf_t));

    cf.cycle = cycle;
    cf.pool = cycle->pool;
    cf.temp_pool = cycle->pool;
    cf.log = cycle->log;

    ccf->ssl = ngx_pcalloc(cycle->pool, sizeof(ngx_ssl_t));
    if (ccf->ssl == NULL) {
        return NGX_ERROR;
    }

    ccf->ssl->log = cycle->log;

    if (ngx_ssl_create(ccf->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(ccf->ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = ccf->ssl;

    if (ngx_ssl_certificate(&cf, ccf->ssl, &ccf->certificate,
                            &ccf->certificate_key, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_ssl_trusted_certificate(&cf, ccf->ssl, &ccf->trusted, 2)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* sessions (TLS 1.3 tickets) reach save_session when they arrive */
    if (ngx_ssl_client_session_cache(&cf, ccf->ssl, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_str_t *
ngx_fcfh_cluster_node(void)
{
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    return (ccf && ccf->node.len) ? &ccf->node : NULL;
}


ngx_uint_t
ngx_fcfh_cluster_up(void)
{
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    return ccf && ccf->state == NGX_FCFH_CLUSTER_UP;
}


ngx_int_t
ngx_fcfh_cluster_init_process(ngx_cycle_t *cycle)
{
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(cycle);

    if (ccf == NULL || ccf->node.len == 0) {
        return NGX_OK;
    }

    ngx_fcfh_cluster_hash_scripts(ccf);

    ccf->tick.handler = ngx_fcfh_cluster_tick;
    ccf->tick.data = ccf;
    ccf->tick.log = cycle->log;
    ccf->tick.cancelable = 1;

    ngx_fcfh_cluster_connect(ccf);

    ngx_add_timer(&ccf->tick, NGX_FCFH_CLUSTER_TICK);

    return NGX_OK;
}


void
ngx_fcfh_cluster_exit_process(ngx_cycle_t *cycle)
{
    redisAsyncContext        *ac;
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(cycle);

    if (ccf == NULL || ccf->node.len == 0) {
        return;
    }

    ccf->exiting = 1;

    ac = ccf->ac;

    if (ac) {
        /* what the last closed tunnels queued (releases): one try */
        if (ccf->state == NGX_FCFH_CLUSTER_UP) {
            redisAsyncHandleWrite(ac);
        }

        ccf->ac = NULL;
        redisAsyncFree(ac);
    }
}


static void
ngx_fcfh_cluster_hash_scripts(ngx_fcfh_cluster_conf_t *ccf)
{
    u_char         digest[20];
    ngx_uint_t     i;
    ngx_sha1_t     sha1;

    for (i = 0; i < NGX_FCFH_CLUSTER_SCRIPTS; i++) {
        ngx_sha1_init(&sha1);
        ngx_sha1_update(&sha1, ngx_fcfh_cluster_scripts[i].data,
                        ngx_fcfh_cluster_scripts[i].len);
        ngx_sha1_final(digest, &sha1);
        ngx_hex_dump(ccf->sha[i], digest, 20);
    }
}


/* argv[0..1] of a script call: EVALSHA and the script's SHA1 */

static void
ngx_fcfh_cluster_script(ngx_fcfh_cluster_conf_t *ccf, ngx_uint_t n,
    const char **argv, size_t *len)
{
    argv[0] = "EVALSHA";
    len[0] = 7;
    argv[1] = (char *) ccf->sha[n];
    len[1] = 40;
}


/* Redis connection, on nginx's event loop */

static void
ngx_fcfh_cluster_connect(ngx_fcfh_cluster_conf_t *ccf)
{
    redisAsyncContext         *ac;
    ngx_connection_t          *c;
    ngx_fcfh_cluster_redis_t  *r;

    r = ccf->redis->elts;
    r = &r[ccf->current % ccf->redis->nelts];

    ac = redisAsyncConnect((char *) r->host, r->port);

    if (ac == NULL || ac->err) {
        ngx_fcfh_cluster_gone(ccf, ac ? ac->errstr : "out of memory");

        if (ac) {
            redisAsyncFree(ac);
        }

        return;
    }

    c = ngx_get_connection(ac->c.fd, ngx_cycle->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_fcfh_cluster_gone(ccf, "no free connection");
        return;
    }

    c->data = ac;
    c->read->handler = ngx_fcfh_cluster_read_handler;
    c->write->handler = ngx_fcfh_cluster_write_handler;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    ccf->ac = ac;
    ccf->state = NGX_FCFH_CLUSTER_CONNECTING;
    ccf->pending = 0;
    ccf->last_answer = ngx_current_msec;

    ac->data = ccf;
    ac->ev.data = c;
    ac->ev.addRead = ngx_fcfh_cluster_add_read;
    ac->ev.delRead = ngx_fcfh_cluster_del_read;
    ac->ev.addWrite = ngx_fcfh_cluster_add_write;
    ac->ev.delWrite = ngx_fcfh_cluster_del_write;
    ac->ev.cleanup = ngx_fcfh_cluster_cleanup;

    redisAsyncSetConnectCallback(ac, ngx_fcfh_cluster_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_fcfh_cluster_disconnected);

    /* hiredis watches for the connect to finish: it asks for write */
    ngx_fcfh_cluster_add_write(c);
}


/*
 * hiredis reads and writes once per call, so its events are
 * level-triggered: edge-triggered ones could leave bytes unread.
 */

static void
ngx_fcfh_cluster_watch(ngx_event_t *ev, ngx_int_t event, ngx_uint_t on)
{
    if (on && !ev->active) {
        (void) ngx_add_event(ev, event, NGX_LEVEL_EVENT);

    } else if (!on && ev->active) {
        (void) ngx_del_event(ev, event, 0);
    }
}


static void
ngx_fcfh_cluster_add_read(void *privdata)
{
    ngx_fcfh_cluster_watch(((ngx_connection_t *) privdata)->read,
                           NGX_READ_EVENT, 1);
}


static void
ngx_fcfh_cluster_del_read(void *privdata)
{
    ngx_fcfh_cluster_watch(((ngx_connection_t *) privdata)->read,
                           NGX_READ_EVENT, 0);
}


static void
ngx_fcfh_cluster_add_write(void *privdata)
{
    ngx_fcfh_cluster_watch(((ngx_connection_t *) privdata)->write,
                           NGX_WRITE_EVENT, 1);
}


static void
ngx_fcfh_cluster_del_write(void *privdata)
{
    ngx_fcfh_cluster_watch(((ngx_connection_t *) privdata)->write,
                           NGX_WRITE_EVENT, 0);
}


/* hiredis closes the socket itself: the connection is only given back */

static void
ngx_fcfh_cluster_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_fcfh_cluster_del_read(c);
    ngx_fcfh_cluster_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}


static void
ngx_fcfh_cluster_read_handler(ngx_event_t *rev)
{
    ngx_connection_t  *c = rev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_fcfh_cluster_write_handler(ngx_event_t *wev)
{
    ngx_connection_t  *c = wev->data;

    redisAsyncHandleWrite(c->data);
}


static void
ngx_fcfh_cluster_connected(const redisAsyncContext *ac, int status)
{
    ngx_fcfh_cluster_conf_t  *ccf = ac->data;

    size_t       len[3];
    const char  *argv[3];

    if (status != REDIS_OK) {
        /* hiredis frees the context after this call */
        ccf->ac = NULL;
        ngx_fcfh_cluster_gone(ccf, ac->errstr);
        return;
    }

    if (ccf->redis_password.len) {
        argv[0] = "AUTH";
        len[0] = 4;
        argv[1] = (char *) ccf->redis_user.data;
        len[1] = ccf->redis_user.len;
        argv[2] = (char *) ccf->redis_password.data;
        len[2] = ccf->redis_password.len;

        if (ccf->redis_user.len == 0) {
            argv[1] = argv[2];
            len[1] = len[2];
        }

        (void) ngx_fcfh_cluster_command((ngx_fcfh_cluster_conf_t *) ccf,
                                        NULL, NULL,
                                        ccf->redis_user.len ? 3 : 2,
                                        argv, len);
    }

    /* only a master takes the directory: after a failover, the next */

    argv[0] = "ROLE";

    (void) ngx_fcfh_cluster_command(ccf, ngx_fcfh_cluster_role, NULL, 1,
                                    argv, NULL);
}


static void
ngx_fcfh_cluster_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_fcfh_cluster_conf_t  *ccf = ac->data;

    if (ccf->ac == ac) {
        ccf->ac = NULL;
    }

    ngx_fcfh_cluster_gone(ccf, (status == REDIS_OK) ? "closed" : ac->errstr);
}


/* the directory is down: local tunnels go on, a tick tries again */

static void
ngx_fcfh_cluster_gone(ngx_fcfh_cluster_conf_t *ccf, const char *why)
{
    ngx_fcfh_cluster_redis_t  *r;

    if (ccf->exiting) {
        return;
    }

    r = ccf->redis->elts;
    r = &r[ccf->current % ccf->redis->nelts];

    if (!ccf->down_logged) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "fcfh cluster: directory at %s:%d unavailable (%s); "
                      "local tunnels go on, devices of other nodes cannot "
                      "be reached", r->host, r->port, why);
        ccf->down_logged = 1;
    }

    ccf->state = NGX_FCFH_CLUSTER_DOWN;
    ccf->current++;

    /* each server once a second; a whole round refused: back off, 16 s */
    if (ccf->current % ccf->redis->nelts == 0) {
        ccf->backoff = ngx_min(ngx_max(ccf->backoff * 2, 1), 16);
    }

    ccf->retry_tick = ccf->ticks + ccf->backoff;
}


static void
ngx_fcfh_cluster_role(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply               *reply = r;
    ngx_fcfh_cluster_conf_t  *ccf = ac->data;

    size_t                     len[3];
    ngx_uint_t                 i, level;
    const char                *argv[3];
    ngx_fcfh_cluster_redis_t  *redis;

    if (!ngx_fcfh_cluster_answer(ccf, reply)) {
        if (reply) {
            /* NOAUTH and the like: logged; the next server, later */
            redisAsyncDisconnect(ac);
        }

        return;
    }

    redis = ccf->redis->elts;
    redis = &redis[ccf->current % ccf->redis->nelts];

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING
        || ngx_strcmp(reply->element[0]->str, "master") != 0)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "fcfh cluster: redis %s:%d is not a master, "
                      "trying the next one", redis->host, redis->port);
        redisAsyncDisconnect(ac);
        return;
    }

    level = ccf->down_logged ? NGX_LOG_NOTICE : NGX_LOG_INFO;

    ngx_log_error(level, ngx_cycle->log, 0,
                  "fcfh cluster: directory at %s:%d, node \"%V\"",
                  redis->host, redis->port, &ccf->node);

    ccf->state = NGX_FCFH_CLUSTER_UP;
    ccf->down_logged = 0;
    ccf->backoff = 0;

    /* before any EVALSHA on this connection (replies come in order) */
    for (i = 0; i < NGX_FCFH_CLUSTER_SCRIPTS; i++) {
        argv[0] = "SCRIPT";
        len[0] = 6;
        argv[1] = "LOAD";
        len[1] = 4;
        argv[2] = (char *) ngx_fcfh_cluster_scripts[i].data;
        len[2] = ngx_fcfh_cluster_scripts[i].len;

        (void) ngx_fcfh_cluster_command(ccf, NULL, NULL, 3, argv, len);
    }

    ngx_fcfh_cluster_heartbeat(ccf);

    /* Redis may have lost them (restart, failover): ours again */
    ngx_fcfh_cluster_publish_all(ccf);
}


static ngx_int_t
ngx_fcfh_cluster_command(ngx_fcfh_cluster_conf_t *ccf, redisCallbackFn *fn,
    void *privdata, int argc, const char **argv, const size_t *argvlen)
{
    if (ccf->ac == NULL) {
        return NGX_DECLINED;
    }

    if (redisAsyncCommandArgv(ccf->ac, fn ? fn : ngx_fcfh_cluster_answered,
                              privdata, argc, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    if (ccf->pending++ == 0) {
        ccf->last_answer = ngx_current_msec;
    }

    return NGX_OK;
}


static void
ngx_fcfh_cluster_answered(redisAsyncContext *ac, void *r, void *privdata)
{
    (void) ngx_fcfh_cluster_answer(ac->data, r);
}


/*
 * Every answer passes here: the count of commands in flight, the time
 * of the last answer (for the watchdog), errors logged.  A replica's
 * READONLY means a failover happened: the next server is tried.
 * Returns whether the answer is a usable one.
 */

static ngx_uint_t
ngx_fcfh_cluster_answer(ngx_fcfh_cluster_conf_t *ccf, redisReply *reply)
{
    if (ccf->pending) {
        ccf->pending--;
    }

    ccf->last_answer = ngx_current_msec;

    if (reply == NULL) {
        return 0;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "fcfh cluster: redis: %s", reply->str);

        /* a failover, or scripts flushed: a new connection loads them */
        if ((ngx_strncmp(reply->str, "READONLY", 8) == 0
             || ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
            && ccf->ac)
        {
            redisAsyncDisconnect(ccf->ac);
        }

        return 0;
    }

    return 1;
}


/*
 * Once a second: reconnect when down, the watchdog when Redis stopped
 * answering, this node's liveness key every other tick, and the expiry
 * of our device entries once a minute.
 */

static void
ngx_fcfh_cluster_tick(ngx_event_t *ev)
{
    ngx_uint_t                connecting;
    redisAsyncContext        *ac;
    ngx_fcfh_cluster_conf_t  *ccf = ev->data;

    /* an old worker keeps its tunnels published while they last */
    if (ngx_terminate || ccf->exiting) {
        return;
    }

    ccf->ticks++;

    if (ccf->ac == NULL) {
        if (ccf->ticks >= ccf->retry_tick) {
            ngx_fcfh_cluster_connect(ccf);
        }

    } else if ((ccf->pending || ccf->state == NGX_FCFH_CLUSTER_CONNECTING)
               && ngx_current_msec - ccf->last_answer
                  > NGX_FCFH_CLUSTER_TIMEOUT)
    {
        /* a server that drops packets: no answer, not even to connect */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "fcfh cluster: redis did not answer %s in %ui ms, "
                      "trying again",
                      ccf->pending ? "commands" : "the connection",
                      (ngx_uint_t) NGX_FCFH_CLUSTER_TIMEOUT);

        connecting = (ccf->state == NGX_FCFH_CLUSTER_CONNECTING);

        ac = ccf->ac;
        ccf->ac = NULL;
        redisAsyncFree(ac);

        if (connecting) {
            /* hiredis calls no disconnect callback before it connected */
            ngx_fcfh_cluster_gone(ccf, "connection timed out");
        }

    } else if (ccf->state == NGX_FCFH_CLUSTER_UP) {

        if (ccf->ticks % (NGX_FCFH_CLUSTER_HEARTBEAT / NGX_FCFH_CLUSTER_TICK)
            == 0)
        {
            ngx_fcfh_cluster_heartbeat(ccf);
        }

        if (ngx_time() - ccf->refreshed >= NGX_FCFH_CLUSTER_REFRESH) {
            ngx_fcfh_cluster_refresh(ccf);
        }
    }

    ngx_add_timer(ev, NGX_FCFH_CLUSTER_TICK);
}


static void
ngx_fcfh_cluster_heartbeat(ngx_fcfh_cluster_conf_t *ccf)
{
    u_char       key[NGX_FCFH_CLUSTER_NAME_MAX + 8];
    u_char       ttl[NGX_INT_T_LEN];
    size_t       len[5];
    const char  *argv[5];

    argv[0] = "SET";
    len[0] = 3;
    argv[1] = (char *) key;
    len[1] = ngx_sprintf(key, "fcfh:n:%V", &ccf->node) - key;
    argv[2] = (char *) ccf->address.data;
    len[2] = ccf->address.len;
    argv[3] = "EX";
    len[3] = 2;
    argv[4] = (char *) ttl;
    len[4] = ngx_sprintf(ttl, "%d", NGX_FCFH_CLUSTER_NODE_TTL) - ttl;

    (void) ngx_fcfh_cluster_command(ccf, NULL, NULL, 5, argv, len);
}


/* bounded: one EXPIRE per tunnel per minute, none per keepalive */

static void
ngx_fcfh_cluster_refresh(ngx_fcfh_cluster_conf_t *ccf)
{
    u_char                 key[NGX_FCFH_APF_DEFAULT_MAX_STRING + 8];
    u_char                 ttl[NGX_INT_T_LEN];
    u_char                 text[NGX_FCFH_APF_GUID_TEXT_SIZE];
    size_t                 len[3];
    ngx_queue_t           *q;
    const char            *argv[3];
    ngx_fcfh_link_t       *link;
    ngx_fcfh_entry_t      *e;
    ngx_fcfh_main_conf_t  *fmcf;

    ccf->refreshed = ngx_time();

    fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

    argv[0] = "EXPIRE";
    len[0] = 6;
    argv[1] = (char *) key;
    argv[2] = (char *) ttl;
    len[2] = ngx_sprintf(ttl, "%d", NGX_FCFH_CLUSTER_ENTRY_TTL) - ttl;

    for (q = ngx_queue_head(&fmcf->tunnels);
         q != ngx_queue_sentinel(&fmcf->tunnels);
         q = ngx_queue_next(q))
    {
        link = ngx_queue_data(q, ngx_fcfh_link_t, queue);
        e = link->entry;

        if (e == NULL || e->evicted) {
            continue;
        }

        ngx_fcfh_apf_guid_to_text(e->guid, (char *) text);
        len[1] = ngx_sprintf(key, "fcfh:d:%*s",
                             (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, text)
                 - key;

        (void) ngx_fcfh_cluster_command(ccf, NULL, NULL, 3, argv, len);

        if (e->fqdn_len) {
            len[1] = ngx_sprintf(key, "fcfh:f:%*s", (size_t) e->fqdn_len,
                                 e->fqdn)
                     - key;
            (void) ngx_fcfh_cluster_command(ccf, NULL, NULL, 3, argv, len);
        }
    }
}


static void
ngx_fcfh_cluster_publish_all(ngx_fcfh_cluster_conf_t *ccf)
{
    ngx_queue_t           *q;
    ngx_fcfh_link_t       *link;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

    ccf->refreshed = ngx_time();

    for (q = ngx_queue_head(&fmcf->tunnels);
         q != ngx_queue_sentinel(&fmcf->tunnels);
         q = ngx_queue_next(q))
    {
        link = ngx_queue_data(q, ngx_fcfh_link_t, queue);

        if (link->entry && !link->entry->evicted) {
            ngx_fcfh_cluster_publish(link->entry, ngx_cycle->log);
        }
    }
}


/*
 * A tunnel registered (or learned its FQDN): claim the device for this
 * node.  When another node held it, that node is told to close its
 * tunnel: the newest connection wins across the cluster, as it does
 * between the workers of one node.
 */

void
ngx_fcfh_cluster_publish(ngx_fcfh_entry_t *e, ngx_log_t *log)
{
    u_char                    key[NGX_FCFH_APF_GUID_TEXT_SIZE + 8];
    u_char                    serial[NGX_INT64_LEN];
    u_char                    since[NGX_TIME_T_LEN];
    u_char                    ttl[NGX_INT_T_LEN];
    u_char                    text[NGX_FCFH_APF_GUID_TEXT_SIZE];
    u_char                    identity[NGX_FCFH_CLUSTER_IDENTITY_MAX];
    size_t                    len[11];
    const char               *argv[11];
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    if (ccf == NULL || ccf->state != NGX_FCFH_CLUSTER_UP) {
        /* published when the directory comes back */
        return;
    }

    ngx_fcfh_apf_guid_to_text(e->guid, (char *) text);

    ngx_fcfh_cluster_script(ccf, NGX_FCFH_CLUSTER_CLAIM, argv, len);
    argv[2] = "1";
    len[2] = 1;
    argv[3] = (char *) key;
    len[3] = ngx_sprintf(key, "fcfh:d:%*s",
                         (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, text)
             - key;
    argv[4] = (char *) ccf->node.data;
    len[4] = ccf->node.len;
    argv[5] = (char *) serial;
    len[5] = ngx_sprintf(serial, "%uL", e->serial) - serial;
    argv[6] = (char *) since;
    len[6] = ngx_sprintf(since, "%T", e->connected_at) - since;
    argv[7] = (char *) ttl;
    len[7] = ngx_sprintf(ttl, "%d", NGX_FCFH_CLUSTER_ENTRY_TTL) - ttl;
    argv[8] = (char *) (e->fqdn_len ? e->fqdn : (u_char *) "");
    len[8] = e->fqdn_len;

    /* who the tunnel authenticated as: "password:" or "certificate:" */
    argv[9] = (char *) identity;
    len[9] = ngx_snprintf(identity, sizeof(identity), "%s:%*s",
                          e->auth == NGX_FCFH_AUTH_CERTIFICATE
                          ? "certificate" : "password",
                          (size_t) e->identity_len, e->data)
             - identity;
    argv[10] = e->bound ? "1" : "0";
    len[10] = 1;

    if (ngx_fcfh_cluster_command(ccf, ngx_fcfh_cluster_claimed, NULL, 11,
                                 argv, len)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "fcfh cluster: device %*s not published",
                      (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, text);
    }
}


static void
ngx_fcfh_cluster_claimed(redisAsyncContext *ac, void *r, void *privdata)
{
    u_char                    guid[NGX_FCFH_APF_GUID_SIZE];
    uint64_t                  serial;
    redisReply               *reply = r;
    redisReply              **f;
    ngx_uint_t                i;
    ngx_fcfh_cluster_req_t   *req;
    ngx_fcfh_cluster_conf_t  *ccf = ac->data;

    if (!ngx_fcfh_cluster_answer(ccf, reply)
        || reply->type != REDIS_REPLY_ARRAY || reply->elements != 7)
    {
        return;
    }

    f = reply->element;

    for (i = 0; i < 7; i++) {
        if (f[i]->type != REDIS_REPLY_STRING) {
            return;
        }
    }

    if (ngx_fcfh_apf_guid_from_text(f[4]->str, f[4]->len, guid) != 0
        || (f[1]->len && !ngx_fcfh_cluster_node_valid((u_char *) f[1]->str,
                                                      f[1]->len)))
    {
        return;
    }

    if (f[5]->len) {
        ngx_fcfh_cluster_name_held(guid, f[5], ngx_fcfh_cluster_serial(f[6]));
    }

    if (f[0]->len == 4 && ngx_strncmp(f[0]->str, "held", 4) == 0) {
        return;
    }

    serial = ngx_fcfh_cluster_serial(f[2]);

    if (f[0]->len == 5 && ngx_strncmp(f[0]->str, "taken", 5) == 0) {
        /* the same rule as between the workers of one node */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "fcfh cluster: device GUID %s is connected to node "
                      "\"%s\" as another identity, closing this tunnel",
                      f[4]->str, f[1]->str);

        (void) ngx_fcfh_registry_close_guid(guid,
                                            ngx_fcfh_cluster_serial(f[6]), 0);
        return;
    }

    if (f[0]->len == 5 && ngx_strncmp(f[0]->str, "newer", 5) == 0) {
        /* a stale tunnel of ours: the device is on the other node now */
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "fcfh cluster: device %s has a newer tunnel on node "
                      "\"%s\", closing this one", f[4]->str, f[1]->str);

        (void) ngx_fcfh_registry_close_guid(guid, serial, 0);
        return;
    }

    /* the previous owner closes its older tunnel of this device */

    req = ngx_fcfh_cluster_req(ngx_cycle->log);
    if (req == NULL) {
        return;
    }

    ngx_memcpy(req->target.guid, guid, NGX_FCFH_APF_GUID_SIZE);
    req->op = NGX_FCFH_RELAY_OP_REPLACED;
    req->target.serial = serial;
    req->node.len = ngx_min(f[1]->len, NGX_FCFH_CLUSTER_NAME_MAX);
    ngx_memcpy(req->node.data, f[1]->str, req->node.len);
    req->device.len = ngx_min(f[4]->len, NGX_FCFH_APF_DEFAULT_MAX_STRING);
    ngx_memcpy(req->device.data, f[4]->str, req->device.len);

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "fcfh cluster: device %V moved here from node \"%V\", "
                  "which is told to close its tunnel", &req->device,
                  &req->node);

    ngx_fcfh_cluster_peer(req, (u_char *) f[3]->str, f[3]->len);
}


/*
 * The directory refused a tunnel of this node the name it gave: another
 * node's device holds it.  Consoles here stop reaching this one by it.
 */

static void
ngx_fcfh_cluster_name_held(u_char *guid, redisReply *holder, uint64_t serial)
{
    u_char     data[NGX_FCFH_APF_DEFAULT_MAX_STRING];
    u_char     other[NGX_FCFH_APF_GUID_SIZE];
    u_char     text[NGX_FCFH_APF_GUID_TEXT_SIZE];
    ngx_str_t  name;

    if (ngx_fcfh_apf_guid_from_text(holder->str, holder->len, other) != 0) {
        return;
    }

    name.data = data;

    if (ngx_fcfh_registry_drop_fqdn(guid, serial, &name) != NGX_OK) {
        return;
    }

    ngx_fcfh_apf_guid_to_text(guid, (char *) text);

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "fcfh cluster: device name \"%V\" of %*s is held by "
                  "device %*s on another node, not registered", &name,
                  (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, text,
                  (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, holder->str);

    ngx_fcfh_event_conflict(guid, other, &name, NULL, NULL);
}


/* a decimal serial from the directory; 0 for anything else */

static uint64_t
ngx_fcfh_cluster_serial(redisReply *r)
{
    size_t    i;
    uint64_t  serial;

    serial = 0;

    for (i = 0; i < r->len && i < NGX_INT64_LEN; i++) {
        if (r->str[i] < '0' || r->str[i] > '9') {
            return 0;
        }

        serial = serial * 10 + (r->str[i] - '0');
    }

    return serial;
}


/* a tunnel closed: its entry goes, unless a newer tunnel claimed it */

void
ngx_fcfh_cluster_unpublish(ngx_fcfh_entry_t *e)
{
    u_char                    key[NGX_FCFH_APF_GUID_TEXT_SIZE + 8];
    u_char                    serial[NGX_INT64_LEN];
    u_char                    text[NGX_FCFH_APF_GUID_TEXT_SIZE];
    size_t                    len[6];
    const char               *argv[6];
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    if (ccf == NULL || ccf->state != NGX_FCFH_CLUSTER_UP) {
        /* left to the entry's expiry and the node key */
        return;
    }

    ngx_fcfh_apf_guid_to_text(e->guid, (char *) text);

    ngx_fcfh_cluster_script(ccf, NGX_FCFH_CLUSTER_RELEASE, argv, len);
    argv[2] = "1";
    len[2] = 1;
    argv[3] = (char *) key;
    len[3] = ngx_sprintf(key, "fcfh:d:%*s",
                         (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, text)
             - key;
    argv[4] = (char *) ccf->node.data;
    len[4] = ccf->node.len;
    argv[5] = (char *) serial;
    len[5] = ngx_sprintf(serial, "%uL", e->serial) - serial;

    (void) ngx_fcfh_cluster_command(ccf, NULL, NULL, 6, argv, len);
}


/* requests to other nodes */

static ngx_fcfh_cluster_req_t *
ngx_fcfh_cluster_req(ngx_log_t *log)
{
    ngx_fcfh_cluster_req_t  *req;

    req = ngx_calloc(sizeof(ngx_fcfh_cluster_req_t), log);
    if (req == NULL) {
        return NULL;
    }

    req->log = log;
    req->op = NGX_FCFH_RELAY_OP_OPEN;
    req->node.data = req->node_data;
    req->device.data = req->device_data;
    req->target.console.data = req->console;

    return req;
}


/*
 * A console asked for a device this node does not hold: the directory
 * says which node does, then the request goes there.  NULL with
 * *result set when nothing was started (no directory, bad name).
 */

ngx_fcfh_cluster_req_t *
ngx_fcfh_cluster_open(ngx_str_t *device, ngx_uint_t op, ngx_uint_t port,
    ngx_str_t *console, ngx_uint_t console_port, ngx_log_t *log,
    ngx_fcfh_cluster_handler_pt handler, void *data, ngx_uint_t *result)
{
    u_char                    guid[NGX_FCFH_APF_GUID_SIZE];
    u_char                    text[NGX_FCFH_APF_GUID_TEXT_SIZE];
    size_t                    len[5];
    ngx_uint_t                i, by_guid;
    const char               *argv[5];
    ngx_fcfh_cluster_req_t   *req;
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    *result = NGX_FCFH_OPEN_NO_TUNNEL;

    if (ccf == NULL || ccf->node.len == 0) {
        return NULL;
    }

    if (device->len == 0 || device->len > NGX_FCFH_APF_DEFAULT_MAX_STRING) {
        return NULL;
    }

    /* no GUID or FQDN has these; the name goes into logs and keys */
    for (i = 0; i < device->len; i++) {
        if (device->data[i] <= 0x20 || device->data[i] >= 0x7f
            || device->data[i] == '"' || device->data[i] == '\\')
        {
            return NULL;
        }
    }

    if (ccf->state != NGX_FCFH_CLUSTER_UP) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "fcfh cluster: device \"%V\" is not on this node and "
                      "the directory is unavailable", device);
        *result = NGX_FCFH_OPEN_UNAVAILABLE;
        return NULL;
    }

    req = ngx_fcfh_cluster_req(log);
    if (req == NULL) {
        *result = NGX_FCFH_OPEN_ERROR;
        return NULL;
    }

    req->handler = handler;
    req->data = data;
    req->op = op;
    req->target.port = port;
    req->target.console_port = console_port;
    req->target.console.len = ngx_min(console->len,
                                      NGX_FCFH_RELAY_ADDR_SIZE - 1);
    ngx_memcpy(req->console, console->data, req->target.console.len);

    by_guid = (ngx_fcfh_apf_guid_from_text((char *) device->data, device->len,
                                           guid)
               == 0);

    if (by_guid) {
        /* the directory's spelling: lower case */
        ngx_fcfh_apf_guid_to_text(guid, (char *) text);
        req->device.len = NGX_FCFH_APF_GUID_TEXT_SIZE;
        ngx_memcpy(req->device.data, text, NGX_FCFH_APF_GUID_TEXT_SIZE);

    } else {
        req->device.len = device->len;
        ngx_strlow(req->device.data, device->data, device->len);
    }

    ngx_fcfh_cluster_script(ccf, NGX_FCFH_CLUSTER_LOOKUP, argv, len);
    argv[2] = "0";
    len[2] = 1;
    argv[3] = by_guid ? (char *) req->device.data : "";
    len[3] = by_guid ? req->device.len : 0;
    argv[4] = by_guid ? "" : (char *) req->device.data;
    len[4] = by_guid ? 0 : req->device.len;

    if (ngx_fcfh_cluster_command(ccf, ngx_fcfh_cluster_looked_up, req, 5,
                                 argv, len)
        != NGX_OK)
    {
        ngx_free(req);
        *result = NGX_FCFH_OPEN_UNAVAILABLE;
        return NULL;
    }

    req->in_redis = 1;

    return req;
}


static void
ngx_fcfh_cluster_looked_up(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply               *reply = r;
    ngx_uint_t                i, ok;
    ngx_fcfh_cluster_req_t   *req = privdata;
    ngx_fcfh_cluster_conf_t  *ccf = ac->data;

    req->in_redis = 0;

    ok = ngx_fcfh_cluster_answer(ccf, reply);

    if (req->gone) {
        ngx_free(req);
        return;
    }

    if (!ok) {
        ngx_log_error(NGX_LOG_WARN, req->log, 0,
                      "fcfh cluster: device \"%V\" is not on this node and "
                      "the directory did not answer", &req->device);
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_UNAVAILABLE, 0);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_NO_TUNNEL, 0);
        return;
    }

    for (i = 0; i < 4; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_ERROR, 0);
            return;
        }
    }

    if (ngx_fcfh_apf_guid_from_text(reply->element[0]->str,
                                    reply->element[0]->len, req->target.guid)
        != 0)
    {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_ERROR, 0);
        return;
    }

    if (!ngx_fcfh_cluster_node_valid((u_char *) reply->element[1]->str,
                                     reply->element[1]->len))
    {
        ngx_log_error(NGX_LOG_ERR, req->log, 0,
                      "fcfh cluster: the directory named no valid node");
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_ERROR, 0);
        return;
    }

    req->target.serial = ngx_fcfh_cluster_serial(reply->element[2]);
    req->node.len = ngx_min(reply->element[1]->len, NGX_FCFH_CLUSTER_NAME_MAX);
    ngx_memcpy(req->node.data, reply->element[1]->str, req->node.len);

    if (req->node.len == ccf->node.len
        && ngx_strncmp(req->node.data, ccf->node.data, ccf->node.len) == 0)
    {
        /* a tunnel of ours that closed a moment ago: never loop */
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_NO_TUNNEL, 0);
        return;
    }

    if (reply->element[3]->len == 0) {
        ngx_log_error(NGX_LOG_INFO, req->log, 0,
                      "fcfh cluster: device \"%V\" was on node \"%V\", "
                      "which no longer answers", &req->device, &req->node);
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_NO_TUNNEL, 0);
        return;
    }

    ngx_fcfh_cluster_peer(req, (u_char *) reply->element[3]->str,
                          reply->element[3]->len);
}


/* TCP, then TLS with our node certificate, to the owner node */

static void
ngx_fcfh_cluster_peer(ngx_fcfh_cluster_req_t *req, u_char *addr, size_t len)
{
    ngx_int_t          rc;
    ngx_addr_t         a;
    ngx_connection_t  *c;

    req->pool = ngx_create_pool(1024, ngx_cycle->log);
    if (req->pool == NULL) {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_ERROR, 0);
        return;
    }

    if (ngx_parse_addr_port(req->pool, &a, addr, len) != NGX_OK
        || ngx_inet_get_port(a.sockaddr) == 0)
    {
        ngx_log_error(NGX_LOG_ERR, req->log, 0,
                      "fcfh cluster: node \"%V\" published a bad address "
                      "\"%*s\"", &req->node, ngx_min(len, 64), addr);
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_UNAVAILABLE, 0);
        return;
    }

    req->pc.sockaddr = a.sockaddr;
    req->pc.socklen = a.socklen;
    req->pc.name = ngx_pcalloc(req->pool, sizeof(ngx_str_t));
    if (req->pc.name == NULL) {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_ERROR, 0);
        return;
    }

    req->pc.name->data = ngx_pnalloc(req->pool, len);
    if (req->pc.name->data == NULL) {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_ERROR, 0);
        return;
    }

    ngx_memcpy(req->pc.name->data, addr, len);
    req->pc.name->len = len;
    req->pc.get = ngx_event_get_peer;
    req->pc.log = req->log;
    req->pc.log_error = NGX_ERROR_INFO;

    rc = ngx_event_connect_peer(&req->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, req->log, 0,
                      "fcfh cluster: node \"%V\" at %V unreachable",
                      &req->node, req->pc.name);
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_UNAVAILABLE, 0);
        return;
    }

    c = req->pc.connection;
    c->data = req;
    c->pool = req->pool;

    /* small requests and answers both ways: no Nagle delay */
    (void) ngx_tcp_nodelay(c);
    c->read->handler = ngx_fcfh_cluster_peer_connected;
    c->write->handler = ngx_fcfh_cluster_peer_connected;

    ngx_add_timer(c->write, NGX_FCFH_CLUSTER_CONNECT);

    if (rc == NGX_AGAIN) {
        return;
    }

    ngx_fcfh_cluster_peer_connected(c->write);
}


static void
ngx_fcfh_cluster_peer_connected(ngx_event_t *ev)
{
    ngx_int_t                    rc;
    ngx_connection_t            *c;
    ngx_fcfh_cluster_req_t      *req;
    ngx_fcfh_cluster_conf_t     *ccf;
    ngx_fcfh_cluster_session_t  *sess;

    c = ev->data;
    req = c->data;

    if (ev->timedout) {
        ngx_log_error(NGX_LOG_WARN, req->log, NGX_ETIMEDOUT,
                      "fcfh cluster: node \"%V\" at %V did not answer",
                      &req->node, req->pc.name);
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_UNAVAILABLE, 0);
        return;
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    if (ngx_ssl_create_connection(ccf->ssl, c, NGX_SSL_CLIENT) != NGX_OK) {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_ERROR, 0);
        return;
    }

    sess = ngx_fcfh_cluster_session(ccf, &req->node, 0);

    if (sess && sess->session
        && ngx_ssl_set_session(c, sess->session) != NGX_OK)
    {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_ERROR, 0);
        return;
    }

    c->ssl->save_session = ngx_fcfh_cluster_save_session;

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        ngx_add_timer(c->read, NGX_FCFH_CLUSTER_CONNECT);
        c->ssl->handler = ngx_fcfh_cluster_peer_handshake;
        return;
    }

    ngx_fcfh_cluster_peer_handshake(c);
}


/* the session cache slot of a node: found, or (add) taken over */

static ngx_fcfh_cluster_session_t *
ngx_fcfh_cluster_session(ngx_fcfh_cluster_conf_t *ccf, ngx_str_t *node,
    ngx_uint_t add)
{
    ngx_uint_t                   i;
    ngx_fcfh_cluster_session_t  *s;

    for (i = 0; i < NGX_FCFH_CLUSTER_SESSIONS; i++) {
        s = &ccf->sessions[i];

        if (s->len == node->len
            && ngx_strncmp(s->name, node->data, node->len) == 0)
        {
            return s;
        }
    }

    if (!add) {
        return NULL;
    }

    s = &ccf->sessions[ccf->next_session++ % NGX_FCFH_CLUSTER_SESSIONS];

    if (s->session) {
        ngx_ssl_free_session(s->session);
        s->session = NULL;
    }

    s->len = node->len;
    ngx_memcpy(s->name, node->data, node->len);

    return s;
}


/* a session ticket from the node: kept (only while the request owns c) */

static void
ngx_fcfh_cluster_save_session(ngx_connection_t *c)
{
    ngx_ssl_session_t           *session;
    ngx_fcfh_cluster_req_t      *req;
    ngx_fcfh_cluster_session_t  *s;

    req = c->data;

    session = ngx_ssl_get_session(c);
    if (session == NULL) {
        return;
    }

    s = ngx_fcfh_cluster_session(ngx_fcfh_cluster_get_conf(ngx_cycle),
                                 &req->node, 1);

    if (s->session) {
        ngx_ssl_free_session(s->session);
    }

    s->session = session;
}


/* the other end must be a node of this cluster, and the one named */

static void
ngx_fcfh_cluster_peer_handshake(ngx_connection_t *c)
{
    long                     rc;
    ngx_fcfh_cluster_req_t  *req;

    req = c->data;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (!c->ssl->handshaked) {
        ngx_log_error(NGX_LOG_WARN, req->log, 0,
                      "fcfh cluster: TLS with node \"%V\" at %V failed",
                      &req->node, req->pc.name);
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_UNAVAILABLE, 0);
        return;
    }

    rc = SSL_get_verify_result(c->ssl->connection);

    if (rc != X509_V_OK) {
        ngx_log_error(NGX_LOG_ERR, req->log, 0,
                      "fcfh cluster: certificate of node \"%V\" at %V not "
                      "verified: (%l) %s", &req->node, req->pc.name, rc,
                      X509_verify_cert_error_string(rc));
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_UNAVAILABLE, 0);
        return;
    }

    if (ngx_ssl_check_host(c, &req->node) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, req->log, 0,
                      "fcfh cluster: certificate at %V does not name node "
                      "\"%V\"", req->pc.name, &req->node);
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_UNAVAILABLE, 0);
        return;
    }

    /* like nginx's own upstream TLS: no sendfile through it */
    c->sendfile = 0;

    /*
     * the same preamble as between workers, with this request's op and
     * no MAC: this node's secret stays here
     */
    ngx_fcfh_relay_open_init(&req->open, &req->target, req->op, 0);

    c->read->handler = ngx_fcfh_cluster_peer_open;
    c->write->handler = ngx_fcfh_cluster_peer_open;

    ngx_add_timer(c->read, NGX_FCFH_RELAY_TIMEOUT + 1000);

    ngx_fcfh_cluster_peer_open(c->write);
}


static void
ngx_fcfh_cluster_peer_open(ngx_event_t *ev)
{
    ngx_uint_t               result, reason;
    ngx_connection_t        *c;
    ngx_fcfh_cluster_req_t  *req;

    c = ev->data;
    req = c->data;

    if (ev->timedout) {
        ngx_fcfh_cluster_finish(req, NGX_FCFH_OPEN_TIMEOUT, 0);
        return;
    }

    if (ngx_fcfh_relay_open_result(c, &req->open, &result, &reason)
        == NGX_AGAIN)
    {
        return;
    }

    ngx_fcfh_cluster_finish(req, result, reason);
}


/*
 * The end of a request: the connection goes to the caller when a
 * channel opened, else it is closed; the request is freed either way.
 */

static void
ngx_fcfh_cluster_finish(ngx_fcfh_cluster_req_t *req, ngx_uint_t result,
    ngx_uint_t reason)
{
    ngx_uint_t         level;
    ngx_connection_t  *c;

    c = req->pc.connection;

    if (c) {
        if (c->ssl) {
            /* from here c->data is the caller's */
            c->ssl->save_session = NULL;
        }

        if (c->read->timer_set) {
            ngx_del_timer(c->read);
        }

        if (c->write->timer_set) {
            ngx_del_timer(c->write);
        }
    }

    if (req->op != NGX_FCFH_RELAY_OP_OPEN || result != NGX_FCFH_OPEN_OK
        || req->handler == NULL)
    {
        ngx_fcfh_cluster_drop(req);
        c = NULL;

    } else {
        /* the caller sets its own handlers before it reads or writes */
        c->read->handler = ngx_fcfh_cluster_handed_over;
        c->write->handler = ngx_fcfh_cluster_handed_over;
    }

    if (req->handler == NULL && req->op == NGX_FCFH_RELAY_OP_REPLACED) {
        level = (result == NGX_FCFH_OPEN_OK) ? NGX_LOG_INFO : NGX_LOG_WARN;

        ngx_log_error(level, ngx_cycle->log, 0,
                      "fcfh cluster: node \"%V\" %s its tunnel of %V",
                      &req->node,
                      result == NGX_FCFH_OPEN_OK ? "closed"
                                                 : "could not close",
                      &req->device);
    }

    if (req->op == NGX_FCFH_RELAY_OP_OPEN && result == NGX_FCFH_OPEN_OK) {
        ngx_fcfh_count(cluster_relays, 1);
    }

    if (req->handler) {
        req->handler(req->data, c, result, reason, &req->node);
    }

    ngx_free(req);
}


static void
ngx_fcfh_cluster_handed_over(ngx_event_t *ev)
{
    /* the caller's splice reads what arrived meanwhile */
}


/* the connection to the other node, if any, and its pool go */

static void
ngx_fcfh_cluster_drop(ngx_fcfh_cluster_req_t *req)
{
    ngx_connection_t  *c;

    c = req->pc.connection;
    req->pc.connection = NULL;

    if (c) {
        ngx_fcfh_relay_close_with(c, req->pool);

    } else if (req->pool) {
        ngx_destroy_pool(req->pool);
    }

    req->pool = NULL;
}


void
ngx_fcfh_cluster_cancel(ngx_fcfh_cluster_req_t *req)
{
    if (req->in_redis) {
        /* freed when Redis answers or the connection to it ends */
        req->gone = 1;
        return;
    }

    ngx_fcfh_cluster_drop(req);
    ngx_free(req);
}


/* one page of the cluster-wide list */

ngx_fcfh_cluster_req_t *
ngx_fcfh_cluster_list(ngx_str_t *cursor, ngx_pool_t *pool,
    ngx_fcfh_cluster_list_pt handler, void *data)
{
    u_char                    count[NGX_INT_T_LEN];
    size_t                    len[5];
    const char               *argv[5];
    ngx_fcfh_cluster_req_t   *req;
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    if (ccf == NULL || ccf->state != NGX_FCFH_CLUSTER_UP) {
        return NULL;
    }

    req = ngx_fcfh_cluster_req(ngx_cycle->log);
    if (req == NULL) {
        return NULL;
    }

    req->list_handler = handler;
    req->list_pool = pool;
    req->data = data;

    ngx_fcfh_cluster_script(ccf, NGX_FCFH_CLUSTER_LIST, argv, len);
    argv[2] = "0";
    len[2] = 1;
    argv[3] = (char *) cursor->data;
    len[3] = cursor->len;
    argv[4] = (char *) count;
    len[4] = ngx_sprintf(count, "%d", NGX_FCFH_CLUSTER_PAGE) - count;

    if (ngx_fcfh_cluster_command(ccf, ngx_fcfh_cluster_listed, req, 5, argv,
                                 len)
        != NGX_OK)
    {
        ngx_free(req);
        return NULL;
    }

    req->in_redis = 1;

    return req;
}


static ngx_int_t
ngx_fcfh_cluster_dup(ngx_pool_t *pool, ngx_str_t *dst, redisReply *r)
{
    dst->len = r->len;
    dst->data = ngx_pnalloc(pool, r->len + 1);

    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, r->str, r->len);
    dst->data[r->len] = '\0';

    return NGX_OK;
}


static void
ngx_fcfh_cluster_listed(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply               *reply = r;
    redisReply              **f;
    ngx_str_t                 cursor, num;
    ngx_uint_t                i, ok;
    ngx_array_t              *items;
    ngx_fcfh_cluster_req_t   *req = privdata;
    ngx_fcfh_cluster_item_t  *it;

    req->in_redis = 0;

    ok = ngx_fcfh_cluster_answer(ac->data, reply);

    if (req->gone) {
        ngx_free(req);
        return;
    }

    items = NULL;
    ngx_str_null(&cursor);

    if (!ok || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || (reply->elements - 1) % 6 != 0)
    {
        goto failed;
    }

    for (i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            goto failed;
        }
    }

    items = ngx_array_create(req->list_pool, (reply->elements - 1) / 6 + 1,
                             sizeof(ngx_fcfh_cluster_item_t));
    if (items == NULL
        || ngx_fcfh_cluster_dup(req->list_pool, &cursor, reply->element[0])
           != NGX_OK)
    {
        goto failed;
    }

    for (i = 1; i < reply->elements; i += 6) {
        f = &reply->element[i];

        it = ngx_array_push(items);
        if (it == NULL
            || ngx_fcfh_cluster_dup(req->list_pool, &it->guid, f[0])
               != NGX_OK
            || ngx_fcfh_cluster_dup(req->list_pool, &it->node, f[1])
               != NGX_OK
            || ngx_fcfh_cluster_dup(req->list_pool, &it->fqdn, f[4])
               != NGX_OK)
        {
            goto failed;
        }

        it->serial = ngx_fcfh_cluster_serial(f[2]);

        num.data = (u_char *) f[3]->str;
        num.len = f[3]->len;
        it->since = ngx_atotm(num.data, num.len);

        if (it->since == NGX_ERROR) {
            it->since = 0;
        }

        it->alive = (f[5]->len == 1 && f[5]->str[0] == '1');
    }

    req->list_handler(req->data, NGX_OK, &cursor, items);
    ngx_free(req);
    return;

failed:

    req->list_handler(req->data, NGX_ERROR, &cursor, NULL);
    ngx_free(req);
}
