
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * libFuzzer target for the APF parser:
 *
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -I ngx_fcfh_module t/unit/fuzz_apf.c ngx_fcfh_module/ngx_fcfh_apf.c \
 *       -o /tmp/fuzz_apf
 *
 * The input is parsed as a stream with every flag combination and three
 * sets of limits.  For each message: the size is within the input, every
 * string lies inside the message, every proper prefix asks for more (with
 * a correct *need), and writing the message back and parsing that gives
 * the same fields (the same bytes where the encoding is canonical).
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_fcfh_apf.h"
#include "fuzz.h"


static void check_str(const ngx_fcfh_apf_str_t *s, const uint8_t *b,
    size_t n);
static void check_strings(const ngx_fcfh_apf_msg_t *m, const uint8_t *b,
    size_t n);
static int str_eq(const ngx_fcfh_apf_str_t *a, const ngx_fcfh_apf_str_t *b);
static size_t rewrite(const ngx_fcfh_apf_msg_t *m, uint8_t *out,
    size_t size, int *canonical);
static void check_same(const ngx_fcfh_apf_msg_t *a,
    const ngx_fcfh_apf_msg_t *b, int exact);
static void check_message(const uint8_t *b, size_t len, ssize_t rc,
    unsigned flags, const ngx_fcfh_apf_limits_t *limits,
    const ngx_fcfh_apf_msg_t *m);


static const ngx_fcfh_apf_limits_t  small_limits = { 16, 8, 64, 32 };
static const ngx_fcfh_apf_limits_t  huge_limits = {
    0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff
};

static uint8_t  out[1 << 17];


static void
check_str(const ngx_fcfh_apf_str_t *s, const uint8_t *b, size_t n)
{
    if (s->len == 0) {
        return;
    }

    CHECK(s->data >= b);
    CHECK(s->data <= b + n);
    CHECK(s->len <= (size_t) (b + n - s->data));
}


static void
check_strings(const ngx_fcfh_apf_msg_t *m, const uint8_t *b, size_t n)
{
    switch (m->type) {

    case NGX_FCFH_APF_SERVICE_REQUEST:
    case NGX_FCFH_APF_SERVICE_ACCEPT:
        check_str(&m->u.service, b, n);
        break;

    case NGX_FCFH_APF_USERAUTH_REQUEST:
        check_str(&m->u.userauth.user, b, n);
        check_str(&m->u.userauth.service, b, n);
        check_str(&m->u.userauth.method, b, n);
        check_str(&m->u.userauth.password, b, n);
        CHECK(m->u.userauth.has_password || m->u.userauth.password.len == 0);
        break;

    case NGX_FCFH_APF_USERAUTH_FAILURE:
        check_str(&m->u.userauth_failure.methods, b, n);
        break;

    case NGX_FCFH_APF_GLOBAL_REQUEST:
        check_str(&m->u.global.name, b, n);
        check_str(&m->u.global.address, b, n);
        check_str(&m->u.global.originator_address, b, n);
        check_str(&m->u.global.data, b, n);
        CHECK(m->u.global.want_reply <= 1);
        CHECK(m->u.global.kind >= NGX_FCFH_APF_GLOBAL_TCPIP_FORWARD
              && m->u.global.kind <= NGX_FCFH_APF_GLOBAL_UDP_SEND_TO);
        break;

    case NGX_FCFH_APF_CHANNEL_OPEN:
        check_str(&m->u.channel_open.type, b, n);
        check_str(&m->u.channel_open.connected_address, b, n);
        check_str(&m->u.channel_open.originator_address, b, n);
        break;

    case NGX_FCFH_APF_CHANNEL_OPEN_FAILURE:
        check_str(&m->u.open_failure.description, b, n);
        check_str(&m->u.open_failure.language, b, n);
        break;

    case NGX_FCFH_APF_CHANNEL_DATA:
        check_str(&m->u.channel_data.data, b, n);
        CHECK(m->u.channel_data.data.len + 9 == n);
        break;

    default:
        break;
    }
}


