
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The baseline of bench/floor.sh: nginx holding a bare TLS connection.
 *
 * "floor_echo;" in a stream server with "listen ... ssl": once nginx's
 * ssl phase has completed the handshake, the connection is held with no
 * timer, no buffer and no state of its own, and whatever the client
 * sends is written straight back (one record read, one record written,
 * through nginx's own c->recv / c->send, i.e. ngx_ssl_recv() and
 * ngx_ssl_write()).  This is the least work nginx can do to hold a TLS
 * connection and answer a record on it; stock nginx has no configuration
 * that echoes without a second connection (proxy_pass to an echo server
 * adds an upstream socket and its system calls to every record).
 *
 * A benchmark tool, not part of the gateway: a client that does not read
 * its echoes is simply closed.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>


#define NGX_STREAM_FLOOR_BUF  4096


static void ngx_stream_floor_handler(ngx_stream_session_t *s);
static void ngx_stream_floor_read(ngx_event_t *rev);
static void ngx_stream_floor_write(ngx_event_t *wev);
static char *ngx_stream_floor_echo(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_stream_floor_commands[] = {

    { ngx_string("floor_echo"),
      NGX_STREAM_SRV_CONF|NGX_CONF_NOARGS,
      ngx_stream_floor_echo,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_stream_module_t  ngx_stream_floor_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL                                   /* merge server configuration */
};


ngx_module_t  ngx_stream_floor_module = {
    NGX_MODULE_V1,
    &ngx_stream_floor_module_ctx,          /* module context */
    ngx_stream_floor_commands,             /* module directives */
    NGX_STREAM_MODULE,                     /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void
ngx_stream_floor_handler(ngx_stream_session_t *s)
{
    ngx_connection_t  *c;

    c = s->connection;

    c->read->handler = ngx_stream_floor_read;
    c->write->handler = ngx_stream_floor_write;

    ngx_stream_floor_read(c->read);
}


static void
ngx_stream_floor_read(ngx_event_t *rev)
{
    u_char                 buf[NGX_STREAM_FLOOR_BUF];
    ssize_t                n;
    ngx_connection_t      *c;
    ngx_stream_session_t  *s;

    c = rev->data;
    s = c->data;

    if (c->close) {
        ngx_stream_finalize_session(s, NGX_STREAM_OK);
        return;
    }

    while (rev->ready) {
        n = c->recv(c, buf, NGX_STREAM_FLOOR_BUF);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_stream_finalize_session(s, NGX_STREAM_OK);
            return;
        }

        s->received += n;

        if (c->send(c, buf, n) != n) {
            /* a client that does not read its echoes: not a benchmark's */
            ngx_stream_finalize_session(s, NGX_STREAM_OK);
            return;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
    }
}


static void
ngx_stream_floor_write(ngx_event_t *wev)
{
    /* nothing is ever left to write */
}


static char *
ngx_stream_floor_echo(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_core_srv_conf_t  *cscf;

    cscf = ngx_stream_conf_get_module_srv_conf(cf, ngx_stream_core_module);

    cscf->handler = ngx_stream_floor_handler;

    return NGX_CONF_OK;
}
