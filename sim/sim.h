/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh-sim: a simulator of Intel AMT devices that open CIRA tunnels
 * (TLS + APF) to a gateway.  See sim/README.md.
 */


#ifndef _SIM_H_INCLUDED_
#define _SIM_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "ngx_fcfh_apf.h"


#define SIM_MAX_PORTS            16
#define SIM_MAX_CHANNELS         64
#define SIM_MAX_DATA             16384    /* CHANNEL_DATA payload we send */
#define SIM_CHAN_OUT_HIGH        65536    /* withhold credit above this */
#define SIM_DEV_WBUF_HIGH        65536    /* stop pumping channels above */
#define SIM_HANDSHAKE_TIMEOUT    30000    /* ms, connect to established */
#define SIM_DEFAULT_KEEPALIVE    90       /* s, before options arrive */
#define SIM_BACKOFF_MAX          30000    /* ms */

#define SIM_OBJ_DEVICE           1
#define SIM_OBJ_CHANNEL          2
#define SIM_OBJ_LISTENER         3
#define SIM_OBJ_SIGNAL           4


/* a byte queue: valid bytes are data[pos..len) */
typedef struct {
    uint8_t        *data;
    uint32_t        pos;
    uint32_t        len;
    uint32_t        cap;
} sim_buf_t;

#define sim_buf_size(b)   ((size_t) ((b)->len - (b)->pos))
#define sim_buf_start(b)  ((b)->data + (b)->pos)

int sim_buf_append(sim_buf_t *b, const void *p, size_t n);
uint8_t *sim_buf_reserve(sim_buf_t *b, size_t n);
void sim_buf_consume(sim_buf_t *b, size_t n);
void sim_buf_free(sim_buf_t *b);


typedef struct sim_dev_s   sim_dev_t;
typedef struct sim_chan_s  sim_chan_t;
typedef struct sim_kvm_s   sim_kvm_t;


/* what the channel serves */
#define SIM_APP_HTTP             1
#define SIM_APP_REDIR            2
#define SIM_APP_BULK             3


struct sim_chan_s {
    int             obj;            /* SIM_OBJ_CHANNEL (selftest epoll) */
    int             fd;             /* selftest: plain TCP, else -1 */
    sim_dev_t      *dev;

    uint32_t        id;             /* our channel id (slot) */
    uint32_t        peer_id;        /* gateway's channel id */
    uint32_t        peer_window;    /* bytes we may still send */
    uint32_t        our_window;     /* bytes the gateway may still send */
    uint32_t        unacked;        /* consumed, credit not returned yet */
    uint16_t        port;

    unsigned        app:2;
    unsigned        tls:1;
    unsigned        sniff:1;        /* still looking for "BULK <n>\n" */
    unsigned        want_close:1;   /* close once output is flushed */
    unsigned        tls_shut:1;     /* close_notify queued */
    unsigned        sent_close:1;
    unsigned        got_close:1;

    /* redirection state */
    uint8_t         rstate;
    uint8_t         rmode;          /* SOL, KVM or IDER */
    unsigned        banner:1;       /* SOL greeting sent */
    uint8_t         auth_failures;
    uint32_t        rseq;
    sim_kvm_t      *kvm;            /* KVM sessions only (sim_kvm.c) */

    uint64_t        bulk_left;
    uint64_t        bulk_off;

    sim_buf_t       in;             /* plaintext awaiting the app */
    sim_buf_t       out;            /* bytes awaiting window credit */

    SSL            *ssl;            /* 16993/16995: TLS server, mem BIOs */
};


struct sim_dev_s {
    int             obj;            /* SIM_OBJ_DEVICE */
    int             fd;
    uint32_t        index;
    uint8_t         state;
    uint8_t         port_idx;       /* next/outstanding tcpip-forward */
    uint8_t         nchans;
    uint8_t         ever_connected:1;
    uint8_t         selftest:1;
    uint8_t         cira_rules;     /* policy rules left, bit per trigger */
    uint8_t         cira_mps;       /* MPS entries left (0 or 1) */
    uint32_t        user_call;      /* device clock of the last user call */
    uint32_t        ports_ok;       /* bit per forwarded port */
    uint32_t        heap_idx;
    uint64_t        deadline;       /* ms, timer */
    uint32_t        backoff;        /* ms */
    uint32_t        ka_interval;    /* s, 0: no keepalives */
    uint32_t        ka_cookie;
    uint32_t        echo_wait;      /* --tls-hold-rounds: bytes to come */
    SSL            *ssl;
    sim_buf_t       rbuf;           /* partial APF message */
    sim_buf_t       wbuf;           /* APF bytes awaiting SSL_write */
    sim_chan_t    **chans;          /* SIM_MAX_CHANNELS slots, on demand */
};


