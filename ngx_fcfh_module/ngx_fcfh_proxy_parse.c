
/*
 * Copyright (C) ngx_fcfh_module authors
 */


#include <string.h>

#include "ngx_fcfh_proxy_parse.h"


#define NGX_FCFH_PROXY_NAME_MAX      253
#define NGX_FCFH_PROXY_LABEL_MAX     63
#define NGX_FCFH_PROXY_IPV4_MAX      15
#define NGX_FCFH_PROXY_IPV6_MAX      45

#define NGX_FCFH_PROXY_CONNECT_STR   "CONNECT"
#define NGX_FCFH_PROXY_AUTH_HEADER   "proxy-authorization"
#define NGX_FCFH_PROXY_BASIC         "basic"
#define NGX_FCFH_PROXY_LENGTH_HEADER "content-length"
#define NGX_FCFH_PROXY_TE_HEADER     "transfer-encoding"
#define NGX_FCFH_PROXY_CHUNKED       "chunked"
#define NGX_FCFH_PROXY_AUTHN_HEADER  "www-authenticate"
#define NGX_FCFH_PROXY_DIGEST        "digest "


static ssize_t ngx_fcfh_proxy_request_line(const uint8_t *p, size_t len,
    ngx_fcfh_proxy_connect_t *c);
static ssize_t ngx_fcfh_proxy_header_line(const uint8_t *p, size_t len,
    ngx_fcfh_proxy_connect_t *c);
static ssize_t ngx_fcfh_proxy_field(const uint8_t *p, size_t len,
    size_t *name_len, const uint8_t **value, size_t *value_len);
static ssize_t ngx_fcfh_proxy_status_line(const uint8_t *p, size_t len,
    ngx_fcfh_proxy_response_t *r);
static ssize_t ngx_fcfh_proxy_response_header(const uint8_t *p, size_t len,
    ngx_fcfh_proxy_response_t *r);
static ssize_t ngx_fcfh_proxy_content_length(const uint8_t *v, size_t len,
    uint64_t *n);
static ssize_t ngx_fcfh_proxy_authority(const uint8_t *p, size_t len,
    int port_required, ngx_fcfh_proxy_host_t *host, uint16_t *port);
static ssize_t ngx_fcfh_proxy_port(const uint8_t *p, size_t len,
    uint16_t *port);
static int ngx_fcfh_proxy_ipv4(const uint8_t *p, size_t len, uint8_t *out);
static int ngx_fcfh_proxy_ipv6(const uint8_t *p, size_t len, uint8_t *out);
static int ngx_fcfh_proxy_name(const uint8_t *p, size_t len);
static int ngx_fcfh_proxy_caseeq(const uint8_t *p, size_t len,
    const char *lit);
static int ngx_fcfh_proxy_b64(int ch);


/* RFC 9110 tchar */
static const uint8_t  ngx_fcfh_proxy_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1
};


int
ngx_fcfh_proxy_sniff(uint8_t first)
{
    if (first == 0x05) {
        return NGX_FCFH_PROXY_SOCKS5;
    }

    if (first == 'C') {
        return NGX_FCFH_PROXY_CONNECT;
    }

    return NGX_FCFH_PROXY_UNKNOWN;
}


ssize_t
ngx_fcfh_proxy_socks5_greeting(const uint8_t *buf, size_t len,
    ngx_fcfh_proxy_socks5_greeting_t *g)
{
    size_t  i, n;

    g->offered = 0;
    g->nmethods = 0;
    g->methods = NULL;

    if (len < 1) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    if (buf[0] != 0x05) {
        return NGX_FCFH_PROXY_ERR_VERSION;
    }

    if (len < 2) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    n = buf[1];

    if (n == 0) {
        return NGX_FCFH_PROXY_ERR_NO_METHODS;
    }

    if (len < 2 + n) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    for (i = 0; i < n; i++) {
        switch (buf[2 + i]) {

        case NGX_FCFH_PROXY_SOCKS5_NO_AUTH:
            g->offered |= NGX_FCFH_PROXY_OFFER_NO_AUTH;
            break;

        case NGX_FCFH_PROXY_SOCKS5_USERPASS:
            g->offered |= NGX_FCFH_PROXY_OFFER_USERPASS;
            break;

        default:
            g->offered |= NGX_FCFH_PROXY_OFFER_OTHER;
            break;
        }
    }

    g->nmethods = (unsigned) n;
    g->methods = buf + 2;

    return (ssize_t) (2 + n);
}


uint8_t
ngx_fcfh_proxy_socks5_select_method(unsigned offered, int auth_required)
{
    if (!auth_required && (offered & NGX_FCFH_PROXY_OFFER_NO_AUTH)) {
        return NGX_FCFH_PROXY_SOCKS5_NO_AUTH;
    }

    if (offered & NGX_FCFH_PROXY_OFFER_USERPASS) {
        return NGX_FCFH_PROXY_SOCKS5_USERPASS;
    }

    return NGX_FCFH_PROXY_SOCKS5_NO_ACCEPTABLE;
}


