/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh-sim: main, options, the epoll loop, timers, connection setup and
 * the per-device APF state machine.
 */


#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "sim.h"


/* device states */
#define ST_IDLE          0     /* in the connect queue */
#define ST_BACKOFF       1     /* waiting for the reconnect timer */
#define ST_CONNECTING    2     /* TCP connect in progress */
#define ST_TLS           3     /* TLS handshake */
#define ST_AUTH_SERVICE  4     /* SERVICE_REQUEST auth sent */
#define ST_USERAUTH      5     /* USERAUTH_REQUEST sent */
#define ST_PFWD_SERVICE  6     /* SERVICE_REQUEST pfwd sent */
#define ST_FORWARDS      7     /* tcpip-forward replies outstanding */
#define ST_ESTABLISHED   8
#define ST_STOPPED       9     /* dropped, --reconnect 0 */

static const char *sim_state_names[] = {
    "idle", "backoff", "connecting", "tls", "auth-service", "userauth",
    "pfwd-service", "forwards", "established", "stopped"
};


sim_conf_t    sim_conf;
sim_stats_t   sim_stats;
uint8_t       sim_scratch[65536];


static sim_dev_t         *devs;
static uint32_t          *heap;
static uint32_t           heap_n;
static uint32_t          *queue;
static uint32_t           queue_head, queue_len;
static uint32_t           pending;
static uint32_t           stopped;
static double             tokens;
static uint64_t           tokens_at;
static int                ep = -1;
static SSL_CTX           *client_ctx;
static int                cert_per_device;
static struct sockaddr_storage  peer_addr;
static socklen_t          peer_len;
static struct sockaddr_storage *sources;
static uint32_t           nsources, next_source;
static uint64_t           start_ms, end_ms;
static int                quit;
static int                ka_held;        /* --keepalive-on-usr2 */
static uint8_t            guid_base_ok;
static char               guid_prefix[25];
static uint64_t           guid_base;
static int                sig_obj = SIM_OBJ_SIGNAL;
static int                listen_obj = SIM_OBJ_LISTENER;
static int                listen_fd = -1;
static sim_dev_t          selftest_dev;


static void sim_dev_close(sim_dev_t *dev, int reconnect);
static void sim_established(sim_dev_t *dev);
static void sim_echo_round(sim_dev_t *dev);


/* ------------------------------------------------------------------ */
/* utilities */

uint64_t
sim_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


void
sim_log(sim_dev_t *dev, const char *fmt, ...)
{
    va_list  ap;
    char     buf[512];

    if (!sim_conf.verbose) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);

    if (dev) {
        fprintf(stderr, "fcfh-sim: %.3f dev %u: %s\n",
                (sim_now() - start_ms) / 1000.0, dev->index, buf);
    } else {
        fprintf(stderr, "fcfh-sim: %.3f %s\n",
                (sim_now() - start_ms) / 1000.0, buf);
    }
}


void
sim_err(const char *fmt, ...)
{
    va_list  ap;

    fprintf(stderr, "fcfh-sim: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
}


/* "%d" becomes the device index, "%%" a percent sign */
size_t
sim_fmt(char *out, size_t size, const char *fmt, uint32_t index)
{
    size_t  n;
    char    num[16];

    n = 0;

    while (*fmt && n + 1 < size) {
        if (fmt[0] == '%' && fmt[1] == 'd') {
            snprintf(num, sizeof(num), "%u", index);
            for (char *p = num; *p && n + 1 < size; p++) {
                out[n++] = *p;
            }
            fmt += 2;
            continue;
        }

        if (fmt[0] == '%' && fmt[1] == '%') {
            fmt++;
        }

        out[n++] = *fmt++;
    }

    out[n] = '\0';
    return n;
}


size_t
sim_dev_fqdn(sim_dev_t *dev, char *out, size_t size)
{
    return sim_fmt(out, size, sim_conf.fqdn, dev->index);
}


void
sim_dev_guid_text(sim_dev_t *dev, char text[37])
{
    uint64_t  v;

    v = (guid_base + dev->index) & 0xffffffffffffULL;
    snprintf(text, 37, "%s%012llx", guid_prefix, (unsigned long long) v);
}


void
sim_md5_hex(const void *data, size_t len, char hex[33], int upper)
{
    unsigned char  md[EVP_MAX_MD_SIZE];
    unsigned int   mdlen, i;
    const char    *digits;

    digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

    EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL);

    for (i = 0; i < 16; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0xf];
    }

    hex[32] = '\0';
}


int
sim_buf_append(sim_buf_t *b, const void *p, size_t n)
{
    uint8_t  *dst;

    dst = sim_buf_reserve(b, n);
    if (dst == NULL) {
        return -1;
    }

    memcpy(dst, p, n);
    b->len += n;
    return 0;
}


/* room for n more bytes at data + len; the caller advances len */
uint8_t *
sim_buf_reserve(sim_buf_t *b, size_t n)
{
    size_t    size, cap;
    uint8_t  *p;

    if (b->cap - b->len >= n) {
        return b->data + b->len;
    }

    size = b->len - b->pos;

    /*
     * Compact only when it moves no more than it frees: a queue that
     * stays nearly full (a large channel window in flight) would else
     * move most of itself for every append.
     */
    if (b->pos && b->cap - size >= n && size <= b->pos) {
        memmove(b->data, b->data + b->pos, size);
        b->pos = 0;
        b->len = size;
        return b->data + b->len;
    }

    cap = b->cap ? b->cap : 1024;
    while (cap < size + n) {
        cap *= 2;
    }

    if (cap > 0x7fffffff) {
        return NULL;
    }

    p = malloc(cap);
    if (p == NULL) {
        sim_err("out of memory");
        exit(2);
    }

    if (size) {
        memcpy(p, b->data + b->pos, size);
    }

    free(b->data);
    b->data = p;
    b->pos = 0;
    b->len = size;
    b->cap = cap;

    return b->data + b->len;
}


void
sim_buf_consume(sim_buf_t *b, size_t n)
{
    b->pos += n;

    if (b->pos >= b->len) {
        /*
         * empty: an idle object's small buffer is released (100,000 idle
         * devices hold none); a large one belongs to a stream, which
         * would otherwise allocate and fault it in again at once
         */
        if (b->cap <= 4096) {
            sim_buf_free(b);

        } else {
            b->pos = 0;
            b->len = 0;
        }
    }
}


void
sim_buf_free(sim_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->pos = 0;
    b->len = 0;
    b->cap = 0;
}


/* ------------------------------------------------------------------ */
/* timers: a binary min-heap of device indices keyed by deadline */

static void
heap_swap(uint32_t a, uint32_t b)
{
    uint32_t  t;

    t = heap[a];
    heap[a] = heap[b];
    heap[b] = t;
    devs[heap[a]].heap_idx = a;
    devs[heap[b]].heap_idx = b;
}


static void
heap_up(uint32_t i)
{
    while (i > 0) {
        uint32_t  p = (i - 1) / 2;

        if (devs[heap[p]].deadline <= devs[heap[i]].deadline) {
            break;
        }

        heap_swap(i, p);
        i = p;
    }
}


static void
heap_down(uint32_t i)
{
    for ( ;; ) {
        uint32_t  l = 2 * i + 1, r = l + 1, m = i;

        if (l < heap_n && devs[heap[l]].deadline < devs[heap[m]].deadline) {
            m = l;
        }

        if (r < heap_n && devs[heap[r]].deadline < devs[heap[m]].deadline) {
            m = r;
        }

        if (m == i) {
            return;
        }

        heap_swap(i, m);
        i = m;
    }
}


