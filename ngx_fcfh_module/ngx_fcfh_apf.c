
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <string.h>

#include "ngx_fcfh_apf.h"


/*
 * Per-type attributes: the direction bits are the parse flags that
 * reject the type, NGX_FCFH_APF_T_VALID marks a known type.
 */
#define NGX_FCFH_APF_T_GATEWAY_ONLY  NGX_FCFH_APF_FROM_DEVICE
#define NGX_FCFH_APF_T_DEVICE_ONLY   NGX_FCFH_APF_FROM_GATEWAY
#define NGX_FCFH_APF_T_DIRECTION     (NGX_FCFH_APF_FROM_DEVICE               \
                                      |NGX_FCFH_APF_FROM_GATEWAY)
#define NGX_FCFH_APF_T_VALID         0x80

/* "tail" of ngx_fcfh_apf_get_str(): more variable fields follow */
#define NGX_FCFH_APF_TAIL_UNKNOWN    ((size_t) -1)

#define NGX_FCFH_APF_PASSWORD        "password"
#define NGX_FCFH_APF_NONE            "none"
#define NGX_FCFH_APF_TCPIP_FORWARD   "tcpip-forward"
#define NGX_FCFH_APF_CANCEL_FORWARD  "cancel-tcpip-forward"
#define NGX_FCFH_APF_UDP_SEND_TO     "udp-send-to@amt.intel.com"

#if defined(__GNUC__) || defined(__clang__)
#define NGX_FCFH_APF_NOINLINE        __attribute__((noinline))
#else
#define NGX_FCFH_APF_NOINLINE
#endif

#define ngx_fcfh_apf_str_eq(s, lit)                                          \
    ((s)->len == sizeof(lit) - 1                                             \
     && memcmp((s)->data, lit, sizeof(lit) - 1) == 0)


typedef struct {
    uint8_t                       attr;
    uint8_t                       size;     /* fixed size, 0 if variable */
} ngx_fcfh_apf_type_t;


typedef struct {
    const uint8_t                *buf;
    size_t                        len;
    size_t                        off;
    size_t                       *need;
} ngx_fcfh_apf_cur_t;


static ssize_t ngx_fcfh_apf_parse_variable(const uint8_t *buf, size_t len,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_msg_t *msg,
    size_t *need);
static uint32_t ngx_fcfh_apf_u32(const uint8_t *p);
static ssize_t ngx_fcfh_apf_get_str(ngx_fcfh_apf_cur_t *c, uint32_t max,
    size_t tail, ngx_fcfh_apf_str_t *s);
static ssize_t ngx_fcfh_apf_get_u32(ngx_fcfh_apf_cur_t *c, int last,
    uint32_t *v);
static ssize_t ngx_fcfh_apf_parse_fixed(const uint8_t *buf, size_t size,
    ngx_fcfh_apf_msg_t *msg);
static ssize_t ngx_fcfh_apf_parse_userauth(ngx_fcfh_apf_cur_t *c,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_userauth_t *ua);
static ssize_t ngx_fcfh_apf_parse_userauth_failure(ngx_fcfh_apf_cur_t *c,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_msg_t *msg);
static ssize_t ngx_fcfh_apf_parse_global(ngx_fcfh_apf_cur_t *c,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_global_t *g);
static ssize_t ngx_fcfh_apf_parse_channel_open(ngx_fcfh_apf_cur_t *c,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_channel_open_t *co);
static ssize_t ngx_fcfh_apf_parse_open_failure(ngx_fcfh_apf_cur_t *c,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_msg_t *msg);
static ssize_t ngx_fcfh_apf_parse_channel_data(ngx_fcfh_apf_cur_t *c,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_msg_t *msg);
static uint8_t *ngx_fcfh_apf_put_u32(uint8_t *p, uint32_t v);
static uint8_t *ngx_fcfh_apf_put_str(uint8_t *p, const uint8_t *s,
    uint32_t len);


static const ngx_fcfh_apf_limits_t  ngx_fcfh_apf_default_limits = {
    NGX_FCFH_APF_DEFAULT_MAX_STRING,
    NGX_FCFH_APF_DEFAULT_MAX_PASSWORD,
    NGX_FCFH_APF_DEFAULT_MAX_DATA,
    NGX_FCFH_APF_DEFAULT_MAX_UDP_DATA
};


#define NGX_FCFH_APF_V   NGX_FCFH_APF_T_VALID
#define NGX_FCFH_APF_GW  (NGX_FCFH_APF_T_VALID|NGX_FCFH_APF_T_GATEWAY_ONLY)
#define NGX_FCFH_APF_DEV (NGX_FCFH_APF_T_VALID|NGX_FCFH_APF_T_DEVICE_ONLY)

