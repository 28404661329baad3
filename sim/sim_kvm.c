/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh-sim: the KVM side of AMT redirection.  After StartKVMRedirection
 * (0x40 -> 0x41) the channel carries plain RFB (RFC 6143, big-endian):
 * versions 3.3, 3.7 and 3.8, security None only, a true-colour
 * framebuffer in AMT's default pixel format (RGB565, 16 bpp, pixels
 * little-endian) or any true-colour format the console sets (RGB332 at
 * 8 bpp is what Intel's UI toolkit asks for), updates only as raw
 * rectangles of at most 64x64 pixels: AMT's browser consoles refuse
 * larger ones.
 *
 * The picture is a pure function of (frame, x, y), documented in
 * sim/README.md, so a test can compute every pixel it reads back; the
 * frame number advances every --kvm-interval ms from the session start
 * and is drawn in the top-left corner.  Nothing of the picture is
 * stored: a session keeps, per 64x64 tile, the frame the console shows
 * there, and an incremental request is answered when some requested tile
 * differs from the current frame (never with an empty update: both
 * browser consoles stall on one).  Updates are generated tile by tile as
 * the channel's output drains, like BULK.
 *
 * Drawing a pixel costs a few divisions, which made the simulator, not
 * the gateway, the bound of a KVM stream (about 180 MiB/s of 1024x768).
 * So each whole tile, once drawn, is kept with its frame and pixel format
 * (one frame per tile for the whole process): the next session or update
 * that wants the same tile of the same frame in the same format sends the
 * kept bytes.  With --kvm-interval 0 (a still picture) every update after
 * the first is copied, not drawn.  Tiles clipped by a request are drawn
 * each time.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"


#define RFB_VERSION      0      /* waiting for the console's version */
#define RFB_SECURITY     1      /* waiting for its security type */
#define RFB_INIT         2      /* waiting for ClientInit */
#define RFB_NORMAL       3

#define KVM_TILE         64
#define KVM_SHOWN_NONE   0xffffffffu    /* tile not (wholly) shown */
#define KVM_MAX_ENCODINGS  256
#define KVM_MAX_CUT_TEXT   65536
#define KVM_NAME         "fcfh-sim KVM"


typedef struct {
    uint8_t         bpp;            /* 8, 16 or 32 */
    uint8_t         big_endian;
    uint16_t        max[3];         /* red, green, blue */
    uint8_t         shift[3];
} sim_pixfmt_t;


/* a whole tile as last drawn: rectangle header and pixels */
typedef struct {
    uint32_t        frame;
    sim_pixfmt_t    fmt;
    uint32_t        len;            /* 0: nothing kept */
    uint8_t        *data;
} sim_kvm_tile_t;


struct sim_kvm_s {
    sim_chan_t     *chan;
    sim_kvm_t      *prev;
    sim_kvm_t      *next;

    uint64_t        start;          /* ms, frame 0 */
    uint8_t         state;          /* RFB_* */
    uint8_t         minor;          /* RFB 3.minor */

    unsigned        want:1;         /* a request waits */
    unsigned        want_full:1;    /* ... a non-incremental one */
    unsigned        flush:1;        /* timer: output to flush */

    uint16_t        rx0, ry0, rx1, ry1;    /* requested, [x0,x1) */
    uint32_t        checked;        /* frame found unchanged in the rect */

    sim_pixfmt_t    fmt;            /* what the console set */
    sim_pixfmt_t    ufmt;           /* of the update in progress */
    uint32_t        frame;          /* of the update in progress */
    uint32_t        left;           /* rectangles still to send */
    uint32_t        next_tile;      /* scan position */
    uint16_t        ux0, uy0, ux1, uy1;    /* its rectangle */

    uint32_t        tiles_x;
    uint32_t        ntiles;
    uint32_t       *shown;          /* per tile: frame at the console */
    uint8_t        *in_update;      /* per tile: part of the update */
};


static void sim_kvm_rgb(uint32_t frame, uint32_t x, uint32_t y,
    uint8_t rgb[3]);
static uint32_t sim_kvm_pixel(const sim_pixfmt_t *f, const uint8_t rgb[3]);
static int sim_kvm_fmt_eq(const sim_pixfmt_t *a, const sim_pixfmt_t *b);
static size_t sim_kvm_draw(sim_kvm_t *k, const uint32_t r[4], uint8_t *buf);
static uint32_t sim_kvm_frame_now(sim_kvm_t *k, uint64_t now);
static int sim_kvm_tile_differs(sim_kvm_t *k, uint32_t t, uint32_t a,
    uint32_t b);
static void sim_kvm_tile_rect(sim_kvm_t *k, uint32_t t, uint32_t r[4]);
static int sim_kvm_start_update(sim_kvm_t *k, uint64_t now);
static void sim_kvm_send_tile(sim_kvm_t *k, uint32_t t);
static int sim_kvm_set_format(sim_kvm_t *k, const uint8_t *p);
static void sim_kvm_server_init(sim_kvm_t *k);
static void sim_kvm_request(sim_kvm_t *k, const uint8_t *p);
static uint16_t sim_be16(const uint8_t *p);
static uint32_t sim_be32(const uint8_t *p);
static void sim_put_be16(uint8_t *p, uint16_t v);
static void sim_put_be32(uint8_t *p, uint32_t v);


static sim_kvm_t       *sim_kvm_sessions;

/* per tile of the screen (all sessions share the size), made on first use */
static sim_kvm_tile_t  *sim_kvm_tiles;

/* the largest rectangle: header + 64x64 pixels at 32 bpp */
static uint8_t      sim_kvm_buf[12 + KVM_TILE * KVM_TILE * 4];

/* AMT's default: RGB565, little-endian pixels */
static const sim_pixfmt_t  sim_kvm_default_fmt = {
    16, 0, { 31, 63, 31 }, { 11, 5, 0 }
};


static uint16_t
sim_be16(const uint8_t *p)
{
    return (uint16_t) ((p[0] << 8) | p[1]);
}


static uint32_t
sim_be32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
}