static void
timer_del(sim_dev_t *dev)
{
    uint32_t  i;

    if (dev->heap_idx == UINT32_MAX || dev->selftest) {
        return;
    }

    i = dev->heap_idx;
    dev->heap_idx = UINT32_MAX;
    heap_n--;

    if (i == heap_n) {
        return;
    }

    heap[i] = heap[heap_n];
    devs[heap[i]].heap_idx = i;
    heap_up(i);
    heap_down(devs[heap[i]].heap_idx);
}


static void
timer_set(sim_dev_t *dev, uint64_t ms)
{
    if (dev->selftest) {
        return;
    }

    timer_del(dev);

    dev->deadline = sim_now() + ms;
    dev->heap_idx = heap_n;
    heap[heap_n++] = dev->index;
    heap_up(dev->heap_idx);
}


/* ------------------------------------------------------------------ */
/* connection setup */

static void
queue_push(sim_dev_t *dev)
{
    dev->state = ST_IDLE;
    queue[(queue_head + queue_len) % sim_conf.devices] = dev->index;
    queue_len++;
}


static SSL_CTX *
sim_client_ctx(void)
{
    SSL_CTX  *ctx;
    int       ver;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        return NULL;
    }

    ver = 0;

    if (sim_conf.tls == NULL) {
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);

    } else if (strcmp(sim_conf.tls, "1.0") == 0) {
        ver = TLS1_VERSION;

    } else if (strcmp(sim_conf.tls, "1.1") == 0) {
        ver = TLS1_1_VERSION;

    } else if (strcmp(sim_conf.tls, "1.2") == 0) {
        ver = TLS1_2_VERSION;

    } else if (strcmp(sim_conf.tls, "1.3") == 0) {
        ver = TLS1_3_VERSION;

    } else {
        sim_err("--tls: 1.0, 1.1, 1.2 or 1.3");
        exit(1);
    }

    if (ver) {
        SSL_CTX_set_min_proto_version(ctx, ver);
        SSL_CTX_set_max_proto_version(ctx, ver);
    }

    if (ver == TLS1_VERSION || ver == TLS1_1_VERSION) {
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
    }

    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                          | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

    if (sim_conf.ca) {
        if (SSL_CTX_load_verify_locations(ctx, sim_conf.ca, NULL) != 1) {
            sim_err("cannot load --ca %s", sim_conf.ca);
            ERR_print_errors_fp(stderr);
            exit(1);
        }

        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }

    if (sim_conf.cert) {
        cert_per_device = strstr(sim_conf.cert, "%d") != NULL
                          || (sim_conf.key && strstr(sim_conf.key, "%d"));

        if (!cert_per_device) {
            if (SSL_CTX_use_certificate_chain_file(ctx, sim_conf.cert) != 1
                || SSL_CTX_use_PrivateKey_file(ctx,
                       sim_conf.key ? sim_conf.key : sim_conf.cert,
                       SSL_FILETYPE_PEM) != 1)
            {
                sim_err("cannot load --cert/--key");
                ERR_print_errors_fp(stderr);
                exit(1);
            }
        }
    }

    return ctx;
}


static void
sim_dev_connect(sim_dev_t *dev)
{
    int                  fd, one;
    struct epoll_event   ev;

    sim_stats.connects++;

    if (dev->ever_connected) {
        sim_stats.reconnects++;
    }

    dev->ever_connected = 1;

    fd = socket(peer_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK
                                     | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        sim_err("socket(): %s", strerror(errno));
        sim_stats.connect_failures++;
        sim_dev_close(dev, 1);
        return;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (nsources) {
        struct sockaddr_storage  *sa = &sources[next_source++ % nsources];

#ifdef IP_BIND_ADDRESS_NO_PORT
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                   sizeof(one));
#endif

        if (bind(fd, (struct sockaddr *) sa,
                 sa->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                          : sizeof(struct sockaddr_in6))
            == -1)
        {
            sim_err("bind(): %s", strerror(errno));
        }
    }

    dev->fd = fd;
    dev->state = ST_CONNECTING;
    pending++;

    ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
    ev.data.ptr = dev;

    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
        sim_err("epoll_ctl(): %s", strerror(errno));
        exit(2);
    }

    timer_set(dev, SIM_HANDSHAKE_TIMEOUT);

    /* until the gateway's KEEPALIVE_OPTIONS_REQUEST, which may come early */
    dev->ka_interval = sim_conf.keepalive;

    if (connect(fd, (struct sockaddr *) &peer_addr, peer_len) == -1
        && errno != EINPROGRESS)
    {
        sim_log(dev, "connect(): %s", strerror(errno));
        sim_stats.connect_failures++;
        sim_dev_close(dev, 1);
        return;
    }

    sim_log(dev, "connecting");
}


/* ------------------------------------------------------------------ */
/* APF output */

static uint8_t *
sim_dev_out(sim_dev_t *dev, size_t n)
{
    return sim_buf_reserve(&dev->wbuf, n);
}


#define SIM_EMIT(dev, call)                                                  \
    do {                                                                     \
        uint8_t *p_ = sim_dev_out(dev, 1024);                                \
        size_t   n_ = call;                                                  \
        dev->wbuf.len += n_;                                                 \
    } while (0)


static void
sim_send_service(sim_dev_t *dev, const char *name)
{
    SIM_EMIT(dev, ngx_fcfh_apf_write_service(p_, 1024,
                      NGX_FCFH_APF_SERVICE_REQUEST, (const uint8_t *) name,
                      strlen(name)));
}


static void
sim_send_forward(sim_dev_t *dev)
{
    char    fqdn[256];
    size_t  len;

    len = sim_dev_fqdn(dev, fqdn, sizeof(fqdn));

    SIM_EMIT(dev, ngx_fcfh_apf_write_global_forward(p_, 1024, 0, 1,
                      (const uint8_t *) fqdn, len,
                      sim_conf.ports[dev->port_idx]));

    sim_log(dev, "tcpip-forward \"%s\" %u", fqdn,
            sim_conf.ports[dev->port_idx]);
}


static void
sim_send_disconnect(sim_dev_t *dev, uint32_t reason)
{
    SIM_EMIT(dev, ngx_fcfh_apf_write_disconnect(p_, 1024, reason));
}


static void
sim_tls_done(sim_dev_t *dev)
{
    uint8_t  wire[NGX_FCFH_APF_GUID_SIZE];
    char     guid[37];

    pending--;
    sim_stats.tls_ok++;

    if (sim_conf.tls_only) {
        /* the TLS handshake ceiling of bench/tunnels.sh: nothing more */
        dev->state = ST_IDLE;   /* the handshake is counted out above */
        sim_dev_close(dev, 0);
        return;
    }

    if (sim_conf.tls_hold) {
        /*
         * bench/floor.sh's bare connection: TLS and nothing else; the
         * keepalive's 5 bytes go out as they would in a tunnel, and the
         * server is expected to echo them
         */
        if (sim_conf.tls_hold_rounds) {
            dev->state = ST_FORWARDS;
            dev->port_idx = 0;
            sim_echo_round(dev);
            return;
        }

        sim_established(dev);
        return;
    }

    sim_dev_guid_text(dev, guid);
    if (ngx_fcfh_apf_guid_from_text(guid, 36, wire) != 0) {
        memset(wire, 0, sizeof(wire));
    }

    sim_log(dev, "TLS up (%s %s), guid %s", SSL_get_version(dev->ssl),
            SSL_get_cipher_name(dev->ssl), guid);

    SIM_EMIT(dev, ngx_fcfh_apf_write_protocolversion(p_, 1024, 1, 0,
                      sim_conf.trigger, wire));

    if (sim_conf.trigger == 1) {
        /* a user asked for help: AMT logs it before it calls */
        dev->user_call = (uint32_t) (time(NULL) + sim_conf.clock_offset - 1);
    }

    sim_send_service(dev, "auth@amt.intel.com");
    dev->state = ST_AUTH_SERVICE;
}


