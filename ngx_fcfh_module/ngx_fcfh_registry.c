
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_open.h"
#include "ngx_fcfh_history.h"


static ngx_slab_pool_t *ngx_fcfh_registry_pool(ngx_fcfh_zone_t **zone);
static void ngx_fcfh_registry_key(ngx_rbtree_node_t *node,
    ngx_uint_t by_fqdn, u_char **key, size_t *len);
static void ngx_fcfh_registry_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel, ngx_uint_t by_fqdn);
static void ngx_fcfh_registry_guid_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_fcfh_registry_fqdn_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_fcfh_entry_t *ngx_fcfh_registry_find(ngx_rbtree_t *tree,
    ngx_uint_t by_fqdn, u_char *key, size_t len);
static void ngx_fcfh_registry_unindex(ngx_fcfh_zone_t *zone,
    ngx_fcfh_entry_t *entry);
static void ngx_fcfh_registry_free_locked(ngx_slab_pool_t *shpool,
    ngx_fcfh_zone_t *zone, ngx_fcfh_entry_t *entry);
static ngx_int_t ngx_fcfh_registry_copy(ngx_pool_t *pool,
    ngx_fcfh_entry_t *entry, ngx_fcfh_entry_info_t *info);
static ngx_int_t ngx_fcfh_registry_pid_alive(ngx_pid_t pid);
static ngx_int_t ngx_fcfh_registry_match(ngx_fcfh_tunnels_query_t *q,
    ngx_fcfh_entry_t *e);
static ngx_int_t ngx_fcfh_registry_order(ngx_fcfh_entry_t *e,
    ngx_uint_t key, u_char *guid);
static ngx_uint_t ngx_fcfh_registry_holds_free_locked(
    ngx_slab_pool_t *shpool, ngx_fcfh_zone_t *zone, ngx_pid_t *pids,
    ngx_pid_t pid);
static u_char *ngx_fcfh_registry_put(u_char *p, ngx_str_t *s);
static void ngx_fcfh_event_build(ngx_uint_t type, ngx_uint_t reason,
    u_char *guid, u_char *holder, ngx_str_t *fqdn, ngx_str_t *identity,
    ngx_str_t *user, ngx_str_t *peer, ngx_uint_t trigger);
static void ngx_fcfh_event_push(ngx_slab_pool_t *shpool,
    ngx_fcfh_zone_t *zone, ngx_fcfh_event_t *e);
static void ngx_fcfh_event_from_entry(ngx_fcfh_event_t *ev,
    ngx_fcfh_entry_t *e);


static ngx_slab_pool_t *
ngx_fcfh_registry_pool(ngx_fcfh_zone_t **zone)
{
    ngx_slab_pool_t       *shpool;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

    if (fmcf == NULL || fmcf->shm_zone == NULL) {
        return NULL;
    }

    shpool = (ngx_slab_pool_t *) fmcf->shm_zone->shm.addr;
    *zone = shpool->data;

    return shpool;
}


ngx_int_t
ngx_fcfh_registry_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_fcfh_zone_t  *ozone = data;

    size_t                 len;
    ngx_fcfh_zone_t       *zone;
    ngx_slab_pool_t       *shpool;
    ngx_fcfh_main_conf_t  *fmcf;

    /* set by fcfh_zone: this configuration's core settings */
    fmcf = shm_zone->data;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (ozone) {
        /* reload with the same name and size: keep every tunnel listed */

        if (ozone->layout != NGX_FCFH_ZONE_LAYOUT) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "fcfh zone \"%V\" was created by an incompatible "
                          "module version, restart nginx instead of "
                          "reloading it", &shm_zone->shm.name);
            return NGX_ERROR;
        }

        shm_zone->data = ozone;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    zone = ngx_slab_calloc(shpool, sizeof(ngx_fcfh_zone_t));
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->layout = NGX_FCFH_ZONE_LAYOUT;

    /*
     * in the master, before any worker: a reload that reuses the zone
     * keeps it, so old and new workers still reach each other
     */
    if (RAND_bytes(zone->secret, NGX_FCFH_ZONE_SECRET_SIZE) != 1) {
        ngx_ssl_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "RAND_bytes() for the fcfh zone's secret failed");
        return NGX_ERROR;
    }

    ngx_rbtree_init(&zone->guid_tree, &zone->guid_sentinel,
                    ngx_fcfh_registry_guid_insert);
    ngx_rbtree_init(&zone->fqdn_tree, &zone->fqdn_sentinel,
                    ngx_fcfh_registry_fqdn_insert);
    ngx_queue_init(&zone->entries);
    ngx_queue_init(&zone->holds);

    if (ngx_fcfh_history_init_zone(shpool, zone, fmcf->device_history,
                                   shm_zone->shm.size, shm_zone->shm.log)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    shpool->data = zone;
    shm_zone->data = zone;

    len = sizeof(" in fcfh zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in fcfh zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is an expected condition, reported as a refusal */
    shpool->log_nomem = 0;

    /* a fresh zone: e.g. the webhook subscribers of the last run */
    if (fmcf->zone_created) {
        fmcf->zone_created(fmcf, shpool, zone, shm_zone->shm.log);
    }

    return NGX_OK;
}


/*
 * Both indexes order entries by crc32 of the key, then by the key bytes:
 * the GUID for one tree, the (lower-cased) FQDN for the other.
 */

static void
ngx_fcfh_registry_key(ngx_rbtree_node_t *node, ngx_uint_t by_fqdn,
    u_char **key, size_t *len)
{
    ngx_fcfh_entry_t  *e;

    if (by_fqdn) {
        e = ngx_rbtree_data(node, ngx_fcfh_entry_t, fqdn_node);
        *key = e->fqdn;
        *len = e->fqdn_len;

    } else {
        e = (ngx_fcfh_entry_t *) node;
        *key = e->guid;
        *len = NGX_FCFH_APF_GUID_SIZE;
    }
}


static void
ngx_fcfh_registry_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel, ngx_uint_t by_fqdn)
{
    u_char              *nk, *tk;
    size_t               nlen, tlen;
    ngx_rbtree_node_t  **p;

    ngx_fcfh_registry_key(node, by_fqdn, &nk, &nlen);

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            ngx_fcfh_registry_key(temp, by_fqdn, &tk, &tlen);

            p = (ngx_memn2cmp(nk, tk, nlen, tlen) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static void
ngx_fcfh_registry_guid_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_fcfh_registry_insert(temp, node, sentinel, 0);
}


static void
ngx_fcfh_registry_fqdn_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_fcfh_registry_insert(temp, node, sentinel, 1);
}