static void
sim_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v & 0xff;
}


static void
sim_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = (v >> 16) & 0xff;
    p[2] = (v >> 8) & 0xff;
    p[3] = v & 0xff;
}


/*
 * The picture (sim/README.md has the same rules for test writers):
 * the frame number's low 16 bits as 8x8 cells along the top-left (most
 * significant first; white = 1, black = 0), a 16-pixel wide yellow bar
 * that starts at x = 8 * frame mod width and wraps, and behind both a
 * gradient (red along x, green along y) with a 16x16 blue checkerboard.
 */
static void
sim_kvm_rgb(uint32_t frame, uint32_t x, uint32_t y, uint8_t rgb[3])
{
    uint32_t  w, h, bar;

    w = sim_conf.kvm_width;
    h = sim_conf.kvm_height;

    if (y < 8 && x < 128) {
        rgb[0] = rgb[1] = rgb[2] = ((frame >> (15 - x / 8)) & 1) ? 255 : 0;
        return;
    }

    bar = (uint32_t) (((uint64_t) frame * 8) % w);

    if ((x + w - bar) % w < 16) {
        rgb[0] = 255;
        rgb[1] = 255;
        rgb[2] = 0;
        return;
    }

    rgb[0] = (uint8_t) (w > 1 ? x * 255 / (w - 1) : 0);
    rgb[1] = (uint8_t) (h > 1 ? y * 255 / (h - 1) : 0);
    rgb[2] = (((x >> 4) + (y >> 4)) & 1) ? 192 : 64;
}


static uint32_t
sim_kvm_pixel(const sim_pixfmt_t *f, const uint8_t rgb[3])
{
    uint32_t  v;
    int       i;

    v = 0;

    for (i = 0; i < 3; i++) {
        v |= ((rgb[i] * (uint32_t) f->max[i] + 127) / 255) << f->shift[i];
    }

    return v;
}