/*
 * --tls-hold-rounds: one round trip of the APF handshake, as bytes of the
 * same size for the server to echo: PROTOCOLVERSION with SERVICE_REQUEST
 * auth, USERAUTH_REQUEST (admin / P@ssw0rd), SERVICE_REQUEST pfwd, then a
 * tcpip-forward of a 17-byte name per round
 */
static void
sim_echo_round(sim_dev_t *dev)
{
    static const uint32_t  sizes[] = { 93 + 23, 57, 23, 44 };

    uint8_t   *p;
    uint32_t   n;

    n = sizes[dev->port_idx < 3 ? dev->port_idx : 3];

    p = sim_dev_out(dev, n);
    memset(p, 'x', n);
    dev->wbuf.len += n;

    dev->echo_wait = n;
    dev->port_idx++;
}


/* ------------------------------------------------------------------ */
/* APF input */

static int
sim_str_eq(ngx_fcfh_apf_str_t *s, const char *lit)
{
    size_t  n = strlen(lit);

    return s->len == n && memcmp(s->data, lit, n) == 0;
}


static void
sim_established(sim_dev_t *dev)
{
    dev->state = ST_ESTABLISHED;
    dev->backoff = sim_conf.reconnect;
    sim_stats.established++;
    timer_set(dev, (uint64_t) dev->ka_interval * 1000);
    sim_log(dev, "established");
}


static void
sim_next_forward(sim_dev_t *dev)
{
    if (dev->port_idx < sim_conf.nports) {
        sim_send_forward(dev);
        return;
    }

    sim_established(dev);
}


/* returns -1 when the device was closed */
static int
sim_dev_message(sim_dev_t *dev, ngx_fcfh_apf_msg_t *m)
{
    char  user[256], pass[256];

    switch (m->type) {

    case NGX_FCFH_APF_DISCONNECT:
        sim_stats.disconnects_received++;
        sim_stats.disconnect_reasons[m->u.reason < 19 ? m->u.reason : 19]++;
        sim_log(dev, "DISCONNECT %u (%s)", m->u.reason,
                ngx_fcfh_apf_disconnect_reason_name(m->u.reason));

        if (dev->state == ST_USERAUTH) {
            sim_stats.auth_failed++;
        }

        sim_dev_close(dev, 1);
        return -1;

    case NGX_FCFH_APF_SERVICE_ACCEPT:
        if (dev->state == ST_AUTH_SERVICE
            && sim_str_eq(&m->u.service, "auth@amt.intel.com"))
        {
            size_t  ul, pl;

            ul = sim_fmt(user, sizeof(user), sim_conf.user, dev->index);

            if (sim_conf.auth_none) {
                SIM_EMIT(dev, ngx_fcfh_apf_write_userauth_none(p_, 1024,
                                  (const uint8_t *) user, ul,
                                  (const uint8_t *) "pfwd@amt.intel.com",
                                  18));
            } else {
                pl = sim_fmt(pass, sizeof(pass), sim_conf.password,
                             dev->index);
                SIM_EMIT(dev, ngx_fcfh_apf_write_userauth_password(p_, 1024,
                                  (const uint8_t *) user, ul,
                                  (const uint8_t *) "pfwd@amt.intel.com",
                                  18, (const uint8_t *) pass, pl));
            }

            dev->state = ST_USERAUTH;
            return 0;
        }

        if (dev->state == ST_PFWD_SERVICE
            && sim_str_eq(&m->u.service, "pfwd@amt.intel.com"))
        {
            dev->state = ST_FORWARDS;
            dev->port_idx = 0;
            dev->ports_ok = 0;
            sim_next_forward(dev);
            return 0;
        }

        break;

    case NGX_FCFH_APF_USERAUTH_SUCCESS:
        if (dev->state != ST_USERAUTH) {
            break;
        }

        sim_stats.auth_ok++;
        sim_log(dev, "USERAUTH_SUCCESS");
        sim_send_service(dev, "pfwd@amt.intel.com");
        dev->state = ST_PFWD_SERVICE;
        return 0;

    case NGX_FCFH_APF_USERAUTH_FAILURE:
        if (dev->state != ST_USERAUTH) {
            break;
        }

        sim_stats.auth_failed++;
        sim_log(dev, "USERAUTH_FAILURE");
        sim_dev_close(dev, 1);
        return -1;

    case NGX_FCFH_APF_REQUEST_SUCCESS:
    case NGX_FCFH_APF_REQUEST_FAILURE:
        if (dev->state != ST_FORWARDS && !(dev->state == ST_ESTABLISHED
                                           && dev->port_idx < sim_conf.nports))
        {
            break;
        }

        if (m->type == NGX_FCFH_APF_REQUEST_SUCCESS) {
            if (m->u.request_success.port != sim_conf.ports[dev->port_idx]) {
                sim_log(dev, "REQUEST_SUCCESS for port %u, expected %u",
                        m->u.request_success.port,
                        sim_conf.ports[dev->port_idx]);
            }

            sim_stats.forwards_ok++;
            dev->ports_ok |= 1u << dev->port_idx;

        } else {
            sim_stats.forwards_refused++;
            sim_log(dev, "REQUEST_FAILURE for port %u",
                    sim_conf.ports[dev->port_idx]);
        }

        dev->port_idx++;
        sim_next_forward(dev);
        return 0;

    case NGX_FCFH_APF_KEEPALIVE_REQUEST:
        sim_stats.keepalive_requests_received++;
        SIM_EMIT(dev, ngx_fcfh_apf_write_keepalive(p_, 1024,
                          NGX_FCFH_APF_KEEPALIVE_REPLY, m->u.cookie));
        return 0;

    case NGX_FCFH_APF_KEEPALIVE_REPLY:
        sim_stats.keepalive_replies++;
        return 0;

    case NGX_FCFH_APF_KEEPALIVE_OPTIONS_REQUEST:
        sim_stats.keepalive_options_received++;
        sim_log(dev, "KEEPALIVE_OPTIONS_REQUEST %u %u",
                m->u.keepalive_options.interval,
                m->u.keepalive_options.timeout);

        SIM_EMIT(dev, ngx_fcfh_apf_write_keepalive_options(p_, 1024,
                          NGX_FCFH_APF_KEEPALIVE_OPTIONS_REPLY,
                          m->u.keepalive_options.interval,
                          m->u.keepalive_options.timeout));

        dev->ka_interval = m->u.keepalive_options.interval;

        if (dev->state == ST_ESTABLISHED) {
            if (dev->ka_interval) {
                timer_set(dev, (uint64_t) dev->ka_interval * 1000);
            } else {
                timer_del(dev);
            }
        }

        return 0;

    case NGX_FCFH_APF_CHANNEL_OPEN:
        if (dev->state < ST_FORWARDS) {
            break;
        }

        return sim_dev_chan_open(dev, m);

    case NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST:
    case NGX_FCFH_APF_CHANNEL_DATA:
    case NGX_FCFH_APF_CHANNEL_CLOSE:
        if (sim_dev_chan_msg(dev, m) == 0) {
            return 0;
        }

        break;

    default:
        break;
    }

    sim_stats.protocol_errors++;
    sim_log(dev, "unexpected %s (%u) in state %s",
            ngx_fcfh_apf_type_name(m->type), m->type,
            sim_state_names[dev->state]);
    sim_send_disconnect(dev, NGX_FCFH_APF_DISC_PROTOCOL_ERROR);
    sim_dev_flush(dev);
    sim_dev_close(dev, 1);
    return -1;
}