static const ngx_fcfh_apf_type_t  ngx_fcfh_apf_types[256] = {
    [NGX_FCFH_APF_DISCONNECT] =
        { NGX_FCFH_APF_V, NGX_FCFH_APF_DISCONNECT_SIZE },
    [NGX_FCFH_APF_SERVICE_REQUEST] = { NGX_FCFH_APF_DEV, 0 },
    [NGX_FCFH_APF_SERVICE_ACCEPT] = { NGX_FCFH_APF_GW, 0 },
    [NGX_FCFH_APF_USERAUTH_REQUEST] = { NGX_FCFH_APF_DEV, 0 },
    [NGX_FCFH_APF_USERAUTH_FAILURE] = { NGX_FCFH_APF_GW, 0 },
    [NGX_FCFH_APF_USERAUTH_SUCCESS] = { NGX_FCFH_APF_GW, 1 },
    [NGX_FCFH_APF_GLOBAL_REQUEST] = { NGX_FCFH_APF_DEV, 0 },
    /* the size depends on NGX_FCFH_APF_EXPECT_PORT */
    [NGX_FCFH_APF_REQUEST_SUCCESS] = { NGX_FCFH_APF_GW, 1 },
    [NGX_FCFH_APF_REQUEST_FAILURE] = { NGX_FCFH_APF_GW, 1 },
    [NGX_FCFH_APF_CHANNEL_OPEN] = { NGX_FCFH_APF_V, 0 },
    [NGX_FCFH_APF_CHANNEL_OPEN_CONFIRMATION] = { NGX_FCFH_APF_V, 17 },
    [NGX_FCFH_APF_CHANNEL_OPEN_FAILURE] = { NGX_FCFH_APF_V, 0 },
    [NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST] = { NGX_FCFH_APF_V, 9 },
    [NGX_FCFH_APF_CHANNEL_DATA] = { NGX_FCFH_APF_V, 0 },
    [NGX_FCFH_APF_CHANNEL_CLOSE] = { NGX_FCFH_APF_V, 5 },
    [NGX_FCFH_APF_PROTOCOLVERSION] =
        { NGX_FCFH_APF_DEV, NGX_FCFH_APF_PROTOCOLVERSION_SIZE },
    [NGX_FCFH_APF_KEEPALIVE_REQUEST] =
        { NGX_FCFH_APF_V, NGX_FCFH_APF_KEEPALIVE_SIZE },
    [NGX_FCFH_APF_KEEPALIVE_REPLY] =
        { NGX_FCFH_APF_V, NGX_FCFH_APF_KEEPALIVE_SIZE },
    [NGX_FCFH_APF_KEEPALIVE_OPTIONS_REQUEST] =
        { NGX_FCFH_APF_GW, NGX_FCFH_APF_KEEPALIVE_OPTIONS_SIZE },
    [NGX_FCFH_APF_KEEPALIVE_OPTIONS_REPLY] =
        { NGX_FCFH_APF_DEV, NGX_FCFH_APF_KEEPALIVE_OPTIONS_SIZE }
};

#undef NGX_FCFH_APF_V
#undef NGX_FCFH_APF_GW
#undef NGX_FCFH_APF_DEV


ssize_t
ngx_fcfh_apf_parse(const uint8_t *buf, size_t len, unsigned flags,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_msg_t *msg,
    size_t *need)
{
    size_t                      size;
    unsigned                    type;
    const ngx_fcfh_apf_type_t  *t;

    if (need) {
        *need = 0;
    }

    if (len == 0) {
        return 0;
    }

    type = buf[0];
    t = &ngx_fcfh_apf_types[type];

    msg->type = (uint8_t) type;

    if (t->attr == 0) {
        return NGX_FCFH_APF_ERR_UNKNOWN_TYPE;
    }

    if (t->attr & flags & NGX_FCFH_APF_T_DIRECTION) {
        return NGX_FCFH_APF_ERR_DIRECTION;
    }

    size = t->size;

    if (size) {
        if (type == NGX_FCFH_APF_REQUEST_SUCCESS
            && (flags & NGX_FCFH_APF_EXPECT_PORT))
        {
            size = 5;
        }

        if (len < size) {
            if (need) {
                *need = size;
            }

            return 0;
        }

        return ngx_fcfh_apf_parse_fixed(buf, size, msg);
    }

    return ngx_fcfh_apf_parse_variable(buf, len, limits, msg, need);
}


/*
 * Kept out of line so that the fixed-size path (keepalives, window
 * adjusts) needs no stack frame.
 */

static NGX_FCFH_APF_NOINLINE ssize_t
ngx_fcfh_apf_parse_variable(const uint8_t *buf, size_t len,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_msg_t *msg,
    size_t *need)
{
    ssize_t             rc;
    ngx_fcfh_apf_cur_t  c;

    if (limits == NULL) {
        limits = &ngx_fcfh_apf_default_limits;
    }

    c.buf = buf;
    c.len = len;
    c.off = 1;
    c.need = need;

    switch (buf[0]) {

    case NGX_FCFH_APF_CHANNEL_DATA:
        return ngx_fcfh_apf_parse_channel_data(&c, limits, msg);

    case NGX_FCFH_APF_SERVICE_REQUEST:
    case NGX_FCFH_APF_SERVICE_ACCEPT:
        rc = ngx_fcfh_apf_get_str(&c, limits->max_string, 0,
                                  &msg->u.service);

        return rc <= 0 ? rc : (ssize_t) c.off;

    case NGX_FCFH_APF_USERAUTH_REQUEST:
        return ngx_fcfh_apf_parse_userauth(&c, limits, &msg->u.userauth);

    case NGX_FCFH_APF_USERAUTH_FAILURE:
        return ngx_fcfh_apf_parse_userauth_failure(&c, limits, msg);

    case NGX_FCFH_APF_GLOBAL_REQUEST:
        return ngx_fcfh_apf_parse_global(&c, limits, &msg->u.global);

    case NGX_FCFH_APF_CHANNEL_OPEN:
        return ngx_fcfh_apf_parse_channel_open(&c, limits,
                                               &msg->u.channel_open);

    default: /* NGX_FCFH_APF_CHANNEL_OPEN_FAILURE */
        return ngx_fcfh_apf_parse_open_failure(&c, limits, msg);
    }
}