ssize_t
ngx_fcfh_proxy_socks5_auth(const uint8_t *buf, size_t len,
    ngx_fcfh_proxy_socks5_auth_t *a)
{
    size_t  ulen, plen;

    memset(a, 0, sizeof(*a));

    if (len < 1) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    if (buf[0] != 0x01) {
        return NGX_FCFH_PROXY_ERR_VERSION;
    }

    if (len < 2) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    ulen = buf[1];

    if (ulen == 0) {
        return NGX_FCFH_PROXY_ERR_EMPTY_FIELD;
    }

    if (len < 2 + ulen + 1) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    plen = buf[2 + ulen];

    if (plen == 0) {
        return NGX_FCFH_PROXY_ERR_EMPTY_FIELD;
    }

    if (len < 3 + ulen + plen) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    a->user.len = ulen;
    a->user.data = buf + 2;
    a->password.len = plen;
    a->password.data = buf + 3 + ulen;

    return (ssize_t) (3 + ulen + plen);
}


ssize_t
ngx_fcfh_proxy_socks5_request(const uint8_t *buf, size_t len,
    ngx_fcfh_proxy_socks5_request_t *r)
{
    size_t  alen, off;

    memset(r, 0, sizeof(*r));

    if (len < 1) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    if (buf[0] != 0x05) {
        return NGX_FCFH_PROXY_ERR_VERSION;
    }

    if (len < 2) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    r->cmd = buf[1];

    if (r->cmd != NGX_FCFH_PROXY_SOCKS5_CMD_CONNECT) {
        return NGX_FCFH_PROXY_ERR_COMMAND;
    }

    if (len < 3) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    if (buf[2] != 0x00) {
        return NGX_FCFH_PROXY_ERR_MALFORMED;
    }

    if (len < 4) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    r->atyp = buf[3];

    switch (r->atyp) {

    case NGX_FCFH_PROXY_SOCKS5_ATYP_IPV4:
        alen = 4;
        off = 4;
        break;

    case NGX_FCFH_PROXY_SOCKS5_ATYP_IPV6:
        alen = 16;
        off = 4;
        break;

    case NGX_FCFH_PROXY_SOCKS5_ATYP_DOMAIN:
        if (len < 5) {
            return NGX_FCFH_PROXY_AGAIN;
        }

        alen = buf[4];

        if (alen == 0) {
            return NGX_FCFH_PROXY_ERR_MALFORMED;
        }

        off = 5;
        break;

    default:
        return NGX_FCFH_PROXY_ERR_ADDRESS_TYPE;
    }

    if (len < off + alen + 2) {
        return NGX_FCFH_PROXY_AGAIN;
    }

    r->addr.len = alen;
    r->addr.data = buf + off;
    r->port = (uint16_t) (buf[off + alen] << 8 | buf[off + alen + 1]);

    switch (r->atyp) {

    case NGX_FCFH_PROXY_SOCKS5_ATYP_IPV4:
        r->host.kind = NGX_FCFH_PROXY_HOST_IPV4;
        r->host.text = r->addr;
        memcpy(r->host.addr, buf + off, 4);
        break;

    case NGX_FCFH_PROXY_SOCKS5_ATYP_IPV6:
        r->host.kind = NGX_FCFH_PROXY_HOST_IPV6;
        r->host.text = r->addr;
        memcpy(r->host.addr, buf + off, 16);
        break;

    default: /* NGX_FCFH_PROXY_SOCKS5_ATYP_DOMAIN */
        if (memchr(buf + off, '\0', alen) != NULL) {
            return NGX_FCFH_PROXY_ERR_MALFORMED;
        }

        (void) ngx_fcfh_proxy_parse_host(buf + off, alen, &r->host);
        break;
    }

    return (ssize_t) (off + alen + 2);
}


int
ngx_fcfh_proxy_socks5_error_reply(ssize_t rc)
{
    switch (rc) {

    case NGX_FCFH_PROXY_ERR_COMMAND:
        return NGX_FCFH_PROXY_SOCKS5_CMD_UNSUPPORTED;

    case NGX_FCFH_PROXY_ERR_ADDRESS_TYPE:
        return NGX_FCFH_PROXY_SOCKS5_ATYP_UNSUPPORTED;

    default:
        return -1;
    }
}


size_t
ngx_fcfh_proxy_socks5_write_method(uint8_t *buf, size_t size, uint8_t method)
{
    if (size < NGX_FCFH_PROXY_SOCKS5_METHOD_SIZE) {
        return 0;
    }

    buf[0] = 0x05;
    buf[1] = method;

    return NGX_FCFH_PROXY_SOCKS5_METHOD_SIZE;
}


size_t
ngx_fcfh_proxy_socks5_write_auth_status(uint8_t *buf, size_t size,
    uint8_t status)
{
    if (size < NGX_FCFH_PROXY_SOCKS5_STATUS_SIZE) {
        return 0;
    }

    buf[0] = 0x01;
    buf[1] = status;

    return NGX_FCFH_PROXY_SOCKS5_STATUS_SIZE;
}


size_t
ngx_fcfh_proxy_socks5_write_reply(uint8_t *buf, size_t size, uint8_t rep)
{
    if (size < NGX_FCFH_PROXY_SOCKS5_REPLY_SIZE) {
        return 0;
    }

    memset(buf, 0, NGX_FCFH_PROXY_SOCKS5_REPLY_SIZE);

    buf[0] = 0x05;
    buf[1] = rep;
    buf[3] = NGX_FCFH_PROXY_SOCKS5_ATYP_IPV4;

    return NGX_FCFH_PROXY_SOCKS5_REPLY_SIZE;
}


