
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The device side: one APF session per AMT TLS connection, run by the
 * stream module's content handler.
 */


#ifndef _NGX_STREAM_FCFH_TUNNEL_H_INCLUDED_
#define _NGX_STREAM_FCFH_TUNNEL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_htpasswd.h"


/* "fcfh_drain off" (not NGX_CONF_UNSET, which merging would replace) */
#define NGX_FCFH_DRAIN_OFF           -2

/* fcfh_keepalive_options: when KEEPALIVE_OPTIONS_REQUEST is sent */
#define NGX_FCFH_KA_OPTIONS_OFF      0
#define NGX_FCFH_KA_OPTIONS_5900     1
#define NGX_FCFH_KA_OPTIONS_QUIET    2

/* the port real AMT registers last (KVM, VNC) */
#define NGX_FCFH_PORT_KVM            5900


typedef struct {
    ngx_flag_t                       enabled;
    ngx_fcfh_htpasswd_t             *htpasswd;
    ngx_stream_complex_value_t      *cert_identity;
    ngx_stream_complex_value_t      *device_guids;
    ngx_stream_complex_value_t      *device_names;
    ngx_msec_t                       handshake_timeout;
    ngx_msec_t                       idle_timeout;
    time_t                           keepalive;
    ngx_uint_t                       keepalive_options; /* KA_OPTIONS_* */
    ngx_msec_t                       keepalive_quiet;
    ngx_uint_t                       max_forwards;
    ngx_uint_t                       max_channels;
    size_t                           channel_window;
    size_t                           channel_window_max;
    ngx_int_t                        drain;      /* ms, or DRAIN_OFF */
    ngx_array_t                     *alert_receivers; /* of ngx_addr_t */
    ngx_uint_t                       alert_limit;  /* 0: none */
    ngx_msec_t                       alert_period;
} ngx_stream_fcfh_srv_conf_t;


typedef struct {
    ngx_fcfh_link_t                  link;       /* first: see evict */

    ngx_stream_session_t            *session;
    ngx_stream_fcfh_srv_conf_t      *conf;
    ngx_fcfh_main_conf_t            *fmcf;
    ngx_fcfh_cred_t                 *cred;       /* password devices */

    /* a partial message carried over between reads, NULL when idle */
    u_char                          *hold;
    size_t                           hold_len;
    size_t                           hold_size;

    /* output not yet taken by the socket, NULL when idle */
    ngx_fcfh_chunk_t                *out;
    ngx_fcfh_chunk_t                *out_tail;
    size_t                           out_bytes;

    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    uint32_t                         trigger;
    uint32_t                         major;
    uint32_t                         minor;

    ngx_str_t                        guid_text;
    ngx_str_t                        user;
    ngx_str_t                        identity;
    ngx_str_t                        fqdn;
    ngx_str_t                        peer;

    uint16_t                         ports[NGX_FCFH_MAX_PORTS];
    ngx_uint_t                       nports;
    ngx_str_t                        name_tried; /* the last name given */
    ngx_uint_t                       renames;    /* names claimed */
    ngx_msec_t                       alerts_since;   /* fcfh_alert_limit */
    ngx_uint_t                       alerts_counted;
    ngx_uint_t                       alerts_dropped;
    ngx_uint_t                       name_refusals;

    void                           **channels;   /* by our channel id */
    ngx_uint_t                       nchannels;
    ngx_uint_t                       channel_next;   /* where ids are sought */
    ngx_uint_t                       strays;     /* for no channel of ours */
    ngx_msec_t                       strays_since;

    uint64_t                         bytes_in;
    uint64_t                         bytes_out;
    ngx_msec_t                       last_input; /* for the idle timer */
    ngx_msec_t                       options_at; /* after_forwards */

    ngx_uint_t                       auth;       /* NGX_FCFH_AUTH_* */
    uint32_t                         disconnect; /* reason we sent */
    ngx_uint_t                       close_kind; /* NGX_FCFH_CLOSE_* */
    const char                      *close_reason;

    unsigned                         version_seen:1;
    unsigned                         auth_service:1;
    unsigned                         pfwd_service:1;
    unsigned                         authenticated:1;
    unsigned                         bound:1;    /* its binding names it */
    unsigned                         established:1;
    unsigned                         forwards_changed:1;
    unsigned                         connected:1; /* event emitted */
    unsigned                         options_due:1;  /* send them now */
    unsigned                         options_wait:1; /* at options_at */
    unsigned                         options_sent:1;
    unsigned                         paused:1;
    unsigned                         held:1;     /* paused for a console */
    unsigned                         draining:1;
    unsigned                         out_failed:1;
    unsigned                         closing:1;
    unsigned                         drained:1;  /* last read was short */
    unsigned                         name_tried_max:1; /* its longest size */
} ngx_stream_fcfh_tunnel_t;


void ngx_stream_fcfh_tunnel_handler(ngx_stream_session_t *s);
u_char *ngx_stream_fcfh_tunnel_reserve(ngx_stream_fcfh_tunnel_t *t);
u_char *ngx_stream_fcfh_tunnel_reserve_data(ngx_stream_fcfh_tunnel_t *t,
    size_t *size);
void ngx_stream_fcfh_tunnel_commit(ngx_stream_fcfh_tunnel_t *t, size_t n);

ngx_int_t ngx_stream_fcfh_channel_message(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_msg_t *msg);
void ngx_stream_fcfh_tunnel_alerted(ngx_stream_fcfh_tunnel_t *t,
    ngx_str_t *target, ngx_uint_t relayed);
uint32_t ngx_stream_fcfh_channel_accept(ngx_stream_fcfh_tunnel_t *t,
    ngx_fcfh_apf_channel_open_t *open, ngx_addr_t *receiver,
    ngx_str_t *target);
void ngx_stream_fcfh_channels_close(ngx_stream_fcfh_tunnel_t *t);
void ngx_stream_fcfh_channels_unblock(ngx_stream_fcfh_tunnel_t *t);


#endif /* _NGX_STREAM_FCFH_TUNNEL_H_INCLUDED_ */