static int
str_eq(const ngx_fcfh_apf_str_t *a, const ngx_fcfh_apf_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}


/* writes m back with the codec's writers */

static size_t
rewrite(const ngx_fcfh_apf_msg_t *m, uint8_t *o, size_t size,
    int *canonical)
{
    size_t                              n;
    const ngx_fcfh_apf_global_t        *g;
    const ngx_fcfh_apf_userauth_t      *ua;
    const ngx_fcfh_apf_channel_open_t  *co;

    *canonical = 1;

    switch (m->type) {

    case NGX_FCFH_APF_DISCONNECT:
        *canonical = 0;     /* reserved u16 */
        return ngx_fcfh_apf_write_disconnect(o, size, m->u.reason);

    case NGX_FCFH_APF_SERVICE_REQUEST:
    case NGX_FCFH_APF_SERVICE_ACCEPT:
        return ngx_fcfh_apf_write_service(o, size, m->type,
                                          m->u.service.data,
                                          m->u.service.len);

    case NGX_FCFH_APF_USERAUTH_REQUEST:
        ua = &m->u.userauth;

        if (ua->has_password) {
            return ngx_fcfh_apf_write_userauth_password(o, size,
                       ua->user.data, ua->user.len, ua->service.data,
                       ua->service.len, ua->password.data,
                       ua->password.len);
        }

        return ngx_fcfh_apf_write_userauth_none(o, size, ua->user.data,
                                                ua->user.len,
                                                ua->service.data,
                                                ua->service.len);

    case NGX_FCFH_APF_USERAUTH_FAILURE:
        *canonical = 0;     /* the writer always offers "password" */
        return ngx_fcfh_apf_write_userauth_failure(o, size);

    case NGX_FCFH_APF_USERAUTH_SUCCESS:
        return ngx_fcfh_apf_write_userauth_success(o, size);

    case NGX_FCFH_APF_GLOBAL_REQUEST:
        g = &m->u.global;

        if (g->kind == NGX_FCFH_APF_GLOBAL_UDP_SEND_TO) {
            return ngx_fcfh_apf_write_global_udp_send_to(o, size,
                       g->want_reply, g->address.data, g->address.len,
                       g->port, g->originator_address.data,
                       g->originator_address.len, g->originator_port,
                       g->data.data, g->data.len);
        }

        return ngx_fcfh_apf_write_global_forward(o, size,
                   g->kind == NGX_FCFH_APF_GLOBAL_CANCEL_TCPIP_FORWARD,
                   g->want_reply, g->address.data, g->address.len, g->port);

    case NGX_FCFH_APF_REQUEST_SUCCESS:
        return ngx_fcfh_apf_write_request_success(o, size,
                   m->u.request_success.has_port
                   ? (int64_t) m->u.request_success.port : -1);

    case NGX_FCFH_APF_REQUEST_FAILURE:
        return ngx_fcfh_apf_write_request_failure(o, size);

    case NGX_FCFH_APF_CHANNEL_OPEN:
        co = &m->u.channel_open;
        *canonical = (co->reserved == 0xffffffff);

        return ngx_fcfh_apf_write_channel_open(o, size, co->type.data,
                   co->type.len, co->sender, co->window,
                   co->connected_address.data, co->connected_address.len,
                   co->connected_port, co->originator_address.data,
                   co->originator_address.len, co->originator_port);

    case NGX_FCFH_APF_CHANNEL_OPEN_CONFIRMATION:
        *canonical = (m->u.confirmation.reserved == 0xffffffff);

        return ngx_fcfh_apf_write_channel_open_confirmation(o, size,
                   m->u.confirmation.recipient, m->u.confirmation.sender,
                   m->u.confirmation.window);

    case NGX_FCFH_APF_CHANNEL_OPEN_FAILURE:
        *canonical = 0;     /* description and language are dropped */

        return ngx_fcfh_apf_write_channel_open_failure(o, size,
                   m->u.open_failure.recipient, m->u.open_failure.reason);

    case NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST:
        return ngx_fcfh_apf_write_window_adjust(o, size,
                   m->u.window_adjust.recipient, m->u.window_adjust.bytes);

    case NGX_FCFH_APF_CHANNEL_DATA:
        n = ngx_fcfh_apf_write_channel_data_header(o, size,
                m->u.channel_data.recipient, m->u.channel_data.data.len);

        if (n == 0 || size - n < m->u.channel_data.data.len) {
            return 0;
        }

        if (m->u.channel_data.data.len) {
            memcpy(o + n, m->u.channel_data.data.data,
                   m->u.channel_data.data.len);
        }

        return n + m->u.channel_data.data.len;

    case NGX_FCFH_APF_CHANNEL_CLOSE:
        return ngx_fcfh_apf_write_channel_close(o, size, m->u.recipient);

    case NGX_FCFH_APF_PROTOCOLVERSION:
        *canonical = 0;     /* reserved bytes */

        return ngx_fcfh_apf_write_protocolversion(o, size,
                   m->u.version.major, m->u.version.minor,
                   m->u.version.trigger, m->u.version.guid);

    case NGX_FCFH_APF_KEEPALIVE_REQUEST:
    case NGX_FCFH_APF_KEEPALIVE_REPLY:
        return ngx_fcfh_apf_write_keepalive(o, size, m->type, m->u.cookie);

    case NGX_FCFH_APF_KEEPALIVE_OPTIONS_REQUEST:
    case NGX_FCFH_APF_KEEPALIVE_OPTIONS_REPLY:
        return ngx_fcfh_apf_write_keepalive_options(o, size, m->type,
                   m->u.keepalive_options.interval,
                   m->u.keepalive_options.timeout);
    }

    CHECK(0 && "parsed an unknown type");

    return 0;
}


