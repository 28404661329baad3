/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh-sim: enough of the AMT redirection protocol (ports 16994/16995)
 * for serial-over-LAN, KVM and the start of IDE redirection, as amtterm
 * (old password and newer query + digest authentication), MeshCentral's
 * and Intel's browser consoles speak it.  The SOL "host" prints a
 * banner once the console sets its control lines (or sends its first
 * heartbeat) and echoes every character the console sends.  KVM is RFB
 * after 0x40/0x41 (sim_kvm.c).  IDER is answered only as far as opening
 * the session: the simulated host never reads the redirected media.
 *
 * Messages (little-endian fields):
 *   10 00 00 00 "SOL "                 StartRedirectionSession (8)
 *   11 st 00 00 vv vv 00.. oemlen      ...Reply (13)
 *   13 00 00 00 type len32 data        AuthenticateSession (9 + len)
 *   14 st 00 00 type len32 data        ...Reply (9 + len)
 *   20 00 00 00 seq32 settings         StartSOLRedirection (24)
 *   21 st 00 00 seq32 settings         ...Reply (23)
 *   22 00 00 00 seq32 / 23 ...         EndSOLRedirection / Reply (8)
 *   24 / 25, 2b                        keep-alive ping / pong, heartbeat (8)
 *   27 00 00 00 seq32 6 bytes          SOL control lines to host (14)
 *   28 00 00 00 seq32 len16 data       data to host
 *   2a 00 00 00 seq32 len16 data       data from host (the echo)
 *   12 00 00 00                        EndRedirectionSession (4)
 *
 *   10 01 00 00 "KVMR" / 10 00 00 00 "IDER"   the other sessions
 *   40 00 00 00 00 00 00 00            StartKVMRedirection (8)
 *   41 00 00 00 00 00 00 00            ...Reply (8), then RFB
 *   40 00 00 00 seq32 rx16 tx16 hb16 ver32   StartIDERRedirection (18)
 *   41 00 00 00 seq32 ... oemlen       ...Reply, "OpenSession" (30)
 *   44 / 45, 4b                        IDER ping / pong, heartbeat (8)
 *   48 00 00 00 seq32 type [u32]       IDER Disable/EnableFeatures (9|13)
 *   49 00 00 00 seq32 type u32         ...Reply (13)
 *   42 / 43                            EndIDERRedirection / Reply (8)
 */


#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sim.h"


#define R_START          0
#define R_AUTH           1
#define R_AUTHED         2
#define R_SOL            3
#define R_KVM            4      /* RFB: sim_kvm.c */
#define R_IDER           5

#define MODE_SOL         0
#define MODE_KVM         1
#define MODE_IDER        2

#define AUTH_QUERY       0
#define AUTH_PASSWORD    1
#define AUTH_RFC2069     3
#define AUTH_RFC2617     4

#define SIM_REDIR_URI_METHOD  "POST"
#define SIM_REDIR_AUTH_TRIES  3


static uint32_t sim_le32(const uint8_t *p);
static void sim_put_le32(uint8_t *p, uint32_t v);
static void sim_redir_auth_reply(sim_chan_t *c, uint8_t status, uint8_t type,
    const uint8_t *data, uint32_t len);
static int sim_redir_elements(const uint8_t *d, uint32_t len,
    char el[][256], int max);
static void sim_redir_realm(sim_chan_t *c, char realm[40]);
static void sim_redir_nonce(sim_chan_t *c, char nonce[33]);
static void sim_redir_auth(sim_chan_t *c, uint8_t type, const uint8_t *d,
    uint32_t len);
static void sim_redir_auth_result(sim_chan_t *c, uint8_t type, int ok);
static void sim_redir_sol_data(sim_chan_t *c, const void *data, size_t len);
static void sim_redir_sol_banner(sim_chan_t *c);
static int sim_redir_start(sim_chan_t *c, const uint8_t *d);
static void sim_redir_kvm_start(sim_chan_t *c);
static ssize_t sim_redir_ider(sim_chan_t *c, const uint8_t *d, size_t n);


static uint32_t
sim_le32(const uint8_t *p)
{
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t) p[3] << 24);
}


