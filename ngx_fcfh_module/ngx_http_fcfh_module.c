
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The operators' front door of ngx_fcfh_module: the directives
 * "fcfh_status" (ngx_http_fcfh_status.c), "fcfh_api" (ngx_http_fcfh_api.c),
 * "fcfh_metrics" (ngx_http_fcfh_metrics.c) and "fcfh_events"
 * (ngx_http_fcfh_events.c), each the content handler of its location, and
 * the answers they share: JSON, the API's JSON errors, 405 with Allow,
 * the paging arguments and fields of every list.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fcfh.h"
#include "ngx_http_fcfh.h"
#include "ngx_http_fcfh_exposure.h"
#include "ngx_http_fcfh_status.h"
#include "ngx_http_fcfh_api.h"
#include "ngx_http_fcfh_metrics.h"
#include "ngx_http_fcfh_events.h"


typedef struct {
    ngx_uint_t                       method;
    ngx_str_t                        name;
} ngx_http_fcfh_method_t;


static char *ngx_http_fcfh_handler(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static u_char *ngx_http_fcfh_methods(u_char *p, ngx_uint_t methods,
    ngx_uint_t prose);


static ngx_command_t  ngx_http_fcfh_commands[] = {

    { ngx_string("fcfh_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fcfh_handler,
      0,
      0,
      (void *) ngx_http_fcfh_status_handler },

    { ngx_string("fcfh_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fcfh_handler,
      0,
      0,
      (void *) ngx_http_fcfh_api_handler },

    { ngx_string("fcfh_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fcfh_handler,
      0,
      0,
      (void *) ngx_http_fcfh_metrics_handler },

    { ngx_string("fcfh_events"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fcfh_handler,
      0,
      0,
      (void *) ngx_http_fcfh_events_handler },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_fcfh_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_fcfh_module = {
    NGX_MODULE_V1,
    &ngx_http_fcfh_module_ctx,             /* module context */
    ngx_http_fcfh_commands,                /* module directives */
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


/* every directive here installs its handler (cmd->post) in the location */

static char *
ngx_http_fcfh_handler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (ngx_fcfh_check_zone(cf, (const char *) cmd->name.data) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;

    if (ngx_http_fcfh_exposure_add(cf, &cmd->name, NULL, NULL) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* every method an endpoint may take, in the order Allow lists them */

static ngx_http_fcfh_method_t  ngx_http_fcfh_method_names[] = {
    { NGX_HTTP_GET, ngx_string("GET") },
    { NGX_HTTP_HEAD, ngx_string("HEAD") },
    { NGX_HTTP_POST, ngx_string("POST") },
    { NGX_HTTP_PUT, ngx_string("PUT") },
    { NGX_HTTP_DELETE, ngx_string("DELETE") },
    { 0, ngx_null_string }
};


/*
 * 405, on every operators' endpoint: what is allowed in Allow, and a JSON
 * error saying it in words ("use GET or DELETE")
 */

ngx_int_t
ngx_http_fcfh_not_allowed(ngx_http_request_t *r, ngx_uint_t methods)
{
    u_char           *p, text[64];
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    p = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PUT, DELETE") - 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = p;
    h->value.len = ngx_http_fcfh_methods(p, methods, 0) - p;

    p = ngx_cpymem(text, "use ", 4);
    p = ngx_http_fcfh_methods(p, methods, 1);
    *p = '\0';

    return ngx_http_fcfh_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                   (const char *) text);
}


/*
 * "GET, HEAD, DELETE" for Allow; in prose, HEAD (which comes with GET)
 * left out: "GET or DELETE", "GET, POST or DELETE"
 */

static u_char *
ngx_http_fcfh_methods(u_char *p, ngx_uint_t methods, ngx_uint_t prose)
{
    ngx_uint_t               n, i, last;
    ngx_http_fcfh_method_t  *m;

    if (prose) {
        methods &= ~NGX_HTTP_HEAD;
    }

    n = 0;

    for (m = ngx_http_fcfh_method_names; m->method; m++) {
        if (methods & m->method) {
            n++;
        }
    }

    i = 0;
    last = n ? n - 1 : 0;

    for (m = ngx_http_fcfh_method_names; m->method; m++) {

        if (!(methods & m->method)) {
            continue;
        }

        if (i) {
            p = (prose && i == last) ? ngx_cpymem(p, " or ", 4)
                                     : ngx_cpymem(p, ", ", 2);
        }

        p = ngx_cpymem(p, m->name.data, m->name.len);
        i++;
    }

    return p;
}


ngx_int_t
ngx_http_fcfh_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len)
{
    return ngx_http_fcfh_send(r, status, (u_char *) "application/json", data,
                              len);
}


/* the whole answer in one buffer */

ngx_int_t
ngx_http_fcfh_send(ngx_http_request_t *r, ngx_uint_t status, u_char *type,
    u_char *data, size_t len)
{
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_chain_t  out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type.data = type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * The paging arguments every list takes: limit (1 to 1000, 100 when
 * absent) and cursor, the "next_cursor" of the page before (a GUID); the
 * offset of earlier versions is refused rather than ignored.
 */

ngx_int_t
ngx_http_fcfh_page_args(ngx_http_request_t *r, ngx_http_fcfh_page_t *pg,
    const char **err)
{
    ngx_str_t  arg;

    pg->limit = NGX_HTTP_FCFH_PAGE_LIMIT;
    pg->has_after = 0;

    if (ngx_http_fcfh_arg_uint(r, "limit", NGX_HTTP_FCFH_PAGE_MAX,
                               &pg->limit)
        != NGX_OK
        || pg->limit == 0)
    {
        *err = "limit must be 1 to 1000";
        return NGX_DECLINED;
    }

    if (ngx_http_arg(r, (u_char *) "offset", 6, &arg) == NGX_OK) {
        *err = "offset is no more: use the next_cursor of the page before";
        return NGX_DECLINED;
    }

    if (ngx_http_arg(r, (u_char *) "cursor", 6, &arg) == NGX_OK) {
        if (ngx_fcfh_apf_guid_from_text((char *) arg.data, arg.len,
                                        pg->after)
            != 0)
        {
            *err = "cursor is not one this API gave";
            return NGX_DECLINED;
        }

        pg->has_after = 1;
    }

    return NGX_OK;
}


/* ,"total":N,"limit":N,"next_cursor":"<guid>" or null */

u_char *
ngx_http_fcfh_page_json(u_char *p, ngx_uint_t total, ngx_uint_t limit,
    u_char *next)
{
    char  text[NGX_FCFH_APF_GUID_TEXT_SIZE];

    p = ngx_sprintf(p, "\"total\":%ui,\"limit\":%ui,\"next_cursor\":",
                    total, limit);

    if (next == NULL) {
        return ngx_cpymem(p, "null", 4);
    }

    ngx_fcfh_apf_guid_to_text(next, text);

    return ngx_sprintf(p, "\"%*s\"", (size_t) NGX_FCFH_APF_GUID_TEXT_SIZE,
                       text);
}


/* NGX_OK: absent, or a number up to max; NGX_ERROR: anything else */

ngx_int_t
ngx_http_fcfh_arg_uint(ngx_http_request_t *r, char *name, ngx_uint_t max,
    ngx_uint_t *value)
{
    ngx_int_t  n;
    ngx_str_t  arg;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK) {
        return NGX_OK;
    }

    n = ngx_atoi(arg.data, arg.len);

    if (n == NGX_ERROR || (ngx_uint_t) n > max) {
        return NGX_ERROR;
    }

    *value = n;

    return NGX_OK;
}


/* text is the gateway's own, or device text without quotes/backslashes */

ngx_int_t
ngx_http_fcfh_api_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *text)
{
    u_char  *p, *body;
    size_t   len;

    len = sizeof("{\"error\":\"\"}\n") + ngx_strlen(text);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_snprintf(body, len, "{\"error\":\"%s\"}\n", text);

    return ngx_http_fcfh_send_json(r, status, body, p - body);
}