/*
 * b is a parse of the same bytes as a (exact) or of what the writers made
 * of a (reserved fields normalised, open failure texts dropped).
 */

static void
check_same(const ngx_fcfh_apf_msg_t *a, const ngx_fcfh_apf_msg_t *b,
    int exact)
{
    CHECK(a->type == b->type);

    switch (a->type) {

    case NGX_FCFH_APF_DISCONNECT:
        CHECK(a->u.reason == b->u.reason);
        break;

    case NGX_FCFH_APF_SERVICE_REQUEST:
    case NGX_FCFH_APF_SERVICE_ACCEPT:
        CHECK(str_eq(&a->u.service, &b->u.service));
        break;

    case NGX_FCFH_APF_USERAUTH_REQUEST:
        CHECK(str_eq(&a->u.userauth.user, &b->u.userauth.user));
        CHECK(str_eq(&a->u.userauth.service, &b->u.userauth.service));
        CHECK(str_eq(&a->u.userauth.method, &b->u.userauth.method));
        CHECK(str_eq(&a->u.userauth.password, &b->u.userauth.password));
        CHECK(a->u.userauth.has_password == b->u.userauth.has_password);
        break;

    case NGX_FCFH_APF_GLOBAL_REQUEST:
        CHECK(str_eq(&a->u.global.name, &b->u.global.name));
        CHECK(a->u.global.kind == b->u.global.kind);
        CHECK(a->u.global.want_reply == b->u.global.want_reply);
        CHECK(str_eq(&a->u.global.address, &b->u.global.address));
        CHECK(a->u.global.port == b->u.global.port);
        CHECK(str_eq(&a->u.global.originator_address,
                     &b->u.global.originator_address));
        CHECK(a->u.global.originator_port == b->u.global.originator_port);
        CHECK(str_eq(&a->u.global.data, &b->u.global.data));
        break;

    case NGX_FCFH_APF_USERAUTH_FAILURE:
        if (exact) {
            CHECK(str_eq(&a->u.userauth_failure.methods,
                         &b->u.userauth_failure.methods));
            CHECK(a->u.userauth_failure.partial
                  == b->u.userauth_failure.partial);
        }

        break;

    case NGX_FCFH_APF_REQUEST_SUCCESS:
        CHECK(a->u.request_success.has_port == b->u.request_success.has_port);
        CHECK(a->u.request_success.port == b->u.request_success.port);
        break;

    case NGX_FCFH_APF_CHANNEL_OPEN:
        CHECK(str_eq(&a->u.channel_open.type, &b->u.channel_open.type));
        CHECK(a->u.channel_open.sender == b->u.channel_open.sender);
        CHECK(a->u.channel_open.window == b->u.channel_open.window);
        CHECK(b->u.channel_open.reserved
              == (exact ? a->u.channel_open.reserved : 0xffffffff));
        CHECK(str_eq(&a->u.channel_open.connected_address,
                     &b->u.channel_open.connected_address));
        CHECK(a->u.channel_open.connected_port
              == b->u.channel_open.connected_port);
        CHECK(str_eq(&a->u.channel_open.originator_address,
                     &b->u.channel_open.originator_address));
        CHECK(a->u.channel_open.originator_port
              == b->u.channel_open.originator_port);
        break;

    case NGX_FCFH_APF_CHANNEL_OPEN_CONFIRMATION:
        CHECK(a->u.confirmation.recipient == b->u.confirmation.recipient);
        CHECK(a->u.confirmation.sender == b->u.confirmation.sender);
        CHECK(a->u.confirmation.window == b->u.confirmation.window);
        CHECK(b->u.confirmation.reserved
              == (exact ? a->u.confirmation.reserved : 0xffffffff));
        break;

    case NGX_FCFH_APF_CHANNEL_OPEN_FAILURE:
        CHECK(a->u.open_failure.recipient == b->u.open_failure.recipient);
        CHECK(a->u.open_failure.reason == b->u.open_failure.reason);
        if (exact) {
            CHECK(str_eq(&a->u.open_failure.description,
                         &b->u.open_failure.description));
            CHECK(str_eq(&a->u.open_failure.language,
                         &b->u.open_failure.language));

        } else {
            CHECK(b->u.open_failure.description.len == 0);
            CHECK(b->u.open_failure.language.len == 0);
        }
        break;

    case NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST:
        CHECK(a->u.window_adjust.recipient == b->u.window_adjust.recipient);
        CHECK(a->u.window_adjust.bytes == b->u.window_adjust.bytes);
        break;

    case NGX_FCFH_APF_CHANNEL_DATA:
        CHECK(a->u.channel_data.recipient == b->u.channel_data.recipient);
        CHECK(str_eq(&a->u.channel_data.data, &b->u.channel_data.data));
        break;

    case NGX_FCFH_APF_CHANNEL_CLOSE:
        CHECK(a->u.recipient == b->u.recipient);
        break;

    case NGX_FCFH_APF_PROTOCOLVERSION:
        CHECK(a->u.version.major == b->u.version.major);
        CHECK(a->u.version.minor == b->u.version.minor);
        CHECK(a->u.version.trigger == b->u.version.trigger);
        CHECK(memcmp(a->u.version.guid, b->u.version.guid, 16) == 0);
        break;

    case NGX_FCFH_APF_KEEPALIVE_REQUEST:
    case NGX_FCFH_APF_KEEPALIVE_REPLY:
        CHECK(a->u.cookie == b->u.cookie);
        break;

    case NGX_FCFH_APF_KEEPALIVE_OPTIONS_REQUEST:
    case NGX_FCFH_APF_KEEPALIVE_OPTIONS_REPLY:
        CHECK(a->u.keepalive_options.interval
              == b->u.keepalive_options.interval);
        CHECK(a->u.keepalive_options.timeout
              == b->u.keepalive_options.timeout);
        break;

    default:
        break;
    }
}