static uint32_t
ngx_fcfh_apf_u32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}


/*
 * Reads S(x) at c->off.  Returns 1 and moves past the string, 0 when
 * bytes are missing, NGX_FCFH_APF_ERR_TOO_LONG when the length is over
 * max.  "tail" is the number of fixed bytes that end the message after
 * this string when no other variable field follows (so a missing body
 * tells the whole size), NGX_FCFH_APF_TAIL_UNKNOWN otherwise.
 */

static ssize_t
ngx_fcfh_apf_get_str(ngx_fcfh_apf_cur_t *c, uint32_t max, size_t tail,
    ngx_fcfh_apf_str_t *s)
{
    size_t    rest, left;
    uint32_t  n;

    rest = c->len - c->off;

    if (rest < 4) {
        return 0;
    }

    n = ngx_fcfh_apf_u32(c->buf + c->off);

    if (n > max) {
        return NGX_FCFH_APF_ERR_TOO_LONG;
    }

    if (rest - 4 < n) {

        /* room left in size_t after the length field and the tail */

        left = SIZE_MAX - c->off - 4;

        if (tail != NGX_FCFH_APF_TAIL_UNKNOWN) {
            if (left < tail) {
                return NGX_FCFH_APF_ERR_TOO_LONG;
            }

            left -= tail;
        }

        if (left < n) {
            return NGX_FCFH_APF_ERR_TOO_LONG;
        }

        if (tail != NGX_FCFH_APF_TAIL_UNKNOWN && c->need) {
            *c->need = c->off + 4 + n + tail;
        }

        return 0;
    }

    s->len = n;
    s->data = c->buf + c->off + 4;

    c->off += 4 + (size_t) n;

    return 1;
}


/*
 * Reads a u32 at c->off; "last" means that it ends the message, so the
 * size is known when it is missing.
 */

static ssize_t
ngx_fcfh_apf_get_u32(ngx_fcfh_apf_cur_t *c, int last, uint32_t *v)
{
    if (c->len - c->off < 4) {
        if (last && c->need) {
            *c->need = c->off + 4;
        }

        return 0;
    }

    *v = ngx_fcfh_apf_u32(c->buf + c->off);
    c->off += 4;

    return 1;
}


static ssize_t
ngx_fcfh_apf_parse_fixed(const uint8_t *buf, size_t size,
    ngx_fcfh_apf_msg_t *msg)
{
    switch (buf[0]) {

    case NGX_FCFH_APF_KEEPALIVE_REQUEST:
    case NGX_FCFH_APF_KEEPALIVE_REPLY:
        msg->u.cookie = ngx_fcfh_apf_u32(buf + 1);
        break;

    case NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST:
        msg->u.window_adjust.recipient = ngx_fcfh_apf_u32(buf + 1);
        msg->u.window_adjust.bytes = ngx_fcfh_apf_u32(buf + 5);
        break;

    case NGX_FCFH_APF_DISCONNECT:
        /* the u16 reserved field is ignored */
        msg->u.reason = ngx_fcfh_apf_u32(buf + 1);
        break;

    case NGX_FCFH_APF_REQUEST_SUCCESS:
        if (size == 5) {
            msg->u.request_success.port = ngx_fcfh_apf_u32(buf + 1);
            msg->u.request_success.has_port = 1;

        } else {
            msg->u.request_success.port = 0;
            msg->u.request_success.has_port = 0;
        }

        break;

    case NGX_FCFH_APF_CHANNEL_OPEN_CONFIRMATION:
        msg->u.confirmation.recipient = ngx_fcfh_apf_u32(buf + 1);
        msg->u.confirmation.sender = ngx_fcfh_apf_u32(buf + 5);
        msg->u.confirmation.window = ngx_fcfh_apf_u32(buf + 9);
        msg->u.confirmation.reserved = ngx_fcfh_apf_u32(buf + 13);
        break;

    case NGX_FCFH_APF_CHANNEL_CLOSE:
        msg->u.recipient = ngx_fcfh_apf_u32(buf + 1);
        break;

    case NGX_FCFH_APF_PROTOCOLVERSION:
        msg->u.version.major = ngx_fcfh_apf_u32(buf + 1);
        msg->u.version.minor = ngx_fcfh_apf_u32(buf + 5);
        msg->u.version.trigger = ngx_fcfh_apf_u32(buf + 9);
        memcpy(msg->u.version.guid, buf + 13, NGX_FCFH_APF_GUID_SIZE);
        /* 64 reserved bytes are ignored */
        break;

    case NGX_FCFH_APF_KEEPALIVE_OPTIONS_REQUEST:
    case NGX_FCFH_APF_KEEPALIVE_OPTIONS_REPLY:
        msg->u.keepalive_options.interval = ngx_fcfh_apf_u32(buf + 1);
        msg->u.keepalive_options.timeout = ngx_fcfh_apf_u32(buf + 5);
        break;

    default: /* USERAUTH_SUCCESS, REQUEST_FAILURE: no body */
        break;
    }

    return (ssize_t) size;
}


static ssize_t
ngx_fcfh_apf_parse_channel_data(ngx_fcfh_apf_cur_t *c,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_msg_t *msg)
{
    ssize_t  rc;

    rc = ngx_fcfh_apf_get_u32(c, 0, &msg->u.channel_data.recipient);
    if (rc <= 0) {
        return rc;
    }

    rc = ngx_fcfh_apf_get_str(c, limits->max_data, 0,
                              &msg->u.channel_data.data);
    if (rc <= 0) {
        return rc;
    }

    return (ssize_t) c->off;
}