ssize_t
ngx_fcfh_proxy_connect_parse(const uint8_t *buf, size_t len,
    size_t max_head, unsigned max_headers, ngx_fcfh_proxy_connect_t *c)
{
    size_t          pos, end, limit;
    ssize_t         rc;
    const uint8_t  *lf;

    memset(c, 0, sizeof(*c));

    limit = len < max_head ? len : max_head;
    pos = 0;

    while (pos < limit) {
        lf = memchr(buf + pos, '\n', limit - pos);

        if (lf == NULL) {
            break;
        }

        end = (size_t) (lf - buf);

        if (end > pos && buf[end - 1] == '\r') {
            end--;
        }

        if (pos == 0) {
            rc = ngx_fcfh_proxy_request_line(buf, end, c);

        } else if (end == pos) {
            return (ssize_t) (lf - buf + 1);

        } else if (c->nheaders >= max_headers) {
            /* an obs-fold or bad line is still a header line here */
            return NGX_FCFH_PROXY_ERR_TOO_MANY_HEADERS;

        } else {
            rc = ngx_fcfh_proxy_header_line(buf + pos, end - pos, c);
            c->nheaders++;
        }

        if (rc < 0) {
            return rc;
        }

        pos = (size_t) (lf - buf + 1);
    }

    if (len >= max_head) {
        return NGX_FCFH_PROXY_ERR_TOO_LARGE;
    }

    return NGX_FCFH_PROXY_AGAIN;
}


static ssize_t
ngx_fcfh_proxy_request_line(const uint8_t *p, size_t len,
    ngx_fcfh_proxy_connect_t *c)
{
    size_t          i, mlen, tlen, vlen;
    ssize_t         rc;
    const uint8_t  *sp1, *sp2, *target, *ver;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            return NGX_FCFH_PROXY_ERR_BAD_REQUEST;
        }
    }

    sp1 = memchr(p, ' ', len);

    if (sp1 == NULL) {
        return NGX_FCFH_PROXY_ERR_BAD_REQUEST;
    }

    mlen = (size_t) (sp1 - p);

    if (mlen == 0) {
        return NGX_FCFH_PROXY_ERR_BAD_REQUEST;
    }

    for (i = 0; i < mlen; i++) {
        if (!ngx_fcfh_proxy_tchar[p[i]]) {
            return NGX_FCFH_PROXY_ERR_BAD_REQUEST;
        }
    }

    target = sp1 + 1;
    sp2 = memchr(target, ' ', len - (size_t) (target - p));

    if (sp2 == NULL) {
        return NGX_FCFH_PROXY_ERR_BAD_REQUEST;
    }

    tlen = (size_t) (sp2 - target);
    ver = sp2 + 1;
    vlen = len - (size_t) (ver - p);

    if (tlen == 0) {
        return NGX_FCFH_PROXY_ERR_BAD_REQUEST;
    }

    /* "HTTP/D.D", nothing after it */

    if (vlen != 8 || memcmp(ver, "HTTP/", 5) != 0
        || ver[5] < '0' || ver[5] > '9' || ver[6] != '.'
        || ver[7] < '0' || ver[7] > '9')
    {
        return NGX_FCFH_PROXY_ERR_BAD_REQUEST;
    }

    if (mlen != sizeof(NGX_FCFH_PROXY_CONNECT_STR) - 1
        || memcmp(p, NGX_FCFH_PROXY_CONNECT_STR, mlen) != 0)
    {
        return NGX_FCFH_PROXY_ERR_METHOD;
    }

    rc = ngx_fcfh_proxy_authority(target, tlen, 1, &c->host, &c->port);

    if (rc < 0) {
        return rc;
    }

    if (ver[5] != '1' || (ver[7] != '0' && ver[7] != '1')) {
        return NGX_FCFH_PROXY_ERR_HTTP_VERSION;
    }

    c->http_minor = (unsigned) (ver[7] - '0');

    return 0;
}


/*
 * One header line (no CRLF): name of RFC 9110 tchars, a colon, a value of
 * no control bytes but HTAB, which comes back without surrounding blanks.
 */

static ssize_t
ngx_fcfh_proxy_field(const uint8_t *p, size_t len, size_t *name_len,
    const uint8_t **value, size_t *value_len)
{
    size_t          i, nlen, vlen;
    const uint8_t  *colon, *v;

    colon = memchr(p, ':', len);

    if (colon == NULL || colon == p) {
        return NGX_FCFH_PROXY_ERR_BAD_HEADER;
    }

    nlen = (size_t) (colon - p);

    for (i = 0; i < nlen; i++) {
        if (!ngx_fcfh_proxy_tchar[p[i]]) {
            return NGX_FCFH_PROXY_ERR_BAD_HEADER;
        }
    }

    v = colon + 1;
    vlen = len - nlen - 1;

    for (i = 0; i < vlen; i++) {
        if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f) {
            return NGX_FCFH_PROXY_ERR_BAD_HEADER;
        }
    }

    while (vlen && (v[0] == ' ' || v[0] == '\t')) {
        v++;
        vlen--;
    }

    while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) {
        vlen--;
    }

    *name_len = nlen;
    *value = v;
    *value_len = vlen;

    return 0;
}


static ssize_t
ngx_fcfh_proxy_header_line(const uint8_t *p, size_t len,
    ngx_fcfh_proxy_connect_t *c)
{
    size_t          nlen, vlen;
    ssize_t         rc;
    const uint8_t  *v;

    if (p[0] == ' ' || p[0] == '\t') {
        return NGX_FCFH_PROXY_ERR_OBS_FOLD;
    }

    rc = ngx_fcfh_proxy_field(p, len, &nlen, &v, &vlen);

    if (rc < 0) {
        return rc;
    }

    if (ngx_fcfh_proxy_caseeq(p, nlen, NGX_FCFH_PROXY_AUTH_HEADER)) {
        if (c->proxy_authorization.data != NULL) {
            return NGX_FCFH_PROXY_ERR_DUPLICATE_AUTH;
        }

        c->proxy_authorization.len = vlen;
        c->proxy_authorization.data = v;
    }

    return 0;
}


