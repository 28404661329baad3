
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * What the directory in Redis holds, and the commands on it: the Lua
 * scripts (claim, release, lookup, list), loaded on each connection and
 * run by SHA1; this node's liveness key; publish on register and FQDN,
 * unpublish on close, the expiry refreshed once a minute; the answers to
 * a claim (an older tunnel on another node is told to close, a newer one
 * there closes ours, a name held elsewhere is dropped here); the lookup
 * before a request to another node (ngx_fcfh_cluster_peer.c); one page
 * of the cluster-wide list for fcfh_api.
 *
 * The device history of the cluster (fcfh_cluster_history_ttl) lives
 * there too, one hash per device that outlives its tunnels:
 *     fcfh:h:<GUID>   node, serial, first_connected, last_connected,
 *                     last_disconnected, last_disconnect_reason,
 *                     connections, identity, user, peer, trigger, fqdn
 * The claim counts a tunnel in it (once: a claim again, for its name or
 * after Redis came back, finds its node, serial and time there), the end
 * of a tunnel, or a worker found dead with its tunnels, writes why, and
 * each write renews its expiry.  A node answers for every node's devices
 * from it, whichever node a device was on.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_sha1.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_relay.h"
#include "ngx_fcfh_open.h"
#include "ngx_fcfh_json.h"
#include "ngx_fcfh_history.h"
#include "ngx_fcfh_cluster.h"
#include "ngx_fcfh_cluster_conf.h"
#include "ngx_fcfh_cluster_redis.h"
#include "ngx_fcfh_cluster_directory.h"
#include "ngx_fcfh_cluster_peer.h"


#define NGX_FCFH_CLUSTER_CLAIM       0
#define NGX_FCFH_CLUSTER_RELEASE     1
#define NGX_FCFH_CLUSTER_LOOKUP      2
#define NGX_FCFH_CLUSTER_LIST        3
#define NGX_FCFH_CLUSTER_ENDED       4
#define NGX_FCFH_CLUSTER_DEVICES     5

/* the fields of a device in an answer of the devices script */
#define NGX_FCFH_CLUSTER_DEVICE_FIELDS  13


/* what a claim and a release of a tunnel's entry print their keys into */
typedef struct {
    u_char                    key[NGX_FCFH_APF_GUID_TEXT_SIZE + 8];
    u_char                    serial[NGX_INT64_LEN];
    u_char                    text[NGX_FCFH_APF_GUID_TEXT_SIZE];
} ngx_fcfh_cluster_entry_args_t;


static void ngx_fcfh_cluster_script(ngx_fcfh_cluster_conf_t *ccf,
    ngx_uint_t n, const char **argv, size_t *len);
static void ngx_fcfh_cluster_entry_args(ngx_fcfh_cluster_conf_t *ccf,
    ngx_uint_t n, ngx_fcfh_entry_t *e, ngx_fcfh_cluster_entry_args_t *ea,
    const char **argv, size_t *len);
static void ngx_fcfh_cluster_heartbeat(ngx_fcfh_cluster_conf_t *ccf);
static void ngx_fcfh_cluster_refresh(ngx_fcfh_cluster_conf_t *ccf);
static void ngx_fcfh_cluster_publish_all(ngx_fcfh_cluster_conf_t *ccf);
static void ngx_fcfh_cluster_ended(ngx_fcfh_cluster_conf_t *ccf,
    u_char *guid, ngx_uint_t kind, time_t when);
