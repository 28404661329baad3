
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Device credentials: an htpasswd file,
 * "user:hash[:guid[,guid...][:name[,name...]]]",
 * loaded when the configuration is read (so "nginx -t" reports a broken
 * line and "nginx -s reload" picks up changes), checked with ngx_crypt().
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_crypt.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_htpasswd.h"
#include "ngx_fcfh_proxy_parse.h"


#define NGX_FCFH_MAX_CRED_FILE       (64 * 1024 * 1024)


static int ngx_libc_cdecl ngx_fcfh_cred_cmp(const void *one,
    const void *two);
static ngx_fcfh_cred_t *ngx_fcfh_htpasswd_find(ngx_fcfh_htpasswd_t *h,
    ngx_str_t *user);
static void ngx_fcfh_htpasswd_cleanup(void *data);
static ngx_int_t ngx_fcfh_htpasswd_seen(ngx_fcfh_htpasswd_t *h,
    ngx_str_t *password, u_char *mac);
static ngx_int_t ngx_fcfh_htpasswd_reserve(ngx_fcfh_htpasswd_t *h,
    ngx_pool_t *pool, const char **err);
static int ngx_libc_cdecl ngx_fcfh_reservation_cmp(const void *one,
    const void *two);
static ngx_int_t ngx_fcfh_htpasswd_reserve_names(ngx_fcfh_htpasswd_t *h,
    ngx_pool_t *pool, const char **err);
static int ngx_libc_cdecl ngx_fcfh_name_owner_cmp(const void *one,
    const void *two);


/* a valid apr1 hash of a random password: unknown users cost the same */
static u_char  ngx_fcfh_dummy_hash[] = "$apr1$fcfhdumy$JsQzsVnlPwTYNpQxePHkS/";


ngx_fcfh_htpasswd_t *
ngx_fcfh_htpasswd_load(ngx_conf_t *cf, ngx_str_t *file)
{
    u_char               *data;
    ssize_t               n;
    ngx_fd_t              fd;
    ngx_uint_t            line;
    ngx_file_t            f;
    ngx_file_info_t       fi;
    const char           *err;
    ngx_pool_cleanup_t   *cln;
    ngx_fcfh_htpasswd_t  *h;

    h = ngx_pcalloc(cf->pool, sizeof(ngx_fcfh_htpasswd_t));
    if (h == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_fcfh_htpasswd_cleanup;
    cln->data = h;

    h->file = *file;

    if (ngx_conf_full_name(cf->cycle, &h->file, 1) != NGX_OK) {
        return NULL;
    }

    fd = ngx_open_file(h->file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &h->file);
        return NULL;
    }

    ngx_memzero(&f, sizeof(ngx_file_t));
    f.fd = fd;
    f.name = h->file;
    f.log = cf->log;

    data = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &h->file);
        goto failed;
    }

    if (ngx_file_size(&fi) > NGX_FCFH_MAX_CRED_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "credentials file \"%V\" is larger than %d bytes",
                           &h->file, NGX_FCFH_MAX_CRED_FILE);
        goto failed;
    }

    if (fi.st_mode & S_IROTH) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "credentials file \"%V\" is readable by any user",
                           &h->file);
    }

    data = ngx_pnalloc(cf->temp_pool, ngx_file_size(&fi) + 1);
    if (data == NULL) {
        goto failed;
    }

    n = ngx_read_file(&f, data, ngx_file_size(&fi), 0);

    if (n == NGX_ERROR) {
        goto failed;
    }

    if (ngx_fcfh_htpasswd_parse(h, data, n, cf->pool, &line, &err)
        != NGX_OK)
    {
        if (line) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in credentials file \"%V\" line %ui",
                               err, &h->file, line);
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in credentials file \"%V\"",
                               err, &h->file);
        }
        goto failed;
    }

    ngx_close_file(fd);

    return h;

failed:

    ngx_close_file(fd);

    return NULL;
}


/*
 * Pure parser, also used by the fuzz target: on error sets *line and *err
 * and returns NGX_ERROR.
 */