ssize_t
ngx_fcfh_proxy_response_parse(const uint8_t *buf, size_t len,
    size_t max_head, ngx_fcfh_proxy_response_t *r)
{
    size_t          pos, end, limit;
    ssize_t         rc;
    const uint8_t  *lf;

    memset(r, 0, sizeof(*r));

    limit = len < max_head ? len : max_head;
    pos = 0;

    while (pos < limit) {
        lf = memchr(buf + pos, '\n', limit - pos);

        if (lf == NULL) {
            break;
        }

        end = (size_t) (lf - buf);

        if (end > pos && buf[end - 1] == '\r') {
            end--;
        }

        if (pos == 0) {
            rc = ngx_fcfh_proxy_status_line(buf, end, r);

        } else if (end == pos) {
            return (ssize_t) (lf - buf + 1);

        } else {
            rc = ngx_fcfh_proxy_response_header(buf + pos, end - pos, r);
            r->nheaders++;
        }

        if (rc < 0) {
            return rc;
        }

        pos = (size_t) (lf - buf + 1);
    }

    if (len >= max_head) {
        return NGX_FCFH_PROXY_ERR_TOO_LARGE;
    }

    return NGX_FCFH_PROXY_AGAIN;
}


/* one line, its CRLF or LF cut off */

static ssize_t
ngx_fcfh_proxy_status_line(const uint8_t *p, size_t len,
    ngx_fcfh_proxy_response_t *r)
{
    size_t  i;

    /* first: a CR left in a line is how a head is smuggled */

    if (memchr(p, '\r', len) != NULL) {
        return NGX_FCFH_PROXY_ERR_BARE_CR;
    }

    for (i = 0; i < len; i++) {
        if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) {
            return NGX_FCFH_PROXY_ERR_STATUS_LINE;
        }
    }

    /* "HTTP/D.D DDD", then nothing, or SP and a reason phrase */

    if (len < 12 || memcmp(p, "HTTP/", 5) != 0
        || p[5] < '0' || p[5] > '9' || p[6] != '.'
        || p[7] < '0' || p[7] > '9' || p[8] != ' '
        || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9'
        || p[11] < '0' || p[11] > '9' || (len > 12 && p[12] != ' '))
    {
        return NGX_FCFH_PROXY_ERR_STATUS_LINE;
    }

    if (p[5] != '1' || (p[7] != '0' && p[7] != '1')) {
        return NGX_FCFH_PROXY_ERR_HTTP_VERSION;
    }

    r->http_minor = (unsigned) (p[7] - '0');
    r->status = (unsigned) ((p[9] - '0') * 100 + (p[10] - '0') * 10
                            + (p[11] - '0'));

    return 0;
}


static ssize_t
ngx_fcfh_proxy_response_header(const uint8_t *p, size_t len,
    ngx_fcfh_proxy_response_t *r)
{
    size_t          nlen, vlen;
    ssize_t         rc;
    uint64_t        n;
    const uint8_t  *v;

    if (p[0] == ' ' || p[0] == '\t') {
        return NGX_FCFH_PROXY_ERR_OBS_FOLD;
    }

    if (memchr(p, '\r', len) != NULL) {
        return NGX_FCFH_PROXY_ERR_BARE_CR;
    }

    rc = ngx_fcfh_proxy_field(p, len, &nlen, &v, &vlen);

    if (rc < 0) {
        return rc;
    }

    /*
     * RFC 9112 section 6.3: one framing or none.  Equal repeated lengths
     * are refused too: AMT never sends them, and passing one of two
     * headers would frame the body differently for the console.
     */

    if (ngx_fcfh_proxy_caseeq(p, nlen, NGX_FCFH_PROXY_LENGTH_HEADER)) {
        rc = ngx_fcfh_proxy_content_length(v, vlen, &n);

        if (rc < 0) {
            return rc;
        }

        if (r->framing == NGX_FCFH_PROXY_FRAMING_LENGTH) {
            return NGX_FCFH_PROXY_ERR_LENGTH_CONFLICT;
        }

        if (r->framing == NGX_FCFH_PROXY_FRAMING_CHUNKED) {
            return NGX_FCFH_PROXY_ERR_LENGTH_AND_CODING;
        }

        r->framing = NGX_FCFH_PROXY_FRAMING_LENGTH;
        r->content_length = n;

        return 0;
    }

    if (ngx_fcfh_proxy_caseeq(p, nlen, NGX_FCFH_PROXY_TE_HEADER)) {

        if (r->framing == NGX_FCFH_PROXY_FRAMING_LENGTH) {
            return NGX_FCFH_PROXY_ERR_LENGTH_AND_CODING;
        }

        /* chunked once, last and only: nothing else is decoded here */

        if (r->framing == NGX_FCFH_PROXY_FRAMING_CHUNKED
            || r->http_minor == 0
            || !ngx_fcfh_proxy_caseeq(v, vlen, NGX_FCFH_PROXY_CHUNKED))
        {
            return NGX_FCFH_PROXY_ERR_TRANSFER_CODING;
        }

        r->framing = NGX_FCFH_PROXY_FRAMING_CHUNKED;

        return 0;
    }

    /* the Digest challenge, for a client that answers it (WS-Management) */

    if (r->digest.data == NULL
        && ngx_fcfh_proxy_caseeq(p, nlen, NGX_FCFH_PROXY_AUTHN_HEADER)
        && vlen > sizeof(NGX_FCFH_PROXY_DIGEST) - 1
        && ngx_fcfh_proxy_caseeq(v, sizeof(NGX_FCFH_PROXY_DIGEST) - 1,
                                 NGX_FCFH_PROXY_DIGEST))
    {
        r->digest.len = vlen;
        r->digest.data = v;
    }

    return 0;
}


