
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Channels: one APF "forwarded-tcpip" channel to a port of the device,
 * spliced to one console-side connection (a console's own connection
 * when it landed in the tunnel's worker, else the relay connection from
 * the worker it landed in).
 *
 * Memory per channel: one ring buffer for device-to-console data of the
 * size of the window granted to the device (fcfh_channel_window, grown up
 * to fcfh_channel_window_max for bulk channels whose console keeps up,
 * kept until the channel is freed).  Console-to-device
 * data goes straight into the tunnel's output chunks, read only while the
 * device's window and the tunnel's output allow.
 */


#ifndef _NGX_STREAM_FCFH_CHANNEL_H_INCLUDED_
#define _NGX_STREAM_FCFH_CHANNEL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_open.h"


/*
 * The window granted to the device, and the buffer that backs it, is
 * fcfh_channel_window (ch->window); credit goes back to the device once a
 * quarter of it was drained.  A channel whose console keeps up with bulk
 * data doubles it, up to fcfh_channel_window_max.
 */

/* the most console bytes in one CHANNEL_DATA */
#define NGX_FCFH_CHANNEL_PACKET      (NGX_FCFH_CHUNK_SIZE                   \
                                      - NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE)

/* a channel toward an alert receiver ends after this much silence */
#define NGX_FCFH_RECEIVER_IDLE       60000

/* ngx_fcfh_channel_t and its callbacks are declared in ngx_fcfh.h */

struct ngx_fcfh_channel_s {
    void                            *tunnel;     /* NULL: tunnel gone */
    ngx_connection_t                *peer;       /* NULL: detached */
    ngx_log_t                       *log;

    uint32_t                         id;         /* ours */
    uint32_t                         remote_id;  /* the device's */
    uint32_t                         remote_window;
    uint32_t                         window;     /* ours: fcfh_channel_window */
    uint32_t                         credit;     /* device may still send */
    uint32_t                         unacked;    /* drained, not credited */
    uint16_t                         port;

    /* device-to-console ring buffer */
    u_char                          *buf;
    size_t                           head;       /* total bytes in */
    size_t                           tail;       /* total bytes out */

    ngx_event_t                      open_timer;
    ngx_msec_t                       idle;       /* 0: the opener's job */

    ngx_fcfh_channel_open_pt         opened;
    ngx_fcfh_channel_done_pt         done;
    void                            *data;
    ngx_addr_t                      *receiver;   /* inbound only */

    uint64_t                         bytes_in;   /* from the device */
    uint64_t                         bytes_out;  /* to the device */
    uint64_t                         grow_mark;  /* bytes_in at last growth */

    unsigned                         confirmed:1;
    unsigned                         started:1;
    unsigned                         close_sent:1;
    unsigned                         close_recv:1;
    unsigned                         peer_eof:1;
    unsigned                         device_last:1; /* spoke last */
    unsigned                         peer_error:1;
    unsigned                         blocked:1;  /* tunnel output full */
    unsigned                         blocked_input:1; /* our buffer full */
    unsigned                         aborted:1;
    unsigned                         inbound:1;  /* the device opened it */
    unsigned                         peer_full:1; /* console fell behind */
    unsigned                         faulted:1;  /* device contradicted it */
    unsigned                         timedout:1; /* the console idle */
};


ngx_int_t ngx_fcfh_channel_open(void *tunnel, ngx_uint_t port,
    ngx_str_t *originator, ngx_uint_t originator_port,
    ngx_connection_t *peer, ngx_fcfh_channel_open_pt opened,
    ngx_fcfh_channel_done_pt done, void *data, ngx_fcfh_channel_t **chp);
void ngx_fcfh_channel_start(ngx_fcfh_channel_t *ch);
ngx_int_t ngx_fcfh_channel_send(ngx_fcfh_channel_t *ch, u_char *data,
    size_t len);
void ngx_fcfh_channel_abort(ngx_fcfh_channel_t *ch);
void *ngx_fcfh_channel_data(ngx_fcfh_channel_t *ch);


#endif /* _NGX_STREAM_FCFH_CHANNEL_H_INCLUDED_ */