typedef struct {
    uint64_t        devices;
    uint64_t        connects;
    uint64_t        connect_failures;
    uint64_t        tls_failures;
    uint64_t        tls_ok;
    uint64_t        auth_ok;
    uint64_t        auth_failed;
    uint64_t        disconnects_received;
    uint64_t        disconnect_reasons[20];    /* 0..18, 19: other */
    uint64_t        closed_by_gateway;         /* TCP/TLS close, no msg */
    uint64_t        protocol_errors;
    uint64_t        handshake_timeouts;
    uint64_t        reconnects;
    uint64_t        forwards_ok;
    uint64_t        forwards_refused;
    uint64_t        keepalives_sent;
    uint64_t        keepalive_replies;
    uint64_t        keepalive_requests_received;
    uint64_t        keepalive_options_received;
    uint64_t        echoes;                    /* --tls-hold: echoed back */
    uint64_t        channels_opened;
    uint64_t        channels_refused;
    uint64_t        channels_closed;
    uint64_t        window_violations;
    uint64_t        http_requests;
    uint64_t        http_401;
    uint64_t        cira_deletes;              /* WS-Man Delete of CIRA */
    uint64_t        cira_removed;              /* devices that stopped */
    uint64_t        sol_sessions;
    uint64_t        kvm_sessions;
    uint64_t        kvm_updates;
    uint64_t        kvm_rects;
    uint64_t        kvm_input_events;
    uint64_t        ider_sessions;
    uint64_t        bulk_transfers;
    uint64_t        bytes_in;
    uint64_t        bytes_out;
    uint64_t        established;
} sim_stats_t;


typedef struct {
    const char     *connect;
    uint32_t        devices;
    const char     *guid;
    const char     *user;
    const char     *password;
    const char     *cert;
    const char     *key;
    int             auth_none;
    const char     *ca;
    uint32_t        ports[SIM_MAX_PORTS];
    uint32_t        nports;
    const char     *fqdn;
    uint32_t        trigger;
    const char     *tls;
    uint32_t        reconnect;
    double          duration;
    const char     *source;
    const char     *stats_file;
    const char     *amt_user;
    const char     *amt_password;
    long            clock_offset;   /* device clock - real clock, s */
    int             split;
    int             tls_only;
    int             tls_hold;       /* TLS only, held; keepalives echoed */
    uint32_t        tls_hold_rounds;    /* echoed round trips first */
    uint32_t        keepalive;      /* s, until the gateway sets one */
    int             quiet;
    int             verbose;
    uint32_t        rate;
    uint32_t        max_pending;
    uint32_t        window;
    uint32_t        selftest_port;
    uint32_t        selftest_service;
    uint32_t        kvm_width;
    uint32_t        kvm_height;
    uint32_t        kvm_interval;   /* ms per frame, 0: a still picture */
    uint32_t        redir_auth;     /* bit per offered method (1, 3, 4) */
} sim_conf_t;


extern sim_conf_t    sim_conf;
extern sim_stats_t   sim_stats;
extern uint8_t       sim_scratch[65536];


/* sim.c */
uint64_t sim_now(void);
void sim_dev_flush(sim_dev_t *dev);
void sim_log(sim_dev_t *dev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sim_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
size_t sim_fmt(char *out, size_t size, const char *fmt, uint32_t index);
size_t sim_dev_fqdn(sim_dev_t *dev, char *out, size_t size);
void sim_dev_guid_text(sim_dev_t *dev, char text[37]);
void sim_md5_hex(const void *data, size_t len, char hex[33], int upper);

/* sim_chan.c */
sim_chan_t *sim_chan_new(sim_dev_t *dev, uint16_t port);
void sim_chan_input(sim_chan_t *c, const uint8_t *p, size_t n);
void sim_chan_plain_input(sim_chan_t *c, const uint8_t *p, size_t n);
void sim_chan_write(sim_chan_t *c, const void *p, size_t n);
void sim_chan_raw_out(sim_chan_t *c, const void *p, size_t n);
void sim_chan_close(sim_chan_t *c);
int sim_chan_flush(sim_chan_t *c);
void sim_chan_consumed(sim_chan_t *c, size_t n);
void sim_chan_free(sim_chan_t *c);
int sim_dev_chan_open(sim_dev_t *dev, ngx_fcfh_apf_msg_t *m);
int sim_dev_chan_msg(sim_dev_t *dev, ngx_fcfh_apf_msg_t *m);
int sim_dev_pump(sim_dev_t *dev);
void sim_dev_free_chans(sim_dev_t *dev);
void sim_selftest_flush(sim_chan_t *c);

/* sim_http.c */
void sim_http_input(sim_chan_t *c);

/* sim_redir.c */
void sim_redir_input(sim_chan_t *c);

/* sim_kvm.c */
int sim_kvm_start(sim_chan_t *c);
void sim_kvm_input(sim_chan_t *c);
void sim_kvm_generate(sim_chan_t *c);
int sim_kvm_busy(sim_chan_t *c);
int sim_kvm_timer(uint64_t now);
void sim_kvm_free(sim_chan_t *c);

/* sim_tls.c */
int sim_tls_init(void);
int sim_tls_new(sim_chan_t *c);
void sim_tls_input(sim_chan_t *c, const uint8_t *p, size_t n);
void sim_tls_write(sim_chan_t *c, const void *p, size_t n);
void sim_tls_shutdown(sim_chan_t *c);


#endif /* _SIM_H_INCLUDED_ */
