
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * libFuzzer target for the redirection-authentication filter
 * (ngx_fcfh_redir.c).  Built by "make fuzz".
 *
 * Input: chunks, each one byte (bit 7: 1 = from the device, else from the
 * console; bits 0-6: length) and that many bytes, fed in order until the
 * filter answers an error.  Checks: results and states in the documented
 * sets; held bytes within the hold; what the filter sends is non-empty
 * and, before the filter turns transparent, a whole message no longer
 * than the limit; every AuthenticateSession of the gateway's own (the
 * ones that carry its user) is framed exactly by its length and carries
 * the password only in a basic answer; after an error nothing more is
 * sent; once transparent, every input is taken.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_fcfh_redir.h"
#include "fuzz.h"


#define USER      "admin"
#define PASSWORD  "P@ssw0rd-fuzz"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


typedef struct {
    ngx_fcfh_redir_t     *rd;
    int                   from;
    int                   done;      /* an error was answered */
} state_t;


static ngx_fcfh_redir_t  rd;


static int
contains(const uint8_t *h, size_t hn, const char *needle)
{
    size_t  i, n;

    n = strlen(needle);

    for (i = 0; i + n <= hn; i++) {
        if (memcmp(h + i, needle, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * the gateway's own AuthenticateSession: fields fill the length exactly;
 * the password is in none but a basic answer's (realm and nonce are the
 * device's own words)
 */

static void
check_own(const uint8_t *buf, size_t len)
{
    size_t    off, n, i;
    uint32_t  mlen;

    CHECK(len >= 9);
    mlen = buf[5] | (buf[6] << 8) | (buf[7] << 16) | ((uint32_t) buf[8] << 24);
    CHECK(len == 9 + (size_t) mlen);

    for (off = 9, i = 0; off < len; off += n, i++) {
        n = buf[off++];
        CHECK(n <= len - off);

        if (buf[4] != 1 && i != 1 && i != 2) {
            CHECK(!contains(buf + off, n, PASSWORD));
        }
    }

    CHECK(off == len);
    CHECK(buf[9] == strlen(USER));
    CHECK(memcmp(buf + 10, USER, strlen(USER)) == 0);
}


static int
sink(void *data, int to, const uint8_t *buf, size_t len)
{
    state_t  *st = data;

    CHECK(!st->done);
    CHECK(to == NGX_FCFH_REDIR_CONSOLE || to == NGX_FCFH_REDIR_DEVICE);
    CHECK(len > 0);

    if (st->rd->state != NGX_FCFH_REDIR_TRANSPARENT) {
        CHECK(len <= NGX_FCFH_REDIR_MAX_MESSAGE);
    }

    if (to == NGX_FCFH_REDIR_DEVICE && buf[0] == 0x13
        && st->rd->state != NGX_FCFH_REDIR_TRANSPARENT)
    {
        /* the console's query, or one of the gateway's own */
        CHECK(len >= 9);

        if (buf[4] != 0) {
            check_own(buf, len);
        }
    }

    if (to == NGX_FCFH_REDIR_CONSOLE && buf[0] == 0x13) {
        /* the gateway never writes AuthenticateSession to the console */
        CHECK(st->rd->state == NGX_FCFH_REDIR_TRANSPARENT
              || st->from == NGX_FCFH_REDIR_DEVICE);
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int       rc, from;
    size_t    n, off;
    uint8_t   before;
    state_t   st;

    memset(&st, 0, sizeof(st));
    st.rd = &rd;

    CHECK(ngx_fcfh_redir_init(&rd, (const uint8_t *) USER, strlen(USER),
                              (const uint8_t *) PASSWORD, strlen(PASSWORD),
                              sink, &st)
          == 0);

    off = 0;

    while (off < size) {
        from = (data[off] & 0x80) ? NGX_FCFH_REDIR_DEVICE
                                  : NGX_FCFH_REDIR_CONSOLE;
        n = data[off] & 0x7f;
        off++;

        if (n > size - off) {
            n = size - off;
        }

        st.from = from;
        before = rd.state;

        rc = ngx_fcfh_redir_input(&rd, from, data + off, n);
        off += n;

        CHECK(rc <= 0 && rc >= NGX_FCFH_REDIR_ERR_LAST);
        CHECK(rd.state <= NGX_FCFH_REDIR_FAILED);
        CHECK(rd.held[0] <= NGX_FCFH_REDIR_HOLD);
        CHECK(rd.held[1] <= NGX_FCFH_REDIR_HOLD);
        CHECK(strcmp(ngx_fcfh_redir_strerror(rc), "unknown") != 0);

        if (before == NGX_FCFH_REDIR_TRANSPARENT) {
            CHECK(rc == NGX_FCFH_REDIR_OK);
        }

        if (rd.state == NGX_FCFH_REDIR_TRANSPARENT) {
            CHECK(rd.held[0] == 0 && rd.held[1] == 0);
        }

        if (rc == NGX_FCFH_REDIR_ERR_REFUSED) {
            CHECK(rd.state == NGX_FCFH_REDIR_FAILED);
        }

        if (rc != NGX_FCFH_REDIR_OK) {
            st.done = 1;
            break;
        }
    }

    return 0;
}