static ngx_fcfh_entry_t *
ngx_fcfh_registry_find(ngx_rbtree_t *tree, ngx_uint_t by_fqdn, u_char *key,
    size_t len)
{
    u_char             *nk;
    size_t              nlen;
    ngx_int_t           rc;
    ngx_uint_t          hash;
    ngx_rbtree_node_t  *node, *sentinel;

    hash = ngx_crc32_short(key, len);

    node = tree->root;
    sentinel = tree->sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        ngx_fcfh_registry_key(node, by_fqdn, &nk, &nlen);

        rc = ngx_memn2cmp(key, nk, len, nlen);

        if (rc == 0) {
            return by_fqdn ? ngx_rbtree_data(node, ngx_fcfh_entry_t, fqdn_node)
                           : (ngx_fcfh_entry_t *) node;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * NGX_OK: registered (*evict_local: this worker's tunnel it replaced);
 * NGX_DECLINED: the GUID is held by another identity; NGX_ABORT:
 * fcfh_max_tunnels reached; NGX_BUSY: the zone is full.
 */

ngx_int_t
ngx_fcfh_registry_add(ngx_fcfh_registration_t *reg, ngx_fcfh_entry_t **entry,
    void **evict_local, ngx_log_t *log)
{
    u_char            *p;
    size_t             size;
    ngx_int_t          max;
    ngx_pid_t          old_pid;
    ngx_fcfh_zone_t   *zone;
    ngx_fcfh_entry_t  *e, *old;
    ngx_slab_pool_t   *shpool;

    *entry = NULL;
    *evict_local = NULL;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return NGX_ERROR;
    }

    size = offsetof(ngx_fcfh_entry_t, data)
           + reg->identity.len + reg->user.len + reg->peer.len
           + reg->tls_protocol.len + reg->tls_cipher.len;

    old_pid = 0;

again:

    ngx_shmtx_lock(&shpool->mutex);

    old = ngx_fcfh_registry_find(&zone->guid_tree, 0, reg->guid,
                                 NGX_FCFH_APF_GUID_SIZE);

    if (old) {
        if ((old->auth != reg->auth
             || ngx_memn2cmp(old->data, reg->identity.data,
                             old->identity_len, reg->identity.len)
                != 0)
            && !(reg->bound && !old->bound))
        {
            /* a device may only displace itself */

            if (old->pid == ngx_pid || old->pid == old_pid) {
                ngx_shmtx_unlock(&shpool->mutex);
                return NGX_DECLINED;
            }

            /* the holder may be a dead worker's leftover: check outside */

            old_pid = old->pid;
            ngx_shmtx_unlock(&shpool->mutex);

            if (ngx_fcfh_registry_pid_alive(old_pid)) {
                return NGX_DECLINED;
            }

            ngx_fcfh_registry_sweep(log);
            goto again;
        }
    }

    max = ngx_fcfh_get_main_conf(ngx_cycle)->max_tunnels;

    /* a device replacing its own tunnel is no new tunnel */

    if (old == NULL && max && zone->count >= (ngx_uint_t) max) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_ABORT;
    }

    /* a full zone refuses the newcomer only: the old tunnel keeps serving */

    e = ngx_slab_alloc_locked(shpool, size);
    if (e == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_BUSY;
    }

    if (old) {
        /*
         * newest wins: AMT reconnects before the old TCP connection dies;
         * and an identity whose binding names the GUID takes it back from
         * one that was merely allowed any GUID
         */

        ngx_fcfh_registry_unindex(zone, old);
        old->evicted = 1;

        if (old->pid == ngx_pid) {
            *evict_local = old->tunnel;

        } else {
            zone->workers[old->slot].evictions++;
        }
    }

    ngx_memzero(e, offsetof(ngx_fcfh_entry_t, data));

    ngx_memcpy(e->guid, reg->guid, NGX_FCFH_APF_GUID_SIZE);
    e->pid = ngx_pid;
    e->slot = ngx_fcfh_get_main_conf(ngx_cycle)->slot;
    e->serial = ++zone->serial;
    e->tunnel = reg->tunnel;
    e->connected_at = ngx_time();
    e->ports_at = e->connected_at;
    e->trigger = reg->trigger;
    e->major = (uint16_t) reg->major;
    e->minor = (uint16_t) reg->minor;
    e->keepalive = reg->keepalive;
    e->auth = reg->auth;
    e->bound = reg->bound ? 1 : 0;

    e->identity_len = (uint16_t) reg->identity.len;
    e->user_len = (uint16_t) reg->user.len;
    e->peer_len = (uint16_t) reg->peer.len;
    e->tls_protocol_len = (uint16_t) reg->tls_protocol.len;
    e->tls_cipher_len = (uint16_t) reg->tls_cipher.len;

    p = e->data;
    p = ngx_fcfh_registry_put(p, &reg->identity);
    p = ngx_fcfh_registry_put(p, &reg->user);
    p = ngx_fcfh_registry_put(p, &reg->peer);
    p = ngx_fcfh_registry_put(p, &reg->tls_protocol);
    (void) ngx_fcfh_registry_put(p, &reg->tls_cipher);

    e->node.key = ngx_crc32_short(e->guid, NGX_FCFH_APF_GUID_SIZE);
    ngx_rbtree_insert(&zone->guid_tree, &e->node);
    ngx_queue_insert_tail(&zone->entries, &e->queue);
    e->indexed = 1;
    zone->count++;

    ngx_fcfh_history_connect_locked(zone, e);

    ngx_shmtx_unlock(&shpool->mutex);

    *entry = e;

    return NGX_OK;
}


static void
ngx_fcfh_registry_unindex(ngx_fcfh_zone_t *zone, ngx_fcfh_entry_t *entry)
{
    if (!entry->indexed) {
        return;
    }

    ngx_rbtree_delete(&zone->guid_tree, &entry->node);

    if (entry->fqdn_indexed) {
        ngx_rbtree_delete(&zone->fqdn_tree, &entry->fqdn_node);
        entry->fqdn_indexed = 0;
    }

    entry->indexed = 0;
    zone->count--;
}


static void
ngx_fcfh_registry_free_locked(ngx_slab_pool_t *shpool, ngx_fcfh_zone_t *zone,
    ngx_fcfh_entry_t *entry)
{
    ngx_fcfh_registry_unindex(zone, entry);
    ngx_queue_remove(&entry->queue);

    if (entry->fqdn) {
        ngx_slab_free_locked(shpool, entry->fqdn);
    }

    ngx_slab_free_locked(shpool, entry);
}


void
ngx_fcfh_registry_remove(ngx_fcfh_entry_t *entry)
{
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);

    /* a tunnel that ended without saying why (nothing if it did) */
    ngx_fcfh_history_ended_locked(zone, entry, NGX_FCFH_CLOSE_ERROR);

    ngx_fcfh_registry_free_locked(shpool, zone, entry);
    ngx_shmtx_unlock(&shpool->mutex);
}


