
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Device history: what the gateway remembers of a device once its tunnel
 * is gone (first and last connection, the last disconnection and why, the
 * peer, identity and trigger of the last tunnel, how many tunnels).
 *
 * The records are one array made with a fresh zone (fcfh_device_history
 * of them, at most a quarter of the zone: tunnels never wait for room the
 * history took), indexed by GUID in a tree ordered like the registry's
 * own GUID tree, and kept in least-recently-seen order: a new device
 * takes the oldest record when all are used.  Strings are cut to fixed
 * sizes, as in the event ring.
 *
 * "Connected" is the registry's word, never the record's: a device is
 * connected when the registry indexes a tunnel of it.  A page of devices
 * walks both trees at once, in the same order, so that a connected
 * device whose record was evicted (or with the history off) is listed
 * too, and a cursor (the last GUID of a page) stays valid while devices
 * come and go.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_history.h"


static ngx_fcfh_device_t *ngx_fcfh_history_find(ngx_fcfh_zone_t *zone,
    u_char *guid);
static void ngx_fcfh_history_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_fcfh_history_cmp(ngx_uint_t k1, u_char *g1,
    ngx_uint_t k2, u_char *g2);
static void ngx_fcfh_history_put(u_char *dst, u_char *len, size_t size,
    u_char *src, size_t n);
static ngx_int_t ngx_fcfh_history_info(ngx_pool_t *pool,
    ngx_fcfh_device_t *d, ngx_fcfh_entry_t *e, ngx_fcfh_device_info_t *info);
static ngx_int_t ngx_fcfh_history_match(ngx_fcfh_devices_query_t *q,
    ngx_fcfh_device_t *d, ngx_fcfh_entry_t *e);
static ngx_int_t ngx_fcfh_history_dup(ngx_pool_t *pool, ngx_str_t *s,
    u_char *data, size_t len);


/*
 * A fresh zone: the records, all free.  The number the zone can spare
 * may be less than asked for; a reload that keeps the zone keeps them.
 */

ngx_int_t
ngx_fcfh_history_init_zone(ngx_slab_pool_t *shpool, ngx_fcfh_zone_t *zone,
    ngx_int_t configured, size_t zone_size, ngx_log_t *log)
{
    ngx_uint_t  i, max, wanted;

    ngx_rbtree_init(&zone->history_tree, &zone->history_sentinel,
                    ngx_fcfh_history_insert);
    ngx_queue_init(&zone->history_lru);
    ngx_queue_init(&zone->history_free);

    max = zone_size / NGX_FCFH_HISTORY_ZONE_SHARE / sizeof(ngx_fcfh_device_t);

    /* the default fits what the zone can spare, silently */
    wanted = (configured == NGX_CONF_UNSET)
             ? ngx_min(NGX_FCFH_HISTORY_DEFAULT, max) : (ngx_uint_t) configured;

    if (wanted > max) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "fcfh_device_history %ui does not fit in a quarter of "
                      "the zone, keeping %ui records", wanted, max);
        wanted = max;
    }

    zone->history_max = 0;
    zone->history_count = 0;
    zone->history = NULL;

    if (wanted == 0) {
        return NGX_OK;
    }

    zone->history = ngx_slab_alloc(shpool,
                                   wanted * sizeof(ngx_fcfh_device_t));
    if (zone->history == NULL) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "no room in the fcfh zone for %ui device history "
                      "records", wanted);
        return NGX_ERROR;
    }

    for (i = 0; i < wanted; i++) {
        ngx_queue_insert_tail(&zone->history_free, &zone->history[i].queue);
    }

    zone->history_max = wanted;

    return NGX_OK;
}


/* a tunnel registered (under the registry's lock) */