/* b[0..len) parsed to rc (> 0 or an error) */

static void
check_message(const uint8_t *b, size_t len, ssize_t rc, unsigned flags,
    const ngx_fcfh_apf_limits_t *limits, const ngx_fcfh_apf_msg_t *m)
{
    int                 canonical;
    size_t              k, n, end, step, need;
    ssize_t             r;
    ngx_fcfh_apf_msg_t  m2;

    /* proper prefixes: need more, or (for an error) the same error */

    end = rc > 0 ? (size_t) rc : len;
    step = end > 512 ? end / 128 : 1;

    for (k = 0; k < end; k += step) {
        need = 12345;
        r = ngx_fcfh_apf_parse(b, k, flags, limits, &m2, &need);

        if (rc > 0) {
            CHECK(r == 0);
            CHECK(need == 0 || need == (size_t) rc);

        } else {
            CHECK(r == 0 || r == rc);
            CHECK(need == 0 || need > k);
        }
    }

    if (rc <= 0) {
        return;
    }

    if (step > 1) {
        r = ngx_fcfh_apf_parse(b, end - 1, flags, limits, &m2, &need);
        CHECK(r == 0);
        CHECK(need == 0 || need == (size_t) rc);
    }

    /* exactly the message */

    r = ngx_fcfh_apf_parse(b, (size_t) rc, flags, limits, &m2, &need);
    CHECK(r == rc);
    CHECK(need == 0);
    check_same(m, &m2, 1);

    /* write it back and read that */

    n = rewrite(m, out, sizeof(out), &canonical);
    CHECK(n > 0);

    if (canonical) {
        CHECK(n == (size_t) rc);
        CHECK(memcmp(out, b, n) == 0);
    }

    if (m->type == NGX_FCFH_APF_REQUEST_SUCCESS) {
        flags &= ~NGX_FCFH_APF_EXPECT_PORT;
        flags |= m->u.request_success.has_port ? NGX_FCFH_APF_EXPECT_PORT
                                               : 0;
    }

    r = ngx_fcfh_apf_parse(out, n, flags, &huge_limits, &m2, &need);
    CHECK(r == (ssize_t) n);
    check_same(m, &m2, 0);

    /* a writer given one byte less writes nothing */

    CHECK(rewrite(m, out, n - 1, &canonical) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                        off, need;
    ssize_t                       rc;
    unsigned                      flags, li;
    ngx_fcfh_apf_msg_t            m;
    const ngx_fcfh_apf_limits_t  *limits;

    for (li = 0; li < 3; li++) {
        limits = li == 0 ? NULL : (li == 1 ? &small_limits : &huge_limits);

        for (flags = 0; flags < 8; flags++) {
            off = 0;

            while (off < size) {
                memset(&m, 0xa5, sizeof(m));
                need = 12345;

                rc = ngx_fcfh_apf_parse(data + off, size - off, flags,
                                        limits, &m, &need);

                CHECK(rc <= (ssize_t) (size - off));

                if (rc == 0) {
                    CHECK(need == 0 || need > size - off);
                    check_message(data + off, size - off, rc, flags,
                                  limits, &m);
                    break;
                }

                CHECK(need == 0);

                if (rc < 0) {
                    CHECK(rc >= NGX_FCFH_APF_ERR_DIRECTION);
                    CHECK(m.type == data[off]);

                    if (rc == NGX_FCFH_APF_ERR_UNKNOWN_GLOBAL) {
                        check_str(&m.u.global.name, data + off, size - off);
                        CHECK(m.u.global.want_reply <= 1);
                    }

                    if (rc == NGX_FCFH_APF_ERR_UNKNOWN_METHOD) {
                        check_str(&m.u.userauth.method, data + off,
                                  size - off);
                    }

                    check_message(data + off, size - off, rc, flags,
                                  limits, &m);
                    break;
                }

                CHECK(m.type == data[off]);
                check_strings(&m, data + off, (size_t) rc);
                check_message(data + off, size - off, rc, flags, limits,
                              &m);

                off += (size_t) rc;
            }
        }
    }

    return 0;
}