static void ngx_fcfh_cluster_ended_all(ngx_fcfh_cluster_conf_t *ccf);
static void ngx_fcfh_cluster_claimed(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_fcfh_cluster_name_held(u_char *guid, redisReply *holder,
    uint64_t serial);
static uint64_t ngx_fcfh_cluster_serial(redisReply *r);
static void ngx_fcfh_cluster_looked_up(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_fcfh_cluster_req_t *ngx_fcfh_cluster_scan(ngx_uint_t script,
    redisCallbackFn *done, ngx_str_t *cursor, ngx_str_t *guid,
    ngx_pool_t *pool, ngx_fcfh_cluster_list_pt handler, void *data);
static ngx_int_t ngx_fcfh_cluster_dup(ngx_pool_t *pool, ngx_str_t *dst,
    redisReply *r);
static void ngx_fcfh_cluster_listed(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_fcfh_cluster_devices_listed(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_int_t ngx_fcfh_cluster_device(ngx_pool_t *pool,
    redisReply **f, ngx_fcfh_cluster_device_t *dev);
static ngx_int_t ngx_fcfh_cluster_copy(ngx_pool_t *pool, ngx_str_t *dst,
    u_char *data, size_t len, size_t max);
static time_t ngx_fcfh_cluster_time(redisReply *r);


/*
 * The directory's scripts: each runs atomically in Redis, so a claim, a
 * removal or a lookup never sees half of another.
 *
 * claim: KEYS[1] device key; ARGV node, serial, since, ttl, fqdn,
 * identity, bound, then for the history: its ttl ('0': none), user,
 * peer, trigger.  The newest tunnel wins, by connection time (the
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
 * "holder".  A claim that stands (not "taken" or "newer") counts the
 * tunnel in the device's history unless that names this tunnel already
 * (node, serial and time: serials start again with a fresh zone).
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
    "if ARGV[8] ~= '0' then "
    "  local hk = 'fcfh:h:' .. g "
    "  local o = redis.call('HMGET', hk, 'node', 'serial', "
    "                       'last_connected') "
    "  if o[1] ~= ARGV[1] or o[2] ~= ARGV[2] or o[3] ~= ARGV[3] then "
    "    redis.call('HINCRBY', hk, 'connections', 1) "
    "    redis.call('HSETNX', hk, 'first_connected', ARGV[3]) "
    "    redis.call('HSET', hk, 'node', ARGV[1], 'serial', ARGV[2], "
    "               'last_connected', ARGV[3], 'identity', ARGV[6], "
    "               'user', ARGV[9], 'peer', ARGV[10], 'trigger', ARGV[11]) "
    "  end "
    "  if f ~= '' then redis.call('HSET', hk, 'fqdn', f) end "
    "  redis.call('EXPIRE', hk, ARGV[8]) "
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


/*
 * ended: KEYS[1] history key; ARGV time, close kind name, ttl.  Only a
 * record the claim made: an end alone tells nothing of a device.
 */

static const char  ngx_fcfh_cluster_ended_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
    "redis.call('HSET', KEYS[1], 'last_disconnected', ARGV[1], "
    "           'last_disconnect_reason', ARGV[2]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[3]) "
    "return 1";

/*
 * devices: ARGV cursor, count, GUID ('': a page of the scan, else that
 * device alone).  {cursor, then per device its GUID, 11 fields of its
 * record and '1' when a live node holds it now}
 */

static const char  ngx_fcfh_cluster_devices_lua[] =
    "local r "
    "if ARGV[3] ~= '' then "
    "  r = {'0', {'fcfh:h:' .. ARGV[3]}} "
    "else "
    "  r = redis.call('SCAN', ARGV[1], 'MATCH', 'fcfh:h:*', "
    "                 'COUNT', ARGV[2]) "
    "end "
    "local out = {r[1]} "
    "for _, k in ipairs(r[2]) do "
    "  local v = redis.call('HMGET', k, 'node', 'first_connected', "
    "                       'last_connected', 'last_disconnected', "
    "                       'last_disconnect_reason', 'connections', "
    "                       'identity', 'user', 'peer', 'trigger', 'fqdn') "
    "  if v[1] then "
    "    local g = string.sub(k, 8) "
    "    local d = redis.call('HGET', 'fcfh:d:' .. g, 'node') "
    "    local c = '0' "
    "    if d and redis.call('EXISTS', 'fcfh:n:' .. d) == 1 then "
    "      c = '1' "
    "    end "
    "    table.insert(out, g) "
    "    for i = 1, 11 do table.insert(out, v[i] or '') end "
    "    table.insert(out, c) "
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
      (u_char *) ngx_fcfh_cluster_list_lua },
    { sizeof(ngx_fcfh_cluster_ended_lua) - 1,
      (u_char *) ngx_fcfh_cluster_ended_lua },
    { sizeof(ngx_fcfh_cluster_devices_lua) - 1,
      (u_char *) ngx_fcfh_cluster_devices_lua }
};


void
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


/*
 * The head of a claim or a release (script n): one key, the device's
 * entry, then this node and the tunnel's serial, printed into ea.
 */

static void
ngx_fcfh_cluster_entry_args(ngx_fcfh_cluster_conf_t *ccf, ngx_uint_t n,
    ngx_fcfh_entry_t *e, ngx_fcfh_cluster_entry_args_t *ea,
    const char **argv, size_t *len)
{
    ngx_fcfh_apf_guid_to_text(e->guid, (char *) ea->text);

    ngx_fcfh_cluster_script(ccf, n, argv, len);
    argv[2] = "1";
    len[2] = 1;
    argv[3] = (char *) ea->key;
    len[3] = ngx_sprintf(ea->key, "fcfh:d:%*s",
                         (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, ea->text)
             - ea->key;
    argv[4] = (char *) ccf->node.data;
    len[4] = ccf->node.len;
    argv[5] = (char *) ea->serial;
    len[5] = ngx_sprintf(ea->serial, "%uL", e->serial) - ea->serial;
}


/*
 * The connection is up (a master): the scripts first, before any
 * EVALSHA on it (answers come in order), then this node's key and every
 * device of this worker, which Redis may have lost (restart, failover).
 */

void
ngx_fcfh_cluster_directory_up(ngx_fcfh_cluster_conf_t *ccf)
{
    size_t       len[3];
    ngx_uint_t   i;
    const char  *argv[3];

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

    ngx_fcfh_cluster_publish_all(ccf);

    ngx_fcfh_cluster_ended_all(ccf);
}


/*
 * A tick while the directory is up: this node's liveness key every
 * other tick, the expiry of our device entries once a minute.
 */

void
ngx_fcfh_cluster_directory_tick(ngx_fcfh_cluster_conf_t *ccf)
{
    if (ccf->ticks % (NGX_FCFH_CLUSTER_HEARTBEAT / NGX_FCFH_CLUSTER_TICK)
        == 0)
    {
        ngx_fcfh_cluster_heartbeat(ccf);
    }

    if (ngx_time() - ccf->refreshed >= NGX_FCFH_CLUSTER_REFRESH) {
        ngx_fcfh_cluster_refresh(ccf);
    }
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

        if (ccf->history_ttl) {
            /* a device connected for longer than the history's expiry */
            len[1] = ngx_sprintf(key, "fcfh:h:%*s",
                                 (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, text)
                     - key;
            len[2] = ngx_sprintf(ttl, "%T", ccf->history_ttl) - ttl;
            (void) ngx_fcfh_cluster_command(ccf, NULL, NULL, 3, argv, len);
            len[2] = ngx_sprintf(ttl, "%d", NGX_FCFH_CLUSTER_ENTRY_TTL) - ttl;
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
    u_char                          since[NGX_TIME_T_LEN];
    u_char                          ttl[NGX_INT_T_LEN];
    u_char                          identity[NGX_FCFH_CLUSTER_IDENTITY_MAX];
    u_char                          history[NGX_TIME_T_LEN];
    u_char                          trigger[NGX_INT32_LEN];
    u_char                         *s;
    size_t                          len[15];
    const char                     *argv[15];
    ngx_fcfh_cluster_conf_t        *ccf;
    ngx_fcfh_cluster_entry_args_t   ea;

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    if (ccf == NULL || ccf->state != NGX_FCFH_CLUSTER_UP) {
        /* published when the directory comes back */
        return;
    }

    ngx_fcfh_cluster_entry_args(ccf, NGX_FCFH_CLUSTER_CLAIM, e, &ea,
                                argv, len);
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

    /* the history's: the strings stored after the entry's identity */
    s = e->data + e->identity_len;

    argv[11] = (char *) history;
    len[11] = ngx_sprintf(history, "%T", ccf->history_ttl) - history;
    argv[12] = (char *) s;
    len[12] = e->user_len;
    argv[13] = (char *) s + e->user_len;
    len[13] = e->peer_len;
    argv[14] = (char *) trigger;
    len[14] = ngx_sprintf(trigger, "%uD", e->trigger) - trigger;

    if (ngx_fcfh_cluster_command(ccf, ngx_fcfh_cluster_claimed, NULL, 15,
                                 argv, len)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "fcfh cluster: device %*s not published",
                      (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, ea.text);
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


/*
 * A tunnel closed: its entry goes, unless a newer tunnel claimed it; the
 * device's history says why it ended (kind: NGX_FCFH_CLOSE_*).
 */

void
ngx_fcfh_cluster_unpublish(ngx_fcfh_entry_t *e, ngx_uint_t kind)
{
    size_t                          len[6];
    const char                     *argv[6];
    ngx_fcfh_cluster_conf_t        *ccf;
    ngx_fcfh_cluster_entry_args_t   ea;

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    if (ccf == NULL || ccf->state != NGX_FCFH_CLUSTER_UP) {
        /* left to the entry's expiry and the node key */
        return;
    }

    ngx_fcfh_cluster_entry_args(ccf, NGX_FCFH_CLUSTER_RELEASE, e, &ea,
                                argv, len);

    (void) ngx_fcfh_cluster_command(ccf, NULL, NULL, 6, argv, len);

    ngx_fcfh_cluster_history_end(e->guid, kind);
}


/*
 * The end of a device's tunnel in its history: from the tunnel's close,
 * or from the sweep of a worker that died with its tunnels (the
 * registry's tunnel_swept hook).  Held while the directory is down.
 */

void
ngx_fcfh_cluster_history_end(u_char *guid, ngx_uint_t kind)
{
    ngx_fcfh_cluster_end_t   *end;
    ngx_fcfh_cluster_conf_t  *ccf;

    ccf = ngx_fcfh_cluster_get_conf(ngx_cycle);

    if (ccf == NULL || ccf->node.len == 0 || ccf->history_ttl == 0) {
        return;
    }

    if (ccf->state == NGX_FCFH_CLUSTER_UP) {
        ngx_fcfh_cluster_ended(ccf, guid, kind, ngx_time());
        return;
    }

    end = &ccf->ends[ccf->next_end];
    ccf->next_end = (ccf->next_end + 1) % NGX_FCFH_CLUSTER_ENDS;

    if (ccf->nends < NGX_FCFH_CLUSTER_ENDS) {
        ccf->nends++;
    }

    ngx_memcpy(end->guid, guid, NGX_FCFH_APF_GUID_SIZE);
    end->time = ngx_time();
    end->kind = kind;
}


/* the ends held while the directory was down, oldest first */

static void
ngx_fcfh_cluster_ended_all(ngx_fcfh_cluster_conf_t *ccf)
{
    ngx_uint_t               i, n;
    ngx_fcfh_cluster_end_t  *end;

    n = ccf->nends;
    ccf->nends = 0;

    for (i = 0; i < n; i++) {
        end = &ccf->ends[(ccf->next_end + NGX_FCFH_CLUSTER_ENDS - n + i)
                         % NGX_FCFH_CLUSTER_ENDS];
        ngx_fcfh_cluster_ended(ccf, end->guid, end->kind, end->time);
    }
}


static void
ngx_fcfh_cluster_ended(ngx_fcfh_cluster_conf_t *ccf, u_char *guid,
    ngx_uint_t kind, time_t when)
{
    u_char       key[NGX_FCFH_APF_GUID_TEXT_SIZE + 8];
    u_char       now[NGX_TIME_T_LEN];
    u_char       ttl[NGX_TIME_T_LEN];
    u_char       text[NGX_FCFH_APF_GUID_TEXT_SIZE];
    size_t       len[7];
    const char  *argv[7];

    ngx_fcfh_apf_guid_to_text(guid, (char *) text);

    ngx_fcfh_cluster_script(ccf, NGX_FCFH_CLUSTER_ENDED, argv, len);
    argv[2] = "1";
    len[2] = 1;
    argv[3] = (char *) key;
    len[3] = ngx_sprintf(key, "fcfh:h:%*s",
                         (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE, text)
             - key;
    argv[4] = (char *) now;
    len[4] = ngx_sprintf(now, "%T", when) - now;
    argv[5] = ngx_fcfh_close_name(kind);
    len[5] = ngx_strlen(argv[5]);
    argv[6] = (char *) ttl;
    len[6] = ngx_sprintf(ttl, "%T", ccf->history_ttl) - ttl;

    (void) ngx_fcfh_cluster_command(ccf, NULL, NULL, 7, argv, len);
}


/*
 * Which node holds the device: by GUID, or by FQDN (both in the
 * directory's lower case in req->device); the answer goes to
 * ngx_fcfh_cluster_looked_up().
 */

ngx_int_t
ngx_fcfh_cluster_lookup(ngx_fcfh_cluster_conf_t *ccf,
    ngx_fcfh_cluster_req_t *req, ngx_uint_t by_guid)
{
    size_t       len[5];
    const char  *argv[5];

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
        return NGX_ERROR;
    }

    req->in_redis = 1;

    return NGX_OK;
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


/* one page of the cluster-wide list */

ngx_fcfh_cluster_req_t *
ngx_fcfh_cluster_list(ngx_str_t *cursor, ngx_pool_t *pool,
    ngx_fcfh_cluster_list_pt handler, void *data)
{
    return ngx_fcfh_cluster_scan(NGX_FCFH_CLUSTER_LIST,
                                 ngx_fcfh_cluster_listed, cursor, NULL,
                                 pool, handler, data);
}


/*
 * One page of a directory scan by a list script: the script's arguments
 * are the cursor, the page size and, for the device records, one GUID
 * (empty: the whole scan).
 */

static ngx_fcfh_cluster_req_t *
ngx_fcfh_cluster_scan(ngx_uint_t script, redisCallbackFn *done,
    ngx_str_t *cursor, ngx_str_t *guid, ngx_pool_t *pool,
    ngx_fcfh_cluster_list_pt handler, void *data)
{
    int                       argc;
    u_char                    count[NGX_INT_T_LEN];
    size_t                    len[6];
    const char               *argv[6];
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

    ngx_fcfh_cluster_script(ccf, script, argv, len);
    argv[2] = "0";
    len[2] = 1;
    argv[3] = (char *) cursor->data;
    len[3] = cursor->len;
    argv[4] = (char *) count;
    len[4] = ngx_sprintf(count, "%d", NGX_FCFH_CLUSTER_PAGE) - count;
    argc = 5;

    if (script == NGX_FCFH_CLUSTER_DEVICES) {
        argv[5] = guid ? (char *) guid->data : "";
        len[5] = guid ? guid->len : 0;
        argc = 6;
    }

    if (ngx_fcfh_cluster_command(ccf, done, req, argc, argv, len) != NGX_OK) {
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


/*
 * The directory's device records: one page of the scan (cursor), or one
 * device (guid, its text form, not empty); the answer goes to handler as
 * an array of ngx_fcfh_cluster_device_t in pool.
 */

ngx_fcfh_cluster_req_t *
ngx_fcfh_cluster_devices(ngx_str_t *cursor, ngx_str_t *guid,
    ngx_pool_t *pool, ngx_fcfh_cluster_list_pt handler, void *data)
{
    return ngx_fcfh_cluster_scan(NGX_FCFH_CLUSTER_DEVICES,
                                 ngx_fcfh_cluster_devices_listed, cursor,
                                 guid, pool, handler, data);
}


static void
ngx_fcfh_cluster_devices_listed(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                 *reply = r;
    ngx_str_t                   cursor;
    ngx_uint_t                  i, ok;
    ngx_array_t                *items;
    ngx_fcfh_cluster_req_t     *req = privdata;
    ngx_fcfh_cluster_device_t  *dev;

    req->in_redis = 0;

    ok = ngx_fcfh_cluster_answer(ac->data, reply);

    if (req->gone) {
        ngx_free(req);
        return;
    }

    ngx_str_null(&cursor);

    if (!ok || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || (reply->elements - 1) % NGX_FCFH_CLUSTER_DEVICE_FIELDS != 0)
    {
        goto failed;
    }

    for (i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            goto failed;
        }
    }

    items = ngx_array_create(req->list_pool,
                             (reply->elements - 1)
                             / NGX_FCFH_CLUSTER_DEVICE_FIELDS + 1,
                             sizeof(ngx_fcfh_cluster_device_t));
    if (items == NULL
        || ngx_fcfh_cluster_dup(req->list_pool, &cursor, reply->element[0])
           != NGX_OK)
    {
        goto failed;
    }

    for (i = 1; i < reply->elements; i += NGX_FCFH_CLUSTER_DEVICE_FIELDS) {

        dev = ngx_array_push(items);
        if (dev == NULL) {
            goto failed;
        }

        switch (ngx_fcfh_cluster_device(req->list_pool, &reply->element[i],
                                        dev))
        {
        case NGX_OK:
            break;

        case NGX_DECLINED:
            /* not a record of ours: not shown */
            items->nelts--;
            break;

        default:
            goto failed;
        }
    }

    req->list_handler(req->data, NGX_OK, &cursor, items);
    ngx_free(req);
    return;

failed:

    req->list_handler(req->data, NGX_ERROR, &cursor, NULL);
    ngx_free(req);
}


/*
 * One device of the answer, checked and cut as the history of one node
 * keeps it: a GUID, a node name, known names; NGX_DECLINED otherwise.
 */

static ngx_int_t
ngx_fcfh_cluster_device(ngx_pool_t *pool, redisReply **f,
    ngx_fcfh_cluster_device_t *dev)
{
    u_char                  *colon, *id;
    size_t                   id_len;
    ngx_str_t                num;
    ngx_int_t                n;
    ngx_uint_t               k;
    ngx_fcfh_device_info_t  *info;

    ngx_memzero(dev, sizeof(ngx_fcfh_cluster_device_t));
    info = &dev->info;

    if (ngx_fcfh_apf_guid_from_text(f[0]->str, f[0]->len, info->guid) != 0
        || !ngx_fcfh_cluster_node_valid((u_char *) f[1]->str, f[1]->len))
    {
        return NGX_DECLINED;
    }

    info->recorded = 1;
    info->connected = (f[12]->len == 1 && f[12]->str[0] == '1');

    info->first_connected = ngx_fcfh_cluster_time(f[2]);
    info->last_connected = ngx_fcfh_cluster_time(f[3]);
    info->last_disconnected = ngx_fcfh_cluster_time(f[4]);

    /* the close kind by its name; an unknown one counts as an error */
    info->reason = NGX_FCFH_CLOSE_ERROR;

    for (k = 0; k < NGX_FCFH_CLOSE_MAX; k++) {
        if (ngx_strlen(ngx_fcfh_close_name(k)) == f[5]->len
            && ngx_strncmp(ngx_fcfh_close_name(k), f[5]->str, f[5]->len)
               == 0)
        {
            info->reason = (uint32_t) k;
            break;
        }
    }

    info->connections = ngx_fcfh_cluster_serial(f[6]);

    if (info->connections == 0) {
        return NGX_DECLINED;
    }

    /* "password:<identity>" or "certificate:<identity>", as claimed */

    id = (u_char *) f[7]->str;
    id_len = f[7]->len;
    info->auth = NGX_FCFH_AUTH_PASSWORD;

    colon = ngx_strlchr(id, id + id_len, ':');

    if (colon) {
        if (colon - id == sizeof("certificate") - 1
            && ngx_strncmp(id, "certificate", sizeof("certificate") - 1)
               == 0)
        {
            info->auth = NGX_FCFH_AUTH_CERTIFICATE;
        }

        id_len -= colon + 1 - id;
        id = colon + 1;
    }

    num.data = (u_char *) f[10]->str;
    num.len = f[10]->len;
    n = (num.len && num.len <= NGX_INT32_LEN) ? ngx_atoi(num.data, num.len)
                                               : NGX_ERROR;
    info->trigger = (n == NGX_ERROR) ? 0 : (uint32_t) n;

    /* the sizes of one node's records (ngx_fcfh_device_t) */

    if (ngx_fcfh_cluster_copy(pool, &dev->node, (u_char *) f[1]->str,
                              f[1]->len, NGX_FCFH_CLUSTER_NAME_MAX)
           != NGX_OK
        || ngx_fcfh_cluster_copy(pool, &info->identity, id, id_len, 64)
           != NGX_OK
        || ngx_fcfh_cluster_copy(pool, &info->user, (u_char *) f[8]->str,
                                 f[8]->len, 32)
           != NGX_OK
        || ngx_fcfh_cluster_copy(pool, &info->peer, (u_char *) f[9]->str,
                                 f[9]->len, 48)
           != NGX_OK
        || ngx_fcfh_cluster_copy(pool, &info->fqdn, (u_char *) f[11]->str,
                                 f[11]->len, 64)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_fcfh_cluster_copy(ngx_pool_t *pool, ngx_str_t *dst, u_char *data,
    size_t len, size_t max)
{
    dst->len = ngx_min(len, max);

    if (dst->len == 0) {
        dst->data = NULL;
        return NGX_OK;
    }

    dst->data = ngx_pnalloc(pool, dst->len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, data, dst->len);

    return NGX_OK;
}


/* a Unix time from the directory; 0 (never) for anything else */

static time_t
ngx_fcfh_cluster_time(redisReply *r)
{
    time_t  t;

    if (r->len == 0 || r->len >= NGX_TIME_T_LEN) {
        return 0;
    }

    t = ngx_atotm((u_char *) r->str, r->len);

    return (t == NGX_ERROR) ? 0 : t;
}