static int
sim_kvm_fmt_eq(const sim_pixfmt_t *a, const sim_pixfmt_t *b)
{
    return a->bpp == b->bpp && a->big_endian == b->big_endian
           && a->max[0] == b->max[0] && a->max[1] == b->max[1]
           && a->max[2] == b->max[2] && a->shift[0] == b->shift[0]
           && a->shift[1] == b->shift[1] && a->shift[2] == b->shift[2];
}


static uint32_t
sim_kvm_frame_now(sim_kvm_t *k, uint64_t now)
{
    if (sim_conf.kvm_interval == 0 || now < k->start) {
        return 0;
    }

    return (uint32_t) ((now - k->start) / sim_conf.kvm_interval);
}


/* tile t clipped to the requested rectangle: r = x0, y0, x1, y1 */
static void
sim_kvm_tile_rect(sim_kvm_t *k, uint32_t t, uint32_t r[4])
{
    r[0] = (t % k->tiles_x) * KVM_TILE;
    r[1] = (t / k->tiles_x) * KVM_TILE;
    r[2] = r[0] + KVM_TILE;
    r[3] = r[1] + KVM_TILE;

    if (r[2] > sim_conf.kvm_width) {
        r[2] = sim_conf.kvm_width;
    }

    if (r[3] > sim_conf.kvm_height) {
        r[3] = sim_conf.kvm_height;
    }
}


static int
sim_kvm_tile_differs(sim_kvm_t *k, uint32_t t, uint32_t a, uint32_t b)
{
    uint32_t  r[4], x, y;
    uint8_t   pa[3], pb[3];

    if (a == KVM_SHOWN_NONE) {
        return 1;
    }

    if (a == b) {
        return 0;
    }

    sim_kvm_tile_rect(k, t, r);

    for (y = r[1]; y < r[3]; y++) {
        for (x = r[0]; x < r[2]; x++) {
            sim_kvm_rgb(a, x, y, pa);
            sim_kvm_rgb(b, x, y, pb);

            if (memcmp(pa, pb, 3) != 0) {
                return 1;
            }
        }
    }

    return 0;
}


/* answer the waiting request if it can be; 1 if an update started */
static int
sim_kvm_start_update(sim_kvm_t *k, uint64_t now)
{
    uint32_t  t, r[4], frame, n;
    uint8_t   h[4];

    if (!k->want || k->left || k->state != RFB_NORMAL) {
        return 0;
    }

    frame = sim_kvm_frame_now(k, now);

    if (!k->want_full && frame == k->checked) {
        return 0;
    }

    n = 0;

    for (t = 0; t < k->ntiles; t++) {
        k->in_update[t] = 0;
        sim_kvm_tile_rect(k, t, r);

        if (r[0] >= k->rx1 || r[2] <= k->rx0
            || r[1] >= k->ry1 || r[3] <= k->ry0)
        {
            continue;
        }

        if (k->want_full || sim_kvm_tile_differs(k, t, k->shown[t], frame)) {
            k->in_update[t] = 1;
            n++;
        }
    }

    if (n == 0) {
        /* nothing changed where the console looks: wait for a frame */
        k->checked = frame;
        return 0;
    }

    k->want = 0;
    k->want_full = 0;
    k->frame = frame;
    k->checked = frame;
    k->ufmt = k->fmt;
    k->left = n;
    k->next_tile = 0;
    k->ux0 = k->rx0;
    k->uy0 = k->ry0;
    k->ux1 = k->rx1;
    k->uy1 = k->ry1;

    h[0] = 0;       /* FramebufferUpdate */
    h[1] = 0;
    sim_put_be16(h + 2, (uint16_t) n);
    sim_chan_write(k->chan, h, 4);

    sim_stats.kvm_updates++;

    return 1;
}


