
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Console tokens in http: the module ngx_http_fcfh_token_module with
 *
 *   fcfh_token_secret <file> | off;   the HS256 key, read at configuration
 *   fcfh_token_lifetime <time>;       of the tokens issued (5m)
 *   fcfh_token_user <value>;          their "sub" ($remote_user)
 *   fcfh_token_issue;                 a location that issues tokens only
 *
 * and what the front doors and the API call:
 *
 *   ngx_http_fcfh_token_issue()   GET <fcfh_api>/authorize/redirection/<id>
 *                                 -> {"token": "..."}, as Open AMT's MPS
 *                                 answers its web UI; behind the API
 *                                 location's own access rules (or
 *                                 GET <fcfh_token_issue location><id>);
 *   ngx_http_fcfh_token_check()   a console's token for a device, before
 *                                 the WebSocket upgrade (the front door
 *                                 answers 401 with the reason).
 *
 * Tokens stay out of logs: nothing here logs one, and where a secret is
 * configured a rewrite-phase handler masks "auth=" query values in the
 * request line that $request and the error log's request context show.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_apf.h"
#include "ngx_fcfh_registry.h"
#include "ngx_fcfh_cluster.h"
#include "ngx_fcfh_jwt.h"
#include "ngx_http_fcfh.h"
#include "ngx_http_fcfh_exposure.h"


#define NGX_HTTP_FCFH_TOKEN_LIFETIME_MAX  86400

/* what replaces a token in the request line */
#define NGX_HTTP_FCFH_TOKEN_MASK          "-"


typedef struct {
    ngx_str_t                       *secret;     /* NULL: off */
    time_t                           lifetime;
    ngx_http_complex_value_t        *user;
} ngx_http_fcfh_token_loc_conf_t;


static ngx_int_t ngx_http_fcfh_token_guid(ngx_str_t *device, u_char *guid,
    u_char *text);
static ngx_table_elt_t *ngx_http_fcfh_token_header(ngx_http_request_t *r,
    char *name, char *value);
static ngx_int_t ngx_http_fcfh_token_mask(ngx_http_request_t *r);
static ngx_int_t ngx_http_fcfh_token_issue_handler(ngx_http_request_t *r);
static char *ngx_http_fcfh_token_issue_slot(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_fcfh_token_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_fcfh_token_init(ngx_conf_t *cf);
static void *ngx_http_fcfh_token_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_fcfh_token_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


static ngx_command_t  ngx_http_fcfh_token_commands[] = {

    { ngx_string("fcfh_token_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fcfh_token_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fcfh_token_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fcfh_token_loc_conf_t, lifetime),
      NULL },

    { ngx_string("fcfh_token_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fcfh_token_loc_conf_t, user),
      NULL },

    { ngx_string("fcfh_token_issue"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fcfh_token_issue_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_fcfh_token_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_fcfh_token_init,              /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_fcfh_token_create_loc_conf,   /* create location configuration */
    ngx_http_fcfh_token_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_fcfh_token_module = {
    NGX_MODULE_V1,
    &ngx_http_fcfh_token_module_ctx,       /* module context */
    ngx_http_fcfh_token_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
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
 * GET authorize/redirection/<guid or name>: a token for a device this node
 * knows, or, with a cluster, for any GUID (the device may be on another
 * node: the relay finds it, or answers that it is not there).
 */

ngx_int_t
ngx_http_fcfh_token_issue(ngx_http_request_t *r, ngx_str_t *device)
{
    int                              n;
    char                             token[NGX_FCFH_JWT_MAX_TOKEN + 1];
    u_char                          *p, *body, shown[NGX_FCFH_LOG_STR_MAX];
    u_char                           text[NGX_FCFH_APF_GUID_TEXT_SIZE + 1];
    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    ngx_str_t                        user, name;
    ngx_fcfh_route_t                 route;
    ngx_http_fcfh_token_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_fcfh_token_module);

    if (tlcf->secret == NULL) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "tokens need fcfh_token_secret in "
                                       "this location");
    }

    if (device->len == 0 || device->len > NGX_FCFH_APF_DEFAULT_MAX_STRING) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid device name");
    }

    if (ngx_fcfh_registry_route(device, &route) == NGX_OK) {
        ngx_fcfh_apf_guid_to_text(route.guid, (char *) text);

    } else if (ngx_fcfh_cluster_node()
               && ngx_fcfh_apf_guid_from_text((char *) device->data,
                                              device->len, guid)
                  == 0)
    {
        ngx_fcfh_apf_guid_to_text(guid, (char *) text);

    } else {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                       "no such device");
    }

    text[NGX_FCFH_APF_GUID_TEXT_SIZE] = '\0';

    ngx_str_null(&user);

    if (tlcf->user
        && ngx_http_complex_value(r, tlcf->user, &user) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = ngx_fcfh_jwt_issue(tlcf->secret->data, tlcf->secret->len,
                           (char *) text,
                           user.len ? (char *) user.data : NULL, user.len,
                           ngx_time(), tlcf->lifetime, token, sizeof(token));

    if (n == NGX_FCFH_JWT_ERR_SUBJECT) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fcfh: no console token for %s: user \"%V\" is not "
                      "printable UTF-8 of at most %d bytes", text,
                      ngx_fcfh_log_str(&name, shown, sizeof(shown),
                                       user.data, user.len),
                      NGX_FCFH_JWT_MAX_SUBJECT);

        return ngx_http_fcfh_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       "the user name cannot go into a "
                                       "token");
    }

    if (n < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "fcfh: no console token for %s: %s", text,
                      ngx_fcfh_jwt_reason(n));

        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "fcfh: console token for %s issued to \"%V\", valid %T s",
                  text,
                  ngx_fcfh_log_str(&name, shown, sizeof(shown), user.data,
                                   user.len),
                  tlcf->lifetime);

    body = ngx_pnalloc(r->pool, sizeof("{\"token\":\"\"}\n") + n);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* base64url and dots: nothing to escape in JSON */
    p = ngx_cpymem(body, "{\"token\":\"", sizeof("{\"token\":\"") - 1);
    p = ngx_cpymem(p, token, n);
    p = ngx_cpymem(p, "\"}\n", 3);

    ngx_explicit_memzero(token, sizeof(token));

    /* a bearer credential: no cache keeps it */
    if (ngx_http_fcfh_token_header(r, "Cache-Control", "no-store") == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_fcfh_send_json(r, NGX_HTTP_OK, body, p - body);
}


