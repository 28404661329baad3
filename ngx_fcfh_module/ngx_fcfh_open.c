
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh_open.h"


/*
 * The names are the stats JSON keys and the metric labels operators
 * already query: keep them as they are.
 */

const ngx_fcfh_open_result_t  ngx_fcfh_open_results[NGX_FCFH_OPEN_MAX] = {

    [NGX_FCFH_OPEN_OK] =
        { "ok", "channel open", 200 },

    [NGX_FCFH_OPEN_NO_TUNNEL] =
        { "unknown_device", "no such device", 404 },

    [NGX_FCFH_OPEN_PORT] =
        { "port_not_registered", "port not registered by the device", 403 },

    [NGX_FCFH_OPEN_REFUSED] =
        { "refused", "device refused the channel", 502 },

    [NGX_FCFH_OPEN_DRAINING] =
        { "draining", "tunnel is draining", 503 },

    [NGX_FCFH_OPEN_TIMEOUT] =
        { "timeout", "device did not answer in time", 504 },

    [NGX_FCFH_OPEN_LIMIT] =
        { "too_many_channels", "too many channels", 503 },

    [NGX_FCFH_OPEN_ERROR] =
        { "error", "internal error", 500 },

    [NGX_FCFH_OPEN_UNAVAILABLE] =
        { "cluster_unavailable",
          "cluster directory or owner node unavailable", 503 }
};


const char *
ngx_fcfh_open_result_text(ngx_uint_t result)
{
    if (result >= NGX_FCFH_OPEN_MAX) {
        result = NGX_FCFH_OPEN_ERROR;
    }

    return ngx_fcfh_open_results[result].text;
}


/* names of the metric labels and event fields: keep them as they are */

static const char  *ngx_fcfh_front_door_names[] = {
    "socks5", "connect", "http", "websocket", "cluster", "amt"
};


static const char  *ngx_fcfh_end_names[] = {
    "console_closed", "device_closed", "tunnel_gone", "timeout", "error"
};


const char *
ngx_fcfh_front_door_name(ngx_uint_t front_door)
{
    return (front_door <= NGX_FCFH_FRONT_AMT)
           ? ngx_fcfh_front_door_names[front_door] : "";
}


const char *
ngx_fcfh_end_name(ngx_uint_t why)
{
    return ngx_fcfh_end_names[ngx_min(why, NGX_FCFH_END_MAX - 1)];
}