/* rectangle r (x0, y0, x1, y1) of the update's frame, header and pixels */
static size_t
sim_kvm_draw(sim_kvm_t *k, const uint32_t r[4], uint8_t *buf)
{
    uint32_t  x, y, v, bytes;
    uint8_t   rgb[3], *p;

    p = buf;
    sim_put_be16(p, (uint16_t) r[0]);
    sim_put_be16(p + 2, (uint16_t) r[1]);
    sim_put_be16(p + 4, (uint16_t) (r[2] - r[0]));
    sim_put_be16(p + 6, (uint16_t) (r[3] - r[1]));
    sim_put_be32(p + 8, 0);     /* raw */
    p += 12;

    bytes = k->ufmt.bpp / 8;

    for (y = r[1]; y < r[3]; y++) {
        for (x = r[0]; x < r[2]; x++) {
            sim_kvm_rgb(k->frame, x, y, rgb);
            v = sim_kvm_pixel(&k->ufmt, rgb);

            if (bytes == 1) {
                *p++ = (uint8_t) v;

            } else if (bytes == 2) {
                if (k->ufmt.big_endian) {
                    *p++ = (uint8_t) (v >> 8);
                    *p++ = (uint8_t) v;
                } else {
                    *p++ = (uint8_t) v;
                    *p++ = (uint8_t) (v >> 8);
                }

            } else if (k->ufmt.big_endian) {
                sim_put_be32(p, v);
                p += 4;

            } else {
                p[0] = (uint8_t) v;
                p[1] = (uint8_t) (v >> 8);
                p[2] = (uint8_t) (v >> 16);
                p[3] = (uint8_t) (v >> 24);
                p += 4;
            }
        }
    }

    return p - buf;
}


static void
sim_kvm_send_tile(sim_kvm_t *k, uint32_t t)
{
    int              whole;
    size_t           n;
    uint32_t         r[4], full[4];
    sim_kvm_tile_t  *kept;

    sim_kvm_tile_rect(k, t, full);
    memcpy(r, full, sizeof(r));

    /* clip to the request: tiles the console asked for only in part */
    if (r[0] < k->ux0) {
        r[0] = k->ux0;
    }

    if (r[1] < k->uy0) {
        r[1] = k->uy0;
    }

    if (r[2] > k->ux1) {
        r[2] = k->ux1;
    }

    if (r[3] > k->uy1) {
        r[3] = k->uy1;
    }

    whole = memcmp(r, full, sizeof(r)) == 0;
    kept = (whole && sim_kvm_tiles) ? &sim_kvm_tiles[t] : NULL;

    if (kept && kept->len && kept->frame == k->frame
        && sim_kvm_fmt_eq(&kept->fmt, &k->ufmt))
    {
        sim_chan_write(k->chan, kept->data, kept->len);

    } else {
        n = sim_kvm_draw(k, r, sim_kvm_buf);
        sim_chan_write(k->chan, sim_kvm_buf, n);

        if (kept && kept->data) {
            memcpy(kept->data, sim_kvm_buf, n);
            kept->len = (uint32_t) n;
            kept->frame = k->frame;
            kept->fmt = k->ufmt;
        }
    }

    sim_stats.kvm_rects++;

    /* a tile sent whole now shows the frame; a part of one shows a mix */
    k->shown[t] = whole ? k->frame : KVM_SHOWN_NONE;
}


/* called as the channel's output drains: more rectangles, then the next
 * update if one is due */
void
sim_kvm_generate(sim_chan_t *c)
{
    sim_kvm_t  *k = c->kvm;

    while (!c->want_close && !c->sent_close
           && sim_buf_size(&c->out) < SIM_MAX_DATA)
    {
        if (k->left == 0) {
            if (!sim_kvm_start_update(k, sim_now())) {
                return;
            }

            continue;
        }

        while (k->next_tile < k->ntiles && !k->in_update[k->next_tile]) {
            k->next_tile++;
        }

        if (k->next_tile == k->ntiles) {
            /* cannot happen: left counts the marked tiles */
            k->left = 0;
            return;
        }

        k->in_update[k->next_tile] = 0;
        sim_kvm_send_tile(k, k->next_tile);
        k->next_tile++;
        k->left--;
    }
}


int
sim_kvm_busy(sim_chan_t *c)
{
    return c->kvm != NULL && c->kvm->left != 0;
}