/* the OWS-trimmed value: 1*DIGIT, no list, at most LENGTH_MAX */

static ssize_t
ngx_fcfh_proxy_content_length(const uint8_t *v, size_t len, uint64_t *n)
{
    size_t    i;
    uint64_t  d;

    if (memchr(v, ',', len) != NULL) {
        return NGX_FCFH_PROXY_ERR_LENGTH_CONFLICT;
    }

    if (len == 0) {
        return NGX_FCFH_PROXY_ERR_BAD_LENGTH;
    }

    *n = 0;

    for (i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return NGX_FCFH_PROXY_ERR_BAD_LENGTH;
        }

        d = (uint64_t) (v[i] - '0');

        if (*n > (NGX_FCFH_PROXY_LENGTH_MAX - d) / 10) {
            return NGX_FCFH_PROXY_ERR_BAD_LENGTH;
        }

        *n = *n * 10 + d;
    }

    return 0;
}


int
ngx_fcfh_proxy_http_status(ssize_t rc)
{
    switch (rc) {

    case NGX_FCFH_PROXY_ERR_TOO_LARGE:
    case NGX_FCFH_PROXY_ERR_TOO_MANY_HEADERS:
        return 431;

    case NGX_FCFH_PROXY_ERR_METHOD:
        return 405;

    case NGX_FCFH_PROXY_ERR_HTTP_VERSION:
        return 505;

    default:
        return 400;
    }
}


/*
 * "host:port" (port_required) or "host[:port]"; the host may be [v6].
 * Returns 1 when a port was given, 0 when not, or an error.
 */

static ssize_t
ngx_fcfh_proxy_authority(const uint8_t *p, size_t len, int port_required,
    ngx_fcfh_proxy_host_t *host, uint16_t *port)
{
    size_t          hlen;
    ssize_t         rc;
    const uint8_t  *colon, *rb;

    if (len > 0 && p[0] == '[') {
        rb = memchr(p, ']', len);

        if (rb == NULL) {
            return NGX_FCFH_PROXY_ERR_BAD_HOST;
        }

        hlen = (size_t) (rb - p) + 1;
        colon = (hlen < len) ? rb + 1 : NULL;

        if (colon != NULL && *colon != ':') {
            return NGX_FCFH_PROXY_ERR_BAD_HOST;
        }

    } else {
        colon = memchr(p, ':', len);
        hlen = colon ? (size_t) (colon - p) : len;
    }

    if (hlen == 0
        || ngx_fcfh_proxy_parse_host(p, hlen, host)
           == NGX_FCFH_PROXY_HOST_INVALID)
    {
        return NGX_FCFH_PROXY_ERR_BAD_HOST;
    }

    if (colon == NULL) {
        return port_required ? NGX_FCFH_PROXY_ERR_BAD_PORT : 0;
    }

    rc = ngx_fcfh_proxy_port(colon + 1, len - hlen - 1, port);

    return rc < 0 ? rc : 1;
}


static ssize_t
ngx_fcfh_proxy_port(const uint8_t *p, size_t len, uint16_t *port)
{
    size_t    i;
    uint32_t  v;

    if (len == 0 || len > 5) {
        return NGX_FCFH_PROXY_ERR_BAD_PORT;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return NGX_FCFH_PROXY_ERR_BAD_PORT;
        }

        v = v * 10 + (uint32_t) (p[i] - '0');
    }

    if (v == 0 || v > 65535) {
        return NGX_FCFH_PROXY_ERR_BAD_PORT;
    }

    *port = (uint16_t) v;

    return 0;
}


ssize_t
ngx_fcfh_proxy_basic_decode(const uint8_t *value, size_t len, uint8_t *out,
    size_t size, ngx_fcfh_proxy_credentials_t *cred)
{
    size_t          i, n, slen;
    ssize_t         rc;
    const uint8_t  *colon, *tok;

    memset(cred, 0, sizeof(*cred));

    slen = sizeof(NGX_FCFH_PROXY_BASIC) - 1;

    if (len <= slen || !ngx_fcfh_proxy_caseeq(value, slen,
                                               NGX_FCFH_PROXY_BASIC)
        || (value[slen] != ' ' && value[slen] != '\t'))
    {
        return NGX_FCFH_PROXY_ERR_AUTH_SCHEME;
    }

    i = slen;

    while (i < len && (value[i] == ' ' || value[i] == '\t')) {
        i++;
    }

    while (len > i && (value[len - 1] == ' ' || value[len - 1] == '\t')) {
        len--;
    }

    if (i == len) {
        return NGX_FCFH_PROXY_ERR_AUTH_SCHEME;
    }

    tok = value + i;

    rc = ngx_fcfh_proxy_base64_decode(tok, len - i, out, size);

    if (rc < 0) {
        return rc;
    }

    n = (size_t) rc;

    colon = memchr(out, ':', n);

    if (colon == NULL) {
        return NGX_FCFH_PROXY_ERR_NO_COLON;
    }

    for (i = 0; i < n; i++) {
        if (out[i] < 0x20 || out[i] == 0x7f) {
            return NGX_FCFH_PROXY_ERR_BAD_CREDENTIALS;
        }
    }

    cred->user.len = (size_t) (colon - out);
    cred->user.data = out;
    cred->password.len = n - cred->user.len - 1;
    cred->password.data = colon + 1;

    return rc;
}