/* parse what is in p[0..n); returns bytes consumed or -1 (closed) */
static ssize_t
sim_dev_parse(sim_dev_t *dev, const uint8_t *p, size_t n)
{
    ssize_t             rc;
    size_t              off;
    unsigned            flags;
    ngx_fcfh_apf_msg_t  m;

    off = 0;

    while (off < n) {
        flags = NGX_FCFH_APF_FROM_GATEWAY;

        if (dev->state == ST_FORWARDS
            || (dev->state == ST_ESTABLISHED
                && dev->port_idx < sim_conf.nports))
        {
            flags |= NGX_FCFH_APF_EXPECT_PORT;
        }

        rc = ngx_fcfh_apf_parse(p + off, n - off, flags, NULL, &m, NULL);

        if (rc == 0) {
            break;
        }

        if (rc < 0) {
            sim_stats.protocol_errors++;
            sim_log(dev, "parse error: %s (type byte %u)",
                    ngx_fcfh_apf_strerror(rc), p[off]);
            sim_send_disconnect(dev, NGX_FCFH_APF_DISC_PROTOCOL_ERROR);
            sim_dev_flush(dev);
            sim_dev_close(dev, 1);
            return -1;
        }

        off += rc;

        if (sim_dev_message(dev, &m) != 0) {
            return -1;
        }
    }

    return off;
}


/* returns -1 when the device was closed */
static int
sim_dev_read(sim_dev_t *dev)
{
    int      n, err;
    ssize_t  used;

    for ( ;; ) {
        ERR_clear_error();
        n = SSL_read(dev->ssl, sim_scratch, sizeof(sim_scratch));

        if (n <= 0) {
            err = SSL_get_error(dev->ssl, n);

            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                return 0;
            }

            if (err == SSL_ERROR_ZERO_RETURN) {
                sim_log(dev, "gateway closed the TLS session");

            } else {
                sim_log(dev, "connection lost (SSL error %d, errno %d)",
                        err, errno);
            }

            sim_stats.closed_by_gateway++;
            sim_dev_close(dev, 1);
            return -1;
        }

        sim_stats.bytes_in += n;

        if (sim_conf.tls_hold) {
            if (dev->state == ST_ESTABLISHED) {
                /* an echo of our keepalives (5 bytes each) */
                sim_stats.echoes += n / 5;
                continue;
            }

            /* a round of the handshake came back */
            dev->echo_wait -= ((uint32_t) n < dev->echo_wait)
                              ? (uint32_t) n : dev->echo_wait;

            if (dev->echo_wait == 0) {
                if (dev->port_idx < sim_conf.tls_hold_rounds) {
                    sim_echo_round(dev);

                } else {
                    sim_established(dev);
                }
            }

            continue;
        }

        if (sim_buf_size(&dev->rbuf) == 0) {
            used = sim_dev_parse(dev, sim_scratch, n);
            if (used < 0) {
                return -1;
            }

            if (used < n) {
                sim_buf_append(&dev->rbuf, sim_scratch + used, n - used);
            }

        } else {
            sim_buf_append(&dev->rbuf, sim_scratch, n);
            used = sim_dev_parse(dev, sim_buf_start(&dev->rbuf),
                                 sim_buf_size(&dev->rbuf));
            if (used < 0) {
                return -1;
            }

            sim_buf_consume(&dev->rbuf, used);
        }
    }
}


/* write queued APF bytes; -1 when the device was closed */
static int
sim_dev_write(sim_dev_t *dev)
{
    int     n, err;
    size_t  size;

    while (sim_buf_size(&dev->wbuf)) {
        size = sim_buf_size(&dev->wbuf);

        if (sim_conf.split) {
            size = 1;

        } else if (size > 16384) {
            size = 16384;
        }

        ERR_clear_error();
        n = SSL_write(dev->ssl, sim_buf_start(&dev->wbuf), size);

        if (n <= 0) {
            err = SSL_get_error(dev->ssl, n);

            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                return 0;
            }

            sim_log(dev, "write failed (SSL error %d, errno %d)", err, errno);
            sim_stats.closed_by_gateway++;
            sim_dev_close(dev, 1);
            return -1;
        }

        sim_stats.bytes_out += n;
        sim_buf_consume(&dev->wbuf, n);
    }

    return 0;
}


void
sim_dev_flush(sim_dev_t *dev)
{
    if (dev->ssl == NULL || dev->state < ST_AUTH_SERVICE) {
        return;
    }

    for ( ;; ) {
        if (sim_dev_write(dev) != 0) {
            return;
        }

        if (sim_buf_size(&dev->wbuf)) {
            return;     /* blocked */
        }

        /* drained: let channels with pending output send more */
        if (dev->nchans == 0 || !sim_dev_pump(dev)) {
            return;
        }
    }
}


static void
sim_dev_handshake(sim_dev_t *dev)
{
    int  rc, err;

    ERR_clear_error();
    rc = SSL_connect(dev->ssl);

    if (rc == 1) {
        sim_tls_done(dev);
        return;
    }

    err = SSL_get_error(dev->ssl, rc);

    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        return;
    }

    sim_stats.tls_failures++;

    if (sim_conf.verbose) {
        unsigned long  e = ERR_peek_error();
        char           buf[256];

        ERR_error_string_n(e, buf, sizeof(buf));
        sim_log(dev, "TLS handshake failed: %s (errno %d)",
                e ? buf : "connection closed", errno);
    }

    sim_dev_close(dev, 1);
}


static void
sim_dev_event(sim_dev_t *dev, uint32_t events)
{
    int        err;
    socklen_t  len;
    char       file[512], kfile[512];

    if (dev->state == ST_CONNECTING) {
        err = 0;
        len = sizeof(err);
        getsockopt(dev->fd, SOL_SOCKET, SO_ERROR, &err, &len);

        if (err) {
            sim_log(dev, "connect: %s", strerror(err));
            sim_stats.connect_failures++;
            sim_dev_close(dev, 1);
            return;
        }

        if (!(events & EPOLLOUT)) {
            return;
        }

        dev->ssl = SSL_new(client_ctx);
        if (dev->ssl == NULL) {
            sim_err("SSL_new() failed");
            exit(2);
        }

        if (cert_per_device) {
            sim_fmt(file, sizeof(file), sim_conf.cert, dev->index);
            sim_fmt(kfile, sizeof(kfile),
                    sim_conf.key ? sim_conf.key : sim_conf.cert, dev->index);

            if (SSL_use_certificate_chain_file(dev->ssl, file) != 1
                || SSL_use_PrivateKey_file(dev->ssl, kfile, SSL_FILETYPE_PEM)
                   != 1)
            {
                sim_log(dev, "cannot load certificate %s / key %s",
                        file, kfile);
            }
        }

        SSL_set_fd(dev->ssl, dev->fd);
        SSL_set_connect_state(dev->ssl);
        dev->state = ST_TLS;
    }

    if (dev->state == ST_TLS) {
        sim_dev_handshake(dev);

        if (dev->state == ST_TLS || dev->ssl == NULL) {
            return;
        }
    }

    if (dev->ssl == NULL) {
        return;
    }

    if (sim_dev_read(dev) != 0) {
        return;
    }

    sim_dev_flush(dev);
}


static void
sim_dev_timer(sim_dev_t *dev)
{
    switch (dev->state) {

    case ST_BACKOFF:
        queue_push(dev);
        return;

    case ST_ESTABLISHED:
        if (dev->ka_interval == 0) {
            return;
        }

        if (ka_held) {
            /* not yet (the phase of each device's keepalives is kept) */
            timer_set(dev, (uint64_t) dev->ka_interval * 1000);
            return;
        }

        SIM_EMIT(dev, ngx_fcfh_apf_write_keepalive(p_, 1024,
                          NGX_FCFH_APF_KEEPALIVE_REQUEST, ++dev->ka_cookie));
        sim_stats.keepalives_sent++;
        timer_set(dev, (uint64_t) dev->ka_interval * 1000);
        sim_dev_flush(dev);
        return;

    default:
        /* handshake took too long */
        sim_stats.handshake_timeouts++;
        sim_log(dev, "handshake timeout in state %s",
                sim_state_names[dev->state]);

        sim_dev_close(dev, 1);
        return;
    }
}