/*
 * A console's token for a device, before the upgrade.  device: as the
 * console named it; guid: the 16 bytes it resolved to here, or NULL.
 *
 * NGX_DECLINED: no fcfh_token_secret here, nothing checked (nginx's
 * access phase alone guards the location); NGX_OK: valid, *subject the
 * console user it names (possibly empty), in the request's pool;
 * NGX_HTTP_UNAUTHORIZED: refused, logged, *reason a fixed text for the
 * answer; NGX_ERROR: no memory.
 */

ngx_int_t
ngx_http_fcfh_token_check(ngx_http_request_t *r, ngx_str_t *token,
    ngx_str_t *device, u_char *guid, ngx_str_t *subject, const char **reason)
{
    int                              rc;
    u_char                          *dst, *src, shown[NGX_FCFH_LOG_STR_MAX];
    u_char                           text[NGX_FCFH_APF_GUID_TEXT_SIZE + 1];
    ngx_str_t                        t, name;
    ngx_fcfh_jwt_claims_t            claims;
    ngx_http_fcfh_token_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_fcfh_token_module);

    if (tlcf->secret == NULL) {
        return NGX_DECLINED;
    }

    ngx_str_null(subject);

    if (ngx_http_fcfh_token_guid(device, guid, text) != NGX_OK) {
        *reason = "name the device by its GUID: its name is not known here";

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "fcfh: console token for \"%V\" refused: %s",
                      ngx_fcfh_log_str(&name, shown, sizeof(shown),
                                       device->data, device->len),
                      *reason);

        return NGX_HTTP_UNAUTHORIZED;
    }

    t = *token;

    if (t.len > NGX_FCFH_JWT_MAX_TOKEN) {
        /* ngx_fcfh_jwt_verify() says so, without a copy first */
        t.len = NGX_FCFH_JWT_MAX_TOKEN + 1;

    } else if (ngx_strlchr(t.data, t.data + t.len, '%')) {
        /* a query parameter may come %-encoded */
        dst = ngx_pnalloc(r->pool, t.len);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        src = t.data;
        t.data = dst;
        ngx_unescape_uri(&dst, &src, t.len, 0);
        t.len = dst - t.data;
    }

    rc = ngx_fcfh_jwt_verify(t.data, t.len, tlcf->secret->data,
                             tlcf->secret->len, (char *) text, ngx_time(),
                             &claims);

    if (rc != NGX_FCFH_JWT_OK) {
        *reason = ngx_fcfh_jwt_reason(rc);

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "fcfh: console token for %s refused: %s", text,
                      *reason);

        return (rc == NGX_FCFH_JWT_ERR_NOMEM) ? NGX_ERROR
                                              : NGX_HTTP_UNAUTHORIZED;
    }

    if (claims.subject_len) {
        subject->data = ngx_pnalloc(r->pool, claims.subject_len);
        if (subject->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(subject->data, claims.subject, claims.subject_len);
        subject->len = claims.subject_len;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fcfh: console token for %s valid, expires at %l",
                   text, claims.exp);

    return NGX_OK;
}