ssize_t
ngx_fcfh_proxy_base64_decode(const uint8_t *in, size_t len, uint8_t *out,
    size_t size)
{
    int       d[4];
    size_t    i, j, n, pad;
    uint32_t  v;

    if (len % 4 != 0) {
        return NGX_FCFH_PROXY_ERR_BASE64;
    }

    if (len == 0) {
        return 0;
    }

    pad = 0;

    if (in[len - 1] == '=') {
        pad++;

        if (in[len - 2] == '=') {
            pad++;
        }
    }

    /* validate everything before writing anything */

    for (i = 0; i < len - pad; i++) {
        if (ngx_fcfh_proxy_b64(in[i]) < 0) {
            return NGX_FCFH_PROXY_ERR_BASE64;
        }
    }

    /* unused bits of the last character must be zero */

    if (pad == 1 && (ngx_fcfh_proxy_b64(in[len - 2]) & 0x03)) {
        return NGX_FCFH_PROXY_ERR_BASE64;
    }

    if (pad == 2 && (ngx_fcfh_proxy_b64(in[len - 3]) & 0x0f)) {
        return NGX_FCFH_PROXY_ERR_BASE64;
    }

    n = len / 4 * 3 - pad;

    if (n > size) {
        return NGX_FCFH_PROXY_ERR_BUFFER;
    }

    j = 0;

    for (i = 0; i < len; i += 4) {
        d[0] = ngx_fcfh_proxy_b64(in[i]);
        d[1] = ngx_fcfh_proxy_b64(in[i + 1]);
        d[2] = (in[i + 2] == '=') ? 0 : ngx_fcfh_proxy_b64(in[i + 2]);
        d[3] = (in[i + 3] == '=') ? 0 : ngx_fcfh_proxy_b64(in[i + 3]);

        v = (uint32_t) d[0] << 18 | (uint32_t) d[1] << 12
            | (uint32_t) d[2] << 6 | (uint32_t) d[3];

        out[j++] = (uint8_t) (v >> 16);

        if (j < n) {
            out[j++] = (uint8_t) (v >> 8);
        }

        if (j < n) {
            out[j++] = (uint8_t) v;
        }
    }

    return (ssize_t) n;
}


ssize_t
ngx_fcfh_proxy_target_parse(const uint8_t *buf, size_t len,
    ngx_fcfh_proxy_target_t *t)
{
    size_t          i, alen, plen;
    ssize_t         rc;
    const uint8_t  *auth, *path;

    memset(t, 0, sizeof(*t));

    if (len >= 7 && ngx_fcfh_proxy_caseeq(buf, 7, "http://")) {
        t->scheme = NGX_FCFH_PROXY_SCHEME_HTTP;
        auth = buf + 7;

    } else if (len >= 8 && ngx_fcfh_proxy_caseeq(buf, 8, "https://")) {
        t->scheme = NGX_FCFH_PROXY_SCHEME_HTTPS;
        auth = buf + 8;

    } else {
        return NGX_FCFH_PROXY_ERR_SCHEME;
    }

    /* the authority ends at '/', '?', '#' or the end */

    plen = len - (size_t) (auth - buf);

    for (alen = 0; alen < plen; alen++) {
        if (auth[alen] == '/' || auth[alen] == '?' || auth[alen] == '#') {
            break;
        }
    }

    if (memchr(auth, '@', alen) != NULL) {
        return NGX_FCFH_PROXY_ERR_USERINFO;
    }

    rc = ngx_fcfh_proxy_authority(auth, alen, 0, &t->host, &t->port);

    if (rc < 0) {
        return rc;
    }

    if (rc == 0) {
        t->port = (t->scheme == NGX_FCFH_PROXY_SCHEME_HTTPS) ? 443 : 80;

    } else {
        t->explicit_port = 1;
    }

    path = auth + alen;
    plen -= alen;

    if (plen == 0) {
        t->path.len = 1;
        t->path.data = (const uint8_t *) "/";
        return 0;
    }

    if (path[0] != '/') {
        return NGX_FCFH_PROXY_ERR_BAD_TARGET;
    }

    for (i = 0; i < plen; i++) {
        if (path[i] <= 0x20 || path[i] == 0x7f || path[i] == '#') {
            return NGX_FCFH_PROXY_ERR_BAD_TARGET;
        }

        if (path[i] == '%') {
            if (plen - i < 3 || ngx_fcfh_apf_hex(path[i + 1]) < 0
                || ngx_fcfh_apf_hex(path[i + 2]) < 0)
            {
                return NGX_FCFH_PROXY_ERR_BAD_TARGET;
            }

            i += 2;
        }
    }

    t->path.len = plen;
    t->path.data = path;

    return 0;
}