static void
sim_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = v & 0xff;
    p[1] = (v >> 8) & 0xff;
    p[2] = (v >> 16) & 0xff;
    p[3] = (v >> 24) & 0xff;
}


static void
sim_redir_auth_reply(sim_chan_t *c, uint8_t status, uint8_t type,
    const uint8_t *data, uint32_t len)
{
    uint8_t  h[9];

    h[0] = 0x14;
    h[1] = status;
    h[2] = 0;
    h[3] = 0;
    h[4] = type;
    sim_put_le32(h + 5, len);

    /* one write: amtterm takes a reply as everything it reads at once */
    uint8_t  buf[9 + 512];

    memcpy(buf, h, 9);
    if (len) {
        memcpy(buf + 9, data, len);
    }

    sim_chan_write(c, buf, 9 + len);
}


/* up to max one-byte-length-prefixed elements from d[0..len) */
static int
sim_redir_elements(const uint8_t *d, uint32_t len, char el[][256], int max)
{
    uint32_t  off, n;
    int       i;

    off = 0;

    for (i = 0; i < max; i++) {
        el[i][0] = '\0';

        if (off >= len) {
            continue;
        }

        n = d[off++];
        if (n > len - off) {
            return -1;
        }

        memcpy(el[i], d + off, n);
        el[i][n] = '\0';
        off += n;
    }

    return 0;
}


static void
sim_redir_realm(sim_chan_t *c, char realm[40])
{
    char  guid[37], seed[64], hex[33];
    int   n;

    sim_dev_guid_text(c->dev, guid);
    n = snprintf(seed, sizeof(seed), "fcfh-sim realm %s", guid);
    sim_md5_hex(seed, n, hex, 1);
    snprintf(realm, 40, "Digest:%s", hex);
}


static void
sim_redir_nonce(sim_chan_t *c, char nonce[33])
{
    char  seed[64];
    int   n;

    n = snprintf(seed, sizeof(seed), "fcfh-sim redir nonce %u %p",
                 c->dev->index, (void *) c);
    sim_md5_hex(seed, n, nonce, 0);
}


/*
 * A console whose answer was refused may try again, up to
 * SIM_REDIR_AUTH_TRIES answers in all; then the session closes, as a
 * console that takes the refusal for a new challenge would otherwise go
 * round forever.
 */
static void
sim_redir_auth_result(sim_chan_t *c, uint8_t type, int ok)
{
    sim_redir_auth_reply(c, ok ? 0 : 1, type, NULL, 0);

    if (ok) {
        c->rstate = R_AUTHED;
        return;
    }

    if (++c->auth_failures >= SIM_REDIR_AUTH_TRIES) {
        sim_log(c->dev, "channel %u: %u failed authentications, closing",
                c->id, c->auth_failures);
        sim_chan_close(c);
    }
}