ngx_int_t
ngx_fcfh_htpasswd_parse(ngx_fcfh_htpasswd_t *h, u_char *data, size_t len,
    ngx_pool_t *pool, ngx_uint_t *line, const char **err)
{
    u_char           *p, *last, *eol, *c1, *c2, *c3, *end;
    ngx_uint_t        i;
    ngx_fcfh_cred_t  *cred, *creds;

    if (ngx_array_init(&h->creds, pool, 16, sizeof(ngx_fcfh_cred_t))
        != NGX_OK)
    {
        *err = "out of memory";
        *line = 0;
        return NGX_ERROR;
    }

    p = data;
    last = data + len;
    *line = 0;

    while (p < last) {
        (*line)++;

        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        end = eol;

        /* CRs and blanks an editor left at the end are no part of a hash */
        while (end > p && (end[-1] == '\r' || end[-1] == ' '
                           || end[-1] == '\t'))
        {
            end--;
        }

        if (end - p > NGX_FCFH_MAX_CRED_LINE) {
            *err = "line too long";
            return NGX_ERROR;
        }

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == end || *p == '#') {
            p = eol + 1;
            continue;
        }

        c1 = ngx_strlchr(p, end, ':');

        if (c1 == NULL || c1 == p || c1 + 1 == end) {
            *err = "expected \"user:hash\"";
            return NGX_ERROR;
        }

        c2 = ngx_strlchr(c1 + 1, end, ':');

        if (c2 == c1 + 1) {
            *err = "empty password hash";
            return NGX_ERROR;
        }

        if (ngx_strlchr(p, c1, '\0') || ngx_strlchr(c1, end, '\0')) {
            *err = "NUL byte";
            return NGX_ERROR;
        }

        cred = ngx_array_push(&h->creds);
        if (cred == NULL) {
            *err = "out of memory";
            return NGX_ERROR;
        }

        cred->user.len = c1 - p;
        cred->user.data = ngx_pnalloc(pool, cred->user.len);
        if (cred->user.data == NULL) {
            *err = "out of memory";
            return NGX_ERROR;
        }

        ngx_memcpy(cred->user.data, p, cred->user.len);

        cred->hash.len = (c2 ? c2 : end) - (c1 + 1);
        cred->hash.data = ngx_pnalloc(pool, cred->hash.len + 1);
        if (cred->hash.data == NULL) {
            *err = "out of memory";
            return NGX_ERROR;
        }

        ngx_memcpy(cred->hash.data, c1 + 1, cred->hash.len);
        cred->hash.data[cred->hash.len] = '\0';

        ngx_str_null(&cred->guids);
        cred->seen = NULL;
        cred->line = *line;

        ngx_str_null(&cred->names);

        if (c2) {
            c3 = ngx_strlchr(c2 + 1, end, ':');

            cred->guids.len = (c3 ? c3 : end) - (c2 + 1);
            cred->guids.data = ngx_pnalloc(pool, cred->guids.len + 1);
            if (cred->guids.data == NULL) {
                *err = "out of memory";
                return NGX_ERROR;
            }

            ngx_memcpy(cred->guids.data, c2 + 1, cred->guids.len);

            if (ngx_fcfh_guid_list_allows(&cred->guids, NULL) == NGX_ERROR) {
                *err = "invalid GUID list";
                return NGX_ERROR;
            }

            if (c3) {
                /* the fourth field: the device names the user may claim */
                cred->names.len = end - (c3 + 1);
                cred->names.data = ngx_pnalloc(pool, cred->names.len);
                if (cred->names.data == NULL) {
                    *err = "out of memory";
                    return NGX_ERROR;
                }

                ngx_strlow(cred->names.data, c3 + 1, cred->names.len);

                if (ngx_fcfh_name_list_valid(&cred->names) != NGX_OK) {
                    *err = "invalid name list";
                    return NGX_ERROR;
                }
            }
        }

        p = eol + 1;
    }

    creds = h->creds.elts;

    ngx_qsort(creds, h->creds.nelts, sizeof(ngx_fcfh_cred_t),
              ngx_fcfh_cred_cmp);

    for (i = 1; i < h->creds.nelts; i++) {
        if (ngx_fcfh_cred_cmp(&creds[i - 1], &creds[i]) == 0) {
            /* the later of the two lines: the one an editor added */
            *line = ngx_max(creds[i - 1].line, creds[i].line);
            *err = "duplicate user";
            return NGX_ERROR;
        }
    }

    *line = 0;

    return ngx_fcfh_htpasswd_reserve(h, pool, err);
}


