
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The relay: how a console that landed in one worker reaches a tunnel
 * owned by another.  Each worker listens on its own AF_UNIX socket,
 * <fcfh_relay_dir>/<pid>.sock, which it keeps through a graceful
 * shutdown, so tunnels of old workers stay reachable during a reload.
 *
 * Protocol on that socket: the front door sends a fixed preamble that
 * proves it knows the secret of this nginx (ngx_fcfh_preamble.h), the
 * owner answers two bytes (an NGX_FCFH_OPEN_* result and the device's
 * refusal reason) once the device answered the channel open, then the
 * bytes are the channel's, both ways.
 */


#ifndef _NGX_FCFH_RELAY_H_INCLUDED_
#define _NGX_FCFH_RELAY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_preamble.h"


#define NGX_FCFH_RELAY_ADDR_SIZE     64
#define NGX_FCFH_RELAY_STATUS_SIZE   2

#define NGX_FCFH_RELAY_TIMEOUT       10000


/* a channel to open; the preamble's layout is in ngx_fcfh_preamble.h */
typedef struct {
    u_char                           guid[NGX_FCFH_APF_GUID_SIZE];
    uint64_t                         serial;
    ngx_uint_t                       port;
    ngx_str_t                        console;
    ngx_uint_t                       console_port;
} ngx_fcfh_relay_target_t;


/* the opening exchange of a relay connection, front door side */
typedef struct {
    u_char                           preamble[NGX_FCFH_RELAY_PREAMBLE_SIZE];
    u_char                           status[NGX_FCFH_RELAY_STATUS_SIZE];
    size_t                           sent;
    size_t                           got;
} ngx_fcfh_relay_open_t;


ngx_int_t ngx_fcfh_relay_init_process(ngx_cycle_t *cycle);
void ngx_fcfh_relay_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_fcfh_relay_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_fcfh_relay_allow_ports(ngx_conf_t *cf, ngx_uint_t *ports,
    ngx_uint_t n);
void ngx_fcfh_relay_unlink(ngx_cycle_t *cycle, ngx_pid_t pid);
ngx_int_t ngx_fcfh_relay_check(ngx_fcfh_main_conf_t *fmcf, ngx_pid_t pid);

void ngx_fcfh_relay_open_init(ngx_fcfh_relay_open_t *op,
    ngx_fcfh_relay_target_t *target, ngx_uint_t opcode, ngx_pid_t owner);
ngx_int_t ngx_fcfh_relay_open_process(ngx_connection_t *c,
    ngx_fcfh_relay_open_t *op);
ngx_int_t ngx_fcfh_relay_open_result(ngx_connection_t *c,
    ngx_fcfh_relay_open_t *op, ngx_uint_t *result, ngx_uint_t *reason);
void ngx_fcfh_relay_close_peer(ngx_connection_t *c);
void ngx_fcfh_relay_close_with(ngx_connection_t *c, ngx_pool_t *pool);
ngx_connection_t *ngx_fcfh_relay_connect(ngx_pid_t pid, ngx_log_t *log,
    ngx_uint_t *result);

char *ngx_fcfh_relay_dir(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


#endif /* _NGX_FCFH_RELAY_H_INCLUDED_ */