static void
sim_redir_auth(sim_chan_t *c, uint8_t type, const uint8_t *d, uint32_t len)
{
    char      el[8][256], realm[40], nonce[33], buf[1024];
    char      ha1[33], ha2[33], want[33];
    uint8_t   out[512];
    uint32_t  n;
    int       ok;

    if (type != AUTH_QUERY
        && (type > AUTH_RFC2617 || !(sim_conf.redir_auth & (1u << type))))
    {
        sim_log(c->dev, "channel %u: redirection auth method %u not offered",
                c->id, type);
        sim_redir_auth_reply(c, 1, type, NULL, 0);
        return;
    }

    switch (type) {

    case AUTH_QUERY:
        n = 0;

        if (sim_conf.redir_auth & (1u << AUTH_PASSWORD)) {
            out[n++] = AUTH_PASSWORD;
        }

        if (sim_conf.redir_auth & (1u << AUTH_RFC2069)) {
            out[n++] = AUTH_RFC2069;
        }

        if (sim_conf.redir_auth & (1u << AUTH_RFC2617)) {
            out[n++] = AUTH_RFC2617;
        }

        sim_redir_auth_reply(c, 0, AUTH_QUERY, out, n);
        return;

    case AUTH_PASSWORD:
        if (sim_redir_elements(d, len, el, 2) != 0) {
            break;
        }

        ok = strcmp(el[0], sim_conf.amt_user) == 0
             && strcmp(el[1], sim_conf.amt_password) == 0;

        sim_log(c->dev, "channel %u: redirection password auth %s", c->id,
                ok ? "ok" : "failed");
        sim_redir_auth_result(c, type, ok);
        return;

    case AUTH_RFC2069:
    case AUTH_RFC2617:
        /* user realm nonce uri cnonce nc response qop */
        if (sim_redir_elements(d, len, el, 8) != 0) {
            break;
        }

        sim_redir_realm(c, realm);
        sim_redir_nonce(c, nonce);

        if (el[1][0] == '\0') {
            /* first round: send realm, nonce (and qop) */
            n = 0;
            out[n++] = (uint8_t) strlen(realm);
            memcpy(out + n, realm, strlen(realm));
            n += strlen(realm);
            out[n++] = (uint8_t) strlen(nonce);
            memcpy(out + n, nonce, strlen(nonce));
            n += strlen(nonce);

            if (type == AUTH_RFC2617) {
                out[n++] = 4;
                memcpy(out + n, "auth", 4);
                n += 4;
            }

            sim_redir_auth_reply(c, 1, type, out, n);
            return;
        }

        n = snprintf(buf, sizeof(buf), "%s:%s:%s", el[0], realm,
                     sim_conf.amt_password);
        sim_md5_hex(buf, n, ha1, 0);

        n = snprintf(buf, sizeof(buf), SIM_REDIR_URI_METHOD ":%s", el[3]);
        sim_md5_hex(buf, n, ha2, 0);

        if (type == AUTH_RFC2617) {
            n = snprintf(buf, sizeof(buf), "%s:%s:%s:%s:%s:%s", ha1, el[2],
                         el[5], el[4], el[7], ha2);
        } else {
            n = snprintf(buf, sizeof(buf), "%s:%s:%s", ha1, el[2], ha2);
        }

        sim_md5_hex(buf, n, want, 0);

        ok = strcmp(el[0], sim_conf.amt_user) == 0
             && strcmp(el[1], realm) == 0
             && strcmp(el[2], nonce) == 0
             && strcasecmp(el[6], want) == 0;

        sim_log(c->dev, "channel %u: redirection digest auth %s", c->id,
                ok ? "ok" : "failed");
        sim_redir_auth_result(c, type, ok);
        return;

    default:
        break;
    }

    sim_redir_auth_reply(c, 1, type, NULL, 0);
}


/* SOL data from the host (0x2a): header and data in one write */
static void
sim_redir_sol_data(sim_chan_t *c, const void *data, size_t len)
{
    uint8_t  msg[10 + 65535];

    msg[0] = 0x2a;
    msg[1] = 0;
    msg[2] = 0;
    msg[3] = 0;
    sim_put_le32(msg + 4, c->rseq++);
    msg[8] = len & 0xff;
    msg[9] = (len >> 8) & 0xff;
    memcpy(msg + 10, data, len);

    sim_chan_write(c, msg, 10 + len);
}


/*
 * The host's greeting, once, when the console is ready for it: after
 * its control lines (0x27) or first heartbeat, not with the 0x21 reply,
 * which amtterm would swallow together with anything in the same read.
 */
static void
sim_redir_sol_banner(sim_chan_t *c)
{
    char  guid[37], text[128];
    int   n;

    if (c->rstate != R_SOL || c->banner) {
        return;
    }

    c->banner = 1;
    sim_dev_guid_text(c->dev, guid);
    n = snprintf(text, sizeof(text),
                 "fcfh-sim serial console %s\r\nlogin: ", guid);
    sim_redir_sol_data(c, text, n);
}