static int
sim_kvm_set_format(sim_kvm_t *k, const uint8_t *p)
{
    sim_pixfmt_t  f;
    uint64_t      limit;
    int           i;

    /* p: the 16-byte PIXEL_FORMAT */
    f.bpp = p[0];
    f.big_endian = p[2] != 0;

    if ((f.bpp != 8 && f.bpp != 16 && f.bpp != 32) || p[3] == 0) {
        /* colour maps (true-colour 0) are not served */
        return -1;
    }

    limit = 1ULL << f.bpp;

    for (i = 0; i < 3; i++) {
        f.max[i] = sim_be16(p + 4 + 2 * i);
        f.shift[i] = p[10 + i];

        if (f.max[i] == 0 || f.shift[i] >= f.bpp
            || ((uint64_t) f.max[i] << f.shift[i]) >= limit)
        {
            return -1;
        }
    }

    k->fmt = f;
    return 0;
}


static void
sim_kvm_server_init(sim_kvm_t *k)
{
    uint8_t  m[24 + sizeof(KVM_NAME) - 1];
    int      i;

    sim_put_be16(m, (uint16_t) sim_conf.kvm_width);
    sim_put_be16(m + 2, (uint16_t) sim_conf.kvm_height);
    m[4] = k->fmt.bpp;
    m[5] = k->fmt.bpp;                  /* depth */
    m[6] = k->fmt.big_endian;
    m[7] = 1;                           /* true colour */

    for (i = 0; i < 3; i++) {
        sim_put_be16(m + 8 + 2 * i, k->fmt.max[i]);
        m[14 + i] = k->fmt.shift[i];
    }

    m[17] = m[18] = m[19] = 0;
    sim_put_be32(m + 20, sizeof(KVM_NAME) - 1);
    memcpy(m + 24, KVM_NAME, sizeof(KVM_NAME) - 1);

    sim_chan_write(k->chan, m, sizeof(m));
}


/* FramebufferUpdateRequest: incremental, x, y, w, h */
static void
sim_kvm_request(sim_kvm_t *k, const uint8_t *p)
{
    uint32_t  x0, y0, x1, y1;

    x0 = sim_be16(p + 2);
    y0 = sim_be16(p + 4);
    x1 = x0 + sim_be16(p + 6);
    y1 = y0 + sim_be16(p + 8);

    if (x1 > sim_conf.kvm_width) {
        x1 = sim_conf.kvm_width;
    }

    if (y1 > sim_conf.kvm_height) {
        y1 = sim_conf.kvm_height;
    }

    if (x0 >= x1 || y0 >= y1) {
        /* nothing of the screen: nothing to answer */
        return;
    }

    if (k->want) {
        /* requests not answered yet merge, as RFB allows */
        if (x0 > k->rx0) {
            x0 = k->rx0;
        }

        if (y0 > k->ry0) {
            y0 = k->ry0;
        }

        if (x1 < k->rx1) {
            x1 = k->rx1;
        }

        if (y1 < k->ry1) {
            y1 = k->ry1;
        }
    }

    k->want = 1;
    k->want_full |= (p[1] == 0);
    k->rx0 = (uint16_t) x0;
    k->ry0 = (uint16_t) y0;
    k->rx1 = (uint16_t) x1;
    k->ry1 = (uint16_t) y1;

    /* a changed rectangle is looked for afresh */
    k->checked = KVM_SHOWN_NONE;
}