static ssize_t
ngx_fcfh_apf_parse_userauth(ngx_fcfh_apf_cur_t *c,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_userauth_t *ua)
{
    ssize_t  rc;

    ua->password.len = 0;
    ua->password.data = NULL;
    ua->has_password = 0;

    rc = ngx_fcfh_apf_get_str(c, limits->max_string,
                              NGX_FCFH_APF_TAIL_UNKNOWN, &ua->user);
    if (rc <= 0) {
        return rc;
    }

    rc = ngx_fcfh_apf_get_str(c, limits->max_string,
                              NGX_FCFH_APF_TAIL_UNKNOWN, &ua->service);
    if (rc <= 0) {
        return rc;
    }

    rc = ngx_fcfh_apf_get_str(c, limits->max_string,
                              NGX_FCFH_APF_TAIL_UNKNOWN, &ua->method);
    if (rc <= 0) {
        return rc;
    }

    if (ngx_fcfh_apf_str_eq(&ua->method, NGX_FCFH_APF_NONE)) {
        return (ssize_t) c->off;
    }

    if (!ngx_fcfh_apf_str_eq(&ua->method, NGX_FCFH_APF_PASSWORD)) {
        return NGX_FCFH_APF_ERR_UNKNOWN_METHOD;
    }

    /* boolean FALSE: not a password change */

    if (c->off == c->len) {
        return 0;
    }

    if (c->buf[c->off] != 0) {
        return NGX_FCFH_APF_ERR_BAD_VALUE;
    }

    c->off++;

    rc = ngx_fcfh_apf_get_str(c, limits->max_password, 0, &ua->password);
    if (rc <= 0) {
        return rc;
    }

    ua->has_password = 1;

    return (ssize_t) c->off;
}


static ssize_t
ngx_fcfh_apf_parse_userauth_failure(ngx_fcfh_apf_cur_t *c,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_msg_t *msg)
{
    ssize_t  rc;

    rc = ngx_fcfh_apf_get_str(c, limits->max_string, 1,
                              &msg->u.userauth_failure.methods);
    if (rc <= 0) {
        return rc;
    }

    if (c->off == c->len) {
        if (c->need) {
            *c->need = c->off + 1;
        }

        return 0;
    }

    /* partial_success (Intel: reserved), not checked */

    msg->u.userauth_failure.partial = c->buf[c->off];

    return (ssize_t) c->off + 1;
}


static ssize_t
ngx_fcfh_apf_parse_global(ngx_fcfh_apf_cur_t *c,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_global_t *g)
{
    int      udp;
    ssize_t  rc;

    g->kind = 0;
    g->want_reply = 0;
    g->address.len = 0;
    g->address.data = NULL;
    g->port = 0;
    g->originator_address.len = 0;
    g->originator_address.data = NULL;
    g->originator_port = 0;
    g->data.len = 0;
    g->data.data = NULL;

    rc = ngx_fcfh_apf_get_str(c, limits->max_string,
                              NGX_FCFH_APF_TAIL_UNKNOWN, &g->name);
    if (rc <= 0) {
        return rc;
    }

    if (c->off == c->len) {
        return 0;
    }

    g->want_reply = c->buf[c->off++];

    if (g->want_reply > 1) {
        return NGX_FCFH_APF_ERR_BAD_VALUE;
    }

    if (ngx_fcfh_apf_str_eq(&g->name, NGX_FCFH_APF_TCPIP_FORWARD)) {
        g->kind = NGX_FCFH_APF_GLOBAL_TCPIP_FORWARD;
        udp = 0;

    } else if (ngx_fcfh_apf_str_eq(&g->name, NGX_FCFH_APF_CANCEL_FORWARD)) {
        g->kind = NGX_FCFH_APF_GLOBAL_CANCEL_TCPIP_FORWARD;
        udp = 0;

    } else if (ngx_fcfh_apf_str_eq(&g->name, NGX_FCFH_APF_UDP_SEND_TO)) {
        g->kind = NGX_FCFH_APF_GLOBAL_UDP_SEND_TO;
        udp = 1;

    } else {
        return NGX_FCFH_APF_ERR_UNKNOWN_GLOBAL;
    }

    rc = ngx_fcfh_apf_get_str(c, limits->max_string,
                              udp ? NGX_FCFH_APF_TAIL_UNKNOWN : 4,
                              &g->address);
    if (rc <= 0) {
        return rc;
    }

    rc = ngx_fcfh_apf_get_u32(c, !udp, &g->port);
    if (rc <= 0) {
        return rc;
    }

    if (!udp) {
        return (ssize_t) c->off;
    }

    rc = ngx_fcfh_apf_get_str(c, limits->max_string,
                              NGX_FCFH_APF_TAIL_UNKNOWN,
                              &g->originator_address);
    if (rc <= 0) {
        return rc;
    }

    rc = ngx_fcfh_apf_get_u32(c, 0, &g->originator_port);
    if (rc <= 0) {
        return rc;
    }

    rc = ngx_fcfh_apf_get_str(c, limits->max_udp_data, 0, &g->data);
    if (rc <= 0) {
        return rc;
    }

    return (ssize_t) c->off;
}