static void
sim_dev_close(sim_dev_t *dev, int reconnect)
{
    uint32_t  delay;

    if (dev->state == ST_ESTABLISHED) {
        sim_stats.established--;
    }

    if (dev->state == ST_CONNECTING || dev->state == ST_TLS) {
        pending--;      /* a handshake ends */
    }

    timer_del(dev);
    sim_dev_free_chans(dev);

    if (dev->ssl) {
        SSL_free(dev->ssl);
        dev->ssl = NULL;
    }

    if (dev->fd != -1) {
        close(dev->fd);     /* also removes it from epoll */
        dev->fd = -1;
    }

    sim_buf_free(&dev->rbuf);
    sim_buf_free(&dev->wbuf);
    dev->port_idx = 0;
    dev->ports_ok = 0;

    if (reconnect && dev->cira_mps == 0 && !dev->selftest) {
        /* as AMT: without an MPS entry there is nothing to call */
        sim_stats.cira_removed++;
        sim_log(dev, "CIRA configuration removed, not reconnecting");
        reconnect = 0;
    }

    if (!reconnect || sim_conf.reconnect == 0 || quit) {
        dev->state = ST_STOPPED;
        stopped++;
        sim_log(dev, "stopped");
        return;
    }

    /* jitter: 75%..125% of the current backoff */
    delay = dev->backoff * 3 / 4 + random() % (dev->backoff / 2 + 1);

    dev->backoff *= 2;
    if (dev->backoff > SIM_BACKOFF_MAX) {
        dev->backoff = SIM_BACKOFF_MAX;
    }

    dev->state = ST_BACKOFF;
    timer_set(dev, delay);
    sim_log(dev, "reconnecting in %u ms", delay);
}


/* ------------------------------------------------------------------ */
/* stats */

static size_t
sim_stats_json(char *buf, size_t size)
{
    size_t  n;
    int     i, first;

#define J(name) \
    n += snprintf(buf + n, size - n, "\"" #name "\":%llu,",                  \
                  (unsigned long long) sim_stats.name)

    n = 0;
    n += snprintf(buf + n, size - n, "{");
    J(devices);
    J(connects);
    J(connect_failures);
    J(tls_failures);
    J(tls_ok);
    J(auth_ok);
    J(auth_failed);

    n += snprintf(buf + n, size - n, "\"disconnects_received\":{");
    first = 1;
    for (i = 0; i < 20; i++) {
        if (sim_stats.disconnect_reasons[i] == 0) {
            continue;
        }

        if (i < 19) {
            n += snprintf(buf + n, size - n, "%s\"%d\":%llu",
                          first ? "" : ",", i,
                          (unsigned long long)
                              sim_stats.disconnect_reasons[i]);
        } else {
            n += snprintf(buf + n, size - n, "%s\"other\":%llu",
                          first ? "" : ",",
                          (unsigned long long)
                              sim_stats.disconnect_reasons[i]);
        }

        first = 0;
    }
    n += snprintf(buf + n, size - n, "},");

    n += snprintf(buf + n, size - n, "\"disconnects_received_total\":%llu,",
                  (unsigned long long) sim_stats.disconnects_received);
    J(closed_by_gateway);
    J(protocol_errors);
    J(handshake_timeouts);
    J(reconnects);
    J(cira_deletes);
    J(cira_removed);
    J(forwards_ok);
    J(forwards_refused);
    J(keepalives_sent);
    J(keepalive_replies);
    J(keepalive_requests_received);
    J(keepalive_options_received);
    J(echoes);
    J(channels_opened);
    J(channels_refused);
    J(channels_closed);
    J(window_violations);
    J(http_requests);
    J(http_401);
    J(sol_sessions);
    J(kvm_sessions);
    J(kvm_updates);
    J(kvm_rects);
    J(kvm_input_events);
    J(ider_sessions);
    J(bulk_transfers);
    J(bytes_in);
    J(bytes_out);
    n += snprintf(buf + n, size - n, "\"heap_in_use\":%llu,",
                  (unsigned long long) mallinfo2().uordblks);
    n += snprintf(buf + n, size - n, "\"established\":%llu}",
                  (unsigned long long) sim_stats.established);

#undef J

    return n;
}


static void
sim_stats_write_file(void)
{
    char   buf[4096], tmp[4096];
    FILE  *f;

    if (sim_conf.stats_file == NULL) {
        return;
    }

    sim_stats_json(buf, sizeof(buf));
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", sim_conf.stats_file, getpid());

    f = fopen(tmp, "w");
    if (f == NULL) {
        sim_err("cannot write %s: %s", tmp, strerror(errno));
        return;
    }

    fprintf(f, "%s\n", buf);

    if (fclose(f) != 0 || rename(tmp, sim_conf.stats_file) != 0) {
        sim_err("cannot write %s: %s", sim_conf.stats_file, strerror(errno));
        unlink(tmp);
    }
}


/* ------------------------------------------------------------------ */
/* selftest: one device's port service over plain TCP */

static void
sim_selftest_accept(void)
{
    int                  fd;
    sim_chan_t          *c;
    struct epoll_event   ev;

    for ( ;; ) {
        fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            return;
        }

        c = sim_chan_new(&selftest_dev, sim_conf.selftest_service);
        if (c == NULL) {
            close(fd);
            continue;
        }

        c->fd = fd;
        sim_stats.channels_opened++;

        ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
        ev.data.ptr = c;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);

        sim_log(&selftest_dev, "selftest connection on port %u",
                sim_conf.selftest_service);
    }
}


static void
sim_selftest_event(sim_chan_t *c, uint32_t events)
{
    ssize_t  n;

    sim_selftest_flush(c);

    while (sim_buf_size(&c->out) < SIM_CHAN_OUT_HIGH && !c->sent_close) {
        n = read(c->fd, sim_scratch, sizeof(sim_scratch));

        if (n > 0) {
            sim_stats.bytes_in += n;
            sim_chan_input(c, sim_scratch, n);
            sim_selftest_flush(c);
            continue;
        }

        if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
            break;
        }

        /* EOF or error: the console went away */
        c->got_close = 1;
        c->want_close = 1;
        sim_buf_free(&c->out);
        sim_selftest_flush(c);
        break;
    }

    if (c->sent_close) {
        /* the fd is closed; nothing refers to c any more */
        sim_chan_free(c);
    }
}


static int
sim_selftest_listen(void)
{
    int                  one;
    struct sockaddr_in   sin;
    struct epoll_event   ev;

    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd == -1) {
        return -1;
    }

    one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(sim_conf.selftest_port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (bind(listen_fd, (struct sockaddr *) &sin, sizeof(sin)) == -1
        || listen(listen_fd, 128) == -1)
    {
        sim_err("selftest listen on 127.0.0.1:%u: %s",
                sim_conf.selftest_port, strerror(errno));
        return -1;
    }

    ev.events = EPOLLIN;
    ev.data.ptr = &listen_obj;
    epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);

    selftest_dev.obj = SIM_OBJ_DEVICE;
    selftest_dev.fd = -1;
    selftest_dev.index = 0;
    selftest_dev.selftest = 1;
    selftest_dev.cira_rules = 7;
    selftest_dev.cira_mps = 1;
    selftest_dev.heap_idx = UINT32_MAX;

    return 0;
}


/* ------------------------------------------------------------------ */
/* options */