/* why a tunnel ended, for the device history: before its removal */

void
ngx_fcfh_registry_ended(ngx_fcfh_entry_t *entry, ngx_uint_t kind)
{
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);
    ngx_fcfh_history_ended_locked(zone, entry, kind);
    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * Names belong to devices: a name indexed for another device's live
 * tunnel is refused (NGX_DECLINED, *holder: that device's GUID), so a
 * console naming a device reaches that device or nothing.  The same
 * device reconnecting keeps its name: its old entry left the indexes
 * when the new one registered.  NGX_ERROR: the zone is full; the entry
 * keeps the name it had.
 */

ngx_int_t
ngx_fcfh_registry_set_fqdn(ngx_fcfh_entry_t *entry, u_char *fqdn, size_t len,
    u_char *holder, ngx_log_t *log)
{
    u_char            *p;
    ngx_pid_t          checked;
    ngx_fcfh_zone_t   *zone;
    ngx_fcfh_entry_t  *other;
    ngx_slab_pool_t   *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return NGX_ERROR;
    }

    p = NULL;

    if (len) {
        p = ngx_slab_alloc(shpool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_strlow(p, fqdn, len);
    }

    checked = 0;

again:

    ngx_shmtx_lock(&shpool->mutex);

    other = len ? ngx_fcfh_registry_find(&zone->fqdn_tree, 1, p, len) : NULL;

    if (other && other != entry) {

        if (other->pid != ngx_pid && other->pid != checked) {
            /* the holder may be a dead worker's leftover: check outside */

            checked = other->pid;
            ngx_shmtx_unlock(&shpool->mutex);

            if (!ngx_fcfh_registry_pid_alive(checked)) {
                ngx_fcfh_registry_sweep(log);
            }

            goto again;
        }

        if (holder) {
            ngx_memcpy(holder, other->guid, NGX_FCFH_APF_GUID_SIZE);
        }

        ngx_slab_free_locked(shpool, p);
        ngx_shmtx_unlock(&shpool->mutex);

        return NGX_DECLINED;
    }

    if (entry->fqdn_indexed) {
        ngx_rbtree_delete(&zone->fqdn_tree, &entry->fqdn_node);
        entry->fqdn_indexed = 0;
    }

    if (entry->fqdn) {
        ngx_slab_free_locked(shpool, entry->fqdn);
    }

    entry->fqdn = p;
    entry->fqdn_len = (uint16_t) len;

    if (len && entry->indexed) {
        entry->fqdn_node.key = ngx_crc32_short(p, len);
        ngx_rbtree_insert(&zone->fqdn_tree, &entry->fqdn_node);
        entry->fqdn_indexed = 1;

        ngx_fcfh_history_fqdn_locked(zone, entry);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/*
 * The cluster directory gave the name to another node's device: this
 * node stops routing it to the tunnel (guid, serial).  NGX_OK and the
 * name dropped in *name (room for NGX_FCFH_APF_DEFAULT_MAX_STRING bytes),
 * or NGX_DECLINED: no such tunnel, or no name.
 */

ngx_int_t
ngx_fcfh_registry_drop_fqdn(u_char *guid, uint64_t serial, ngx_str_t *name)
{
    ngx_int_t          rc;
    ngx_fcfh_zone_t   *zone;
    ngx_fcfh_entry_t  *e;
    ngx_slab_pool_t   *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&shpool->mutex);

    e = ngx_fcfh_registry_find(&zone->guid_tree, 0, guid,
                               NGX_FCFH_APF_GUID_SIZE);

    if (e && e->serial == serial && e->fqdn) {
        name->len = ngx_min(e->fqdn_len, NGX_FCFH_APF_DEFAULT_MAX_STRING);
        ngx_memcpy(name->data, e->fqdn, name->len);

        if (e->fqdn_indexed) {
            ngx_rbtree_delete(&zone->fqdn_tree, &e->fqdn_node);
            e->fqdn_indexed = 0;
        }

        ngx_slab_free_locked(shpool, e->fqdn);
        e->fqdn = NULL;
        e->fqdn_len = 0;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


void
ngx_fcfh_registry_set_ports(ngx_fcfh_entry_t *entry, uint16_t *ports,
    ngx_uint_t n)
{
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);
    ngx_memcpy(entry->ports, ports, n * sizeof(uint16_t));
    entry->nports = (uint16_t) n;
    entry->ports_at = ngx_time();
    ngx_shmtx_unlock(&shpool->mutex);
}


static ngx_int_t
ngx_fcfh_registry_copy(ngx_pool_t *pool, ngx_fcfh_entry_t *e,
    ngx_fcfh_entry_info_t *info)
{
    u_char      *p, *s;
    size_t       size, len[5];
    ngx_str_t   *field[5];
    ngx_uint_t   i;

    ngx_memcpy(info->guid, e->guid, NGX_FCFH_APF_GUID_SIZE);
    info->pid = e->pid;
    info->serial = e->serial;
    info->connected_at = e->connected_at;
    info->last_keepalive = e->last_keepalive;
    info->bytes_in = e->bytes_in;
    info->bytes_out = e->bytes_out;
    info->trigger = e->trigger;
    info->major = e->major;
    info->minor = e->minor;
    info->keepalive = e->keepalive;
    info->nchannels = e->nchannels;
    info->alerts = e->alerts;
    info->alert_after_connect = e->alert_after_connect;
    info->log_evidence = e->log_evidence;
    info->auth = e->auth;
    info->nports = e->nports;
    ngx_memcpy(info->ports, e->ports, sizeof(e->ports));

    size = e->fqdn_len + e->identity_len + e->user_len + e->peer_len
           + e->tls_protocol_len + e->tls_cipher_len;

    p = ngx_pnalloc(pool, size ? size : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    info->fqdn.data = p;
    info->fqdn.len = e->fqdn_len;

    if (e->fqdn_len) {
        /* no FQDN yet: e->fqdn is NULL */
        p = ngx_cpymem(p, e->fqdn, e->fqdn_len);
    }

    /* the strings stored after the entry, in this order */

    field[0] = &info->identity;
    field[1] = &info->user;
    field[2] = &info->peer;
    field[3] = &info->tls_protocol;
    field[4] = &info->tls_cipher;

    len[0] = e->identity_len;
    len[1] = e->user_len;
    len[2] = e->peer_len;
    len[3] = e->tls_protocol_len;
    len[4] = e->tls_cipher_len;

    s = e->data;

    for (i = 0; i < 5; i++) {
        field[i]->data = p;
        field[i]->len = len[i];
        p = ngx_cpymem(p, s, len[i]);
        s += len[i];
    }

    return NGX_OK;
}


/*
 * Finds the tunnel of a device named by a GUID in text form or an FQDN.
 * NGX_DECLINED: no such device.
 */

ngx_int_t
ngx_fcfh_registry_route(ngx_str_t *device, ngx_fcfh_route_t *route)
{
    u_char             guid[NGX_FCFH_APF_GUID_SIZE];
    u_char             low[NGX_FCFH_APF_DEFAULT_MAX_STRING];
    ngx_int_t          by_guid;
    ngx_fcfh_zone_t   *zone;
    ngx_fcfh_entry_t  *e;
    ngx_slab_pool_t   *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return NGX_ERROR;
    }

    by_guid = (ngx_fcfh_apf_guid_from_text((char *) device->data, device->len,
                                           guid)
               == 0);

    if (!by_guid) {
        if (device->len == 0 || device->len > sizeof(low)) {
            return NGX_DECLINED;
        }

        ngx_strlow(low, device->data, device->len);
    }

    ngx_shmtx_lock(&shpool->mutex);

    e = by_guid ? ngx_fcfh_registry_find(&zone->guid_tree, 0, guid,
                                         NGX_FCFH_APF_GUID_SIZE)
                : ngx_fcfh_registry_find(&zone->fqdn_tree, 1, low,
                                         device->len);

    if (e) {
        ngx_memcpy(route->guid, e->guid, NGX_FCFH_APF_GUID_SIZE);
        route->pid = e->pid;
        route->serial = e->serial;
        route->nports = e->nports;
        ngx_memcpy(route->ports, e->ports, sizeof(e->ports));
        route->settled = (ngx_time() - e->ports_at >= NGX_FCFH_SETTLE);
        route->local = (e->pid == ngx_pid) ? e->tunnel : NULL;
        route->fqdn_len = 0;

        if (e->fqdn && e->fqdn_len) {
            route->fqdn_len = ngx_min(e->fqdn_len, sizeof(route->fqdn));
            ngx_memcpy(route->fqdn, e->fqdn, route->fqdn_len);
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return e ? NGX_OK : NGX_DECLINED;
}


/*
 * Whether a route's device serves the port: NGX_FCFH_OPEN_OK, or
 * NGX_FCFH_OPEN_PORT when it did not forward it, or NGX_FCFH_OPEN_NO_TUNNEL
 * while it is still registering its ports (AMT sends one forward at a
 * time): "not there yet", not "refused".
 */

ngx_uint_t
ngx_fcfh_route_port(ngx_fcfh_route_t *route, ngx_uint_t port)
{
    ngx_uint_t  i;

    for (i = 0; i < route->nports; i++) {
        if (route->ports[i] == port) {
            return NGX_FCFH_OPEN_OK;
        }
    }

    return route->settled ? NGX_FCFH_OPEN_PORT : NGX_FCFH_OPEN_NO_TUNNEL;
}


/*
 * A fresh entry in the device's event log was found at its connection
 * (fcfh_api evidence): marked on that tunnel, not on a newer one.
 */

void
ngx_fcfh_registry_set_evidence(u_char *guid, uint64_t serial)
{
    ngx_fcfh_zone_t   *zone;
    ngx_fcfh_entry_t  *e;
    ngx_slab_pool_t   *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);

    e = ngx_fcfh_registry_find(&zone->guid_tree, 0, guid,
                               NGX_FCFH_APF_GUID_SIZE);

    if (e && e->serial == serial) {
        e->log_evidence = 1;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * Closes a device's tunnel for the API: out of the indexes at once (the
 * device is no longer listed or routable), then its owner worker sends
 * DISCONNECT and closes it, as for a tunnel replaced by a newer one.
 */

ngx_int_t
ngx_fcfh_registry_close(ngx_str_t *device, ngx_log_t *log)
{
    ngx_fcfh_route_t  route;

    if (ngx_fcfh_registry_route(device, &route) != NGX_OK) {
        return NGX_DECLINED;
    }

    return ngx_fcfh_registry_close_guid(route.guid, route.serial, 1);
}


/*
 * Closes the tunnel of a device by GUID, only the one with that serial
 * (0: whichever), for the API or because the device moved to another
 * gateway node (api = 0: closed as replaced).
 */

ngx_int_t
ngx_fcfh_registry_close_guid(u_char *guid, uint64_t serial, ngx_uint_t api)
{
    void              *local;
    ngx_fcfh_link_t   *link;
    ngx_fcfh_zone_t   *zone;
    ngx_fcfh_entry_t  *e;
    ngx_slab_pool_t   *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return NGX_ERROR;
    }

    local = NULL;

    ngx_shmtx_lock(&shpool->mutex);

    e = ngx_fcfh_registry_find(&zone->guid_tree, 0, guid,
                               NGX_FCFH_APF_GUID_SIZE);

    if (e == NULL || (serial && e->serial != serial)) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_DECLINED;
    }

    ngx_fcfh_registry_unindex(zone, e);
    e->evicted = 1;
    e->close_api = api ? 1 : 0;

    if (e->pid == ngx_pid) {
        local = e->tunnel;

    } else {
        zone->workers[e->slot].evictions++;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (local) {
        link = local;
        link->evict(link);
    }

    return NGX_OK;
}


ngx_slab_pool_t *
ngx_fcfh_registry_shpool(ngx_fcfh_zone_t **zone)
{
    return ngx_fcfh_registry_pool(zone);
}


ngx_fcfh_counters_t *
ngx_fcfh_registry_counters(void)
{
    ngx_fcfh_zone_t  *zone;

    if (ngx_fcfh_registry_pool(&zone) == NULL) {
        return NULL;
    }

    return &zone->counters;
}


/*
 * Prometheus client libraries' default bounds, and 30 s for devices on
 * slow links (the handshake timeout's default is 30 s too)
 */

const ngx_msec_t  ngx_fcfh_histogram_bounds[NGX_FCFH_HISTOGRAM_BOUNDS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};


void
ngx_fcfh_histogram_add(ngx_fcfh_histogram_t *h, ngx_msec_t ms)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_FCFH_HISTOGRAM_BOUNDS; i++) {
        if (ms <= ngx_fcfh_histogram_bounds[i]) {
            break;
        }
    }

    /* i == NGX_FCFH_HISTOGRAM_BOUNDS: the +Inf bucket */

    (void) ngx_atomic_fetch_add(&h->bucket[i], 1);
    (void) ngx_atomic_fetch_add(&h->sum, ms);
}


u_char *
ngx_fcfh_registry_secret(void)
{
    ngx_fcfh_zone_t  *zone;

    if (ngx_fcfh_registry_pool(&zone) == NULL) {
        return NULL;
    }

    return zone->secret;
}


void
ngx_fcfh_event_emit(ngx_uint_t type, ngx_uint_t reason, u_char *guid,
    ngx_str_t *fqdn, ngx_str_t *identity, ngx_str_t *user, ngx_str_t *peer,
    ngx_uint_t trigger)
{
    ngx_fcfh_event_build(type, reason, guid, NULL, fqdn, identity, user,
                         peer, trigger);
}


/* a device asked for a name another device's live tunnel holds */

void
ngx_fcfh_event_conflict(u_char *guid, u_char *holder, ngx_str_t *fqdn,
    ngx_str_t *identity, ngx_str_t *peer)
{
    ngx_fcfh_event_build(NGX_FCFH_EVENT_FQDN_CONFLICT, 0, guid, holder, fqdn,
                         identity, NULL, peer, 0);
}


/* an event the caller built whole (console events): time, pid, pushed */

void
ngx_fcfh_event_put(ngx_fcfh_event_t *e)
{
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return;
    }

    e->time = ngx_time();
    e->pid = ngx_pid;

    ngx_fcfh_event_push(shpool, zone, e);
}


static void
ngx_fcfh_event_build(ngx_uint_t type, ngx_uint_t reason, u_char *guid,
    u_char *holder, ngx_str_t *fqdn, ngx_str_t *identity, ngx_str_t *user,
    ngx_str_t *peer, ngx_uint_t trigger)
{
    ngx_fcfh_zone_t   *zone;
    ngx_fcfh_event_t   e;
    ngx_slab_pool_t   *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return;
    }

    /* built outside the lock, copied in under it */

    ngx_memzero(&e, sizeof(ngx_fcfh_event_t));

    if (holder) {
        ngx_memcpy(e.holder, holder, NGX_FCFH_APF_GUID_SIZE);
    }

    e.time = ngx_time();
    e.pid = ngx_pid;
    e.type = (uint32_t) type;
    e.reason = (uint32_t) reason;
    e.trigger = (uint32_t) trigger;

    if (guid) {
        ngx_memcpy(e.guid, guid, NGX_FCFH_APF_GUID_SIZE);
    }

#define ngx_fcfh_event_str(field, str)                                        \
    if (str && (str)->len) {                                                  \
        e.field##_len = (u_char) ngx_min((str)->len, sizeof(e.field));         \
        ngx_memcpy(e.field, (str)->data, e.field##_len);                      \
    }

    ngx_fcfh_event_str(fqdn, fqdn);
    ngx_fcfh_event_str(identity, identity);
    ngx_fcfh_event_str(user, user);
    ngx_fcfh_event_str(peer, peer);

#undef ngx_fcfh_event_str

    ngx_fcfh_event_push(shpool, zone, &e);
}


static void
ngx_fcfh_event_push(ngx_slab_pool_t *shpool, ngx_fcfh_zone_t *zone,
    ngx_fcfh_event_t *e)
{
    ngx_shmtx_lock(&shpool->mutex);

    e->seq = ++zone->event_seq;
    zone->events[e->seq % NGX_FCFH_EVENTS] = *e;

    ngx_shmtx_unlock(&shpool->mutex);

    (void) ngx_atomic_fetch_add(&zone->counters.events, 1);
}


/* a "disconnected, worker_exit" event for an entry, under the lock */

static void
ngx_fcfh_event_from_entry(ngx_fcfh_event_t *ev, ngx_fcfh_entry_t *e)
{
    u_char  *s;

    ngx_memzero(ev, sizeof(ngx_fcfh_event_t));

    ev->time = ngx_time();
    ev->pid = e->pid;
    ev->type = NGX_FCFH_EVENT_DISCONNECTED;
    ev->reason = NGX_FCFH_CLOSE_WORKER_EXIT;
    ev->trigger = e->trigger;
    ngx_memcpy(ev->guid, e->guid, NGX_FCFH_APF_GUID_SIZE);

    ev->fqdn_len = (u_char) ngx_min(e->fqdn_len, sizeof(ev->fqdn));

    if (ev->fqdn_len) {
        ngx_memcpy(ev->fqdn, e->fqdn, ev->fqdn_len);
    }

    s = e->data;

    ev->identity_len = (u_char) ngx_min(e->identity_len,
                                        sizeof(ev->identity));
    ngx_memcpy(ev->identity, s, ev->identity_len);
    s += e->identity_len;

    ev->user_len = (u_char) ngx_min(e->user_len, sizeof(ev->user));
    ngx_memcpy(ev->user, s, ev->user_len);
    s += e->user_len;

    ev->peer_len = (u_char) ngx_min(e->peer_len, sizeof(ev->peer));
    ngx_memcpy(ev->peer, s, ev->peer_len);
}


/*
 * The first event after seq "after": NGX_OK and *ev, or NGX_DECLINED when
 * there is none yet.  Events the ring no longer holds are counted in
 * *dropped (the reader was too slow), never skipped silently.
 */

ngx_int_t
ngx_fcfh_event_next(uint64_t after, ngx_fcfh_event_t *ev, uint64_t *dropped)
{
    uint64_t          first;
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    *dropped = 0;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&shpool->mutex);

    if (zone->event_seq <= after) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_DECLINED;
    }

    first = (zone->event_seq > NGX_FCFH_EVENTS)
            ? zone->event_seq - NGX_FCFH_EVENTS + 1 : 1;

    if (after + 1 < first) {
        *dropped = first - (after + 1);
        after = first - 1;
    }

    *ev = zone->events[(after + 1) % NGX_FCFH_EVENTS];

    ngx_shmtx_unlock(&shpool->mutex);

    if (*dropped) {
        (void) ngx_atomic_fetch_add(&zone->counters.events_dropped, *dropped);
    }

    return NGX_OK;
}