/* 0x10: the session type; 1 if the channel goes on */
static int
sim_redir_start(sim_chan_t *c, const uint8_t *d)
{
    uint8_t  out[13];

    memset(out, 0, sizeof(out));
    out[0] = 0x11;

    if (c->rstate == R_START && memcmp(d + 4, "SOL ", 4) == 0) {
        c->rmode = MODE_SOL;

    } else if (c->rstate == R_START && memcmp(d + 4, "KVMR", 4) == 0) {
        c->rmode = MODE_KVM;

    } else if (c->rstate == R_START && memcmp(d + 4, "IDER", 4) == 0) {
        c->rmode = MODE_IDER;

    } else {
        sim_log(c->dev, "channel %u: redirection session \"%.4s\" refused",
                c->id, (const char *) d + 4);
        out[1] = 1;     /* not supported */
        sim_chan_write(c, out, 13);
        sim_chan_close(c);
        return 0;
    }

    out[4] = 1;         /* protocol version 1.0 */
    sim_chan_write(c, out, 13);
    c->rstate = R_AUTH;
    return 1;
}


/* 0x40 of a KVM session (8 bytes), after authentication: 0x41 */
static void
sim_redir_kvm_start(sim_chan_t *c)
{
    uint8_t  out[8];

    memset(out, 0, sizeof(out));
    out[0] = 0x41;
    sim_chan_write(c, out, 8);

    /* then RFB: the server's ProtocolVersion */
    if (sim_kvm_start(c) != 0) {
        sim_chan_close(c);
        return;
    }

    c->rstate = R_KVM;
    sim_stats.kvm_sessions++;
    sim_log(c->dev, "channel %u: KVM session started", c->id);
}


/* IDER messages from the console; bytes consumed, 0 = need more,
 * -1 = closed */
static ssize_t
sim_redir_ider(sim_chan_t *c, const uint8_t *d, size_t n)
{
    uint8_t  out[32];
    size_t   need;

    if (n < 8) {
        return 0;
    }

    memset(out, 0, sizeof(out));

    switch (d[0]) {

    case 0x44:      /* keep-alive ping: pong */
        out[0] = 0x45;
        sim_put_le32(out + 4, c->rseq++);
        sim_chan_write(c, out, 8);
        return 8;

    case 0x45:      /* pong, heartbeat, reset-occurred response */
    case 0x47:
    case 0x4b:
        return 8;

    case 0x48:      /* Disable/EnableFeatures: answer with what was set */
        need = (n > 8 && d[8] == 1) ? 9 : 13;
        if (n < need) {
            return 0;
        }

        out[0] = 0x49;
        sim_put_le32(out + 4, c->rseq++);
        out[8] = d[8];
        if (need == 13) {
            memcpy(out + 9, d + 9, 4);
        } else {
            out[9] = 0x01;      /* supported: the start-mode feature */
        }
        sim_chan_write(c, out, 13);
        return need;

    case 0x42:      /* EndIDERRedirection */
        out[0] = 0x43;
        sim_put_le32(out + 4, c->rseq++);
        sim_chan_write(c, out, 8);
        sim_log(c->dev, "channel %u: IDER session ended", c->id);
        sim_chan_close(c);
        return -1;

    default:
        /* the host never issues disk commands: nothing else may come */
        sim_log(c->dev, "channel %u: unexpected IDER message 0x%02x",
                c->id, d[0]);
        sim_chan_close(c);
        return -1;
    }
}


