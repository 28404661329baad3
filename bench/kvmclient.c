
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh-kvmbench: a KVM console for throughput measurements
 * (bench/webrelay.sh).  It reaches a device's port 16994 through the
 * gateway's SOCKS5 front door (fcfh_proxy) or through its WebSocket
 * relay (fcfh_webrelay, binary frames), starts a KVM redirection session
 * (password authentication), speaks RFB 3.8 and then asks for the whole
 * screen again and again (non-incremental FramebufferUpdateRequests):
 * one request waits at the device while the previous update streams, so
 * the channel never idles for a round trip.  Pixels are counted and
 * skipped, never decoded: the client must cost far less than the gateway.
 * -m raw talks to a simulator's --selftest-port directly (no gateway, no
 * TLS, no -g): what the simulator alone can produce.
 *
 *   fcfh-kvmbench -m socks|ws|raw -p PORT -g GUID[,GUID...] [-n SESSIONS]
 *                 [-t SECONDS] [-w WARMUP_S] [-P PATH] [-u USER -k PASS]
 *
 * With -n N, N processes (one session each, on the GUIDs in turn) open
 * their sessions, wait for each other, then stream for the same SECONDS.
 * Output, one line, key=value: sessions, total (RFB bytes of the whole
 * sessions, warm-up included), bytes (RFB bytes of the measured
 * seconds), wire (bytes read from the socket, with WebSocket headers),
 * frames (complete full-screen updates), secs, MBps (MiB/s of RFB bytes),
 * fps, client_cpu (seconds of the client processes).
 */


#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>


#define BUF_SIZE     (256 * 1024)
#define MODE_SOCKS   0
#define MODE_WS      1
#define MODE_RAW     2      /* straight to a simulator's --selftest-port */


typedef struct {
    int         fd;
    int         ws;
    uint8_t    *buf;
    size_t      pos;            /* next unread byte of buf */
    size_t      len;            /* bytes in buf */
    uint64_t    frame_left;     /* ws: payload left in the current frame */
    uint64_t    wire;           /* bytes read from the socket */
} conn_t;


typedef struct {
    uint64_t    total;          /* RFB bytes of the whole session */
    uint64_t    bytes;          /* ... of the measured seconds */
    uint64_t    wire;
    uint64_t    frames;
    double      secs;
    double      cpu;
} result_t;


static void die(const char *fmt, ...);
static double now_s(void);
static void put_all(int fd, const void *p, size_t n);
static void conn_frame(conn_t *c, int op, const void *p, size_t n);
static void conn_send(conn_t *c, const void *p, size_t n);
static void conn_fill(conn_t *c, size_t need);
static size_t conn_payload(conn_t *c, uint8_t **p, size_t max);
static void conn_take(conn_t *c, void *dst, size_t n);
static int tcp_connect(int port);
static void socks_open(conn_t *c, int port, const char *guid);
static void ws_open(conn_t *c, int port, const char *path, const char *guid);
static void redir_kvm(conn_t *c, const char *user, const char *pass,
    uint16_t *w, uint16_t *h, uint8_t *bpp);
static void session(int mode, int port, const char *path, const char *guid,
    const char *user, const char *pass, double secs, double warmup,
    int go_fd, result_t *res);


static const char  *me = "fcfh-kvmbench";


static void
die(const char *fmt, ...)
{
    va_list  ap;

    fprintf(stderr, "%s: ", me);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}


static double
now_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
put_all(int fd, const void *p, size_t n)
{
    ssize_t         k;
    const uint8_t  *b = p;

    while (n) {
        k = write(fd, b, n);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("write: %s", strerror(errno));
        }
        b += k;
        n -= k;
    }
}


/* the console's bytes: as they are, or in one masked binary frame */
static void
conn_send(conn_t *c, const void *p, size_t n)
{
    if (c->ws) {
        conn_frame(c, 2, p, n);
    } else {
        put_all(c->fd, p, n);
    }
}


static void
conn_frame(conn_t *c, int op, const void *p, size_t n)
{
    uint8_t         f[14 + 256];
    size_t          h, i;
    const uint8_t  *d = p;

    if (n > 256) {
        die("internal: message of %zu bytes", n);
    }

    f[0] = 0x80 | op;
    if (n < 126) {
        f[1] = 0x80 | n;
        h = 2;
    } else {
        f[1] = 0x80 | 126;
        f[2] = n >> 8;
        f[3] = n & 0xff;
        h = 4;
    }

    /* a fixed mask does as well as a random one for a benchmark */
    f[h] = 0x37; f[h + 1] = 0xfa; f[h + 2] = 0x21; f[h + 3] = 0x3d;

    for (i = 0; i < n; i++) {
        f[h + 4 + i] = d[i] ^ f[h + (i & 3)];
    }

    put_all(c->fd, f, h + 4 + n);
}