uint64_t
ngx_fcfh_event_last(void)
{
    uint64_t          seq;
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return 0;
    }

    ngx_shmtx_lock(&shpool->mutex);
    seq = zone->event_seq;
    ngx_shmtx_unlock(&shpool->mutex);

    return seq;
}


/* the tunnel of this worker that holds guid (and serial, when not 0) */

ngx_fcfh_link_t *
ngx_fcfh_registry_local(u_char *guid, uint64_t serial)
{
    ngx_fcfh_zone_t   *zone;
    ngx_fcfh_link_t   *link;
    ngx_fcfh_entry_t  *e;
    ngx_slab_pool_t   *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return NULL;
    }

    link = NULL;

    ngx_shmtx_lock(&shpool->mutex);

    e = ngx_fcfh_registry_find(&zone->guid_tree, 0, guid,
                               NGX_FCFH_APF_GUID_SIZE);

    if (e && e->pid == ngx_pid && (serial == 0 || e->serial == serial)) {
        link = e->tunnel;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return link;
}


/*
 * Copies the indexed entries (all, or the one named by device: a GUID in
 * text form or an FQDN) into out, an array of ngx_fcfh_entry_info_t.
 */

ngx_int_t
ngx_fcfh_registry_snapshot(ngx_pool_t *pool, ngx_str_t *device,
    ngx_array_t *out)
{
    u_char                  guid[NGX_FCFH_APF_GUID_SIZE];
    u_char                 *low;
    ngx_int_t               rc, by_guid;
    ngx_queue_t            *q;
    ngx_fcfh_zone_t        *zone;
    ngx_fcfh_entry_t       *e;
    ngx_slab_pool_t        *shpool;
    ngx_fcfh_entry_info_t  *info;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return NGX_ERROR;
    }

    low = NULL;
    by_guid = 0;

    if (device) {
        by_guid = (ngx_fcfh_apf_guid_from_text((char *) device->data,
                                               device->len, guid)
                   == 0);

        if (!by_guid) {
            low = ngx_pnalloc(pool, device->len ? device->len : 1);
            if (low == NULL) {
                return NGX_ERROR;
            }

            ngx_strlow(low, device->data, device->len);
        }
    }

    rc = NGX_OK;

    ngx_shmtx_lock(&shpool->mutex);

    if (device) {
        e = by_guid ? ngx_fcfh_registry_find(&zone->guid_tree, 0, guid,
                                             NGX_FCFH_APF_GUID_SIZE)
                    : ngx_fcfh_registry_find(&zone->fqdn_tree, 1, low,
                                             device->len);

        if (e) {
            info = ngx_array_push(out);
            if (info == NULL || ngx_fcfh_registry_copy(pool, e, info) != NGX_OK)
            {
                rc = NGX_ERROR;
            }
        }

        goto done;
    }

    for (q = ngx_queue_head(&zone->entries);
         q != ngx_queue_sentinel(&zone->entries);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_fcfh_entry_t, queue);

        if (!e->indexed) {
            continue;
        }

        info = ngx_array_push(out);
        if (info == NULL || ngx_fcfh_registry_copy(pool, e, info) != NGX_OK) {
            rc = NGX_ERROR;
            break;
        }
    }