void
sim_redir_input(sim_chan_t *c)
{
    const uint8_t  *d;
    size_t          n, need;
    ssize_t         rc;
    uint32_t        len;
    uint8_t         out[64];

    while (!c->want_close && sim_buf_size(&c->in)) {

        if (c->rstate == R_KVM) {
            sim_kvm_input(c);
            return;
        }

        d = sim_buf_start(&c->in);
        n = sim_buf_size(&c->in);

        if (c->rstate == R_IDER) {
            rc = sim_redir_ider(c, d, n);
            if (rc <= 0) {
                return;
            }

            sim_buf_consume(&c->in, rc);
            continue;
        }

        switch (d[0]) {

        case 0x10:      /* StartRedirectionSession */
            need = 8;
            if (n < need) {
                return;
            }

            if (!sim_redir_start(c, d)) {
                return;
            }

            break;

        case 0x13:      /* AuthenticateSession */
            if (n < 9) {
                return;
            }

            len = sim_le32(d + 5);
            if (len > 1024) {
                sim_chan_close(c);
                return;
            }

            need = 9 + len;
            if (n < need) {
                return;
            }

            if (c->rstate != R_AUTH) {
                sim_redir_auth_reply(c, 1, d[4], NULL, 0);
                break;
            }

            sim_redir_auth(c, d[4], d + 9, len);
            break;

        case 0x20:      /* StartSOLRedirection */
            need = 24;
            if (n < need) {
                return;
            }

            memset(out, 0, 23);
            out[0] = 0x21;

            if (c->rstate != R_AUTHED || c->rmode != MODE_SOL) {
                out[1] = 1;
                sim_chan_write(c, out, 23);
                break;
            }

            sim_put_le32(out + 4, c->rseq++);
            /* host settings: echo what the console asked for */
            memcpy(out + 8, d + 8, 12);
            sim_chan_write(c, out, 23);
            c->rstate = R_SOL;
            sim_stats.sol_sessions++;
            sim_log(c->dev, "channel %u: SOL session started", c->id);
            break;

        case 0x40:      /* StartKVMRedirection / StartIDERRedirection */
            if (c->rstate != R_AUTHED || c->rmode == MODE_SOL) {
                sim_log(c->dev, "channel %u: 0x40 before authentication "
                        "or in a SOL session, closing", c->id);
                sim_chan_close(c);
                return;
            }

            if (c->rmode == MODE_KVM) {
                need = 8;
                if (n < need) {
                    return;
                }

                sim_buf_consume(&c->in, need);
                sim_redir_kvm_start(c);
                continue;
            }

            need = 18;
            if (n < need) {
                return;
            }

            /* OpenSession: IDER 1.0, 8 KiB buffers, Intel's IANA number */
            memset(out, 0, 30);
            out[0] = 0x41;
            c->rseq = 0;
            sim_put_le32(out + 4, c->rseq++);
            out[8] = 1;
            out[9] = 0;
            out[10] = 16;
            out[11] = 1;
            out[16] = 0x00;
            out[17] = 0x20;
            out[18] = 0x00;
            out[19] = 0x20;
            sim_put_le32(out + 25, 0x157);
            sim_chan_write(c, out, 30);
            c->rstate = R_IDER;
            sim_stats.ider_sessions++;
            sim_log(c->dev, "channel %u: IDER session started", c->id);
            break;

        case 0x28:      /* SOL data to host: echo it back */
            if (n < 10) {
                return;
            }

            len = d[8] | (d[9] << 8);
            need = 10 + len;
            if (n < need) {
                return;
            }

            if (c->rstate == R_SOL && len) {
                sim_redir_sol_data(c, d + 10, len);
            }
            break;

        case 0x24:      /* keep-alive ping: pong */
            need = 8;
            if (n < need) {
                return;
            }

            memcpy(out, d, 8);
            out[0] = 0x25;
            sim_chan_write(c, out, 8);
            break;

        case 0x2b:      /* heartbeat (echo of ours, or console's) */
        case 0x25:
            need = 8;
            if (n < need) {
                return;
            }

            if (d[0] == 0x2b) {
                sim_redir_sol_banner(c);
            }
            break;

        case 0x27:      /* SOL control lines to host */
            need = 14;
            if (n < need) {
                return;
            }

            sim_redir_sol_banner(c);
            break;

        case 0x22:      /* EndSOLRedirection */
            need = 8;
            if (n < need) {
                return;
            }

            memset(out, 0, 8);
            out[0] = 0x23;
            sim_put_le32(out + 4, c->rseq++);
            sim_chan_write(c, out, 8);
            c->rstate = R_AUTHED;
            sim_log(c->dev, "channel %u: SOL session ended", c->id);
            break;

        case 0x12:      /* EndRedirectionSession */
            sim_log(c->dev, "channel %u: redirection session ended", c->id);
            sim_chan_close(c);
            return;

        default:
            sim_log(c->dev, "channel %u: unknown redirection message 0x%02x",
                    c->id, d[0]);
            sim_chan_close(c);
            return;
        }

        sim_buf_consume(&c->in, need);
    }
}