/*
 * fcfh_token_issue: the issuing endpoint alone, for the pages of browser
 * consoles, which need no other part of the API:
 * GET <location prefix><guid or name>.
 */

static ngx_int_t
ngx_http_fcfh_token_issue_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  device;
    ngx_http_core_loc_conf_t  *clcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_ALLOWED, "use GET");
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    device = r->uri;

    if (device.len >= clcf->name.len
        && ngx_strncmp(device.data, clcf->name.data, clcf->name.len) == 0)
    {
        device.data += clcf->name.len;
        device.len -= clcf->name.len;
    }

    while (device.len && device.data[0] == '/') {
        device.data++;
        device.len--;
    }

    while (device.len && device.data[device.len - 1] == '/') {
        device.len--;
    }

    if (device.len == 0
        || ngx_strlchr(device.data, device.data + device.len, '/'))
    {
        return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_FOUND,
                                       "the device's GUID or name follows "
                                       "the location's prefix");
    }

    return ngx_http_fcfh_token_issue(r, &device);
}


static char *
ngx_http_fcfh_token_issue_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (ngx_fcfh_check_zone(cf, (const char *) cmd->name.data) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    /* whoever passes this location's rules gets tokens for any device */
    if (ngx_http_fcfh_exposure_add(cf, &cmd->name, NULL, NULL) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf->handler = ngx_http_fcfh_token_issue_handler;

    return NGX_CONF_OK;
}


static ngx_table_elt_t *
ngx_http_fcfh_token_header(ngx_http_request_t *r, char *name, char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return h;
}


/*
 * For the relay's exposure check: where a token secret is set, its
 * consoles must bring a token, as other front doors' consoles bring
 * their credentials.  The field of the location being parsed; the check
 * reads it after the merge.
 */

void **
ngx_http_fcfh_token_secret_field(ngx_conf_t *cf)
{
    ngx_http_fcfh_token_loc_conf_t  *tlcf;

    tlcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_fcfh_token_module);

    return (void **) &tlcf->secret;
}


/* the GUID text the token must name: the resolved one, or the one named */

static ngx_int_t
ngx_http_fcfh_token_guid(ngx_str_t *device, u_char *guid, u_char *text)
{
    u_char  wire[NGX_FCFH_APF_GUID_SIZE];

    if (guid == NULL) {
        if (ngx_fcfh_apf_guid_from_text((char *) device->data, device->len,
                                        wire)
            != 0)
        {
            return NGX_DECLINED;
        }

        guid = wire;
    }

    ngx_fcfh_apf_guid_to_text(guid, (char *) text);
    text[NGX_FCFH_APF_GUID_TEXT_SIZE] = '\0';

    return NGX_OK;
}


/*
 * Rewrite phase, where a secret is configured: the values of "auth="
 * query parameters (MeshCentral's way of passing a token) are masked in
 * r->request_line, the line $request and the error log's request context
 * show.  The arguments themselves are left as they are.
 */

static ngx_int_t
ngx_http_fcfh_token_mask(ngx_http_request_t *r)
{
    u_char                          *p, *q, *last, *start, *line;
    size_t                           len;
    ngx_uint_t                       n;
    ngx_http_fcfh_token_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_fcfh_token_module);

    if (tlcf->secret == NULL || r->args.len == 0
        || r->request_line.len == 0)
    {
        return NGX_DECLINED;
    }

    start = ngx_strlchr(r->request_line.data,
                        r->request_line.data + r->request_line.len, '?');

    if (start == NULL) {
        return NGX_DECLINED;
    }

    last = r->request_line.data + r->request_line.len;

    /* how many: the masked line is at most as long as the original */

    n = 0;

    for (p = start; p + 5 < last; p++) {
        if ((*p == '?' || *p == '&') && ngx_strncmp(p + 1, "auth=", 5) == 0) {
            n++;
        }

        if (*p == ' ' || *p == '#') {
            break;
        }
    }

    if (n == 0) {
        return NGX_DECLINED;
    }

    line = ngx_pnalloc(r->pool, r->request_line.len
                                + n * sizeof(NGX_HTTP_FCFH_TOKEN_MASK));
    if (line == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = start - r->request_line.data;
    q = ngx_cpymem(line, r->request_line.data, len);
    p = start;

    while (p < last) {

        if ((*p == '?' || *p == '&') && last - p > 5
            && ngx_strncmp(p + 1, "auth=", 5) == 0)
        {
            q = ngx_cpymem(q, p, 6);
            q = ngx_cpymem(q, NGX_HTTP_FCFH_TOKEN_MASK,
                           sizeof(NGX_HTTP_FCFH_TOKEN_MASK) - 1);
            p += 6;

            while (p < last && *p != '&' && *p != ' ' && *p != '#') {
                p++;
            }

            continue;
        }

        if (*p == ' ' || *p == '#') {
            /* past the query: the rest as it is */
            q = ngx_cpymem(q, p, last - p);
            break;
        }

        *q++ = *p++;
    }

    r->request_line.data = line;
    r->request_line.len = q - line;

    return NGX_DECLINED;
}


