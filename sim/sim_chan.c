/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh-sim: APF channels (open, windows, data, close), the "BULK <n>"
 * generator, and the plain TCP transport of the selftest mode.
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"


static const char  sim_bulk_pattern[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+\n";

static uint8_t     sim_bulk_buf[SIM_MAX_DATA + 64];


static int
sim_str_is(ngx_fcfh_apf_str_t *s, const char *lit)
{
    size_t  n = strlen(lit);

    return s->len == n && memcmp(s->data, lit, n) == 0;
}


sim_chan_t *
sim_chan_new(sim_dev_t *dev, uint16_t port)
{
    sim_chan_t  *c;

    c = calloc(1, sizeof(sim_chan_t));
    if (c == NULL) {
        return NULL;
    }

    c->obj = SIM_OBJ_CHANNEL;
    c->fd = -1;
    c->dev = dev;
    c->port = port;
    c->app = (port == 16992 || port == 16993) ? SIM_APP_HTTP : SIM_APP_REDIR;
    c->tls = (port == 16993 || port == 16995);
    c->sniff = 1;
    c->our_window = sim_conf.window;

    if (c->tls && sim_tls_new(c) != 0) {
        free(c);
        return NULL;
    }

    return c;
}


void
sim_chan_free(sim_chan_t *c)
{
    sim_dev_t  *dev = c->dev;

    if (c->ssl) {
        SSL_free(c->ssl);
    }

    sim_kvm_free(c);
    sim_buf_free(&c->in);
    sim_buf_free(&c->out);

    if (dev->selftest) {
        if (c->fd != -1) {
            close(c->fd);
        }

    } else if (dev->chans && c->id < SIM_MAX_CHANNELS
               && dev->chans[c->id] == c)
    {
        dev->chans[c->id] = NULL;
        dev->nchans--;

        if (dev->nchans == 0) {
            free(dev->chans);
            dev->chans = NULL;
        }
    }

    c->obj = 0;
    free(c);
}


void
sim_dev_free_chans(sim_dev_t *dev)
{
    uint32_t  i;

    if (dev->chans == NULL) {
        return;
    }

    for (i = 0; i < SIM_MAX_CHANNELS && dev->chans; i++) {
        if (dev->chans[i]) {
            sim_chan_free(dev->chans[i]);
        }
    }

    free(dev->chans);
    dev->chans = NULL;
    dev->nchans = 0;
}


/* ------------------------------------------------------------------ */
/* output */

void
sim_chan_raw_out(sim_chan_t *c, const void *p, size_t n)
{
    if (n) {
        sim_buf_append(&c->out, p, n);
    }
}


void
sim_chan_write(sim_chan_t *c, const void *p, size_t n)
{
    if (c->want_close || c->sent_close) {
        return;
    }

    if (c->ssl) {
        sim_tls_write(c, p, n);
        return;
    }

    sim_chan_raw_out(c, p, n);
}


void
sim_chan_close(sim_chan_t *c)
{
    c->want_close = 1;
}


/* BULK: produce pattern bytes while the output queue is short (and
 * KVM: framebuffer rectangles) */
static void
sim_chan_generate(sim_chan_t *c)
{
    size_t  n, i;

    if (c->kvm) {
        sim_kvm_generate(c);
        return;
    }

    while (c->app == SIM_APP_BULK && c->bulk_left && !c->want_close
           && sim_buf_size(&c->out) < SIM_MAX_DATA)
    {
        n = c->bulk_left < SIM_MAX_DATA ? c->bulk_left : SIM_MAX_DATA;

        if (sim_bulk_buf[0] == 0) {
            /* the pattern repeated once, then copied from any offset */
            for (i = 0; i < sizeof(sim_bulk_buf); i++) {
                sim_bulk_buf[i] = sim_bulk_pattern[i % 64];
            }
        }

        c->bulk_left -= n;
        sim_chan_write(c, sim_bulk_buf + c->bulk_off % 64, n);
        c->bulk_off += n;
    }

    if (c->app == SIM_APP_BULK && c->bulk_left == 0 && !c->want_close) {
        sim_log(c->dev, "channel %u: BULK of %llu bytes generated", c->id,
                (unsigned long long) c->bulk_off);
        c->want_close = 1;
    }
}


static void
sim_chan_credit(sim_chan_t *c)
{
    sim_dev_t  *dev = c->dev;
    uint8_t    *p;

    if (c->unacked == 0 || c->sent_close || dev->selftest) {
        return;
    }

    if (c->unacked < sim_conf.window / 2 && c->our_window) {
        return;
    }

    if (sim_buf_size(&c->out) >= SIM_CHAN_OUT_HIGH) {
        /* the gateway is not taking our output: stop taking its input */
        return;
    }

    p = sim_buf_reserve(&dev->wbuf, 16);
    dev->wbuf.len += ngx_fcfh_apf_write_window_adjust(p, 16, c->peer_id,
                                                      c->unacked);
    c->our_window += c->unacked;
    c->unacked = 0;
}


void
sim_chan_consumed(sim_chan_t *c, size_t n)
{
    c->unacked += n;
    sim_chan_credit(c);
}


static void
sim_chan_send_close(sim_chan_t *c)
{
    uint8_t  *p;

    p = sim_buf_reserve(&c->dev->wbuf, 16);
    c->dev->wbuf.len += ngx_fcfh_apf_write_channel_close(p, 16, c->peer_id);
    c->sent_close = 1;
    sim_log(c->dev, "channel %u: CHANNEL_CLOSE sent", c->id);
}


/* move output into the tunnel as the window allows; 1 if any was moved */
int
sim_chan_flush(sim_chan_t *c)
{
    sim_dev_t  *dev = c->dev;
    size_t      n;
    uint8_t    *p;
    int         progress;

    if (dev->selftest) {
        sim_selftest_flush(c);
        return 0;
    }

    if (c->sent_close) {
        return 0;
    }

    progress = 0;

    for ( ;; ) {
        sim_chan_generate(c);

        while (sim_buf_size(&c->out) && c->peer_window
               && sim_buf_size(&dev->wbuf) < SIM_DEV_WBUF_HIGH)
        {
            n = sim_buf_size(&c->out);
            if (n > c->peer_window) {
                n = c->peer_window;
            }
            if (n > SIM_MAX_DATA) {
                n = SIM_MAX_DATA;
            }

            p = sim_buf_reserve(&dev->wbuf,
                                NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE + n);
            p += ngx_fcfh_apf_write_channel_data_header(p,
                     NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE, c->peer_id, n);
            memcpy(p, sim_buf_start(&c->out), n);
            dev->wbuf.len += NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE + n;

            sim_buf_consume(&c->out, n);
            c->peer_window -= n;
            progress = 1;

            sim_chan_generate(c);
        }

        if (sim_buf_size(&c->out) || !c->want_close) {
            break;
        }

        if (c->ssl && !c->tls_shut) {
            c->tls_shut = 1;
            sim_tls_shutdown(c);
            continue;
        }

        sim_chan_send_close(c);
        progress = 1;
        break;
    }

    sim_chan_credit(c);

    return progress;
}


int
sim_dev_pump(sim_dev_t *dev)
{
    uint32_t     i;
    int          progress;
    sim_chan_t  *c;

    progress = 0;

    for (i = 0; i < SIM_MAX_CHANNELS && dev->chans; i++) {
        c = dev->chans[i];

        if (c == NULL || c->sent_close) {
            continue;
        }

        if (sim_buf_size(&c->out) || c->want_close || c->unacked
            || (c->app == SIM_APP_BULK && c->bulk_left) || sim_kvm_busy(c))
        {
            progress |= sim_chan_flush(c);
        }
    }

    return progress;
}


/* ------------------------------------------------------------------ */
/* input */

void
sim_chan_input(sim_chan_t *c, const uint8_t *p, size_t n)
{
    if (c->ssl) {
        sim_tls_input(c, p, n);
        return;
    }

    sim_chan_plain_input(c, p, n);
}


void
sim_chan_plain_input(sim_chan_t *c, const uint8_t *p, size_t n)
{
    const uint8_t  *d, *nl;
    size_t          s, i;
    uint64_t        v;

    if (c->want_close || c->sent_close || c->app == SIM_APP_BULK) {
        return;
    }

    sim_buf_append(&c->in, p, n);

    if (c->sniff) {
        d = sim_buf_start(&c->in);
        s = sim_buf_size(&c->in);

        if (memcmp(d, "BULK ", s < 5 ? s : 5) != 0) {
            c->sniff = 0;

        } else if (s < 5) {
            return;

        } else {
            nl = memchr(d, '\n', s < 40 ? s : 40);

            if (nl == NULL) {
                if (s < 40) {
                    return;
                }
                c->sniff = 0;

            } else {
                v = 0;
                for (i = 5; d + i < nl && d[i] >= '0' && d[i] <= '9'; i++) {
                    v = v * 10 + (d[i] - '0');
                }

                if (i > 5 && (d + i == nl || (d[i] == '\r'
                                              && d + i + 1 == nl)))
                {
                    c->app = SIM_APP_BULK;
                    c->bulk_left = v;
                    c->sniff = 0;
                    sim_stats.bulk_transfers++;
                    sim_buf_free(&c->in);
                    sim_log(c->dev, "channel %u: BULK %llu", c->id,
                            (unsigned long long) v);
                    return;
                }

                c->sniff = 0;
            }
        }
    }

    if (c->app == SIM_APP_HTTP) {
        sim_http_input(c);

    } else {
        sim_redir_input(c);
    }

    if (c->want_close) {
        sim_buf_free(&c->in);
    }
}


/* ------------------------------------------------------------------ */
/* APF messages for channels */

int
sim_dev_chan_open(sim_dev_t *dev, ngx_fcfh_apf_msg_t *m)
{
    ngx_fcfh_apf_channel_open_t  *co = &m->u.channel_open;
    uint32_t                      reason, i, port;
    uint8_t                      *p;
    sim_chan_t                   *c;

    reason = 0;
    port = co->connected_port;

    if (!sim_str_is(&co->type, "forwarded-tcpip")) {
        reason = NGX_FCFH_APF_OPEN_UNKNOWN_CHANNEL_TYPE;

    } else {
        reason = NGX_FCFH_APF_OPEN_CONNECT_FAILED;

        for (i = 0; i < sim_conf.nports; i++) {
            if (sim_conf.ports[i] == port && (dev->ports_ok & (1u << i))
                && port >= 16992 && port <= 16995)
            {
                reason = 0;
                break;
            }
        }

        if (reason == 0 && dev->nchans >= SIM_MAX_CHANNELS) {
            reason = NGX_FCFH_APF_OPEN_RESOURCE_SHORTAGE;
        }
    }

    c = NULL;

    if (reason == 0) {
        if (dev->chans == NULL) {
            dev->chans = calloc(SIM_MAX_CHANNELS, sizeof(sim_chan_t *));
        }

        for (i = 0; dev->chans && i < SIM_MAX_CHANNELS; i++) {
            if (dev->chans[i] == NULL) {
                break;
            }
        }

        if (dev->chans && i < SIM_MAX_CHANNELS) {
            c = sim_chan_new(dev, port);
        }

        if (c == NULL) {
            reason = NGX_FCFH_APF_OPEN_RESOURCE_SHORTAGE;
            if (dev->nchans == 0) {
                free(dev->chans);
                dev->chans = NULL;
            }
        }
    }

    p = sim_buf_reserve(&dev->wbuf, 32);

    if (reason) {
        dev->wbuf.len += ngx_fcfh_apf_write_channel_open_failure(p, 32,
                                                             co->sender,
                                                             reason);
        sim_stats.channels_refused++;
        sim_log(dev, "CHANNEL_OPEN \"%.*s\" port %u refused (%u)",
                (int) co->type.len, co->type.data, port, reason);
        return 0;
    }

    c->id = i;
    c->peer_id = co->sender;
    c->peer_window = co->window;
    dev->chans[i] = c;
    dev->nchans++;

    dev->wbuf.len += ngx_fcfh_apf_write_channel_open_confirmation(p, 32,
                                                              co->sender, i,
                                                              sim_conf.window);
    sim_stats.channels_opened++;
    sim_log(dev, "channel %u: open to port %u from %.*s:%u, peer %u, "
            "window %u", i, port, (int) co->originator_address.len,
            co->originator_address.data, co->originator_port, co->sender,
            co->window);
    return 0;
}


/* WINDOW_ADJUST, DATA, CLOSE; -1 on a protocol error */
int
sim_dev_chan_msg(sim_dev_t *dev, ngx_fcfh_apf_msg_t *m)
{
    uint32_t     id, len;
    sim_chan_t  *c;

    switch (m->type) {
    case NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST:
        id = m->u.window_adjust.recipient;
        break;
    case NGX_FCFH_APF_CHANNEL_DATA:
        id = m->u.channel_data.recipient;
        break;
    default:
        id = m->u.recipient;
        break;
    }

    if (dev->chans == NULL || id >= SIM_MAX_CHANNELS
        || dev->chans[id] == NULL)
    {
        sim_log(dev, "%s for unknown channel %u",
                ngx_fcfh_apf_type_name(m->type), id);
        return -1;
    }

    c = dev->chans[id];

    if (c->got_close) {
        return -1;
    }

    switch (m->type) {

    case NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST:
        if ((uint64_t) c->peer_window + m->u.window_adjust.bytes
            > 0xffffffffULL)
        {
            c->peer_window = 0xffffffff;
        } else {
            c->peer_window += m->u.window_adjust.bytes;
        }

        sim_chan_flush(c);
        return 0;

    case NGX_FCFH_APF_CHANNEL_DATA:
        len = m->u.channel_data.data.len;

        if (len > c->our_window) {
            sim_stats.window_violations++;
            sim_log(dev, "channel %u: %u bytes beyond our window %u", id,
                    len, c->our_window);
            c->our_window = 0;

        } else {
            c->our_window -= len;
        }

        sim_chan_input(c, m->u.channel_data.data.data, len);
        c->unacked += len;
        sim_chan_flush(c);
        return 0;

    default: /* CHANNEL_CLOSE */
        c->got_close = 1;
        sim_log(dev, "channel %u: CHANNEL_CLOSE received", id);

        if (!c->sent_close) {
            sim_chan_send_close(c);
        }

        sim_stats.channels_closed++;
        sim_chan_free(c);
        return 0;
    }
}


/* ------------------------------------------------------------------ */
/* selftest transport: the channel is a plain TCP connection */

void
sim_selftest_flush(sim_chan_t *c)
{
    ssize_t  n;

    if (c->sent_close) {
        return;
    }

    for ( ;; ) {
        sim_chan_generate(c);

        while (sim_buf_size(&c->out)) {
            n = write(c->fd, sim_buf_start(&c->out), sim_buf_size(&c->out));

            if (n > 0) {
                sim_stats.bytes_out += n;
                sim_buf_consume(&c->out, n);
                sim_chan_generate(c);
                continue;
            }

            if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
                return;
            }

            c->got_close = 1;
            c->want_close = 1;
            sim_buf_free(&c->out);
            break;
        }

        if (!c->want_close) {
            return;
        }

        if (c->ssl && !c->tls_shut && !c->got_close) {
            c->tls_shut = 1;
            sim_tls_shutdown(c);
            continue;
        }

        break;
    }

    close(c->fd);
    c->fd = -1;
    c->sent_close = 1;
    sim_stats.channels_closed++;
    sim_log(c->dev, "selftest connection closed");
}