static int ngx_libc_cdecl
ngx_fcfh_cred_cmp(const void *one, const void *two)
{
    const ngx_fcfh_cred_t  *a = one, *b = two;

    return ngx_memn2cmp(a->user.data, b->user.data, a->user.len, b->user.len);
}


static ngx_fcfh_cred_t *
ngx_fcfh_htpasswd_find(ngx_fcfh_htpasswd_t *h, ngx_str_t *user)
{
    ngx_int_t         rc;
    ngx_uint_t        lo, hi, mid;
    ngx_fcfh_cred_t  *creds;

    creds = h->creds.elts;
    lo = 0;
    hi = h->creds.nelts;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        rc = ngx_memn2cmp(user->data, creds[mid].user.data, user->len,
                          creds[mid].user.len);

        if (rc == 0) {
            return &creds[mid];
        }

        if (rc < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return NULL;
}


/*
 * NGX_OK: the password matches the user's hash; NGX_DECLINED: unknown user
 * or wrong password (indistinguishable to the caller's peer: the same hash
 * work is done either way); NGX_ERROR: internal error.
 */

ngx_int_t
ngx_fcfh_htpasswd_check(ngx_fcfh_htpasswd_t *h, ngx_str_t *user,
    ngx_str_t *password, ngx_pool_t *pool, ngx_fcfh_cred_t **cred,
    ngx_uint_t *cached)
{
    u_char           *key, *salt, *encrypted;
    u_char            mac[NGX_FCFH_CRED_SEEN_SIZE];
    size_t            len;
    ngx_int_t         rc, have_mac;
    ngx_fcfh_cred_t  *c;

    *cred = NULL;
    *cached = 0;

    c = ngx_fcfh_htpasswd_find(h, user);

    /*
     * A password that passed before in this process is known by its HMAC
     * under a key of this process: one HMAC instead of the hash function,
     * which costs as much as a TLS handshake (apr1) or several (SHA-512
     * crypt) when a gateway's devices all reconnect at once.  A wrong
     * password always pays the full hash.
     */

    have_mac = (ngx_fcfh_htpasswd_seen(h, password, mac) == NGX_OK);

    if (c && c->seen && have_mac
        && CRYPTO_memcmp(mac, c->seen, NGX_FCFH_CRED_SEEN_SIZE) == 0)
    {
        ngx_explicit_memzero(mac, sizeof(mac));
        *cred = c;
        *cached = 1;
        return NGX_OK;
    }

    salt = c ? c->hash.data : ngx_fcfh_dummy_hash;

    key = ngx_pnalloc(pool, password->len + 1);
    if (key == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(key, password->data, password->len);
    key[password->len] = '\0';

    if (ngx_strlen(key) != password->len) {
        /* an embedded NUL would truncate the key crypt() sees */
        ngx_explicit_memzero(key, password->len);
        return NGX_DECLINED;
    }

    rc = ngx_crypt(pool, key, salt, &encrypted);

    ngx_explicit_memzero(key, password->len);

    if (rc != NGX_OK) {
        return (rc == NGX_ERROR) ? NGX_ERROR : NGX_DECLINED;
    }

    if (c == NULL) {
        return NGX_DECLINED;
    }

    len = ngx_strlen(encrypted);

    if (len != c->hash.len
        || CRYPTO_memcmp(encrypted, c->hash.data, len) != 0)
    {
        return NGX_DECLINED;
    }

    if (have_mac) {
        if (c->seen == NULL) {
            /* this process's copy of the credentials, from now on */
            c->seen = ngx_alloc(NGX_FCFH_CRED_SEEN_SIZE, ngx_cycle->log);
        }

        if (c->seen) {
            ngx_memcpy(c->seen, mac, NGX_FCFH_CRED_SEEN_SIZE);
        }

        ngx_explicit_memzero(mac, sizeof(mac));
    }

    *cred = c;

    return NGX_OK;
}


/* the HMAC context a worker made, when its configuration goes */

static void
ngx_fcfh_htpasswd_cleanup(void *data)
{
    ngx_fcfh_htpasswd_t  *h = data;

    if (h->mac) {
        EVP_MAC_CTX_free(h->mac);
        h->mac = NULL;
    }
}


/*
 * HMAC-SHA-256 of a password under this process's key, made on first use
 * with its context: OpenSSL 3's one-shot HMAC() looks the algorithms up
 * and builds a context for every call, eight times the work of the MAC
 * itself on a device's few bytes.
 */

static ngx_int_t
ngx_fcfh_htpasswd_seen(ngx_fcfh_htpasswd_t *h, ngx_str_t *password,
    u_char *mac)
{
    size_t       len;
    EVP_MAC     *hmac;
    OSSL_PARAM   params[2];

    if (h->key_pid != ngx_pid) {
        /* a new process: a key of its own (a parent's context is freed) */

        if (h->mac) {
            EVP_MAC_CTX_free(h->mac);
            h->mac = NULL;
        }

        if (RAND_bytes(h->key, NGX_FCFH_CRED_SEEN_SIZE) != 1) {
            return NGX_ERROR;
        }

        hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (hmac == NULL) {
            return NGX_ERROR;
        }

        h->mac = EVP_MAC_CTX_new(hmac);
        EVP_MAC_free(hmac);

        if (h->mac == NULL) {
            return NGX_ERROR;
        }

        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     (char *) "SHA256", 0);
        params[1] = OSSL_PARAM_construct_end();

        if (EVP_MAC_init(h->mac, h->key, NGX_FCFH_CRED_SEEN_SIZE, params)
            != 1)
        {
            EVP_MAC_CTX_free(h->mac);
            h->mac = NULL;
            return NGX_ERROR;
        }

        h->key_pid = ngx_pid;
    }

    /* without a key, the context starts over with the one it has */

    if (EVP_MAC_init(h->mac, NULL, 0, NULL) != 1
        || EVP_MAC_update(h->mac, password->data, password->len) != 1
        || EVP_MAC_final(h->mac, mac, &len, NGX_FCFH_CRED_SEEN_SIZE) != 1
        || len != NGX_FCFH_CRED_SEEN_SIZE)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * list: GUIDs separated by spaces or commas, or "*".  guid == NULL only
 * validates the list.  Returns NGX_OK (the list names the GUID), NGX_DONE
 * (allowed by "*" only), NGX_DECLINED, NGX_ERROR (malformed list).
 */

ngx_int_t
ngx_fcfh_guid_list_allows(ngx_str_t *list, u_char *guid)
{
    u_char      wire[NGX_FCFH_APF_GUID_SIZE];
    ngx_int_t   rc;
    ngx_str_t   item;
    ngx_uint_t  next, named;

    rc = NGX_DECLINED;
    named = 0;
    next = 0;

    while (ngx_fcfh_list_next(list, &next, &item) == NGX_OK) {

        if (item.len == 1 && item.data[0] == '*') {
            rc = NGX_DONE;
            continue;
        }

        if (ngx_fcfh_apf_guid_from_text((char *) item.data, item.len, wire)
            != 0)
        {
            return NGX_ERROR;
        }

        if (guid && ngx_memcmp(wire, guid, NGX_FCFH_APF_GUID_SIZE) == 0) {
            named = 1;
        }
    }

    return named ? NGX_OK : rc;
}


/*
 * GUIDs named in a user's list are that user's: another identity may not
 * register them, even one allowed any GUID.  The user holding the GUID,
 * or NULL.
 */

ngx_str_t *
ngx_fcfh_htpasswd_reserved(ngx_fcfh_htpasswd_t *h, u_char *guid)
{
    ngx_fcfh_reservation_t   key, *r;

    if (h == NULL || h->reserved.nelts == 0) {
        return NULL;
    }

    ngx_memcpy(key.guid, guid, NGX_FCFH_APF_GUID_SIZE);

    r = bsearch(&key, h->reserved.elts, h->reserved.nelts,
                sizeof(ngx_fcfh_reservation_t), ngx_fcfh_reservation_cmp);

    return r ? &r->cred->user : NULL;
}


/* every GUID named in the file, sorted, for ngx_fcfh_htpasswd_reserved() */

static ngx_int_t
ngx_fcfh_htpasswd_reserve(ngx_fcfh_htpasswd_t *h, ngx_pool_t *pool,
    const char **err)
{
    ngx_str_t                item;
    ngx_uint_t               i, next;
    ngx_fcfh_cred_t         *creds;
    ngx_fcfh_reservation_t  *r, *all;

    if (ngx_array_init(&h->reserved, pool, 16,
                       sizeof(ngx_fcfh_reservation_t))
        != NGX_OK)
    {
        *err = "out of memory";
        return NGX_ERROR;
    }

    creds = h->creds.elts;

    for (i = 0; i < h->creds.nelts; i++) {
        next = 0;

        while (ngx_fcfh_list_next(&creds[i].guids, &next, &item) == NGX_OK) {

            if (item.len == 1 && item.data[0] == '*') {
                continue;
            }

            r = ngx_array_push(&h->reserved);
            if (r == NULL) {
                *err = "out of memory";
                return NGX_ERROR;
            }

            /* the list was validated */
            (void) ngx_fcfh_apf_guid_from_text((char *) item.data, item.len,
                                               r->guid);
            r->cred = &creds[i];
        }
    }

    if (ngx_fcfh_htpasswd_reserve_names(h, pool, err) != NGX_OK) {
        return NGX_ERROR;
    }

    all = h->reserved.elts;

    ngx_qsort(all, h->reserved.nelts, sizeof(ngx_fcfh_reservation_t),
              ngx_fcfh_reservation_cmp);

    for (i = 1; i < h->reserved.nelts; i++) {
        if (ngx_memcmp(all[i - 1].guid, all[i].guid, NGX_FCFH_APF_GUID_SIZE)
            == 0
            && all[i - 1].cred != all[i].cred)
        {
            *err = "a GUID bound to two users";
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* every exact name a line lists, sorted: that user's alone */

static ngx_int_t
ngx_fcfh_htpasswd_reserve_names(ngx_fcfh_htpasswd_t *h, ngx_pool_t *pool,
    const char **err)
{
    ngx_str_t                item;
    ngx_uint_t               i, next;
    ngx_fcfh_cred_t         *creds;
    ngx_fcfh_name_owner_t   *r, *all;

    if (ngx_array_init(&h->names, pool, 4, sizeof(ngx_fcfh_name_owner_t))
        != NGX_OK)
    {
        *err = "out of memory";
        return NGX_ERROR;
    }

    creds = h->creds.elts;

    for (i = 0; i < h->creds.nelts; i++) {
        next = 0;

        while (ngx_fcfh_list_next(&creds[i].names, &next, &item) == NGX_OK) {

            if (item.data[0] == '*' || item.data[0] == '.'
                || item.data[0] == '~'
                || (item.len == sizeof("certificate") - 1
                    && ngx_strncmp(item.data, "certificate", item.len) == 0))
            {
                continue;
            }

            r = ngx_array_push(&h->names);
            if (r == NULL) {
                *err = "out of memory";
                return NGX_ERROR;
            }

            r->name = item;
            r->cred = &creds[i];
        }
    }

    all = h->names.elts;

    ngx_qsort(all, h->names.nelts, sizeof(ngx_fcfh_name_owner_t),
              ngx_fcfh_name_owner_cmp);

    for (i = 1; i < h->names.nelts; i++) {
        if (ngx_fcfh_name_owner_cmp(&all[i - 1], &all[i]) == 0
            && all[i - 1].cred != all[i].cred)
        {
            *err = "a name bound to two users";
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the user whose line lists the name (lower case), or NULL */

ngx_str_t *
ngx_fcfh_htpasswd_name_owner(ngx_fcfh_htpasswd_t *h, ngx_str_t *name)
{
    ngx_fcfh_name_owner_t   key, *r;

    if (h == NULL || h->names.nelts == 0) {
        return NULL;
    }

    key.name = *name;

    r = bsearch(&key, h->names.elts, h->names.nelts,
                sizeof(ngx_fcfh_name_owner_t), ngx_fcfh_name_owner_cmp);

    return r ? &r->cred->user : NULL;
}


/*
 * A name list (fourth field of a line, or fcfh_device_names): "*",
 * "certificate", "*.suffix" or ".suffix", "~regex", or exact names.
 * NGX_OK when each item is one of these.
 */

ngx_int_t
ngx_fcfh_name_list_valid(ngx_str_t *list)
{
    u_char      *p;
    size_t       len;
    ngx_str_t    item;
    ngx_uint_t   next;

    next = 0;

    while (ngx_fcfh_list_next(list, &next, &item) == NGX_OK) {

        if ((item.len == 1 && item.data[0] == '*')
            || item.data[0] == '~'
            || (item.len == sizeof("certificate") - 1
                && ngx_strncmp(item.data, "certificate", item.len) == 0))
        {
            continue;
        }

        p = item.data;
        len = item.len;

        if (p[0] == '*') {
            p++;
            len--;
        }

        if (len && p[0] == '.') {
            p++;
            len--;
        }

        if (ngx_fcfh_proxy_parse_host(p, len, NULL)
            == NGX_FCFH_PROXY_HOST_INVALID)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The next item of a list separated by spaces, tabs or commas: NGX_OK and
 * *item, or NGX_DONE at the end.  *next starts at 0.
 */

ngx_int_t
ngx_fcfh_list_next(ngx_str_t *list, ngx_uint_t *next, ngx_str_t *item)
{
    u_char  *p, *last, *start;

    if (*next >= list->len) {
        /* an empty list may have no data at all */
        return NGX_DONE;
    }

    p = list->data + *next;
    last = list->data + list->len;

    while (p < last && (*p == ' ' || *p == ',' || *p == '\t')) {
        p++;
    }

    start = p;

    while (p < last && *p != ' ' && *p != ',' && *p != '\t') {
        p++;
    }

    *next = p - list->data;

    if (p == start) {
        return NGX_DONE;
    }

    item->data = start;
    item->len = p - start;

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_fcfh_name_owner_cmp(const void *one, const void *two)
{
    const ngx_fcfh_name_owner_t  *a = one;
    const ngx_fcfh_name_owner_t  *b = two;

    return ngx_memn2cmp(a->name.data, b->name.data, a->name.len,
                        b->name.len);
}


static int ngx_libc_cdecl
ngx_fcfh_reservation_cmp(const void *one, const void *two)
{
    const ngx_fcfh_reservation_t  *a = one;
    const ngx_fcfh_reservation_t  *b = two;

    return ngx_memcmp(a->guid, b->guid, NGX_FCFH_APF_GUID_SIZE);
}


/*
 * The directive slot of every credentials file directive: "file" or "off",
 * into the ngx_fcfh_htpasswd_t pointer at cmd->offset (NGX_CONF_UNSET_PTR
 * until set).
 */

char *
ngx_fcfh_htpasswd_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t             *value;
    ngx_fcfh_htpasswd_t  **h;

    h = (ngx_fcfh_htpasswd_t **) (p + cmd->offset);

    if (*h != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        *h = NULL;
        return NGX_CONF_OK;
    }

    *h = ngx_fcfh_htpasswd_load(cf, &value[1]);
    if (*h == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