void
ngx_fcfh_history_connect_locked(ngx_fcfh_zone_t *zone, ngx_fcfh_entry_t *e)
{
    u_char             *s;
    ngx_queue_t        *q;
    ngx_fcfh_device_t  *d;

    if (zone->history_max == 0) {
        return;
    }

    d = ngx_fcfh_history_find(zone, e->guid);

    if (d) {
        ngx_queue_remove(&d->queue);

    } else {
        if (!ngx_queue_empty(&zone->history_free)) {
            q = ngx_queue_head(&zone->history_free);
            zone->history_count++;

        } else {
            /* the device seen least recently makes room */
            q = ngx_queue_head(&zone->history_lru);
            d = ngx_queue_data(q, ngx_fcfh_device_t, queue);
            ngx_rbtree_delete(&zone->history_tree, &d->node);
        }

        ngx_queue_remove(q);
        d = ngx_queue_data(q, ngx_fcfh_device_t, queue);

        ngx_memzero(d, sizeof(ngx_fcfh_device_t));
        ngx_memcpy(d->guid, e->guid, NGX_FCFH_APF_GUID_SIZE);
        d->node.key = e->node.key;
        d->first_connected = e->connected_at;

        ngx_rbtree_insert(&zone->history_tree, &d->node);
    }

    ngx_queue_insert_tail(&zone->history_lru, &d->queue);

    d->connections++;
    d->last_connected = e->connected_at;
    d->trigger = e->trigger;
    d->auth = (uint16_t) e->auth;

    /* the strings stored after the entry: identity, user, peer */
    s = e->data;

    ngx_fcfh_history_put(d->identity, &d->identity_len, sizeof(d->identity),
                         s, e->identity_len);
    s += e->identity_len;

    ngx_fcfh_history_put(d->user, &d->user_len, sizeof(d->user), s,
                         e->user_len);
    s += e->user_len;

    ngx_fcfh_history_put(d->peer, &d->peer_len, sizeof(d->peer), s,
                         e->peer_len);

    /* the name comes later (set_fqdn); the last one stays until then */
}


/* the tunnel's name changed (under the lock) */

void
ngx_fcfh_history_fqdn_locked(ngx_fcfh_zone_t *zone, ngx_fcfh_entry_t *e)
{
    ngx_fcfh_device_t  *d;

    if (zone->history_max == 0 || e->fqdn_len == 0) {
        return;
    }

    d = ngx_fcfh_history_find(zone, e->guid);

    if (d) {
        ngx_fcfh_history_put(d->fqdn, &d->fqdn_len, sizeof(d->fqdn), e->fqdn,
                             e->fqdn_len);
    }
}


/*
 * A tunnel ended (under the lock), once per entry.  A tunnel replaced by
 * a newer one of the same device ends after the newer one registered:
 * its end is recorded too ("replaced"), while the registry still says
 * the device is connected.
 */

void
ngx_fcfh_history_ended_locked(ngx_fcfh_zone_t *zone, ngx_fcfh_entry_t *e,
    ngx_uint_t kind)
{
    ngx_fcfh_device_t  *d;

    if (e->ended) {
        return;
    }

    e->ended = 1;

    if (zone->history_max == 0) {
        return;
    }

    d = ngx_fcfh_history_find(zone, e->guid);

    if (d == NULL) {
        return;
    }

    d->last_disconnected = ngx_time();
    d->reason = (uint32_t) kind;

    ngx_queue_remove(&d->queue);
    ngx_queue_insert_tail(&zone->history_lru, &d->queue);
}


/*
 * One page of devices in the trees' order (crc32 of the GUID, then the
 * GUID), after the cursor q->after; the matching devices of all pages
 * counted in q->total.  Each tree is walked once, under the lock; only
 * the page is copied.
 */