int
sim_kvm_start(sim_chan_t *c)
{
    sim_kvm_t  *k;
    uint32_t    t;

    k = calloc(1, sizeof(sim_kvm_t));
    if (k == NULL) {
        return -1;
    }

    k->tiles_x = (sim_conf.kvm_width + KVM_TILE - 1) / KVM_TILE;
    k->ntiles = k->tiles_x
                * ((sim_conf.kvm_height + KVM_TILE - 1) / KVM_TILE);
    k->shown = malloc(k->ntiles * sizeof(uint32_t));
    k->in_update = calloc(k->ntiles, 1);

    if (k->shown == NULL || k->in_update == NULL) {
        free(k->shown);
        free(k->in_update);
        free(k);
        return -1;
    }

    for (t = 0; t < k->ntiles; t++) {
        k->shown[t] = KVM_SHOWN_NONE;
    }

    if (sim_kvm_tiles == NULL) {
        /* the kept tiles: without memory, every tile is drawn */
        sim_kvm_tiles = calloc(k->ntiles, sizeof(sim_kvm_tile_t));

        for (t = 0; sim_kvm_tiles && t < k->ntiles; t++) {
            sim_kvm_tiles[t].data = malloc(sizeof(sim_kvm_buf));
        }
    }

    k->chan = c;
    k->fmt = sim_kvm_default_fmt;
    k->state = RFB_VERSION;
    k->checked = KVM_SHOWN_NONE;

    k->next = sim_kvm_sessions;
    if (sim_kvm_sessions) {
        sim_kvm_sessions->prev = k;
    }
    sim_kvm_sessions = k;

    c->kvm = k;

    sim_chan_write(c, "RFB 003.008\n", 12);

    return 0;
}


void
sim_kvm_free(sim_chan_t *c)
{
    sim_kvm_t  *k = c->kvm;

    if (k == NULL) {
        return;
    }

    if (k->prev) {
        k->prev->next = k->next;
    } else {
        sim_kvm_sessions = k->next;
    }

    if (k->next) {
        k->next->prev = k->prev;
    }

    free(k->shown);
    free(k->in_update);
    free(k);
    c->kvm = NULL;
}


/* RFB from the console; everything after StartKVMRedirection */
void
sim_kvm_input(sim_chan_t *c)
{
    sim_kvm_t      *k = c->kvm;
    const uint8_t  *d;
    size_t          n, need;
    uint32_t        len;
    uint8_t         out[64];

    while (!c->want_close && sim_buf_size(&c->in)) {
        d = sim_buf_start(&c->in);
        n = sim_buf_size(&c->in);

        switch (k->state) {

        case RFB_VERSION:
            need = 12;
            if (n < need) {
                return;
            }

            if (memcmp(d, "RFB 003.00", 10) != 0 || d[11] != '\n'
                || (d[10] != '3' && d[10] != '7' && d[10] != '8'))
            {
                sim_log(c->dev, "channel %u: KVM: not an RFB 3.3/3.7/3.8 "
                        "version, closing", c->id);
                sim_chan_close(c);
                return;
            }

            k->minor = d[10] - '0';

            if (k->minor == 3) {
                /* 3.3: the server decides; None */
                sim_put_be32(out, 1);
                sim_chan_write(c, out, 4);
                k->state = RFB_INIT;

            } else {
                out[0] = 1;     /* one security type: None */
                out[1] = 1;
                sim_chan_write(c, out, 2);
                k->state = RFB_SECURITY;
            }

            break;

        case RFB_SECURITY:
            need = 1;

            if (d[0] != 1) {
                sim_log(c->dev, "channel %u: KVM: security type %u not "
                        "offered, closing", c->id, d[0]);

                if (k->minor == 8) {
                    sim_put_be32(out, 1);
                    sim_put_be32(out + 4, 22);
                    memcpy(out + 8, "security type not None", 22);
                    sim_chan_write(c, out, 30);
                }

                sim_chan_close(c);
                return;
            }

            if (k->minor == 8) {
                sim_put_be32(out, 0);   /* SecurityResult: OK */
                sim_chan_write(c, out, 4);
            }

            k->state = RFB_INIT;
            break;

        case RFB_INIT:
            need = 1;   /* ClientInit: the shared flag, ignored */
            sim_kvm_server_init(k);
            k->state = RFB_NORMAL;
            k->start = sim_now();
            sim_log(c->dev, "channel %u: KVM: RFB 3.%u session, %ux%u",
                    c->id, k->minor, sim_conf.kvm_width,
                    sim_conf.kvm_height);
            break;

        default:    /* RFB_NORMAL: client-to-server messages */

            switch (d[0]) {

            case 0:     /* SetPixelFormat */
                need = 20;
                if (n < need) {
                    return;
                }

                if (sim_kvm_set_format(k, d + 4) != 0) {
                    sim_log(c->dev, "channel %u: KVM: pixel format not "
                            "served (%u bpp, true colour %u), closing",
                            c->id, d[4], d[7]);
                    sim_chan_close(c);
                    return;
                }

                /* what the console shows is in the old format */
                for (len = 0; len < k->ntiles; len++) {
                    k->shown[len] = KVM_SHOWN_NONE;
                }

                sim_log(c->dev, "channel %u: KVM: pixel format %u bpp",
                        c->id, k->fmt.bpp);
                break;

            case 2:     /* SetEncodings: raw is always allowed */
                if (n < 4) {
                    return;
                }

                len = sim_be16(d + 2);
                if (len > KVM_MAX_ENCODINGS) {
                    sim_log(c->dev, "channel %u: KVM: %u encodings, closing",
                            c->id, len);
                    sim_chan_close(c);
                    return;
                }

                need = 4 + 4 * (size_t) len;
                if (n < need) {
                    return;
                }

                break;

            case 3:     /* FramebufferUpdateRequest */
                need = 10;
                if (n < need) {
                    return;
                }

                sim_kvm_request(k, d);
                break;

            case 4:     /* KeyEvent */
                need = 8;
                if (n < need) {
                    return;
                }

                sim_stats.kvm_input_events++;
                break;

            case 5:     /* PointerEvent */
                need = 6;
                if (n < need) {
                    return;
                }

                sim_stats.kvm_input_events++;
                break;

            case 6:     /* ClientCutText (the toolkit's keepalive too) */
                if (n < 8) {
                    return;
                }

                len = sim_be32(d + 4);
                if (len > KVM_MAX_CUT_TEXT) {
                    sim_log(c->dev, "channel %u: KVM: cut text of %u bytes, "
                            "closing", c->id, len);
                    sim_chan_close(c);
                    return;
                }

                need = 8 + (size_t) len;
                if (n < need) {
                    return;
                }

                break;

            default:
                sim_log(c->dev, "channel %u: KVM: unknown RFB message %u, "
                        "closing", c->id, d[0]);
                sim_chan_close(c);
                return;
            }

            break;
        }

        if (n < need) {
            return;
        }

        sim_buf_consume(&c->in, need);
    }

    if (!c->want_close && k->left == 0) {
        sim_kvm_generate(c);
    }
}