done:

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


ngx_int_t
ngx_fcfh_registry_stats(size_t *size, size_t *used, ngx_uint_t *count)
{
    ngx_uint_t        free;
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&shpool->mutex);

    /* whole free pages: partly used slab pages count as used */
    free = shpool->pfree;

    *size = (u_char *) shpool->end - (u_char *) shpool;
    *used = *size - free * ngx_pagesize;
    *count = zone->count;

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/*
 * One page of tunnels in the GUID tree's order (crc32 of the GUID, then
 * the GUID), after the cursor q->after: the GUID of the last tunnel of
 * the page before, so that tunnels coming and going between two pages
 * shift no other.  All matching tunnels are counted (q->total); only
 * the page is copied.
 */

ngx_int_t
ngx_fcfh_registry_page(ngx_pool_t *pool, ngx_fcfh_tunnels_query_t *q,
    ngx_array_t *out)
{
    ngx_int_t               rc;
    ngx_uint_t              after_key;
    ngx_fcfh_zone_t        *zone;
    ngx_fcfh_entry_t       *e;
    ngx_slab_pool_t        *shpool;
    ngx_rbtree_node_t      *node;
    ngx_fcfh_entry_info_t  *info;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return NGX_ERROR;
    }

    q->total = 0;
    q->more = 0;

    after_key = q->has_after
                ? ngx_crc32_short(q->after, NGX_FCFH_APF_GUID_SIZE) : 0;

    rc = NGX_OK;

    ngx_shmtx_lock(&shpool->mutex);

    if (zone->guid_tree.root == zone->guid_tree.sentinel) {
        goto done;
    }

    for (node = ngx_rbtree_min(zone->guid_tree.root,
                               zone->guid_tree.sentinel);
         node;
         node = ngx_rbtree_next(&zone->guid_tree, node))
    {
        e = (ngx_fcfh_entry_t *) node;

        if (!ngx_fcfh_registry_match(q, e)) {
            continue;
        }

        q->total++;

        if (q->has_after
            && ngx_fcfh_registry_order(e, after_key, q->after) <= 0)
        {
            continue;
        }

        if (out->nelts == q->limit) {
            q->more = 1;
            continue;
        }

        info = ngx_array_push(out);
        if (info == NULL || ngx_fcfh_registry_copy(pool, e, info) != NGX_OK) {
            rc = NGX_ERROR;
            break;
        }
    }