static void
sim_usage(FILE *f)
{
    fprintf(f,
"usage: fcfh-sim --connect HOST:PORT [options]\n"
"\n"
"Simulates Intel AMT devices that open CIRA tunnels (TLS + APF) to a\n"
"gateway and serve WS-Management (16992/16993) and redirection: SOL, KVM\n"
"(RFB) and IDER session start (16994/16995) on the channels the gateway\n"
"opens.\n"
"\n"
"  --connect HOST:PORT     gateway address (required unless --selftest-port)\n"
"  --devices N             devices to simulate (1)\n"
"  --guid GUID             device 0's GUID; device i adds i to its last\n"
"                          12 hex digits\n"
"                          (00000000-0000-4000-8000-000000000001)\n"
"  --user FMT              APF user name, %%d = device index (admin)\n"
"  --password FMT          APF password, %%d = device index (P@ssw0rd)\n"
"  --cert FILE --key FILE  client certificate (FMT with %%d allowed)\n"
"  --auth password|none    USERAUTH method (password)\n"
"  --ca FILE               verify the gateway certificate (default: none)\n"
"  --ports LIST            forwarded ports (16992,16993,16994,16995,5900)\n"
"  --fqdn FMT              address in tcpip-forward (dev%%d.example.test)\n"
"  --trigger N             PROTOCOLVERSION trigger reason (1)\n"
"  --tls 1.0|1.1|1.2|1.3   pin the TLS version (default: 1.2 or newer)\n"
"  --reconnect MS          initial reconnect backoff, doubles up to 30 s,\n"
"                          with jitter; 0 = do not reconnect (1000)\n"
"  --duration S            exit after S seconds (default: run forever)\n"
"  --source ADDR[,ADDR..]  local source addresses, used round-robin\n"
"  --rate N                connections started per second (1000)\n"
"  --max-pending N         concurrent TCP+TLS handshakes (500)\n"
"  --window N              channel window we grant (32768)\n"
"  --stats-file FILE       write counters (JSON) on SIGUSR1 and at exit\n"
"  --amt-user USER         digest user of WS-Man and redirection (admin)\n"
"  --amt-password PASS     digest password (P@ssw0rd)\n"
"  --amt-clock-offset S    the AMT clock runs S seconds ahead (0)\n"
"  --redir-auth LIST       redirection auth methods offered: 1 password,\n"
"                          3 RFC 2069 digest, 4 RFC 2617 digest (1,3,4)\n"
"  --kvm-size WxH          KVM framebuffer size (640x400)\n"
"  --kvm-interval MS       KVM picture changes every MS ms; 0 = still\n"
"                          (1000)\n"
"  --split                 send every APF message one byte per TLS record\n"
"  --keepalive S           keepalive interval until the gateway sets one\n"
"                          (90, AMT's default; 0 = none)\n"
"  --tls-only              close each connection once TLS is up, without\n"
"                          APF (a TLS handshake rate ceiling); no reconnect\n"
"  --keepalive-on-usr2     no keepalives until SIGUSR2 (a benchmark's setup\n"
"                          phase then costs no keepalive)\n"
"  --tls-hold              TLS only, held: every --keepalive S seconds 5\n"
"                          bytes that the server is to echo (the bare\n"
"                          connection of bench/floor.sh)\n"
"  --tls-hold-rounds N     with --tls-hold: first N round trips of bytes\n"
"                          the sizes of the APF handshake's, each echoed\n"
"  --quiet                 no informational output on stderr\n"
"  -v, --verbose           log per-device events on stderr\n"
"  -h, --help              this text\n"
"\n"
"Test mode (no gateway): serve one device's port directly over TCP:\n"
"  --selftest-port PORT    listen on 127.0.0.1:PORT (plain TCP)\n"
"  --selftest-service P    16992 (HTTP/WS-Man), 16993 (same in TLS),\n"
"                          16994 (redirection), 16995 (same in TLS)\n"
"\n"
"Counters are printed as one JSON line on stdout at exit (SIGINT,\n"
"SIGTERM, --duration, or all devices stopped with --reconnect 0).\n");
}


static uint32_t
sim_num(const char *opt, const char *s, uint64_t max)
{
    char                *end;
    unsigned long long   v;

    errno = 0;
    v = strtoull(s, &end, 10);

    if (errno || *s == '\0' || *end != '\0' || v > max) {
        sim_err("bad value for %s: \"%s\"", opt, s);
        exit(1);
    }

    return (uint32_t) v;
}