int
ngx_fcfh_proxy_parse_host(const uint8_t *text, size_t len,
    ngx_fcfh_proxy_host_t *h)
{
    int                    kind;
    ngx_fcfh_proxy_host_t  tmp;

    if (h == NULL) {
        h = &tmp;
    }

    memset(h, 0, sizeof(*h));

    if (len == 0 || len > NGX_FCFH_PROXY_HOST_MAX) {
        return NGX_FCFH_PROXY_HOST_INVALID;
    }

    h->text.len = len;
    h->text.data = text;

    if (text[0] == '[') {
        if (len < 2 || text[len - 1] != ']') {
            kind = NGX_FCFH_PROXY_HOST_INVALID;

        } else if (ngx_fcfh_proxy_ipv6(text + 1, len - 2, h->addr) == 0) {
            h->text.len = len - 2;
            h->text.data = text + 1;
            kind = NGX_FCFH_PROXY_HOST_IPV6;

        } else {
            kind = NGX_FCFH_PROXY_HOST_INVALID;
        }

    } else if (memchr(text, ':', len) != NULL) {
        kind = (ngx_fcfh_proxy_ipv6(text, len, h->addr) == 0)
               ? NGX_FCFH_PROXY_HOST_IPV6 : NGX_FCFH_PROXY_HOST_INVALID;

    } else if (ngx_fcfh_apf_guid_from_text((const char *) text, len,
                                           h->addr)
               == 0)
    {
        kind = NGX_FCFH_PROXY_HOST_GUID;

    } else if (ngx_fcfh_proxy_ipv4(text, len, h->addr) == 0) {
        kind = NGX_FCFH_PROXY_HOST_IPV4;

    } else if (ngx_fcfh_proxy_name(text, len) == 0) {
        kind = NGX_FCFH_PROXY_HOST_NAME;

    } else {
        kind = NGX_FCFH_PROXY_HOST_INVALID;
    }

    if (kind == NGX_FCFH_PROXY_HOST_INVALID) {
        memset(h, 0, sizeof(*h));
    }

    h->kind = kind;

    return kind;
}


int
ngx_fcfh_proxy_is_guid(const uint8_t *text, size_t len)
{
    uint8_t  wire[NGX_FCFH_APF_GUID_SIZE];

    return ngx_fcfh_apf_guid_from_text((const char *) text, len, wire) == 0;
}


/* strict dotted quad: 4 parts of 1-3 digits, <= 255, no leading zeros */

static int
ngx_fcfh_proxy_ipv4(const uint8_t *p, size_t len, uint8_t *out)
{
    size_t    i, digits;
    uint8_t   a[4];
    unsigned  part, v;

    if (len < 7 || len > NGX_FCFH_PROXY_IPV4_MAX) {
        return -1;
    }

    part = 0;
    digits = 0;
    v = 0;

    for (i = 0; i <= len; i++) {
        if (i == len || p[i] == '.') {
            if (digits == 0 || part > 3) {
                return -1;
            }

            a[part++] = (uint8_t) v;
            digits = 0;
            v = 0;
            continue;
        }

        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        if (digits == 1 && v == 0) {
            return -1;      /* leading zero */
        }

        v = v * 10 + (unsigned) (p[i] - '0');

        if (++digits > 3 || v > 255) {
            return -1;
        }
    }

    if (part != 4) {
        return -1;
    }

    memcpy(out, a, 4);

    return 0;
}


/* RFC 4291 section 2.2 text forms; no zone id */

static int
ngx_fcfh_proxy_ipv6(const uint8_t *p, size_t len, uint8_t *out)
{
    int       h;
    size_t    i, start, digits, n, dc, k;
    uint8_t   a[16], v4[4];
    unsigned  word;

    if (len < 2 || len > NGX_FCFH_PROXY_IPV6_MAX) {
        return -1;
    }

    n = 0;                  /* 16-bit words stored */
    dc = (size_t) -1;       /* word index of "::" */
    i = 0;

    if (p[0] == ':') {
        if (p[1] != ':') {
            return -1;
        }

        dc = 0;
        i = 2;
    }

    while (i < len) {
        if (n == 8) {
            return -1;
        }

        start = i;
        word = 0;

        for (digits = 0; i < len && digits < 5; digits++, i++) {
            h = ngx_fcfh_apf_hex(p[i]);

            if (h < 0) {
                break;
            }

            word = word << 4 | (unsigned) h;
        }

        if (i < len && p[i] == '.') {
            /* embedded IPv4 runs to the end */

            if (n > 6 || ngx_fcfh_proxy_ipv4(p + start, len - start, v4)
                         != 0)
            {
                return -1;
            }

            memcpy(&a[n * 2], v4, 4);
            n += 2;
            break;
        }

        if (digits == 0 || digits > 4) {
            return -1;
        }

        a[n * 2] = (uint8_t) (word >> 8);
        a[n * 2 + 1] = (uint8_t) word;
        n++;

        if (i == len) {
            break;
        }

        if (p[i] != ':') {
            return -1;
        }

        i++;

        if (i == len) {
            return -1;      /* a trailing single ':' */
        }

        if (p[i] == ':') {
            if (dc != (size_t) -1) {
                return -1;
            }

            dc = n;
            i++;
        }
    }

    if (dc == (size_t) -1) {
        if (n != 8) {
            return -1;
        }

    } else {
        if (n >= 8) {
            return -1;
        }

        /* move the words after "::" to the end, zero the gap */

        k = (n - dc) * 2;
        memmove(&a[16 - k], &a[dc * 2], k);
        memset(&a[dc * 2], 0, 16 - k - dc * 2);
    }

    memcpy(out, a, 16);

    return 0;
}