done:

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


static ngx_int_t
ngx_fcfh_registry_match(ngx_fcfh_tunnels_query_t *q, ngx_fcfh_entry_t *e)
{
    if (q->by_guid
        && ngx_memcmp(e->guid, q->guid, NGX_FCFH_APF_GUID_SIZE) != 0)
    {
        return 0;
    }

    /* names are stored in lower case */

    if (q->fqdn_prefix.len
        && (e->fqdn_len < q->fqdn_prefix.len
            || ngx_strncasecmp(e->fqdn, q->fqdn_prefix.data,
                               q->fqdn_prefix.len)
               != 0))
    {
        return 0;
    }

    if (q->identity.len
        && ngx_memn2cmp(e->data, q->identity.data, e->identity_len,
                        q->identity.len)
           != 0)
    {
        return 0;
    }

    /* -1: any trigger; another negative value: a name no tunnel has */
    if (q->trigger != -1
        && (q->trigger < 0 || e->trigger != (uint32_t) q->trigger))
    {
        return 0;
    }

    if (q->since && e->connected_at < q->since) {
        return 0;
    }

    return 1;
}


/* an entry against a cursor, in the tree's order */

static ngx_int_t
ngx_fcfh_registry_order(ngx_fcfh_entry_t *e, ngx_uint_t key, u_char *guid)
{
    if (e->node.key != key) {
        return (e->node.key < key) ? -1 : 1;
    }

    return ngx_memcmp(e->guid, guid, NGX_FCFH_APF_GUID_SIZE);
}


/*
 * What the live tunnels add up to, under the lock and without copying
 * them: their bytes (which the counters get only when a tunnel ends),
 * channels and triggers.
 */