static void
sim_parse_ports(const char *s)
{
    char  *copy, *tok, *save;

    copy = strdup(s);
    sim_conf.nports = 0;

    for (tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
    {
        if (sim_conf.nports == SIM_MAX_PORTS) {
            sim_err("--ports: at most %d ports", SIM_MAX_PORTS);
            exit(1);
        }

        sim_conf.ports[sim_conf.nports++] = sim_num("--ports", tok, 65535);
    }

    free(copy);
}


/* WxH, each 16..4096 (at most 64x64 tiles of 64x64) */
static void
sim_parse_kvm_size(const char *s)
{
    char  *copy, *x;

    copy = strdup(s);
    x = strchr(copy, 'x');

    if (x == NULL) {
        sim_err("--kvm-size: WIDTHxHEIGHT, e.g. 640x400");
        exit(1);
    }

    *x = '\0';
    sim_conf.kvm_width = sim_num("--kvm-size", copy, 4096);
    sim_conf.kvm_height = sim_num("--kvm-size", x + 1, 4096);
    free(copy);

    if (sim_conf.kvm_width < 16 || sim_conf.kvm_height < 16) {
        sim_err("--kvm-size: at least 16x16");
        exit(1);
    }
}


/* redirection authentication methods offered: 1, 3, 4 */
static void
sim_parse_redir_auth(const char *s)
{
    char      *copy, *tok, *save;
    uint32_t   m;

    copy = strdup(s);
    sim_conf.redir_auth = 0;

    for (tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
    {
        m = sim_num("--redir-auth", tok, 4);

        if (m != 1 && m != 3 && m != 4) {
            sim_err("--redir-auth: methods 1 (password), 3 (RFC 2069 "
                    "digest), 4 (RFC 2617 digest)");
            exit(1);
        }

        sim_conf.redir_auth |= 1u << m;
    }

    free(copy);

    if (sim_conf.redir_auth == 0) {
        sim_err("--redir-auth: at least one method");
        exit(1);
    }
}


static int
sim_resolve(const char *spec, int passive, struct sockaddr_storage *ss,
    socklen_t *len)
{
    char              host[256], *port, *p;
    struct addrinfo   hints, *res;
    int               rc;

    snprintf(host, sizeof(host), "%s", spec);
    port = NULL;

    if (host[0] == '[') {
        p = strchr(host, ']');
        if (p == NULL) {
            return -1;
        }
        *p = '\0';
        memmove(host, host + 1, strlen(host + 1) + 1);
        if (p[1] == ':') {
            port = p + 1;
        }
        p = strchr(host, '\0');
        if (port) {
            port = p + 2;
        }

    } else if (!passive) {
        p = strrchr(host, ':');
        if (p == NULL) {
            return -1;
        }
        *p = '\0';
        port = p + 1;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_NUMERICHOST : 0;

    rc = getaddrinfo(host, port ? port : "0", &hints, &res);
    if (rc != 0) {
        sim_err("%s: %s", spec, gai_strerror(rc));
        return -1;
    }

    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}


static void
sim_parse_sources(const char *s)
{
    char       *copy, *tok, *save;
    socklen_t   len;

    copy = strdup(s);

    for (tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
    {
        sources = realloc(sources, (nsources + 1) * sizeof(*sources));
        if (sim_resolve(tok, 1, &sources[nsources], &len) != 0) {
            sim_err("bad --source address \"%s\"", tok);
            exit(1);
        }
        nsources++;
    }

    free(copy);
}


static void
sim_parse_guid(void)
{
    const char  *g;
    uint8_t      wire[NGX_FCFH_APF_GUID_SIZE];
    char        *end;

    g = sim_conf.guid ? sim_conf.guid : "00000000-0000-4000-8000-000000000001";

    if (strlen(g) != 36 || g[23] != '-'
        || ngx_fcfh_apf_guid_from_text(g, 36, wire) != 0)
    {
        sim_err("bad --guid \"%s\"", g);
        exit(1);
    }

    memcpy(guid_prefix, g, 24);
    guid_prefix[24] = '\0';
    for (int i = 0; i < 24; i++) {
        guid_prefix[i] = (char) (guid_prefix[i] >= 'A' && guid_prefix[i] <= 'F'
                                 ? guid_prefix[i] + 32 : guid_prefix[i]);
    }

    guid_base = strtoull(g + 24, &end, 16);
    guid_base_ok = 1;
}


static void
sim_options(int argc, char **argv)
{
    int  c;

    enum {
        O_CONNECT = 256, O_DEVICES, O_GUID, O_USER, O_PASSWORD, O_CERT,
        O_KEY, O_AUTH, O_CA, O_PORTS, O_FQDN, O_TRIGGER, O_TLS,
        O_RECONNECT, O_DURATION, O_SOURCE, O_STATS, O_AMT_USER,
        O_AMT_PASSWORD, O_CLOCK_OFFSET, O_TLS_ONLY, O_TLS_HOLD,
        O_TLS_HOLD_ROUNDS, O_KA_USR2, O_KEEPALIVE, O_SPLIT,
        O_QUIET, O_RATE, O_MAX_PENDING, O_WINDOW,
        O_SELFTEST_PORT, O_SELFTEST_SERVICE, O_KVM_SIZE, O_KVM_INTERVAL,
        O_REDIR_AUTH
    };

    static const struct option  opts[] = {
        { "connect", required_argument, NULL, O_CONNECT },
        { "devices", required_argument, NULL, O_DEVICES },
        { "guid", required_argument, NULL, O_GUID },
        { "user", required_argument, NULL, O_USER },
        { "password", required_argument, NULL, O_PASSWORD },
        { "cert", required_argument, NULL, O_CERT },
        { "key", required_argument, NULL, O_KEY },
        { "auth", required_argument, NULL, O_AUTH },
        { "ca", required_argument, NULL, O_CA },
        { "ports", required_argument, NULL, O_PORTS },
        { "fqdn", required_argument, NULL, O_FQDN },
        { "trigger", required_argument, NULL, O_TRIGGER },
        { "tls", required_argument, NULL, O_TLS },
        { "reconnect", required_argument, NULL, O_RECONNECT },
        { "duration", required_argument, NULL, O_DURATION },
        { "source", required_argument, NULL, O_SOURCE },
        { "stats-file", required_argument, NULL, O_STATS },
        { "amt-user", required_argument, NULL, O_AMT_USER },
        { "amt-password", required_argument, NULL, O_AMT_PASSWORD },
        { "amt-clock-offset", required_argument, NULL, O_CLOCK_OFFSET },
        { "split", no_argument, NULL, O_SPLIT },
        { "tls-only", no_argument, NULL, O_TLS_ONLY },
        { "tls-hold", no_argument, NULL, O_TLS_HOLD },
        { "tls-hold-rounds", required_argument, NULL, O_TLS_HOLD_ROUNDS },
        { "keepalive-on-usr2", no_argument, NULL, O_KA_USR2 },
        { "keepalive", required_argument, NULL, O_KEEPALIVE },
        { "quiet", no_argument, NULL, O_QUIET },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "rate", required_argument, NULL, O_RATE },
        { "max-pending", required_argument, NULL, O_MAX_PENDING },
        { "window", required_argument, NULL, O_WINDOW },
        { "selftest-port", required_argument, NULL, O_SELFTEST_PORT },
        { "selftest-service", required_argument, NULL, O_SELFTEST_SERVICE },
        { "kvm-size", required_argument, NULL, O_KVM_SIZE },
        { "kvm-interval", required_argument, NULL, O_KVM_INTERVAL },
        { "redir-auth", required_argument, NULL, O_REDIR_AUTH },
        { NULL, 0, NULL, 0 }
    };

    sim_conf.devices = 1;
    sim_conf.user = "admin";
    sim_conf.password = "P@ssw0rd";
    sim_conf.fqdn = "dev%d.example.test";
    sim_conf.trigger = 1;
    sim_conf.keepalive = SIM_DEFAULT_KEEPALIVE;
    sim_conf.reconnect = 1000;
    sim_conf.amt_user = "admin";
    sim_conf.amt_password = "P@ssw0rd";
    sim_conf.rate = 1000;
    sim_conf.max_pending = 500;
    sim_conf.window = 32768;
    sim_conf.selftest_service = 16992;
    sim_conf.kvm_width = 640;
    sim_conf.kvm_height = 400;
    sim_conf.kvm_interval = 1000;
    sim_parse_redir_auth("1,3,4");
    sim_parse_ports("16992,16993,16994,16995,5900");

    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case O_CONNECT: sim_conf.connect = optarg; break;
        case O_DEVICES:
            sim_conf.devices = sim_num("--devices", optarg, 10000000);
            break;
        case O_GUID: sim_conf.guid = optarg; break;
        case O_USER: sim_conf.user = optarg; break;
        case O_PASSWORD: sim_conf.password = optarg; break;
        case O_CERT: sim_conf.cert = optarg; break;
        case O_KEY: sim_conf.key = optarg; break;
        case O_AUTH:
            if (strcmp(optarg, "none") == 0) {
                sim_conf.auth_none = 1;
            } else if (strcmp(optarg, "password") == 0) {
                sim_conf.auth_none = 0;
            } else {
                sim_err("--auth: password or none");
                exit(1);
            }
            break;
        case O_CA: sim_conf.ca = optarg; break;
        case O_PORTS: sim_parse_ports(optarg); break;
        case O_FQDN: sim_conf.fqdn = optarg; break;
        case O_TRIGGER:
            sim_conf.trigger = sim_num("--trigger", optarg, 0xffffffff);
            break;
        case O_TLS: sim_conf.tls = optarg; break;
        case O_RECONNECT:
            sim_conf.reconnect = sim_num("--reconnect", optarg, 3600000);
            break;
        case O_DURATION:
            sim_conf.duration = strtod(optarg, NULL);
            break;
        case O_SOURCE: sim_conf.source = optarg; break;
        case O_STATS: sim_conf.stats_file = optarg; break;
        case O_AMT_USER: sim_conf.amt_user = optarg; break;
        case O_AMT_PASSWORD: sim_conf.amt_password = optarg; break;
        case O_CLOCK_OFFSET:
            sim_conf.clock_offset = strtol(optarg, NULL, 10);
            break;
        case O_SPLIT: sim_conf.split = 1; break;
        case O_TLS_ONLY: sim_conf.tls_only = 1; break;
        case O_TLS_HOLD: sim_conf.tls_hold = 1; break;
        case O_TLS_HOLD_ROUNDS:
            sim_conf.tls_hold_rounds = sim_num("--tls-hold-rounds", optarg,
                                               100);
            break;
        case O_KA_USR2: ka_held = 1; break;
        case O_KEEPALIVE:
            sim_conf.keepalive = sim_num("--keepalive", optarg, 86400);
            break;
        case O_QUIET: sim_conf.quiet = 1; break;
        case 'v': sim_conf.verbose = 1; break;
        case O_RATE:
            sim_conf.rate = sim_num("--rate", optarg, 10000000);
            if (sim_conf.rate == 0) {
                sim_conf.rate = 1;
            }
            break;
        case O_MAX_PENDING:
            sim_conf.max_pending = sim_num("--max-pending", optarg, 10000000);
            if (sim_conf.max_pending == 0) {
                sim_conf.max_pending = 1;
            }
            break;
        case O_WINDOW:
            sim_conf.window = sim_num("--window", optarg, 0x7fffffff);
            break;
        case O_SELFTEST_PORT:
            sim_conf.selftest_port = sim_num("--selftest-port", optarg, 65535);
            break;
        case O_SELFTEST_SERVICE:
            sim_conf.selftest_service = sim_num("--selftest-service", optarg,
                                                65535);
            if (sim_conf.selftest_service < 16992
                || sim_conf.selftest_service > 16995)
            {
                sim_err("--selftest-service: 16992, 16993, 16994 or 16995");
                exit(1);
            }
            break;
        case O_KVM_SIZE:
            sim_parse_kvm_size(optarg);
            break;
        case O_KVM_INTERVAL:
            sim_conf.kvm_interval = sim_num("--kvm-interval", optarg,
                                            3600000);
            break;
        case O_REDIR_AUTH:
            sim_parse_redir_auth(optarg);
            break;
        case 'h':
            sim_usage(stdout);
            exit(0);
        default:
            sim_usage(stderr);
            exit(1);
        }
    }

    if (optind != argc) {
        sim_err("unexpected argument \"%s\"", argv[optind]);
        exit(1);
    }

    if (sim_conf.connect == NULL && sim_conf.selftest_port == 0) {
        sim_err("--connect HOST:PORT is required (see --help)");
        exit(1);
    }

    if (sim_conf.devices == 0) {
        sim_err("--devices must be at least 1");
        exit(1);
    }

    if (sim_conf.nports == 0) {
        sim_err("--ports: at least one port");
        exit(1);
    }

    sim_parse_guid();

    if (sim_conf.source) {
        sim_parse_sources(sim_conf.source);
    }
}


static void
sim_rlimit(void)
{
    struct rlimit  rl;
    rlim_t         want;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }

    want = (rlim_t) sim_conf.devices + 1024;

    if (want > rl.rlim_max) {
        struct rlimit  r2 = { want, want };

        if (setrlimit(RLIMIT_NOFILE, &r2) == 0) {
            return;
        }
    }

    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    if (rl.rlim_max < want && !sim_conf.quiet) {
        sim_err("warning: RLIMIT_NOFILE %llu is below %u devices",
                (unsigned long long) rl.rlim_max, sim_conf.devices);
    }
}