static ssize_t
ngx_fcfh_apf_parse_channel_open(ngx_fcfh_apf_cur_t *c,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_channel_open_t *co)
{
    ssize_t  rc;

    rc = ngx_fcfh_apf_get_str(c, limits->max_string,
                              NGX_FCFH_APF_TAIL_UNKNOWN, &co->type);
    if (rc <= 0) {
        return rc;
    }

    if (c->len - c->off < 12) {
        return 0;
    }

    co->sender = ngx_fcfh_apf_u32(c->buf + c->off);
    co->window = ngx_fcfh_apf_u32(c->buf + c->off + 4);
    co->reserved = ngx_fcfh_apf_u32(c->buf + c->off + 8);
    c->off += 12;

    rc = ngx_fcfh_apf_get_str(c, limits->max_string,
                              NGX_FCFH_APF_TAIL_UNKNOWN,
                              &co->connected_address);
    if (rc <= 0) {
        return rc;
    }

    rc = ngx_fcfh_apf_get_u32(c, 0, &co->connected_port);
    if (rc <= 0) {
        return rc;
    }

    rc = ngx_fcfh_apf_get_str(c, limits->max_string, 4,
                              &co->originator_address);
    if (rc <= 0) {
        return rc;
    }

    rc = ngx_fcfh_apf_get_u32(c, 1, &co->originator_port);
    if (rc <= 0) {
        return rc;
    }

    return (ssize_t) c->off;
}


static ssize_t
ngx_fcfh_apf_parse_open_failure(ngx_fcfh_apf_cur_t *c,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_msg_t *msg)
{
    ssize_t  rc;

    if (c->len - c->off < 8) {
        return 0;
    }

    msg->u.open_failure.recipient = ngx_fcfh_apf_u32(c->buf + c->off);
    msg->u.open_failure.reason = ngx_fcfh_apf_u32(c->buf + c->off + 4);
    c->off += 8;

    rc = ngx_fcfh_apf_get_str(c, limits->max_string,
                              NGX_FCFH_APF_TAIL_UNKNOWN,
                              &msg->u.open_failure.description);
    if (rc <= 0) {
        return rc;
    }

    rc = ngx_fcfh_apf_get_str(c, limits->max_string, 0,
                              &msg->u.open_failure.language);
    if (rc <= 0) {
        return rc;
    }

    return (ssize_t) c->off;
}


const char *
ngx_fcfh_apf_strerror(ssize_t err)
{
    switch (err) {

    case 0:
        return "incomplete message";

    case NGX_FCFH_APF_ERR_UNKNOWN_TYPE:
        return "unknown message type";

    case NGX_FCFH_APF_ERR_TOO_LONG:
        return "length over limit";

    case NGX_FCFH_APF_ERR_BAD_VALUE:
        return "invalid field value";

    case NGX_FCFH_APF_ERR_UNKNOWN_METHOD:
        return "unknown authentication method";

    case NGX_FCFH_APF_ERR_UNKNOWN_GLOBAL:
        return "unknown global request";

    case NGX_FCFH_APF_ERR_DIRECTION:
        return "message not allowed in this direction";

    default:
        return err > 0 ? "no error" : "unknown error";
    }
}


const char *
ngx_fcfh_apf_type_name(unsigned type)
{
    switch (type) {

    case NGX_FCFH_APF_DISCONNECT:
        return "DISCONNECT";

    case NGX_FCFH_APF_SERVICE_REQUEST:
        return "SERVICE_REQUEST";

    case NGX_FCFH_APF_SERVICE_ACCEPT:
        return "SERVICE_ACCEPT";

    case NGX_FCFH_APF_USERAUTH_REQUEST:
        return "USERAUTH_REQUEST";

    case NGX_FCFH_APF_USERAUTH_FAILURE:
        return "USERAUTH_FAILURE";

    case NGX_FCFH_APF_USERAUTH_SUCCESS:
        return "USERAUTH_SUCCESS";

    case NGX_FCFH_APF_GLOBAL_REQUEST:
        return "GLOBAL_REQUEST";

    case NGX_FCFH_APF_REQUEST_SUCCESS:
        return "REQUEST_SUCCESS";

    case NGX_FCFH_APF_REQUEST_FAILURE:
        return "REQUEST_FAILURE";

    case NGX_FCFH_APF_CHANNEL_OPEN:
        return "CHANNEL_OPEN";

    case NGX_FCFH_APF_CHANNEL_OPEN_CONFIRMATION:
        return "CHANNEL_OPEN_CONFIRMATION";

    case NGX_FCFH_APF_CHANNEL_OPEN_FAILURE:
        return "CHANNEL_OPEN_FAILURE";

    case NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST:
        return "CHANNEL_WINDOW_ADJUST";

    case NGX_FCFH_APF_CHANNEL_DATA:
        return "CHANNEL_DATA";

    case NGX_FCFH_APF_CHANNEL_CLOSE:
        return "CHANNEL_CLOSE";

    case NGX_FCFH_APF_PROTOCOLVERSION:
        return "PROTOCOLVERSION";

    case NGX_FCFH_APF_KEEPALIVE_REQUEST:
        return "KEEPALIVE_REQUEST";

    case NGX_FCFH_APF_KEEPALIVE_REPLY:
        return "KEEPALIVE_REPLY";

    case NGX_FCFH_APF_KEEPALIVE_OPTIONS_REQUEST:
        return "KEEPALIVE_OPTIONS_REQUEST";

    case NGX_FCFH_APF_KEEPALIVE_OPTIONS_REPLY:
        return "KEEPALIVE_OPTIONS_REPLY";

    default:
        return "unknown";
    }
}