ngx_int_t
ngx_fcfh_registry_totals(ngx_fcfh_totals_t *t)
{
    ngx_queue_t       *q;
    ngx_fcfh_zone_t   *zone;
    ngx_fcfh_entry_t  *e;
    ngx_slab_pool_t   *shpool;

    ngx_memzero(t, sizeof(ngx_fcfh_totals_t));

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&shpool->mutex);

    t->count = zone->count;

    for (q = ngx_queue_head(&zone->entries);
         q != ngx_queue_sentinel(&zone->entries);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_fcfh_entry_t, queue);

        if (!e->indexed) {
            continue;
        }

        t->bytes_in += e->bytes_in;
        t->bytes_out += e->bytes_out;
        t->channels += e->nchannels;
        t->trigger[(e->trigger >= 1 && e->trigger <= 4)
                   ? e->trigger - 1 : 4]++;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/* the pids of the workers that hold a slot: at most max of them */

ngx_uint_t
ngx_fcfh_registry_workers(ngx_pid_t *pids, ngx_uint_t max)
{
    ngx_uint_t        i, n;
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return 0;
    }

    n = 0;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < NGX_FCFH_MAX_WORKERS && n < max; i++) {
        if (zone->workers[i].pid) {
            pids[n++] = zone->workers[i].pid;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return n;
}


static ngx_int_t
ngx_fcfh_registry_pid_alive(ngx_pid_t pid)
{
    if (pid <= 0) {
        return 0;
    }

    if (kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
        return 0;
    }

    return 1;
}


/*
 * Takes one of at most limit sessions (0: no limit, only counted) under
 * a key.  NGX_OK: *hold is held until released; NGX_BUSY: the limit
 * is reached (*held sessions); NGX_ERROR: the zone is full.
 */

ngx_int_t
ngx_fcfh_registry_hold(ngx_str_t *key, ngx_uint_t limit,
    ngx_fcfh_hold_t **hold, ngx_uint_t *held)
{
    ngx_uint_t             n;
    ngx_queue_t           *q;
    ngx_fcfh_zone_t       *zone;
    ngx_slab_pool_t       *shpool;
    ngx_fcfh_hold_t    *sn;
    ngx_fcfh_main_conf_t  *fmcf;

    *hold = NULL;
    *held = 0;

    if (key->len > NGX_FCFH_HOLD_KEY_MAX) {
        return NGX_ERROR;
    }

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return NGX_ERROR;
    }

    fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

    ngx_shmtx_lock(&shpool->mutex);

    n = 0;

    if (limit) {
        for (q = ngx_queue_head(&zone->holds);
             q != ngx_queue_sentinel(&zone->holds);
             q = ngx_queue_next(q))
        {
            sn = ngx_queue_data(q, ngx_fcfh_hold_t, queue);

            if (sn->key_len == key->len
                && ngx_memcmp(sn->key, key->data, key->len) == 0)
            {
                n++;
            }
        }

        if (n >= limit) {
            ngx_shmtx_unlock(&shpool->mutex);
            *held = n;
            return NGX_BUSY;
        }
    }

    sn = ngx_slab_alloc_locked(shpool, sizeof(ngx_fcfh_hold_t));

    if (sn) {
        sn->pid = ngx_pid;
        sn->slot = fmcf->slot;
        sn->key_len = key->len;
        ngx_memcpy(sn->key, key->data, key->len);

        ngx_queue_insert_tail(&zone->holds, &sn->queue);
        zone->nholds++;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (sn == NULL) {
        return NGX_ERROR;
    }

    *hold = sn;
    *held = n;

    return NGX_OK;
}


void
ngx_fcfh_registry_unhold(ngx_fcfh_hold_t *hold)
{
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL || hold == NULL) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);

    /* only a live worker's own: nobody else frees it meanwhile */
    if (hold->pid == ngx_pid) {
        ngx_queue_remove(&hold->queue);
        zone->nholds--;
        ngx_slab_free_locked(shpool, hold);
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/* the sessions of the dead workers in pids[] (by slot), or of pid */

static ngx_uint_t
ngx_fcfh_registry_holds_free_locked(ngx_slab_pool_t *shpool,
    ngx_fcfh_zone_t *zone, ngx_pid_t *pids, ngx_pid_t pid)
{
    ngx_uint_t           freed;
    ngx_queue_t         *q, *next;
    ngx_fcfh_hold_t  *sn;

    freed = 0;

    for (q = ngx_queue_head(&zone->holds);
         q != ngx_queue_sentinel(&zone->holds);
         q = next)
    {
        next = ngx_queue_next(q);
        sn = ngx_queue_data(q, ngx_fcfh_hold_t, queue);

        if (pids ? (sn->slot < NGX_FCFH_MAX_WORKERS
                    && pids[sn->slot] == sn->pid)
                 : sn->pid == pid)
        {
            ngx_queue_remove(q);
            zone->nholds--;
            ngx_slab_free_locked(shpool, sn);
            freed++;
        }
    }

    return freed;
}


/*
 * nginx has no hook for a dead worker: whoever notices frees its entries.
 * Liveness is checked outside the lock (kill() is a syscall), then the
 * entries of slots still holding the same dead pid are freed under it.
 */

void
ngx_fcfh_registry_sweep(ngx_log_t *log)
{
    ngx_pid_t              pids[NGX_FCFH_MAX_WORKERS];
    ngx_uint_t             gens[NGX_FCFH_MAX_WORKERS];
    ngx_uint_t             i, ndead, freed, ngone;
    ngx_queue_t           *q, *next;
    ngx_fcfh_zone_t       *zone;
    ngx_fcfh_event_t      *gone;
    ngx_fcfh_entry_t      *e;
    ngx_slab_pool_t       *shpool;
    ngx_fcfh_main_conf_t  *fmcf;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < NGX_FCFH_MAX_WORKERS; i++) {
        pids[i] = zone->workers[i].pid;
        gens[i] = zone->workers[i].generation;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    ndead = 0;

    for (i = 0; i < NGX_FCFH_MAX_WORKERS; i++) {

        if (pids[i] == 0 || pids[i] == ngx_pid) {
            pids[i] = 0;
            continue;
        }

        if (ngx_fcfh_registry_pid_alive(pids[i])) {
            pids[i] = 0;
            continue;
        }

        ndead++;
    }

    if (ndead == 0) {
        return;
    }

    freed = 0;
    ngone = 0;

    /* their tunnels end with them: "disconnected, worker_exit" events */
    gone = ngx_alloc(NGX_FCFH_EVENTS * sizeof(ngx_fcfh_event_t), log);

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < NGX_FCFH_MAX_WORKERS; i++) {

        /*
         * liveness was checked outside the lock: a new worker that got
         * the dead one's pid from the kernel may have taken the slot
         * since, which its generation tells
         */

        if (pids[i] == 0 || zone->workers[i].pid != pids[i]
            || zone->workers[i].generation != gens[i])
        {
            pids[i] = 0;
            continue;
        }

        zone->workers[i].pid = 0;
        zone->workers[i].evictions = 0;

        if (zone->webhook_owner == pids[i]) {
            /* another worker takes over the deliveries */
            zone->webhook_owner = 0;
        }
    }

    for (q = ngx_queue_head(&zone->entries);
         q != ngx_queue_sentinel(&zone->entries);
         q = next)
    {
        next = ngx_queue_next(q);
        e = ngx_queue_data(q, ngx_fcfh_entry_t, queue);

        if (e->slot < NGX_FCFH_MAX_WORKERS && pids[e->slot] == e->pid) {

            if (e->indexed) {
                /* evicted entries were reported when they were replaced */

                if (gone && ngone < NGX_FCFH_EVENTS) {
                    ngx_fcfh_event_from_entry(&gone[ngone++], e);
                }

                (void) ngx_atomic_fetch_add(
                    &zone->counters.closed[NGX_FCFH_CLOSE_WORKER_EXIT], 1);
                (void) ngx_atomic_fetch_add(&zone->counters.bytes_in,
                                            e->bytes_in);
                (void) ngx_atomic_fetch_add(&zone->counters.bytes_out,
                                            e->bytes_out);
            }

            ngx_fcfh_history_ended_locked(zone, e,
                                          e->indexed
                                          ? NGX_FCFH_CLOSE_WORKER_EXIT
                                          : e->close_api
                                          ? NGX_FCFH_CLOSE_API
                                          : NGX_FCFH_CLOSE_REPLACED);

            ngx_fcfh_registry_free_locked(shpool, zone, e);
            freed++;
        }
    }

    /* the consoles it served are gone with it */
    (void) ngx_fcfh_registry_holds_free_locked(shpool, zone, pids, 0);

    ngx_shmtx_unlock(&shpool->mutex);

    fmcf = ngx_fcfh_get_main_conf(ngx_cycle);

    for (i = 0; i < ngone; i++) {
        ngx_fcfh_event_push(shpool, zone, &gone[i]);

        if (fmcf->tunnel_swept) {
            /* e.g. the cluster's device history */
            fmcf->tunnel_swept(gone[i].guid, gone[i].reason);
        }
    }

    if (gone) {
        ngx_free(gone);
    }

    for (i = 0; i < NGX_FCFH_MAX_WORKERS; i++) {
        if (pids[i]) {
            if (fmcf->worker_gone) {
                /* e.g. its relay socket file */
                fmcf->worker_gone(pids[i]);
            }

            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "fcfh: worker %P is gone, swept its tunnels from "
                          "the registry", pids[i]);
        }
    }

    if (freed) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "fcfh: %ui stale registry entries swept", freed);
    }
}


