
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * libFuzzer target for the credentials-file parser (fcfh_auth_file,
 * fcfh_proxy_auth_file, fcfh_pass_auth_file: "user:hash[:guids]" lines).
 * Built by "make fuzz".
 *
 * Checks: a result and, on error, a reason; on success every entry is a
 * non-empty user without ':' or NUL and a non-empty NUL-terminated hash,
 * users are sorted without duplicates, a GUID list is valid; writing the
 * entries out again and parsing that gives the same entries.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fcfh_htpasswd.h"
#include "fuzz.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static ngx_log_t  fuzz_log;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char               *buf, *out, *p;
    size_t                olen;
    ngx_int_t             rc;
    ngx_uint_t            i, line;
    ngx_pool_t           *pool;
    const char           *err;
    ngx_fcfh_cred_t      *c, *c2;
    ngx_fcfh_htpasswd_t   h, h2;

    if (ngx_pagesize == 0) {
        ngx_pagesize = 4096;
    }

    pool = ngx_create_pool(4096, &fuzz_log);
    CHECK(pool);

    buf = malloc(size ? size : 1);
    CHECK(buf);
    ngx_memcpy(buf, data, size);

    ngx_memzero(&h, sizeof(h));
    err = NULL;

    rc = ngx_fcfh_htpasswd_parse(&h, buf, size, pool, &line, &err);
    CHECK(rc == NGX_OK || rc == NGX_ERROR);

    if (rc == NGX_ERROR) {
        CHECK(err != NULL);
        goto done;
    }

    c = h.creds.elts;
    olen = 0;

    for (i = 0; i < h.creds.nelts; i++) {
        CHECK(c[i].user.len > 0);
        CHECK(ngx_strlchr(c[i].user.data, c[i].user.data + c[i].user.len,
                          ':') == NULL);
        CHECK(ngx_strlchr(c[i].user.data, c[i].user.data + c[i].user.len,
                          '\0') == NULL);
        CHECK(c[i].hash.len > 0 && c[i].hash.data[c[i].hash.len] == '\0');
        CHECK(ngx_strlchr(c[i].hash.data, c[i].hash.data + c[i].hash.len,
                          ':') == NULL);

        if (c[i].guids.len) {
            CHECK(ngx_fcfh_guid_list_allows(&c[i].guids, NULL)
                  != NGX_ERROR);
        }

        if (i) {
            CHECK(ngx_memn2cmp(c[i - 1].user.data, c[i].user.data,
                               c[i - 1].user.len, c[i].user.len) < 0);
        }

        olen += c[i].user.len + c[i].hash.len + c[i].guids.len + 3;
    }

    /* written out again: the same entries */

    out = malloc(olen ? olen : 1);
    CHECK(out);
    p = out;

    for (i = 0; i < h.creds.nelts; i++) {
        p = ngx_cpymem(p, c[i].user.data, c[i].user.len);
        *p++ = ':';
        p = ngx_cpymem(p, c[i].hash.data, c[i].hash.len);

        if (c[i].guids.data) {
            *p++ = ':';
            p = ngx_cpymem(p, c[i].guids.data, c[i].guids.len);
        }

        *p++ = '\n';
    }

    ngx_memzero(&h2, sizeof(h2));

    rc = ngx_fcfh_htpasswd_parse(&h2, out, p - out, pool, &line, &err);
    CHECK(rc == NGX_OK);
    CHECK(h2.creds.nelts == h.creds.nelts);

    c2 = h2.creds.elts;

    for (i = 0; i < h.creds.nelts; i++) {
        CHECK(c2[i].user.len == c[i].user.len
              && ngx_memcmp(c2[i].user.data, c[i].user.data, c[i].user.len)
                 == 0);
        CHECK(c2[i].hash.len == c[i].hash.len
              && ngx_memcmp(c2[i].hash.data, c[i].hash.data, c[i].hash.len)
                 == 0);
    }

    free(out);

done:

    free(buf);
    ngx_destroy_pool(pool);

    return 0;
}