static int
ngx_fcfh_proxy_name(const uint8_t *p, size_t len)
{
    int      digits_only;
    size_t   i, label;
    uint8_t  ch;

    if (len == 0 || len > NGX_FCFH_PROXY_NAME_MAX) {
        return -1;
    }

    label = 0;
    digits_only = 1;

    for (i = 0; i <= len; i++) {
        if (i == len || p[i] == '.') {
            if (label == 0 || p[i - 1] == '-') {
                return -1;
            }

            if (i == len && digits_only) {
                return -1;  /* looks like a number: not a name */
            }

            label = 0;
            digits_only = 1;
            continue;
        }

        ch = p[i];

        if (ch >= '0' && ch <= '9') {
            /* nothing */

        } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
                   || ch == '_')
        {
            digits_only = 0;

        } else if (ch == '-') {
            if (label == 0) {
                return -1;
            }

            digits_only = 0;

        } else {
            return -1;
        }

        if (++label > NGX_FCFH_PROXY_LABEL_MAX) {
            return -1;
        }
    }

    return 0;
}


/* lit is lower case */

static int
ngx_fcfh_proxy_caseeq(const uint8_t *p, size_t len, const char *lit)
{
    size_t   i;
    uint8_t  ch;

    for (i = 0; i < len; i++) {
        if (lit[i] == '\0') {
            return 0;
        }

        ch = p[i];

        if (ch >= 'A' && ch <= 'Z') {
            ch = (uint8_t) (ch | 0x20);
        }

        if (ch != (uint8_t) lit[i]) {
            return 0;
        }
    }

    return lit[len] == '\0';
}



static int
ngx_fcfh_proxy_b64(int ch)
{
    if (ch >= 'A' && ch <= 'Z') {
        return ch - 'A';
    }

    if (ch >= 'a' && ch <= 'z') {
        return ch - 'a' + 26;
    }

    if (ch >= '0' && ch <= '9') {
        return ch - '0' + 52;
    }

    if (ch == '+') {
        return 62;
    }

    if (ch == '/') {
        return 63;
    }

    return -1;
}


const char *
ngx_fcfh_proxy_strerror(ssize_t rc)
{
    switch (rc) {

    case NGX_FCFH_PROXY_AGAIN:
        return "incomplete message";

    case NGX_FCFH_PROXY_ERR_VERSION:
        return "unsupported protocol version";

    case NGX_FCFH_PROXY_ERR_NO_METHODS:
        return "no authentication methods offered";

    case NGX_FCFH_PROXY_ERR_EMPTY_FIELD:
        return "empty user name or password";

    case NGX_FCFH_PROXY_ERR_MALFORMED:
        return "malformed request";

    case NGX_FCFH_PROXY_ERR_COMMAND:
        return "command not supported";

    case NGX_FCFH_PROXY_ERR_ADDRESS_TYPE:
        return "address type not supported";

    case NGX_FCFH_PROXY_ERR_TOO_LARGE:
        return "head too large";

    case NGX_FCFH_PROXY_ERR_TOO_MANY_HEADERS:
        return "too many header lines";

    case NGX_FCFH_PROXY_ERR_BAD_REQUEST:
        return "malformed request line";

    case NGX_FCFH_PROXY_ERR_METHOD:
        return "method not allowed";

    case NGX_FCFH_PROXY_ERR_HTTP_VERSION:
        return "HTTP version not supported";

    case NGX_FCFH_PROXY_ERR_BAD_HOST:
        return "invalid host";

    case NGX_FCFH_PROXY_ERR_BAD_PORT:
        return "invalid port";

    case NGX_FCFH_PROXY_ERR_BAD_HEADER:
        return "malformed header line";

    case NGX_FCFH_PROXY_ERR_OBS_FOLD:
        return "obsolete header line folding";

    case NGX_FCFH_PROXY_ERR_DUPLICATE_AUTH:
        return "duplicate Proxy-Authorization header";

    case NGX_FCFH_PROXY_ERR_SCHEME:
        return "unsupported URI scheme";

    case NGX_FCFH_PROXY_ERR_USERINFO:
        return "user information in URI";

    case NGX_FCFH_PROXY_ERR_BAD_TARGET:
        return "invalid request target";

    case NGX_FCFH_PROXY_ERR_AUTH_SCHEME:
        return "not Basic credentials";

    case NGX_FCFH_PROXY_ERR_BASE64:
        return "invalid base64";

    case NGX_FCFH_PROXY_ERR_NO_COLON:
        return "no ':' in credentials";

    case NGX_FCFH_PROXY_ERR_BAD_CREDENTIALS:
        return "control character in credentials";

    case NGX_FCFH_PROXY_ERR_BUFFER:
        return "output buffer too small";

    case NGX_FCFH_PROXY_ERR_STATUS_LINE:
        return "malformed status line";

    case NGX_FCFH_PROXY_ERR_BARE_CR:
        return "CR not followed by LF";

    case NGX_FCFH_PROXY_ERR_BAD_LENGTH:
        return "invalid Content-Length";

    case NGX_FCFH_PROXY_ERR_LENGTH_CONFLICT:
        return "more than one Content-Length";

    case NGX_FCFH_PROXY_ERR_LENGTH_AND_CODING:
        return "Content-Length with Transfer-Encoding";

    case NGX_FCFH_PROXY_ERR_TRANSFER_CODING:
        return "Transfer-Encoding other than chunked";

    default:
        return rc > 0 ? "no error" : "unknown error";
    }
}