/*
 * fcfh_token_secret <file> | off: the key is the file's content, final
 * line breaks removed; at least 32 bytes (RFC 7518, 3.2: as long as the
 * hash), and a file that others may read or write is refused, since
 * whoever has the key opens every device.
 */

static char *
ngx_http_fcfh_token_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fcfh_token_loc_conf_t *tlcf = conf;

    u_char           *p;
    size_t            len;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t        *value, file;
    ngx_file_info_t   fi;

    if (tlcf->secret != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        tlcf->secret = NULL;
        return NGX_CONF_OK;
    }

    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", file.data);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR || !ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "token secret \"%s\" is not a file", file.data);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    if (fi.st_mode & (S_IROTH|S_IWOTH)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "token secret \"%s\" is readable or writable by "
                           "any user: whoever reads it opens every device; "
                           "chmod 640, owned by root and the workers' group",
                           file.data);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    len = (size_t) ngx_file_size(&fi);

    if (len > NGX_FCFH_JWT_MAX_SECRET + 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "token secret \"%s\" is longer than %d bytes",
                           file.data, NGX_FCFH_JWT_MAX_SECRET);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, len + 1);
    if (p == NULL) {
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, p, len);
    (void) ngx_close_file(fd);

    if (n != (ssize_t) len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "reading token secret \"%s\" failed", file.data);
        return NGX_CONF_ERROR;
    }

    while (len && (p[len - 1] == LF || p[len - 1] == CR)) {
        len--;
    }

    if (len < NGX_FCFH_JWT_MIN_SECRET || len > NGX_FCFH_JWT_MAX_SECRET) {
        ngx_explicit_memzero(p, len);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "token secret \"%s\" holds %uz bytes; an HS256 "
                           "key needs %d to %d (e.g. \"openssl rand -hex 32 "
                           "> %s\")", file.data, len,
                           NGX_FCFH_JWT_MIN_SECRET, NGX_FCFH_JWT_MAX_SECRET,
                           file.data);
        return NGX_CONF_ERROR;
    }

    tlcf->secret = ngx_palloc(cf->pool, sizeof(ngx_str_t));
    if (tlcf->secret == NULL) {
        return NGX_CONF_ERROR;
    }

    tlcf->secret->data = p;
    tlcf->secret->len = len;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_fcfh_token_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_fcfh_token_mask;

    return NGX_OK;
}


static void *
ngx_http_fcfh_token_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_fcfh_token_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_fcfh_token_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->secret = NGX_CONF_UNSET_PTR;
    conf->lifetime = NGX_CONF_UNSET;
    conf->user = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_fcfh_token_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_fcfh_token_loc_conf_t *prev = parent;
    ngx_http_fcfh_token_loc_conf_t *conf = child;

    ngx_http_compile_complex_value_t   ccv;

    static ngx_str_t  remote_user = ngx_string("$remote_user");

    ngx_conf_merge_ptr_value(conf->secret, prev->secret, NULL);
    ngx_conf_merge_sec_value(conf->lifetime, prev->lifetime, 300);
    ngx_conf_merge_ptr_value(conf->user, prev->user, NULL);

    if (conf->lifetime < 1
        || conf->lifetime > NGX_HTTP_FCFH_TOKEN_LIFETIME_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fcfh_token_lifetime must be 1s to 1d");
        return NGX_CONF_ERROR;
    }

    if (conf->user == NULL) {
        /* the user nginx's Basic authentication took, if any */
        conf->user = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (conf->user == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &remote_user;
        ccv.complex_value = conf->user;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