ngx_int_t
ngx_fcfh_registry_worker_init(ngx_cycle_t *cycle)
{
    ngx_uint_t             i, slot;
    ngx_queue_t           *q, *next;
    ngx_fcfh_zone_t       *zone;
    ngx_fcfh_entry_t      *e;
    ngx_slab_pool_t       *shpool;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(cycle);

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return NGX_OK;
    }

    /*
     * Entries or a slot carrying our pid are leftovers of a dead process
     * whose pid the kernel gave us: nothing of ours exists yet.
     */

    ngx_shmtx_lock(&shpool->mutex);

    for (q = ngx_queue_head(&zone->entries);
         q != ngx_queue_sentinel(&zone->entries);
         q = next)
    {
        next = ngx_queue_next(q);
        e = ngx_queue_data(q, ngx_fcfh_entry_t, queue);

        if (e->pid == ngx_pid) {
            ngx_fcfh_history_ended_locked(zone, e,
                                          NGX_FCFH_CLOSE_WORKER_EXIT);
            ngx_fcfh_registry_free_locked(shpool, zone, e);
        }
    }

    for (i = 0; i < NGX_FCFH_MAX_WORKERS; i++) {
        if (zone->workers[i].pid == ngx_pid) {
            zone->workers[i].pid = 0;
        }
    }

    (void) ngx_fcfh_registry_holds_free_locked(shpool, zone, NULL,
                                                  ngx_pid);

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_fcfh_registry_sweep(cycle->log);

    slot = NGX_FCFH_MAX_WORKERS;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < NGX_FCFH_MAX_WORKERS; i++) {
        if (zone->workers[i].pid == 0) {
            slot = i;
            break;
        }
    }

    if (slot < NGX_FCFH_MAX_WORKERS) {
        zone->workers[slot].pid = ngx_pid;
        zone->workers[slot].generation++;
        zone->workers[slot].evictions = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (slot == NGX_FCFH_MAX_WORKERS) {
        ngx_log_error(NGX_LOG_CRIT, cycle->log, 0,
                      "fcfh: more than %d live workers share the zone",
                      NGX_FCFH_MAX_WORKERS);
        return NGX_ERROR;
    }

    fmcf->slot = slot;
    fmcf->evictions_seen = 0;

    return NGX_OK;
}


void
ngx_fcfh_registry_worker_exit(ngx_cycle_t *cycle)
{
    ngx_queue_t           *q, *next;
    ngx_fcfh_zone_t       *zone;
    ngx_fcfh_entry_t      *e;
    ngx_slab_pool_t       *shpool;
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(cycle);

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);

    for (q = ngx_queue_head(&zone->entries);
         q != ngx_queue_sentinel(&zone->entries);
         q = next)
    {
        next = ngx_queue_next(q);
        e = ngx_queue_data(q, ngx_fcfh_entry_t, queue);

        if (e->pid == ngx_pid) {
            ngx_fcfh_history_ended_locked(zone, e,
                                          NGX_FCFH_CLOSE_WORKER_EXIT);
            ngx_fcfh_registry_free_locked(shpool, zone, e);
        }
    }

    (void) ngx_fcfh_registry_holds_free_locked(shpool, zone, NULL,
                                                  ngx_pid);

    if (zone->workers[fmcf->slot].pid == ngx_pid) {
        zone->workers[fmcf->slot].pid = 0;
    }

    if (zone->webhook_owner == ngx_pid) {
        zone->webhook_owner = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}



ngx_uint_t
ngx_fcfh_registry_evictions(ngx_uint_t slot)
{
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    shpool = ngx_fcfh_registry_pool(&zone);
    if (shpool == NULL) {
        return 0;
    }

    return zone->workers[slot].evictions;
}


/* empty strings may carry a NULL pointer, which memcpy() must not see */

static u_char *
ngx_fcfh_registry_put(u_char *p, ngx_str_t *s)
{
    return s->len ? ngx_cpymem(p, s->data, s->len) : p;
}