const char *
ngx_fcfh_apf_trigger_name(uint32_t trigger)
{
    switch (trigger) {

    case NGX_FCFH_APF_TRIGGER_USER:
        return "user";

    case NGX_FCFH_APF_TRIGGER_ALERT:
        return "alert";

    case NGX_FCFH_APF_TRIGGER_PROVISIONING:
        return "provisioning";

    case NGX_FCFH_APF_TRIGGER_PERIODIC:
        return "periodic";

    case NGX_FCFH_APF_TRIGGER_LOCAL:
        return "local";

    default:
        return "unknown";
    }
}


const char *
ngx_fcfh_apf_disconnect_reason_name(uint32_t reason)
{
    static const char  *names[] = {
        NULL,
        "host not allowed",
        "protocol error",
        "key exchange failed",
        "reserved",
        "MAC error",
        "compression error",
        "service not available",
        "protocol version not supported",
        "host key not verifiable",
        "connection lost",
        "by application",
        "too many connections",
        "auth cancelled by user",
        "no more auth methods",
        "invalid credentials",
        "connection timed out",
        "by policy",
        "temporarily unavailable"
    };

    if (reason == 0 || reason >= sizeof(names) / sizeof(names[0])) {
        return "unknown";
    }

    return names[reason];
}


static uint8_t *
ngx_fcfh_apf_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;

    return p + 4;
}


static uint8_t *
ngx_fcfh_apf_put_str(uint8_t *p, const uint8_t *s, uint32_t len)
{
    p = ngx_fcfh_apf_put_u32(p, len);

    if (len) {
        memcpy(p, s, len);
    }

    return p + len;
}


size_t
ngx_fcfh_apf_write_disconnect(uint8_t *buf, size_t size, uint32_t reason)
{
    uint8_t  *p;

    if (size < NGX_FCFH_APF_DISCONNECT_SIZE) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_DISCONNECT;
    p = ngx_fcfh_apf_put_u32(buf + 1, reason);
    p[0] = 0;
    p[1] = 0;

    return NGX_FCFH_APF_DISCONNECT_SIZE;
}


size_t
ngx_fcfh_apf_write_service(uint8_t *buf, size_t size, uint8_t type,
    const uint8_t *service, uint32_t service_len)
{
    uint8_t   *p;
    uint64_t   total;

    if (type != NGX_FCFH_APF_SERVICE_REQUEST
        && type != NGX_FCFH_APF_SERVICE_ACCEPT)
    {
        return 0;
    }

    total = 5 + (uint64_t) service_len;

    if (total > size) {
        return 0;
    }

    buf[0] = type;
    p = ngx_fcfh_apf_put_str(buf + 1, service, service_len);

    return (size_t) (p - buf);
}


size_t
ngx_fcfh_apf_write_userauth_password(uint8_t *buf, size_t size,
    const uint8_t *user, uint32_t user_len, const uint8_t *service,
    uint32_t service_len, const uint8_t *password, uint32_t password_len)
{
    uint8_t   *p;
    uint64_t   total;

    total = 1 + 4 + (uint64_t) user_len + 4 + (uint64_t) service_len
            + 4 + sizeof(NGX_FCFH_APF_PASSWORD) - 1
            + 1 + 4 + (uint64_t) password_len;

    if (total > size) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_USERAUTH_REQUEST;
    p = ngx_fcfh_apf_put_str(buf + 1, user, user_len);
    p = ngx_fcfh_apf_put_str(p, service, service_len);
    p = ngx_fcfh_apf_put_str(p, (const uint8_t *) NGX_FCFH_APF_PASSWORD,
                             sizeof(NGX_FCFH_APF_PASSWORD) - 1);
    *p++ = 0;
    p = ngx_fcfh_apf_put_str(p, password, password_len);

    return (size_t) (p - buf);
}


size_t
ngx_fcfh_apf_write_userauth_none(uint8_t *buf, size_t size,
    const uint8_t *user, uint32_t user_len, const uint8_t *service,
    uint32_t service_len)
{
    uint8_t   *p;
    uint64_t   total;

    total = 1 + 4 + (uint64_t) user_len + 4 + (uint64_t) service_len
            + 4 + sizeof(NGX_FCFH_APF_NONE) - 1;

    if (total > size) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_USERAUTH_REQUEST;
    p = ngx_fcfh_apf_put_str(buf + 1, user, user_len);
    p = ngx_fcfh_apf_put_str(p, service, service_len);
    p = ngx_fcfh_apf_put_str(p, (const uint8_t *) NGX_FCFH_APF_NONE,
                             sizeof(NGX_FCFH_APF_NONE) - 1);

    return (size_t) (p - buf);
}


size_t
ngx_fcfh_apf_write_userauth_failure(uint8_t *buf, size_t size)
{
    uint8_t  *p;

    if (size < 1 + 4 + sizeof(NGX_FCFH_APF_PASSWORD) - 1 + 1) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_USERAUTH_FAILURE;
    p = ngx_fcfh_apf_put_str(buf + 1, (const uint8_t *) NGX_FCFH_APF_PASSWORD,
                             sizeof(NGX_FCFH_APF_PASSWORD) - 1);
    *p++ = 0;

    return (size_t) (p - buf);
}


size_t
ngx_fcfh_apf_write_userauth_success(uint8_t *buf, size_t size)
{
    if (size < 1) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_USERAUTH_SUCCESS;

    return 1;
}


