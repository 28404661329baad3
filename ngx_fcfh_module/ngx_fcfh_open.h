
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The results of a console request for a channel: what the opener is
 * told, what the relay and the cluster carry in their status byte, and
 * what the counters (opens[]), the stats JSON and the metrics show.  One
 * table names them all, so that a new result is added in one place.
 */


#ifndef _NGX_FCFH_OPEN_H_INCLUDED_
#define _NGX_FCFH_OPEN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the values go between workers and nodes: never renumber them */
typedef enum {
    NGX_FCFH_OPEN_OK = 0,
    NGX_FCFH_OPEN_NO_TUNNEL = 1,
    NGX_FCFH_OPEN_PORT = 2,          /* port not registered */
    NGX_FCFH_OPEN_REFUSED = 3,       /* device refused the channel */
    NGX_FCFH_OPEN_DRAINING = 4,
    NGX_FCFH_OPEN_TIMEOUT = 5,
    NGX_FCFH_OPEN_LIMIT = 6,         /* too many channels */
    NGX_FCFH_OPEN_ERROR = 7,
    NGX_FCFH_OPEN_UNAVAILABLE = 8,   /* cluster: no directory or node */
    NGX_FCFH_OPEN_MAX
} ngx_fcfh_open_result_e;


typedef struct {
    const char                      *name;    /* stats key, metric label */
    const char                      *text;    /* logs and error answers */
    ngx_uint_t                       status;  /* HTTP answer of a refusal */
} ngx_fcfh_open_result_t;


/* indexed by NGX_FCFH_OPEN_* */
extern const ngx_fcfh_open_result_t  ngx_fcfh_open_results[NGX_FCFH_OPEN_MAX];


/*
 * Which front door a console came through: the label of the console
 * session counters and the "front_door" of console events.  Beyond
 * NGX_FCFH_FRONT_MAX: clients that are no console (neither counted nor
 * audited).
 */
typedef enum {
    NGX_FCFH_FRONT_SOCKS5 = 0,       /* fcfh_proxy, SOCKS5 */
    NGX_FCFH_FRONT_CONNECT,          /* fcfh_proxy, HTTP CONNECT */
    NGX_FCFH_FRONT_HTTP,             /* fcfh_pass */
    NGX_FCFH_FRONT_WEBSOCKET,        /* browsers' WebSocket relay */
    NGX_FCFH_FRONT_CLUSTER,          /* another node's console */
    NGX_FCFH_FRONT_MAX,
    NGX_FCFH_FRONT_AMT = NGX_FCFH_FRONT_MAX  /* fcfh_api's WS-Management */
} ngx_fcfh_front_door_e;


/* why a console session ended (console_close events) */
typedef enum {
    NGX_FCFH_END_CONSOLE = 0,        /* the console closed or went away */
    NGX_FCFH_END_DEVICE,             /* the device closed the channel */
    NGX_FCFH_END_TUNNEL,             /* the device's tunnel ended */
    NGX_FCFH_END_TIMEOUT,            /* idle past the front door's limit */
    NGX_FCFH_END_ERROR,              /* the gateway's or the path's error */
    NGX_FCFH_END_MAX
} ngx_fcfh_end_e;


const char *ngx_fcfh_open_result_text(ngx_uint_t result);
const char *ngx_fcfh_front_door_name(ngx_uint_t front_door);
const char *ngx_fcfh_end_name(ngx_uint_t why);


#endif /* _NGX_FCFH_OPEN_H_INCLUDED_ */