/* at least need unread bytes in buf */
static void
conn_fill(conn_t *c, size_t need)
{
    ssize_t  k;

    if (c->pos == c->len) {
        c->pos = c->len = 0;

    } else if (c->len + need > BUF_SIZE + c->pos || BUF_SIZE - c->len < 4096)
    {
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }

    while (c->len - c->pos < need) {
        k = read(c->fd, c->buf + c->len, BUF_SIZE - c->len);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("read: %s", strerror(errno));
        }
        if (k == 0) {
            die("connection closed by the gateway");
        }
        c->len += k;
        c->wire += k;
    }
}


/*
 * Up to max bytes of the channel's stream, in place (consumed): the raw
 * bytes, or the payload of the current WebSocket frame.  Pings are
 * answered; a close frame ends the program.
 */
static size_t
conn_payload(conn_t *c, uint8_t **p, size_t max)
{
    size_t    n, h;
    uint8_t  *b, op, pong[125];
    uint64_t  len;

    if (!c->ws) {
        if (c->pos == c->len) {
            conn_fill(c, 1);
        }
        n = c->len - c->pos;
        if (n > max) {
            n = max;
        }
        *p = c->buf + c->pos;
        c->pos += n;
        return n;
    }

    while (c->frame_left == 0) {
        if (c->len - c->pos < 2) {
            conn_fill(c, 2);
        }

        b = c->buf + c->pos;
        op = b[0] & 0x0f;
        len = b[1] & 0x7f;
        h = 2;

        if (b[1] & 0x80) {
            die("masked frame from the gateway");
        }

        if (len == 126) {
            h = 4;
        } else if (len == 127) {
            h = 10;
        }

        if (c->len - c->pos < h) {
            conn_fill(c, h);
            b = c->buf + c->pos;
        }

        if (h == 4) {
            len = (b[2] << 8) | b[3];
        } else if (h == 10) {
            len = 0;
            for (n = 2; n < 10; n++) {
                len = (len << 8) | b[n];
            }
        }

        if (op >= 8) {
            /* control frame: whole, at most 125 bytes */
            if (len > 125) {
                die("control frame of %llu bytes", (unsigned long long) len);
            }
            if (c->len - c->pos < h + len) {
                conn_fill(c, h + len);
                b = c->buf + c->pos;
            }
            if (op == 8) {
                die("close frame from the gateway: %u %.*s",
                    len >= 2 ? (b[h] << 8) | b[h + 1] : 0,
                    len > 2 ? (int) len - 2 : 0, (char *) b + h + 2);
            }
            if (op == 9) {
                memcpy(pong, b + h, len);
                c->pos += h + len;
                conn_frame(c, 10, pong, len);
                continue;
            }
            c->pos += h + len;      /* pong: ignored */
            continue;
        }

        if (op != 0 && op != 2) {
            die("frame opcode %u from the gateway", op);
        }

        c->pos += h;
        c->frame_left = len;
    }

    if (c->pos == c->len) {
        conn_fill(c, 1);
    }

    n = c->len - c->pos;
    if (n > c->frame_left) {
        n = c->frame_left;
    }
    if (n > max) {
        n = max;
    }

    *p = c->buf + c->pos;
    c->pos += n;
    c->frame_left -= n;
    return n;
}


static void
conn_take(conn_t *c, void *dst, size_t n)
{
    uint8_t  *p, *d = dst;
    size_t    k;

    while (n) {
        k = conn_payload(c, &p, n);
        memcpy(d, p, k);
        d += k;
        n -= k;
    }
}


static int
tcp_connect(int port)
{
    int                 fd, one;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        die("socket: %s", strerror(errno));
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
        die("connect to port %d: %s", port, strerror(errno));
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    return fd;
}


static void
socks_open(conn_t *c, int port, const char *guid)
{
    uint8_t  m[300], r[10];
    size_t   n, g;

    c->fd = tcp_connect(port);

    put_all(c->fd, "\x05\x01\x00", 3);
    conn_take(c, r, 2);
    if (r[0] != 5 || r[1] != 0) {
        die("SOCKS5: method refused");
    }

    g = strlen(guid);
    m[0] = 5; m[1] = 1; m[2] = 0; m[3] = 3; m[4] = (uint8_t) g;
    memcpy(m + 5, guid, g);
    n = 5 + g;
    m[n++] = 16994 >> 8;
    m[n++] = 16994 & 0xff;
    put_all(c->fd, m, n);

    conn_take(c, r, 4);
    if (r[1] != 0) {
        die("SOCKS5: %s refused, reply %u", guid, r[1]);
    }
    conn_take(c, r, r[3] == 4 ? 18 : 6);
}