ngx_int_t
ngx_fcfh_history_page(ngx_pool_t *pool, ngx_fcfh_devices_query_t *q,
    ngx_array_t *out)
{
    ngx_int_t                rc, c;
    ngx_uint_t               after_key;
    ngx_fcfh_zone_t         *zone;
    ngx_slab_pool_t         *shpool;
    ngx_rbtree_node_t       *dn, *en;
    ngx_fcfh_entry_t        *e;
    ngx_fcfh_device_t       *d;
    ngx_fcfh_device_info_t  *info;

    shpool = ngx_fcfh_registry_shpool(&zone);
    if (shpool == NULL) {
        return NGX_ERROR;
    }

    q->total = 0;
    q->more = 0;

    after_key = q->has_after
                ? ngx_crc32_short(q->after, NGX_FCFH_APF_GUID_SIZE) : 0;

    rc = NGX_OK;

    ngx_shmtx_lock(&shpool->mutex);

    dn = (zone->history_tree.root != zone->history_tree.sentinel)
         ? ngx_rbtree_min(zone->history_tree.root,
                          zone->history_tree.sentinel)
         : NULL;

    en = (zone->guid_tree.root != zone->guid_tree.sentinel)
         ? ngx_rbtree_min(zone->guid_tree.root, zone->guid_tree.sentinel)
         : NULL;

    while (dn || en) {

        d = (ngx_fcfh_device_t *) dn;
        e = (ngx_fcfh_entry_t *) en;

        if (d && e) {
            c = ngx_fcfh_history_cmp(d->node.key, d->guid, e->node.key,
                                     e->guid);
            if (c < 0) {
                e = NULL;

            } else if (c > 0) {
                d = NULL;
            }

        }

        if (d) {
            dn = ngx_rbtree_next(&zone->history_tree, dn);
        }

        if (e) {
            en = ngx_rbtree_next(&zone->guid_tree, en);
        }

        if (!ngx_fcfh_history_match(q, d, e)) {
            continue;
        }

        q->total++;

        if (q->has_after
            && ngx_fcfh_history_cmp(d ? d->node.key : e->node.key,
                                    d ? d->guid : e->guid, after_key,
                                    q->after)
               <= 0)
        {
            continue;
        }

        if (out->nelts == q->limit) {
            q->more = 1;
            continue;
        }

        info = ngx_array_push(out);
        if (info == NULL || ngx_fcfh_history_info(pool, d, e, info) != NGX_OK)
        {
            rc = NGX_ERROR;
            break;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


/* one device by GUID: NGX_OK, or NGX_DECLINED when nothing is known */

ngx_int_t
ngx_fcfh_history_device(ngx_pool_t *pool, u_char *guid,
    ngx_fcfh_device_info_t *info)
{
    ngx_int_t           rc;
    ngx_uint_t          key;
    ngx_rbtree_node_t  *node, *sentinel;
    ngx_fcfh_zone_t    *zone;
    ngx_fcfh_entry_t   *e;
    ngx_slab_pool_t    *shpool;
    ngx_fcfh_device_t  *d;

    shpool = ngx_fcfh_registry_shpool(&zone);
    if (shpool == NULL) {
        return NGX_ERROR;
    }

    key = ngx_crc32_short(guid, NGX_FCFH_APF_GUID_SIZE);

    ngx_shmtx_lock(&shpool->mutex);

    d = ngx_fcfh_history_find(zone, guid);

    /* the registry's GUID tree: the same order */
    e = NULL;
    node = zone->guid_tree.root;
    sentinel = zone->guid_tree.sentinel;

    while (node != sentinel) {
        rc = ngx_fcfh_history_cmp(key, guid, node->key,
                                  ((ngx_fcfh_entry_t *) node)->guid);
        if (rc == 0) {
            e = (ngx_fcfh_entry_t *) node;
            break;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    if (d == NULL && e == NULL) {
        rc = NGX_DECLINED;

    } else {
        rc = ngx_fcfh_history_info(pool, d, e, info);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


void
ngx_fcfh_history_counts(ngx_uint_t *known, ngx_uint_t *capacity)
{
    ngx_fcfh_zone_t  *zone;
    ngx_slab_pool_t  *shpool;

    *known = 0;
    *capacity = 0;

    shpool = ngx_fcfh_registry_shpool(&zone);
    if (shpool == NULL) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);

    /* with the history off, the devices known are the connected ones */
    *known = zone->history_max ? zone->history_count : zone->count;
    *capacity = zone->history_max;

    ngx_shmtx_unlock(&shpool->mutex);
}


static ngx_fcfh_device_t *
ngx_fcfh_history_find(ngx_fcfh_zone_t *zone, u_char *guid)
{
    ngx_int_t           rc;
    ngx_uint_t          key;
    ngx_rbtree_node_t  *node, *sentinel;

    if (zone->history_max == 0) {
        return NULL;
    }

    key = ngx_crc32_short(guid, NGX_FCFH_APF_GUID_SIZE);

    node = zone->history_tree.root;
    sentinel = zone->history_tree.sentinel;

    while (node != sentinel) {
        rc = ngx_fcfh_history_cmp(key, guid, node->key,
                                  ((ngx_fcfh_device_t *) node)->guid);
        if (rc == 0) {
            return (ngx_fcfh_device_t *) node;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* the registry's GUID order: crc32, then the GUID's bytes */

static ngx_int_t
ngx_fcfh_history_cmp(ngx_uint_t k1, u_char *g1, ngx_uint_t k2, u_char *g2)
{
    if (k1 != k2) {
        return (k1 < k2) ? -1 : 1;
    }

    return ngx_memcmp(g1, g2, NGX_FCFH_APF_GUID_SIZE);
}


static void
ngx_fcfh_history_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {

        p = (ngx_fcfh_history_cmp(node->key,
                                  ((ngx_fcfh_device_t *) node)->guid,
                                  temp->key,
                                  ((ngx_fcfh_device_t *) temp)->guid)
             < 0)
            ? &temp->left : &temp->right;

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
ngx_fcfh_history_put(u_char *dst, u_char *len, size_t size, u_char *src,
    size_t n)
{
    *len = (u_char) ngx_min(n, size);

    if (*len) {
        ngx_memcpy(dst, src, *len);
    }
}


static ngx_int_t
ngx_fcfh_history_match(ngx_fcfh_devices_query_t *q, ngx_fcfh_device_t *d,
    ngx_fcfh_entry_t *e)
{
    /* an entry out of the indexes is no longer connected */

    switch (q->state) {

    case NGX_FCFH_DEVICES_CONNECTED:
        if (e == NULL) {
            return 0;
        }
        break;

    case NGX_FCFH_DEVICES_DISCONNECTED:
        if (e) {
            return 0;
        }
        break;
    }

    /* seen since: connected now, or connected or gone since then */

    if (q->since && e == NULL
        && d->last_connected < q->since && d->last_disconnected < q->since)
    {
        return 0;
    }

    return 1;
}


/* a device for the API (under the lock): d, e or both */

static ngx_int_t
ngx_fcfh_history_info(ngx_pool_t *pool, ngx_fcfh_device_t *d,
    ngx_fcfh_entry_t *e, ngx_fcfh_device_info_t *info)
{
    u_char  *s;

    ngx_memzero(info, sizeof(ngx_fcfh_device_info_t));

    info->connected = (e != NULL);

    if (d) {
        ngx_memcpy(info->guid, d->guid, NGX_FCFH_APF_GUID_SIZE);
        info->recorded = 1;
        info->connections = d->connections;
        info->first_connected = d->first_connected;
        info->last_connected = d->last_connected;
        info->last_disconnected = d->last_disconnected;
        info->reason = d->reason;
        info->trigger = d->trigger;
        info->auth = d->auth;

        if (ngx_fcfh_history_dup(pool, &info->fqdn, d->fqdn, d->fqdn_len)
            != NGX_OK
            || ngx_fcfh_history_dup(pool, &info->identity, d->identity,
                                    d->identity_len)
               != NGX_OK
            || ngx_fcfh_history_dup(pool, &info->user, d->user, d->user_len)
               != NGX_OK
            || ngx_fcfh_history_dup(pool, &info->peer, d->peer, d->peer_len)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    /* no record (history off, or evicted): what the live tunnel says */

    ngx_memcpy(info->guid, e->guid, NGX_FCFH_APF_GUID_SIZE);
    info->first_connected = e->connected_at;
    info->last_connected = e->connected_at;
    info->trigger = e->trigger;
    info->auth = e->auth;

    s = e->data;

    if (ngx_fcfh_history_dup(pool, &info->fqdn, e->fqdn, e->fqdn_len)
        != NGX_OK
        || ngx_fcfh_history_dup(pool, &info->identity, s, e->identity_len)
           != NGX_OK
        || ngx_fcfh_history_dup(pool, &info->user, s + e->identity_len,
                                e->user_len)
           != NGX_OK
        || ngx_fcfh_history_dup(pool, &info->peer,
                                s + e->identity_len + e->user_len,
                                e->peer_len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_fcfh_history_dup(ngx_pool_t *pool, ngx_str_t *s, u_char *data,
    size_t len)
{
    s->len = len;

    if (len == 0) {
        s->data = NULL;
        return NGX_OK;
    }

    s->data = ngx_pnalloc(pool, len);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s->data, data, len);

    return NGX_OK;
}