size_t
ngx_fcfh_apf_write_global_forward(uint8_t *buf, size_t size, int cancel,
    uint8_t want_reply, const uint8_t *address, uint32_t address_len,
    uint32_t port)
{
    size_t       name_len;
    uint8_t     *p;
    uint64_t     total;
    const char  *name;

    if (cancel) {
        name = NGX_FCFH_APF_CANCEL_FORWARD;
        name_len = sizeof(NGX_FCFH_APF_CANCEL_FORWARD) - 1;

    } else {
        name = NGX_FCFH_APF_TCPIP_FORWARD;
        name_len = sizeof(NGX_FCFH_APF_TCPIP_FORWARD) - 1;
    }

    total = 1 + 4 + name_len + 1 + 4 + (uint64_t) address_len + 4;

    if (total > size) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_GLOBAL_REQUEST;
    p = ngx_fcfh_apf_put_str(buf + 1, (const uint8_t *) name,
                             (uint32_t) name_len);
    *p++ = want_reply ? 1 : 0;
    p = ngx_fcfh_apf_put_str(p, address, address_len);
    p = ngx_fcfh_apf_put_u32(p, port);

    return (size_t) (p - buf);
}


size_t
ngx_fcfh_apf_write_global_udp_send_to(uint8_t *buf, size_t size,
    uint8_t want_reply, const uint8_t *address, uint32_t address_len,
    uint32_t port, const uint8_t *orig_address, uint32_t orig_address_len,
    uint32_t orig_port, const uint8_t *data, uint32_t data_len)
{
    uint8_t   *p;
    uint64_t   total;

    total = 1 + 4 + sizeof(NGX_FCFH_APF_UDP_SEND_TO) - 1 + 1
            + 4 + (uint64_t) address_len + 4
            + 4 + (uint64_t) orig_address_len + 4
            + 4 + (uint64_t) data_len;

    if (total > size) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_GLOBAL_REQUEST;
    p = ngx_fcfh_apf_put_str(buf + 1,
                             (const uint8_t *) NGX_FCFH_APF_UDP_SEND_TO,
                             sizeof(NGX_FCFH_APF_UDP_SEND_TO) - 1);
    *p++ = want_reply ? 1 : 0;
    p = ngx_fcfh_apf_put_str(p, address, address_len);
    p = ngx_fcfh_apf_put_u32(p, port);
    p = ngx_fcfh_apf_put_str(p, orig_address, orig_address_len);
    p = ngx_fcfh_apf_put_u32(p, orig_port);
    p = ngx_fcfh_apf_put_str(p, data, data_len);

    return (size_t) (p - buf);
}


size_t
ngx_fcfh_apf_write_request_success(uint8_t *buf, size_t size, int64_t port)
{
    if (port > (int64_t) UINT32_MAX) {
        return 0;
    }

    if (port < 0) {
        if (size < 1) {
            return 0;
        }

        buf[0] = NGX_FCFH_APF_REQUEST_SUCCESS;

        return 1;
    }

    if (size < 5) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_REQUEST_SUCCESS;
    (void) ngx_fcfh_apf_put_u32(buf + 1, (uint32_t) port);

    return 5;
}


size_t
ngx_fcfh_apf_write_request_failure(uint8_t *buf, size_t size)
{
    if (size < 1) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_REQUEST_FAILURE;

    return 1;
}


size_t
ngx_fcfh_apf_write_channel_open(uint8_t *buf, size_t size,
    const uint8_t *type, uint32_t type_len, uint32_t sender, uint32_t window,
    const uint8_t *conn_addr, uint32_t conn_addr_len, uint32_t conn_port,
    const uint8_t *orig_addr, uint32_t orig_addr_len, uint32_t orig_port)
{
    uint8_t   *p;
    uint64_t   total;

    total = 1 + 4 + (uint64_t) type_len + 12
            + 4 + (uint64_t) conn_addr_len + 4
            + 4 + (uint64_t) orig_addr_len + 4;

    if (total > size) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_CHANNEL_OPEN;
    p = ngx_fcfh_apf_put_str(buf + 1, type, type_len);
    p = ngx_fcfh_apf_put_u32(p, sender);
    p = ngx_fcfh_apf_put_u32(p, window);
    p = ngx_fcfh_apf_put_u32(p, 0xffffffff);
    p = ngx_fcfh_apf_put_str(p, conn_addr, conn_addr_len);
    p = ngx_fcfh_apf_put_u32(p, conn_port);
    p = ngx_fcfh_apf_put_str(p, orig_addr, orig_addr_len);
    p = ngx_fcfh_apf_put_u32(p, orig_port);

    return (size_t) (p - buf);
}


size_t
ngx_fcfh_apf_write_channel_open_confirmation(uint8_t *buf, size_t size,
    uint32_t recipient, uint32_t sender, uint32_t window)
{
    uint8_t  *p;

    if (size < 17) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_CHANNEL_OPEN_CONFIRMATION;
    p = ngx_fcfh_apf_put_u32(buf + 1, recipient);
    p = ngx_fcfh_apf_put_u32(p, sender);
    p = ngx_fcfh_apf_put_u32(p, window);
    (void) ngx_fcfh_apf_put_u32(p, 0xffffffff);

    return 17;
}


size_t
ngx_fcfh_apf_write_channel_open_failure(uint8_t *buf, size_t size,
    uint32_t recipient, uint32_t reason)
{
    uint8_t  *p;

    if (size < 17) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_CHANNEL_OPEN_FAILURE;
    p = ngx_fcfh_apf_put_u32(buf + 1, recipient);
    p = ngx_fcfh_apf_put_u32(p, reason);

    /* empty description and language tag */

    p = ngx_fcfh_apf_put_u32(p, 0);
    (void) ngx_fcfh_apf_put_u32(p, 0);

    return 17;
}