static void
ws_open(conn_t *c, int port, const char *path, const char *guid)
{
    char    req[1024], *e;
    size_t  n;

    c->fd = tcp_connect(port);

    n = snprintf(req, sizeof(req),
                 "GET %s?p=2&host=%s&port=16994&tls=0&tls1only=0&mode=kvm "
                 "HTTP/1.1\r\n"
                 "Host: 127.0.0.1:%d\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "Origin: http://127.0.0.1\r\n\r\n", path, guid, port);
    put_all(c->fd, req, n);

    for ( ;; ) {
        conn_fill(c, c->len - c->pos + 1);
        c->buf[c->len] = '\0';
        e = strstr((char *) c->buf + c->pos, "\r\n\r\n");
        if (e) {
            break;
        }
        if (c->len > 8192) {
            die("WebSocket: no end of the answer's head");
        }
    }

    if (strncmp((char *) c->buf + c->pos, "HTTP/1.1 101", 12) != 0) {
        die("WebSocket: %s refused: %.*s", guid,
            (int) (e - (char *) c->buf - c->pos), c->buf + c->pos);
    }

    c->pos = e + 4 - (char *) c->buf;
    c->ws = 1;
}


/* StartRedirectionSession, password authentication, 0x40, RFB 3.8 */
static void
redir_kvm(conn_t *c, const char *user, const char *pass, uint16_t *w,
    uint16_t *h, uint8_t *bpp)
{
    uint8_t   m[600], r[64];
    size_t    n, lu, lp;
    uint32_t  len;

    conn_send(c, "\x10\x01\x00\x00KVMR", 8);
    conn_take(c, r, 13);
    if (r[0] != 0x11 || r[1] != 0) {
        die("StartRedirectionSession refused (%02x %02x)", r[0], r[1]);
    }
    if (r[12]) {
        conn_take(c, m, r[12]);
    }

    lu = strlen(user);
    lp = strlen(pass);
    if (lu > 255 || lp > 255) {
        die("user or password too long");
    }
    n = 0;
    m[n++] = 0x13; m[n++] = 0; m[n++] = 0; m[n++] = 0;
    m[n++] = 1;                                     /* password */
    len = 2 + lu + lp;
    m[n++] = len & 0xff; m[n++] = len >> 8; m[n++] = 0; m[n++] = 0;
    m[n++] = (uint8_t) lu;
    memcpy(m + n, user, lu);
    n += lu;
    m[n++] = (uint8_t) lp;
    memcpy(m + n, pass, lp);
    n += lp;
    conn_send(c, m, n);

    conn_take(c, r, 9);
    len = r[5] | (r[6] << 8) | (r[7] << 16) | ((uint32_t) r[8] << 24);
    if (len > sizeof(m)) {
        die("AuthenticateSessionReply of %u bytes", len);
    }
    conn_take(c, m, len);
    if (r[0] != 0x14 || r[1] != 0) {
        die("password authentication refused (%02x %02x)", r[0], r[1]);
    }

    conn_send(c, "\x40\x00\x00\x00\x00\x00\x00\x00", 8);
    conn_take(c, r, 8);
    if (r[0] != 0x41) {
        die("no StartKVMRedirection reply (%02x)", r[0]);
    }

    conn_take(c, r, 12);
    if (memcmp(r, "RFB 003.00", 10) != 0) {
        die("not RFB: %.12s", r);
    }
    conn_send(c, "RFB 003.008\n", 12);
    conn_take(c, r, 1);
    if (r[0] == 0) {
        die("RFB: no security types");
    }
    conn_take(c, m, r[0]);
    conn_send(c, "\x01", 1);                        /* None */
    conn_take(c, r, 4);
    if (r[0] | r[1] | r[2] | r[3]) {
        die("RFB: security result failed");
    }
    conn_send(c, "\x01", 1);                        /* shared */
    conn_take(c, r, 24);
    *w = (r[0] << 8) | r[1];
    *h = (r[2] << 8) | r[3];
    *bpp = r[4];
    len = ((uint32_t) r[20] << 24) | (r[21] << 16) | (r[22] << 8) | r[23];
    if (len > sizeof(m)) {
        die("RFB: name of %u bytes", len);
    }
    conn_take(c, m, len);

    if (*bpp != 8 && *bpp != 16 && *bpp != 32) {
        die("RFB: %u bits per pixel", *bpp);
    }
}


static void
session(int mode, int port, const char *path, const char *guid,
    const char *user, const char *pass, double secs, double warmup,
    int go_fd, result_t *res)
{
    int        state, counting;
    char       go;
    conn_t     c;
    double     t0, t, end;
    uint8_t   *p, hdr[12], req[10], bpp;
    size_t     n, k, hlen, need;
    uint16_t   w, h, nrects;
    uint64_t   skip, pixels, bytes0, wire0, frames, upd_bytes;
    struct rusage  ru;

    memset(&c, 0, sizeof(c));
    c.buf = malloc(BUF_SIZE + 1);
    if (c.buf == NULL) {
        die("no memory");
    }

    if (mode == MODE_SOCKS) {
        socks_open(&c, port, guid);
    } else if (mode == MODE_RAW) {
        c.fd = tcp_connect(port);
    } else {
        ws_open(&c, port, path, guid);
    }

    redir_kvm(&c, user, pass, &w, &h, &bpp);

    if (go_fd >= 0) {
        /* everyone's session is open: the parent says go */
        if (write(go_fd, "r", 1) != 1 || read(go_fd, &go, 1) != 1) {
            die("lost the parent");
        }
    }

    req[0] = 3; req[1] = 0;                         /* non-incremental */
    req[2] = req[3] = req[4] = req[5] = 0;
    req[6] = w >> 8; req[7] = w & 0xff;
    req[8] = h >> 8; req[9] = h & 0xff;

    /* two requests: one answered while the other waits at the device */
    conn_send(&c, req, 10);
    conn_send(&c, req, 10);

    state = 0;              /* 0 update header, 1 rect header, 2 pixels */
    hlen = 0;
    need = 4;
    nrects = 0;
    skip = 0;
    pixels = 0;
    frames = 0;
    upd_bytes = 0;
    counting = 0;
    bytes0 = 0;
    wire0 = 0;

    t0 = now_s();
    end = t0 + warmup;

    for ( ;; ) {
        n = conn_payload(&c, &p, BUF_SIZE);
        upd_bytes += n;

        while (n) {
            if (state == 2) {
                k = n < skip ? n : skip;
                skip -= k;
                p += k;
                n -= k;

                if (skip == 0) {
                    state = --nrects ? 1 : 0;
                    need = state ? 12 : 4;
                    hlen = 0;
                    if (state == 0) {
                        goto update_done;
                    }
                }
                continue;
            }

            k = need - hlen;
            if (k > n) {
                k = n;
            }
            memcpy(hdr + hlen, p, k);
            hlen += k;
            p += k;
            n -= k;

            if (hlen < need) {
                continue;
            }

            hlen = 0;

            if (state == 0) {
                if (hdr[0] != 0) {
                    die("RFB message %u, not a FramebufferUpdate", hdr[0]);
                }
                nrects = (hdr[2] << 8) | hdr[3];
                pixels = 0;
                /* the next request waits at the device meanwhile */
                conn_send(&c, req, 10);
                if (nrects == 0) {
                    goto update_done;
                }
                state = 1;
                need = 12;
                continue;
            }

            /* rectangle: x y w h encoding */
            if (hdr[8] | hdr[9] | hdr[10] | hdr[11]) {
                die("rectangle encoding not raw");
            }
            skip = (uint64_t) ((hdr[4] << 8) | hdr[5])
                   * ((hdr[6] << 8) | hdr[7]);
            pixels += skip;
            skip *= bpp / 8;
            if (skip) {
                state = 2;
            } else if (--nrects == 0) {
                state = 0;
                need = 4;
                goto update_done;
            }
            continue;

        update_done:

            if (pixels != (uint64_t) w * h) {
                die("update of %llu pixels, not %u",
                    (unsigned long long) pixels, (unsigned) w * h);
            }

            state = 0;
            need = 4;
            frames++;
            t = now_s();

            if (!counting && t >= end) {
                /* warm: count from the end of this update */
                counting = 1;
                t0 = t;
                end = t0 + secs;
                bytes0 = upd_bytes - n;
                wire0 = c.wire - (c.len - c.pos) - n;
                frames = 0;

            } else if (counting && t >= end) {
                res->total = upd_bytes - n;
                res->bytes = upd_bytes - n - bytes0;
                res->wire = c.wire - (c.len - c.pos) - n - wire0;
                res->frames = frames;
                res->secs = t - t0;
                getrusage(RUSAGE_SELF, &ru);
                res->cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
                           + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
                close(c.fd);
                free(c.buf);
                return;
            }
        }
    }
}


static void
usage(void)
{
    fprintf(stderr,
"usage: fcfh-kvmbench -m socks|ws|raw -p PORT -g GUID[,GUID...] [-n SESSIONS]\n"
"                     [-t SECONDS] [-w WARMUP] [-P PATH] [-u USER] [-k PASS]\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    int        o, mode, port, n, i, j, ng, status;
    int        sv[64][2];
    char       *guids[64], *gl, *s, go;
    const char *path, *user, *pass;
    double     secs, warmup;
    pid_t      pids[64];
    result_t   r, sum;
    FILE      *f;
    int        rp[64][2];

    mode = -1;
    port = 0;
    n = 1;
    secs = 10;
    warmup = 1;
    gl = NULL;
    path = "/webrelay.ashx";
    user = "admin";
    pass = "P@ssw0rd";

    while ((o = getopt(argc, argv, "m:p:g:n:t:w:P:u:k:")) != -1) {
        switch (o) {
        case 'm':
            mode = strcmp(optarg, "ws") == 0 ? MODE_WS
                   : strcmp(optarg, "socks") == 0 ? MODE_SOCKS
                   : strcmp(optarg, "raw") == 0 ? MODE_RAW : -2;
            break;
        case 'p': port = atoi(optarg); break;
        case 'g': gl = optarg; break;
        case 'n': n = atoi(optarg); break;
        case 't': secs = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'P': path = optarg; break;
        case 'u': user = optarg; break;
        case 'k': pass = optarg; break;
        default: usage();
        }
    }

    if (mode == MODE_RAW && gl == NULL) {
        gl = "-";       /* the selftest port serves one device */
    }

    if (mode < 0 || port <= 0 || gl == NULL || n < 1 || n > 64
        || secs <= 0)
    {
        usage();
    }

    ng = 0;
    for (s = strtok(gl, ","); s && ng < 64; s = strtok(NULL, ",")) {
        guids[ng++] = s;
    }
    if (ng == 0) {
        usage();
    }

    signal(SIGPIPE, SIG_IGN);

    for (i = 0; i < n; i++) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) != 0
            || pipe(rp[i]) != 0)
        {
            die("socketpair: %s", strerror(errno));
        }

        pids[i] = fork();
        if (pids[i] < 0) {
            die("fork: %s", strerror(errno));
        }

        if (pids[i] == 0) {
            for (j = 0; j <= i; j++) {
                close(sv[j][0]);
                close(rp[j][0]);
            }
            memset(&r, 0, sizeof(r));
            session(mode, port, path, guids[i % ng], user, pass, secs,
                    warmup, sv[i][1], &r);
            f = fdopen(rp[i][1], "w");
            fwrite(&r, sizeof(r), 1, f);
            fclose(f);
            _exit(0);
        }

        close(sv[i][1]);
        close(rp[i][1]);
    }

    /* all sessions open, then all go at once */
    for (i = 0; i < n; i++) {
        if (read(sv[i][0], &go, 1) != 1) {
            while (wait(&status) > 0) { /* void */ }
            die("session %d did not start", i);
        }
    }
    for (i = 0; i < n; i++) {
        put_all(sv[i][0], "g", 1);
    }

    memset(&sum, 0, sizeof(sum));

    for (i = 0; i < n; i++) {
        if (read(rp[i][0], &r, sizeof(r)) != sizeof(r)) {
            while (wait(&status) > 0) { /* void */ }
            die("session %d failed", i);
        }
        sum.total += r.total;
        sum.bytes += r.bytes;
        sum.wire += r.wire;
        sum.frames += r.frames;
        sum.cpu += r.cpu;
        /* the sessions ran over the same seconds: the longest counts */
        if (r.secs > sum.secs) {
            sum.secs = r.secs;
        }
    }

    while (wait(&status) > 0) {
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            die("a session failed");
        }
    }

    printf("sessions=%d total=%llu bytes=%llu wire=%llu frames=%llu "
           "secs=%.3f MBps=%.2f fps=%.2f client_cpu=%.3f\n",
           n, (unsigned long long) sum.total,
           (unsigned long long) sum.bytes, (unsigned long long) sum.wire,
           (unsigned long long) sum.frames, sum.secs,
           sum.bytes / sum.secs / 1048576.0, sum.frames / sum.secs,
           sum.cpu);

    return 0;
}