/*
 * The frame timer: answers waiting incremental requests once the
 * picture changes.  Returns ms until the next frame of a waiting session
 * (-1: none waits).  Flushing may close channels, and with them free
 * sessions, so each is flushed by a fresh walk of the list.
 */
int
sim_kvm_timer(uint64_t now)
{
    sim_kvm_t   *k;
    sim_chan_t  *c;
    uint64_t     next, at;
    int          found;

    next = UINT64_MAX;

    for (k = sim_kvm_sessions; k; k = k->next) {
        if (!k->want || k->left || k->state != RFB_NORMAL
            || k->chan->want_close || k->chan->sent_close)
        {
            continue;
        }

        if (sim_kvm_start_update(k, now)) {
            k->flush = 1;
            continue;
        }

        if (sim_conf.kvm_interval) {
            at = k->start + ((uint64_t) sim_kvm_frame_now(k, now) + 1)
                            * sim_conf.kvm_interval;
            if (at < next) {
                next = at;
            }
        }
    }

    do {
        found = 0;

        for (k = sim_kvm_sessions; k; k = k->next) {
            if (!k->flush) {
                continue;
            }

            k->flush = 0;
            found = 1;
            c = k->chan;

            sim_chan_flush(c);

            if (c->dev->selftest) {
                if (c->sent_close) {
                    sim_chan_free(c);
                }

            } else {
                sim_dev_flush(c->dev);
            }

            break;
        }

    } while (found);

    if (next == UINT64_MAX) {
        return -1;
    }

    return next <= now ? 0 : (int) (next - now);
}