size_t
ngx_fcfh_apf_write_window_adjust(uint8_t *buf, size_t size,
    uint32_t recipient, uint32_t bytes)
{
    uint8_t  *p;

    if (size < 9) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST;
    p = ngx_fcfh_apf_put_u32(buf + 1, recipient);
    (void) ngx_fcfh_apf_put_u32(p, bytes);

    return 9;
}


size_t
ngx_fcfh_apf_write_channel_data_header(uint8_t *buf, size_t size,
    uint32_t recipient, uint32_t data_len)
{
    uint8_t  *p;

    if (size < NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_CHANNEL_DATA;
    p = ngx_fcfh_apf_put_u32(buf + 1, recipient);
    (void) ngx_fcfh_apf_put_u32(p, data_len);

    return NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE;
}


size_t
ngx_fcfh_apf_write_channel_close(uint8_t *buf, size_t size,
    uint32_t recipient)
{
    if (size < 5) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_CHANNEL_CLOSE;
    (void) ngx_fcfh_apf_put_u32(buf + 1, recipient);

    return 5;
}


size_t
ngx_fcfh_apf_write_protocolversion(uint8_t *buf, size_t size,
    uint32_t major, uint32_t minor, uint32_t trigger,
    const uint8_t guid[NGX_FCFH_APF_GUID_SIZE])
{
    uint8_t  *p;

    if (size < NGX_FCFH_APF_PROTOCOLVERSION_SIZE) {
        return 0;
    }

    buf[0] = NGX_FCFH_APF_PROTOCOLVERSION;
    p = ngx_fcfh_apf_put_u32(buf + 1, major);
    p = ngx_fcfh_apf_put_u32(p, minor);
    p = ngx_fcfh_apf_put_u32(p, trigger);
    memcpy(p, guid, NGX_FCFH_APF_GUID_SIZE);

    /* 64 reserved bytes */

    memset(p + NGX_FCFH_APF_GUID_SIZE, 0, 64);

    return NGX_FCFH_APF_PROTOCOLVERSION_SIZE;
}


size_t
ngx_fcfh_apf_write_keepalive(uint8_t *buf, size_t size, uint8_t type,
    uint32_t cookie)
{
    if (type != NGX_FCFH_APF_KEEPALIVE_REQUEST
        && type != NGX_FCFH_APF_KEEPALIVE_REPLY)
    {
        return 0;
    }

    if (size < NGX_FCFH_APF_KEEPALIVE_SIZE) {
        return 0;
    }

    buf[0] = type;
    (void) ngx_fcfh_apf_put_u32(buf + 1, cookie);

    return NGX_FCFH_APF_KEEPALIVE_SIZE;
}


size_t
ngx_fcfh_apf_write_keepalive_options(uint8_t *buf, size_t size,
    uint8_t type, uint32_t interval, uint32_t timeout)
{
    uint8_t  *p;

    if (type != NGX_FCFH_APF_KEEPALIVE_OPTIONS_REQUEST
        && type != NGX_FCFH_APF_KEEPALIVE_OPTIONS_REPLY)
    {
        return 0;
    }

    if (size < NGX_FCFH_APF_KEEPALIVE_OPTIONS_SIZE) {
        return 0;
    }

    buf[0] = type;
    p = ngx_fcfh_apf_put_u32(buf + 1, interval);
    (void) ngx_fcfh_apf_put_u32(p, timeout);

    return NGX_FCFH_APF_KEEPALIVE_OPTIONS_SIZE;
}


/* wire byte shown at each text position, dashes after 4, 6, 8, 10 bytes */

static const uint8_t  ngx_fcfh_apf_guid_order[NGX_FCFH_APF_GUID_SIZE] = {
    3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15
};


void
ngx_fcfh_apf_guid_to_text(const uint8_t wire[NGX_FCFH_APF_GUID_SIZE],
    char text[NGX_FCFH_APF_GUID_TEXT_SIZE])
{
    char               *p;
    uint8_t             b;
    unsigned            i;
    static const char   hex[] = "0123456789abcdef";

    p = text;

    for (i = 0; i < NGX_FCFH_APF_GUID_SIZE; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }

        b = wire[ngx_fcfh_apf_guid_order[i]];
        *p++ = hex[b >> 4];
        *p++ = hex[b & 0x0f];
    }
}


int
ngx_fcfh_apf_hex(int ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }

    ch |= 0x20;

    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }

    return -1;
}


int
ngx_fcfh_apf_guid_from_text(const char *text, size_t len,
    uint8_t wire[NGX_FCFH_APF_GUID_SIZE])
{
    int          hi, lo;
    uint8_t      out[NGX_FCFH_APF_GUID_SIZE];
    unsigned     i;
    const char  *p;

    if (text == NULL || len != NGX_FCFH_APF_GUID_TEXT_SIZE) {
        return -1;
    }

    p = text;

    for (i = 0; i < NGX_FCFH_APF_GUID_SIZE; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            if (*p++ != '-') {
                return -1;
            }
        }

        hi = ngx_fcfh_apf_hex((unsigned char) p[0]);
        lo = ngx_fcfh_apf_hex((unsigned char) p[1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[ngx_fcfh_apf_guid_order[i]] = (uint8_t) (hi << 4 | lo);
        p += 2;
    }

    /* the output is untouched on error */

    memcpy(wire, out, NGX_FCFH_APF_GUID_SIZE);

    return 0;
}