/* ------------------------------------------------------------------ */
/* main loop */

static void
sim_start_connections(uint64_t now)
{
    uint32_t   idx;
    sim_dev_t *dev;

    tokens += (double) (now - tokens_at) * sim_conf.rate / 1000.0;
    tokens_at = now;

    if (tokens > sim_conf.rate / 10.0 + 1) {
        /* burst of at most 100 ms worth */
        tokens = sim_conf.rate / 10.0 + 1;
    }

    while (queue_len && tokens >= 1 && pending < sim_conf.max_pending
           && !quit)
    {
        idx = queue[queue_head];
        queue_head = (queue_head + 1) % sim_conf.devices;
        queue_len--;
        tokens -= 1;

        dev = &devs[idx];
        sim_dev_connect(dev);
    }
}


static void
sim_signal(int sfd)
{
    struct signalfd_siginfo  si;

    while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGUSR1) {
            sim_stats_write_file();

        } else if (si.ssi_signo == SIGUSR2) {
            /* --keepalive-on-usr2: the benchmark's setup phase is over */
            ka_held = 0;

        } else {
            quit = 1;
        }
    }
}


int
main(int argc, char **argv)
{
    int                  n, i, sfd, timeout, kt;
    uint32_t             d;
    uint64_t             now;
    sigset_t             mask;
    char                 json[4096];
    struct epoll_event   ev, events[1024];

    /*
     * First of all: a SIGUSR1 asking for the counters must not end a
     * process that is still reading its options (a benchmark may ask as
     * soon as it has started it; it still has to wait for the exec)
     */
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGUSR2);
    sigprocmask(SIG_BLOCK, &mask, NULL);

    start_ms = sim_now();

    sim_options(argc, argv);
    sim_rlimit();

    srandom((unsigned) (time(NULL) ^ getpid()));
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep == -1 || sfd == -1) {
        sim_err("epoll/signalfd: %s", strerror(errno));
        return 2;
    }

    ev.events = EPOLLIN;
    ev.data.ptr = &sig_obj;
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);

    if (sim_tls_init() != 0) {
        return 2;
    }

    if (sim_conf.duration > 0) {
        end_ms = start_ms + (uint64_t) (sim_conf.duration * 1000);
    }

    if (sim_conf.selftest_port) {
        if (sim_selftest_listen() != 0) {
            return 1;
        }

        sim_conf.devices = 0;

        if (!sim_conf.quiet) {
            sim_err("selftest: serving port %u on 127.0.0.1:%u",
                    sim_conf.selftest_service, sim_conf.selftest_port);
        }

    } else {
        if (sim_resolve(sim_conf.connect, 0, &peer_addr, &peer_len) != 0) {
            return 1;
        }

        client_ctx = sim_client_ctx();
        if (client_ctx == NULL) {
            sim_err("cannot create the TLS context");
            return 2;
        }

        devs = calloc(sim_conf.devices, sizeof(sim_dev_t));
        heap = calloc(sim_conf.devices, sizeof(uint32_t));
        queue = calloc(sim_conf.devices, sizeof(uint32_t));
        if (devs == NULL || heap == NULL || queue == NULL) {
            sim_err("out of memory");
            return 2;
        }

        for (d = 0; d < sim_conf.devices; d++) {
            devs[d].obj = SIM_OBJ_DEVICE;
            devs[d].fd = -1;
            devs[d].index = d;
            devs[d].heap_idx = UINT32_MAX;
            devs[d].backoff = sim_conf.reconnect;
            devs[d].cira_rules = 7;
            devs[d].cira_mps = 1;
            queue_push(&devs[d]);
        }

        if (!sim_conf.quiet) {
            sim_err("%u device(s) -> %s", sim_conf.devices, sim_conf.connect);
        }
    }

    sim_stats.devices = sim_conf.devices;
    tokens_at = sim_now();
    tokens = 1;

    while (!quit) {
        now = sim_now();

        if (end_ms && now >= end_ms) {
            break;
        }

        /* timers */
        while (heap_n && devs[heap[0]].deadline <= now) {
            sim_dev_t  *dev = &devs[heap[0]];

            timer_del(dev);
            sim_dev_timer(dev);
        }

        sim_start_connections(now);

        if (sim_conf.devices && stopped == sim_conf.devices) {
            break;
        }

        timeout = 1000;

        if (heap_n) {
            uint64_t  dl = devs[heap[0]].deadline;
            timeout = dl <= now ? 0 : (dl - now < 1000 ? dl - now : 1000);
        }

        if (queue_len && pending < sim_conf.max_pending) {
            int  t = (int) (1000 / sim_conf.rate);

            if (t < 1) {
                t = 1;
            }

            if (t < timeout) {
                timeout = t;
            }
        }

        if (end_ms && end_ms - now < (uint64_t) timeout) {
            timeout = end_ms - now;
        }

        /* KVM consoles waiting for the picture to change */
        kt = sim_kvm_timer(now);

        if (kt >= 0 && kt < timeout) {
            timeout = kt;
        }

        n = epoll_wait(ep, events, 1024, timeout);

        for (i = 0; i < n; i++) {
            int  *obj = events[i].data.ptr;

            switch (*obj) {
            case SIM_OBJ_DEVICE:
                sim_dev_event((sim_dev_t *) obj, events[i].events);
                break;
            case SIM_OBJ_CHANNEL:
                sim_selftest_event((sim_chan_t *) obj, events[i].events);
                break;
            case SIM_OBJ_LISTENER:
                sim_selftest_accept();
                break;
            case SIM_OBJ_SIGNAL:
                sim_signal(sfd);
                break;
            }
        }
    }

    quit = 1;

    /* counters as they were while running ("established" included) */
    sim_stats_json(json, sizeof(json));
    printf("%s\n", json);
    fflush(stdout);
    sim_stats_write_file();

    for (d = 0; d < sim_conf.devices; d++) {
        if (devs[d].fd != -1) {
            sim_dev_close(&devs[d], 0);
        }
    }

    return 0;
}
