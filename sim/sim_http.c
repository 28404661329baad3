/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh-sim: the HTTP/1.1 WS-Management responder of ports 16992/16993,
 * with HTTP Digest authentication (RFC 2617, MD5, qop=auth) the way AMT
 * does it: realm "Digest:" + 32 hex digits, a nonce per device.
 *
 *   POST /wsman  Identify                  -> IdentifyResponse (no auth)
 *   POST /wsman  Get AMT_GeneralSettings   -> GetResponse (digest)
 *   POST /wsman  Enumerate, Pull, Delete of AMT_RemoteAccessPolicyRule
 *                and AMT_ManagementPresenceRemoteSAP -> chunked answers,
 *                two items per Pull; a device whose MPS entry was deleted
 *                does not reconnect once its tunnel drops (digest)
 *   POST /wsman  AMT_TimeSynchronizationService GetLowAccuracyTimeSynch,
 *                AMT_MessageLog PositionToFirstRecord and GetRecords (two
 *                records per call): a log of three boot records an hour
 *                old, and one made a second before each user-triggered
 *                connection (its event codes are placeholders; only its
 *                time matters to the gateway) (digest)
 *   POST /wsman  anything else             -> 400 SOAP fault (digest)
 *   GET  /       (or /index.htm)           -> 200 small HTML page (digest)
 *   anything else                          -> 404 (digest)
 */


#define _GNU_SOURCE

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "sim.h"


#define SIM_HTTP_MAX_HEADER   16384
#define SIM_HTTP_MAX_BODY     (1024 * 1024)

#define SIM_SERVER  "Intel(R) Active Management Technology 16.1.25.2124"

#define NS_ENV      "http://www.w3.org/2003/05/soap-envelope"
#define NS_ADDR     "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define NS_WSMAN    "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define NS_IDENT    \
    "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
#define NS_GS       \
    "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
#define ANONYMOUS   \
    "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
#define ACTION_GET  "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
#define NS_ENUM     "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
#define ACTION_DELETE                                                         \
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
#define NS_AMT      "http://intel.com/wbem/wscim/1/amt-schema/1/"

#define SIM_CLASS_RULES  0
#define SIM_CLASS_MPS    1

static const char  *sim_rule_names[] = {
    "User Initiated", "Alert", "Periodic"
};

#define SIM_MPS_NAME  "Intel(r) AMT:Management Presence Server 0"


static uint8_t   sim_http_secret[16];
static int       sim_http_secret_set;
static uint64_t  sim_http_msgid;
static time_t    sim_start_time;
static char      sim_http_body[16384];
static char      sim_http_head[2048];


typedef struct {
    const char  *method;
    size_t       method_len;
    const char  *uri;
    size_t       uri_len;
    int          http10;
    int          keepalive;
    const char  *auth;
    size_t       auth_len;
    const char  *body;
    size_t       body_len;
} sim_http_req_t;


/* ------------------------------------------------------------------ */

static void
sim_http_realm(sim_dev_t *dev, char realm[40])
{
    char  guid[37], seed[64], hex[33];
    int   n;

    sim_dev_guid_text(dev, guid);
    n = snprintf(seed, sizeof(seed), "fcfh-sim realm %s", guid);
    sim_md5_hex(seed, n, hex, 1);
    snprintf(realm, 40, "Digest:%s", hex);
}


static void
sim_http_nonce(sim_dev_t *dev, char nonce[32])
{
    uint8_t        in[20], md[EVP_MAX_MD_SIZE];
    unsigned int   mdlen;

    if (!sim_http_secret_set) {
        RAND_bytes(sim_http_secret, sizeof(sim_http_secret));
        sim_http_secret_set = 1;
    }

    memcpy(in, sim_http_secret, 16);
    memcpy(in + 16, &dev->index, 4);
    EVP_Digest(in, sizeof(in), md, &mdlen, EVP_md5(), NULL);

    /* 16 bytes -> 24 base64 characters, like AMT's nonces */
    EVP_EncodeBlock((unsigned char *) nonce, md, 16);
}


/* value of a parameter of a Digest Authorization header */
static int
sim_http_param(const char *h, size_t len, const char *name, char *out,
    size_t size)
{
    const char  *p, *end, *k;
    size_t       klen, n, nlen;

    p = h;
    end = h + len;
    nlen = strlen(name);

    while (p < end) {
        while (p < end && (*p == ' ' || *p == ',' || *p == '\t')) {
            p++;
        }

        k = p;
        while (p < end && *p != '=' && *p != ',' && *p != ' ') {
            p++;
        }
        klen = p - k;

        while (p < end && *p == ' ') {
            p++;
        }

        if (p >= end || *p != '=') {
            continue;
        }

        p++;
        while (p < end && *p == ' ') {
            p++;
        }

        n = 0;

        if (p < end && *p == '"') {
            p++;
            while (p < end && *p != '"') {
                if (*p == '\\' && p + 1 < end) {
                    p++;
                }
                if (n + 1 < size) {
                    out[n++] = *p;
                }
                p++;
            }
            p++;

        } else {
            while (p < end && *p != ',' && *p != ' ') {
                if (n + 1 < size) {
                    out[n++] = *p;
                }
                p++;
            }
        }

        out[n] = '\0';

        if (klen == nlen && strncasecmp(k, name, nlen) == 0) {
            return 0;
        }
    }

    return -1;
}


static int
sim_http_check_auth(sim_chan_t *c, sim_http_req_t *r)
{
    char    user[128], realm[128], nonce[128], uri[1024], qop[32], nc[32];
    char    cnonce[256], response[64], buf[2048];
    char    my_realm[40], my_nonce[32], ha1[33], ha2[33], want[33];
    size_t  n;

    if (r->auth == NULL || r->auth_len < 7
        || strncasecmp(r->auth, "Digest ", 7) != 0)
    {
        return -1;
    }

    const char  *h = r->auth + 7;
    size_t       hl = r->auth_len - 7;

    if (sim_http_param(h, hl, "username", user, sizeof(user)) != 0
        || sim_http_param(h, hl, "realm", realm, sizeof(realm)) != 0
        || sim_http_param(h, hl, "nonce", nonce, sizeof(nonce)) != 0
        || sim_http_param(h, hl, "uri", uri, sizeof(uri)) != 0
        || sim_http_param(h, hl, "response", response, sizeof(response))
           != 0)
    {
        return -1;
    }

    if (sim_http_param(h, hl, "qop", qop, sizeof(qop)) != 0) {
        qop[0] = '\0';
    }

    if (qop[0]) {
        if (sim_http_param(h, hl, "nc", nc, sizeof(nc)) != 0
            || sim_http_param(h, hl, "cnonce", cnonce, sizeof(cnonce)) != 0)
        {
            return -1;
        }
    }

    sim_http_realm(c->dev, my_realm);
    sim_http_nonce(c->dev, my_nonce);

    if (strcmp(user, sim_conf.amt_user) != 0
        || strcmp(realm, my_realm) != 0
        || strcmp(nonce, my_nonce) != 0)
    {
        sim_log(c->dev, "digest: wrong user, realm or nonce");
        return -1;
    }

    n = snprintf(buf, sizeof(buf), "%s:%s:%s", user, realm,
                 sim_conf.amt_password);
    sim_md5_hex(buf, n, ha1, 0);

    n = snprintf(buf, sizeof(buf), "%.*s:%s", (int) r->method_len,
                 r->method, uri);
    sim_md5_hex(buf, n, ha2, 0);

    if (qop[0]) {
        n = snprintf(buf, sizeof(buf), "%s:%s:%s:%s:%s:%s", ha1, nonce, nc,
                     cnonce, qop, ha2);
    } else {
        n = snprintf(buf, sizeof(buf), "%s:%s:%s", ha1, nonce, ha2);
    }

    sim_md5_hex(buf, n, want, 0);

    if (strcasecmp(want, response) != 0) {
        sim_log(c->dev, "digest: wrong response");
        return -1;
    }

    return 0;
}


/* ------------------------------------------------------------------ */

static void
sim_http_send(sim_chan_t *c, sim_http_req_t *r, int status,
    const char *reason, const char *type, const char *extra,
    const char *body, size_t len)
{
    int  n;

    n = snprintf(sim_http_head, sizeof(sim_http_head),
                 "HTTP/1.1 %d %s\r\n"
                 "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                 "Server: " SIM_SERVER "\r\n"
                 "X-Frame-Options: DENY\r\n"
                 "%s"
                 "Content-Type: %s\r\n"
                 "Content-Length: %zu\r\n"
                 "%s"
                 "\r\n",
                 status, reason, extra ? extra : "", type, len,
                 r->keepalive ? "" : "Connection: close\r\n");

    sim_chan_write(c, sim_http_head, n);
    sim_chan_write(c, body, len);

    if (!r->keepalive) {
        sim_chan_close(c);
    }
}


static void
sim_http_401(sim_chan_t *c, sim_http_req_t *r)
{
    char  realm[40], nonce[32], extra[256];
    int   n;

    static const char  body[] =
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" >\n"
        "<html><head><link rel=stylesheet href=/styles.css>\n"
        "<meta http-equiv=\"Content-Type\" content=\"text/html; "
        "charset=utf-8\">\n"
        "<title>Intel&reg; Active Management Technology</title></head>\n"
        "<body><h1>Unauthorized</h1><p>Log on failed. Incorrect user name "
        "or password, or user account temporarily locked.</p></body>"
        "</html>\n";

    sim_http_realm(c->dev, realm);
    sim_http_nonce(c->dev, nonce);

    n = snprintf(extra, sizeof(extra),
                 "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\","
                 "stale=\"false\",qop=\"auth\"\r\n", realm, nonce);
    (void) n;

    sim_stats.http_401++;
    sim_http_send(c, r, 401, "Unauthorized", "text/html", extra, body,
                  sizeof(body) - 1);
}


/* the text of the first element whose name ends with tag */
static int
sim_xml_text(const char *xml, const char *tag, char *out, size_t size)
{
    const char  *p, *q;
    size_t       n;

    p = strstr(xml, tag);
    if (p == NULL) {
        return -1;
    }

    p = strchr(p, '>');
    if (p == NULL) {
        return -1;
    }

    p++;
    q = strchr(p, '<');
    if (q == NULL) {
        return -1;
    }

    n = q - p;
    if (n >= size) {
        n = size - 1;
    }

    memcpy(out, p, n);
    out[n] = '\0';

    return 0;
}


static void
sim_http_identify(sim_chan_t *c, sim_http_req_t *r)
{
    int  n;

    n = snprintf(sim_http_body, sizeof(sim_http_body),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<a:Envelope xmlns:a=\"" NS_ENV "\" xmlns:b=\"" NS_IDENT "\">"
        "<a:Header></a:Header>"
        "<a:Body><b:IdentifyResponse>"
        "<b:ProtocolVersion>" NS_WSMAN "</b:ProtocolVersion>"
        "<b:ProductVendor>Intel Corporation</b:ProductVendor>"
        "<b:ProductVersion>AMT 16.1</b:ProductVersion>"
        "<b:DASHVersion>1.0.0</b:DASHVersion>"
        "<b:SecurityProfiles>"
        "<b:SecurityProfileName>"
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/digest"
        "</b:SecurityProfileName>"
        "<b:SecurityProfileName>"
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/digest"
        "</b:SecurityProfileName>"
        "<b:SecurityProfileName>"
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/"
        "mutual/digest"
        "</b:SecurityProfileName>"
        "</b:SecurityProfiles>"
        "</b:IdentifyResponse></a:Body></a:Envelope>");

    sim_http_send(c, r, 200, "OK", "application/soap+xml; charset=UTF-8",
                  NULL, sim_http_body, n);
}


static void
sim_http_general_settings(sim_chan_t *c, sim_http_req_t *r,
    const char *relates)
{
    char   fqdn[256], realm[40], *host, *domain, *dot;
    int    n;

    sim_dev_fqdn(c->dev, fqdn, sizeof(fqdn));
    host = fqdn;
    dot = strchr(fqdn, '.');
    if (dot) {
        *dot = '\0';
        domain = dot + 1;
    } else {
        domain = "";
    }

    sim_http_realm(c->dev, realm);

    n = snprintf(sim_http_body, sizeof(sim_http_body),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<a:Envelope xmlns:a=\"" NS_ENV "\" xmlns:b=\"" NS_ADDR "\" "
        "xmlns:c=\"" NS_WSMAN "\" "
        "xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/02/trust\" "
        "xmlns:e=\"http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-wssecurity-secext-1.0.xsd\" "
        "xmlns:f=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\" "
        "xmlns:g=\"" NS_GS "\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
        "<a:Header>"
        "<b:To>" ANONYMOUS "</b:To>"
        "<b:RelatesTo>%s</b:RelatesTo>"
        "<b:Action a:mustUnderstand=\"true\">" ACTION_GET "Response"
        "</b:Action>"
        "<b:MessageID>uuid:00000000-8086-8086-8086-%012llX</b:MessageID>"
        "<c:ResourceURI>" NS_GS "</c:ResourceURI>"
        "</a:Header>"
        "<a:Body><g:AMT_GeneralSettings>"
        "<g:AMTNetworkEnabled>1</g:AMTNetworkEnabled>"
        "<g:DDNSPeriodicUpdateInterval>1440</g:DDNSPeriodicUpdateInterval>"
        "<g:DDNSTTL>900</g:DDNSTTL>"
        "<g:DDNSUpdateByDHCPServerEnabled>true"
        "</g:DDNSUpdateByDHCPServerEnabled>"
        "<g:DDNSUpdateEnabled>false</g:DDNSUpdateEnabled>"
        "<g:DHCPv6ConfigurationTimeout>0</g:DHCPv6ConfigurationTimeout>"
        "<g:DigestRealm>%s</g:DigestRealm>"
        "<g:DomainName>%s</g:DomainName>"
        "<g:ElementName>Intel(r) AMT: General Settings</g:ElementName>"
        "<g:HostName>%s</g:HostName>"
        "<g:HostOSFQDN>%s%s%s</g:HostOSFQDN>"
        "<g:IdleWakeTimeout>65535</g:IdleWakeTimeout>"
        "<g:InstanceID>Intel(r) AMT: General Settings</g:InstanceID>"
        "<g:NetworkInterfaceEnabled>true</g:NetworkInterfaceEnabled>"
        "<g:PingResponseEnabled>true</g:PingResponseEnabled>"
        "<g:PowerSource>0</g:PowerSource>"
        "<g:PreferredAddressFamily>0</g:PreferredAddressFamily>"
        "<g:PresenceNotificationInterval>0"
        "</g:PresenceNotificationInterval>"
        "<g:PrivacyLevel>0</g:PrivacyLevel>"
        "<g:RmcpPingResponseEnabled>true</g:RmcpPingResponseEnabled>"
        "<g:SharedFQDN>true</g:SharedFQDN>"
        "<g:ThunderboltDockEnabled>0</g:ThunderboltDockEnabled>"
        "<g:WsmanOnlyMode>false</g:WsmanOnlyMode>"
        "</g:AMT_GeneralSettings></a:Body></a:Envelope>",
        relates, (unsigned long long) ++sim_http_msgid, realm, domain, host,
        host, *domain ? "." : "", domain);

    sim_http_send(c, r, 200, "OK", "application/soap+xml; charset=UTF-8",
                  NULL, sim_http_body, n);
}


static void
sim_http_fault(sim_chan_t *c, sim_http_req_t *r, const char *relates,
    const char *action)
{
    int  n;

    n = snprintf(sim_http_body, sizeof(sim_http_body),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<a:Envelope xmlns:a=\"" NS_ENV "\" xmlns:b=\"" NS_ADDR "\" "
        "xmlns:c=\"" NS_WSMAN "\">"
        "<a:Header>"
        "<b:To>" ANONYMOUS "</b:To>"
        "<b:RelatesTo>%s</b:RelatesTo>"
        "<b:Action a:mustUnderstand=\"true\">"
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault</b:Action>"
        "<b:MessageID>uuid:00000000-8086-8086-8086-%012llX</b:MessageID>"
        "</a:Header>"
        "<a:Body><a:Fault>"
        "<a:Code><a:Value>a:Sender</a:Value>"
        "<a:Subcode><a:Value>b:ActionNotSupported</a:Value></a:Subcode>"
        "</a:Code>"
        "<a:Reason><a:Text xml:lang=\"en-US\">The action is not supported "
        "by the service.</a:Text></a:Reason>"
        "<a:Detail><b:Action>%s</b:Action></a:Detail>"
        "</a:Fault></a:Body></a:Envelope>",
        relates, (unsigned long long) ++sim_http_msgid, action);

    sim_http_send(c, r, 400, "Bad Request",
                  "application/soap+xml; charset=UTF-8", NULL,
                  sim_http_body, n);
}


/* the same answer as sim_http_send, in two chunks, as AMT's WS-Man does */
static void
sim_http_send_chunked(sim_chan_t *c, sim_http_req_t *r, const char *body,
    size_t len)
{
    char    size[32];
    size_t  half;
    int     n;

    n = snprintf(sim_http_head, sizeof(sim_http_head),
                 "HTTP/1.1 200 OK\r\n"
                 "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                 "Server: " SIM_SERVER "\r\n"
                 "X-Frame-Options: DENY\r\n"
                 "Content-Type: application/soap+xml; charset=UTF-8\r\n"
                 "Transfer-Encoding: chunked\r\n"
                 "%s"
                 "\r\n",
                 r->keepalive ? "" : "Connection: close\r\n");

    sim_chan_write(c, sim_http_head, n);

    half = len / 2;

    n = snprintf(size, sizeof(size), "%zx\r\n", half);
    sim_chan_write(c, size, n);
    sim_chan_write(c, body, half);
    n = snprintf(size, sizeof(size), "\r\n%zx\r\n", len - half);
    sim_chan_write(c, size, n);
    sim_chan_write(c, body + half, len - half);
    sim_chan_write(c, "\r\n0\r\n\r\n", 7);

    if (!r->keepalive) {
        sim_chan_close(c);
    }
}


/* one instance of a CIRA class, as AMT lists it */
static int
sim_cira_item(char *out, size_t size, int cls, int i)
{
    if (cls == SIM_CLASS_RULES) {
        return snprintf(out, size,
            "<h:AMT_RemoteAccessPolicyRule>"
            "<h:CreationClassName>AMT_RemoteAccessPolicyRule"
            "</h:CreationClassName>"
            "<h:ElementName>Intel(r) AMT Remote Access Policy</h:ElementName>"
            "<h:ExtendedData>AAAAAAAAABk=</h:ExtendedData>"
            "<h:PolicyRuleName>%s</h:PolicyRuleName>"
            "<h:SystemCreationClassName>CIM_ComputerSystem"
            "</h:SystemCreationClassName>"
            "<h:SystemName>Intel(r) AMT</h:SystemName>"
            "<h:Trigger>%d</h:Trigger>"
            "</h:AMT_RemoteAccessPolicyRule>",
            sim_rule_names[i], i == 0 ? 0 : (i == 1 ? 1 : 2));
    }

    return snprintf(out, size,
        "<h:AMT_ManagementPresenceRemoteSAP>"
        "<h:AccessInfo>%s</h:AccessInfo>"
        "<h:CN>%s</h:CN>"
        "<h:CreationClassName>AMT_ManagementPresenceRemoteSAP"
        "</h:CreationClassName>"
        "<h:ElementName>Intel(r) AMT:Management Presence Server"
        "</h:ElementName>"
        "<h:InfoFormat>201</h:InfoFormat>"
        "<h:Name>" SIM_MPS_NAME "</h:Name>"
        "<h:Port>%u</h:Port>"
        "<h:SystemCreationClassName>CIM_ComputerSystem"
        "</h:SystemCreationClassName>"
        "<h:SystemName>Intel(r) AMT</h:SystemName>"
        "</h:AMT_ManagementPresenceRemoteSAP>",
        "mps.example.test", "mps.example.test", 4433u);
}


static int
sim_cira_class(const char *xml)
{
    if (strstr(xml, NS_AMT "AMT_RemoteAccessPolicyRule")) {
        return SIM_CLASS_RULES;
    }

    if (strstr(xml, NS_AMT "AMT_ManagementPresenceRemoteSAP")) {
        return SIM_CLASS_MPS;
    }

    return -1;
}


/*
 * Enumerate, Pull and Delete of the CIRA classes.  The enumeration
 * context names the class and the next item: "<cls>-<index>".  Returns
 * -1 when the request is not one of these.
 */
static int
sim_http_cira(sim_chan_t *c, sim_http_req_t *r, const char *xml,
    const char *relates, const char *action)
{
    char         items[2048], ctx[64], sel[256];
    const char  *op, *res;
    sim_dev_t   *dev;
    int          cls, start, i, k, n, m, count, end;

    dev = c->dev;

    cls = sim_cira_class(xml);
    if (cls < 0) {
        return -1;
    }

    res = cls == SIM_CLASS_RULES ? "AMT_RemoteAccessPolicyRule"
                                 : "AMT_ManagementPresenceRemoteSAP";
    items[0] = '\0';
    m = 0;

    if (strcmp(action, NS_ENUM "/Enumerate") == 0) {
        op = NS_ENUM "/EnumerateResponse";
        m = snprintf(items, sizeof(items),
                     "<g:EnumerateResponse><g:EnumerationContext>%d-0"
                     "</g:EnumerationContext></g:EnumerateResponse>", cls);

    } else if (strcmp(action, NS_ENUM "/Pull") == 0) {
        if (sim_xml_text(xml, "EnumerationContext", ctx, sizeof(ctx)) != 0
            || sscanf(ctx, "%d-%d", &k, &start) != 2 || k != cls
            || start < 0 || start > 3)
        {
            return -1;
        }

        op = NS_ENUM "/PullResponse";
        m = snprintf(items, sizeof(items), "<g:PullResponse><g:Items>");

        /* at most two items per Pull: consoles must pull again */
        count = 0;
        end = 0;
        k = 0;

        for (i = 0; i < 3; i++) {
            int  present = cls == SIM_CLASS_RULES
                           ? (dev->cira_rules >> i) & 1
                           : (i == 0 && dev->cira_mps);

            if (!present) {
                continue;
            }

            if (k++ < start) {
                continue;
            }

            if (count == 2) {
                break;
            }

            m += sim_cira_item(items + m, sizeof(items) - m, cls, i);
            count++;
        }

        end = (i == 3);

        if (end) {
            m += snprintf(items + m, sizeof(items) - m,
                          "</g:Items><g:EndOfSequence></g:EndOfSequence>"
                          "</g:PullResponse>");
        } else {
            m += snprintf(items + m, sizeof(items) - m,
                          "</g:Items><g:EnumerationContext>%d-%d"
                          "</g:EnumerationContext></g:PullResponse>",
                          cls, start + count);
        }

    } else if (strcmp(action, ACTION_DELETE) == 0) {
        op = ACTION_DELETE "Response";

        /* the first <w:Selector Name="...">, not its SelectorSet */
        if (sim_xml_text(xml, "Selector Name=", sel, sizeof(sel)) != 0) {
            return -1;
        }

        n = -1;

        if (cls == SIM_CLASS_RULES) {
            for (i = 0; i < 3; i++) {
                if (strcmp(sel, sim_rule_names[i]) == 0
                    && (dev->cira_rules >> i) & 1)
                {
                    dev->cira_rules &= ~(1 << i);
                    n = i;
                }
            }

        } else if (strcmp(sel, SIM_MPS_NAME) == 0 && dev->cira_mps) {
            dev->cira_mps = 0;
            n = 0;
        }

        if (n < 0) {
            return -1;
        }

        sim_stats.cira_deletes++;
        sim_log(dev, "WS-Man: deleted %s \"%s\"", res, sel);

    } else {
        return -1;
    }

    n = snprintf(sim_http_body, sizeof(sim_http_body),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<a:Envelope xmlns:a=\"" NS_ENV "\" xmlns:b=\"" NS_ADDR "\" "
        "xmlns:c=\"" NS_WSMAN "\" xmlns:g=\"" NS_ENUM "\" "
        "xmlns:h=\"" NS_AMT "%s\">"
        "<a:Header>"
        "<b:To>" ANONYMOUS "</b:To>"
        "<b:RelatesTo>%s</b:RelatesTo>"
        "<b:Action a:mustUnderstand=\"true\">%s</b:Action>"
        "<b:MessageID>uuid:00000000-8086-8086-8086-%012llX</b:MessageID>"
        "<c:ResourceURI>" NS_AMT "%s</c:ResourceURI>"
        "</a:Header>"
        "<a:Body>%.*s</a:Body></a:Envelope>",
        res, relates, op, (unsigned long long) ++sim_http_msgid, res, m,
        items);

    sim_http_send_chunked(c, r, sim_http_body, n);

    return 0;
}


/* one 21-byte AMT event record, base64 */
static int
sim_log_record(char *out, size_t size, uint32_t ts, int user)
{
    uint8_t  r[21];
    char     b64[32];

    memset(r, 0, sizeof(r));
    r[0] = ts & 0xff;
    r[1] = (ts >> 8) & 0xff;
    r[2] = (ts >> 16) & 0xff;
    r[3] = ts >> 24;
    r[4] = 0xff;                /* device address */
    r[5] = 0x0f;                /* sensor type: firmware progress */
    r[6] = 0x6f;                /* event type: sensor specific */
    r[7] = 2;                   /* offset */
    r[8] = 0x68;                /* source: ASF */
    r[9] = 1;                   /* severity */
    r[10] = 0xff;               /* sensor number */
    r[11] = user ? 0x26 : 34;   /* entity: placeholder / BIOS */
    r[13] = 0x40;
    r[14] = user ? 0x20 : 6;

    EVP_EncodeBlock((unsigned char *) b64, r, sizeof(r));

    return snprintf(out, size, "<g:RecordArray>%s</g:RecordArray>", b64);
}


/*
 * The clock and the event log.  Returns -1 when the request is not one
 * of these.
 */
static int
sim_http_log(sim_chan_t *c, sim_http_req_t *r, const char *xml,
    const char *relates, const char *action)
{
    char         out[1024], id[32];
    const char  *res, *method;
    uint32_t     now, recs[4];
    int          m, n, i, start, count;

    if (sim_start_time == 0) {
        sim_start_time = time(NULL);
    }

    now = (uint32_t) (time(NULL) + sim_conf.clock_offset);

    if (strcmp(action, NS_AMT "AMT_TimeSynchronizationService/"
                       "GetLowAccuracyTimeSynch") == 0)
    {
        res = "AMT_TimeSynchronizationService";
        method = "GetLowAccuracyTimeSynch";
        m = snprintf(out, sizeof(out), "<g:Ta0>%u</g:Ta0>"
                     "<g:ReturnValue>0</g:ReturnValue>", now);

    } else if (strcmp(action, NS_AMT "AMT_MessageLog/PositionToFirstRecord")
               == 0)
    {
        res = "AMT_MessageLog";
        method = "PositionToFirstRecord";
        m = snprintf(out, sizeof(out),
                     "<g:IterationIdentifier>0</g:IterationIdentifier>"
                     "<g:ReturnValue>0</g:ReturnValue>");

    } else if (strcmp(action, NS_AMT "AMT_MessageLog/GetRecords") == 0) {
        res = "AMT_MessageLog";
        method = "GetRecords";

        if (sim_xml_text(xml, "IterationIdentifier", id, sizeof(id)) != 0) {
            return -1;
        }

        start = atoi(id);

        /* oldest first: three boot records, then the user call */
        n = 0;
        for (i = 0; i < 3; i++) {
            recs[n++] = (uint32_t) (sim_start_time + sim_conf.clock_offset
                                    - 3600 + i * 60);
        }

        if (c->dev->user_call) {
            recs[n++] = c->dev->user_call;
        }

        m = 0;
        count = 0;

        for (i = start; i < n && count < 2; i++, count++) {
            m += sim_log_record(out + m, sizeof(out) - m, recs[i],
                                i == 3);
        }

        m += snprintf(out + m, sizeof(out) - m,
                      "<g:IterationIdentifier>%d</g:IterationIdentifier>"
                      "<g:NoMoreRecords>%s</g:NoMoreRecords>"
                      "<g:ReturnValue>0</g:ReturnValue>",
                      i, i >= n ? "true" : "false");

    } else {
        return -1;
    }

    n = snprintf(sim_http_body, sizeof(sim_http_body),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<a:Envelope xmlns:a=\"" NS_ENV "\" xmlns:b=\"" NS_ADDR "\" "
        "xmlns:c=\"" NS_WSMAN "\" xmlns:g=\"" NS_AMT "%s\">"
        "<a:Header>"
        "<b:To>" ANONYMOUS "</b:To>"
        "<b:RelatesTo>%s</b:RelatesTo>"
        "<b:Action a:mustUnderstand=\"true\">" NS_AMT "%s/%sResponse"
        "</b:Action>"
        "<b:MessageID>uuid:00000000-8086-8086-8086-%012llX</b:MessageID>"
        "<c:ResourceURI>" NS_AMT "%s</c:ResourceURI>"
        "</a:Header>"
        "<a:Body><g:%s_OUTPUT>%.*s</g:%s_OUTPUT></a:Body></a:Envelope>",
        res, relates, res, method, (unsigned long long) ++sim_http_msgid,
        res, method, m, out, method);

    sim_http_send_chunked(c, r, sim_http_body, n);

    return 0;
}


static void
sim_http_request(sim_chan_t *c, sim_http_req_t *r)
{
    char   *xml, relates[256], action[512];
    int     authed, is_post, is_wsman;

    sim_stats.http_requests++;

    sim_log(c->dev, "channel %u: %.*s %.*s (%zu bytes)", c->id,
            (int) r->method_len, r->method, (int) r->uri_len, r->uri,
            r->body_len);

    xml = malloc(r->body_len + 1);
    if (xml == NULL) {
        sim_chan_close(c);
        return;
    }

    memcpy(xml, r->body, r->body_len);
    xml[r->body_len] = '\0';

    is_post = r->method_len == 4 && memcmp(r->method, "POST", 4) == 0;
    is_wsman = (r->uri_len == 6 && memcmp(r->uri, "/wsman", 6) == 0)
               || (r->uri_len > 6 && memcmp(r->uri, "/wsman?", 7) == 0);

    /* AMT answers Identify without authentication */
    if (is_post && is_wsman && strstr(xml, NS_IDENT)
        && strstr(xml, "Identify"))
    {
        sim_http_identify(c, r);
        free(xml);
        return;
    }

    authed = sim_http_check_auth(c, r) == 0;

    if (!authed) {
        sim_http_401(c, r);
        free(xml);
        return;
    }

    if (sim_xml_text(xml, "MessageID", relates, sizeof(relates)) != 0) {
        snprintf(relates, sizeof(relates), "0");
    }

    if (sim_xml_text(xml, "Action", action, sizeof(action)) != 0) {
        action[0] = '\0';
    }

    if (is_post && is_wsman) {
        if (strcmp(action, ACTION_GET) == 0 && strstr(xml, NS_GS)) {
            sim_http_general_settings(c, r, relates);

        } else if (sim_http_cira(c, r, xml, relates, action) == 0
                   || sim_http_log(c, r, xml, relates, action) == 0)
        {
            /* answered */

        } else {
            sim_http_fault(c, r, relates, action);
        }

    } else if ((r->uri_len == 1 && r->uri[0] == '/')
               || (r->uri_len == 10 && memcmp(r->uri, "/index.htm", 10) == 0))
    {
        static const char  page[] =
            "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">"
            "\n<html><head><title>Intel&reg; Active Management Technology"
            "</title></head><body><h1>Intel&reg; Active Management "
            "Technology</h1><p>fcfh-sim device</p></body></html>\n";

        sim_http_send(c, r, 200, "OK", "text/html", NULL, page,
                      sizeof(page) - 1);

    } else {
        static const char  nf[] = "<html><body>Not Found</body></html>\n";

        sim_http_send(c, r, 404, "Not Found", "text/html", NULL, nf,
                      sizeof(nf) - 1);
    }

    free(xml);
}


/* ------------------------------------------------------------------ */
/* parsing */

/*
 * Decodes a chunked body at d[0..n): returns the bytes it spans (with
 * the trailer) and appends the data to out; 0 when incomplete; -1 when
 * malformed or too long.
 */
static ssize_t
sim_http_chunked(const char *d, size_t n, sim_buf_t *out)
{
    size_t         off, size, total;
    const char    *eol;
    char          *end;
    unsigned long  v;

    off = 0;
    total = 0;

    for ( ;; ) {
        eol = memchr(d + off, '\n', n - off);
        if (eol == NULL) {
            return n - off > 1024 ? -1 : 0;
        }

        v = strtoul(d + off, &end, 16);
        if (end == d + off || v > SIM_HTTP_MAX_BODY) {
            return -1;
        }

        size = v;
        off = eol - d + 1;

        if (size == 0) {
            break;
        }

        if (n - off < size + 2) {
            return 0;
        }

        total += size;
        if (total > SIM_HTTP_MAX_BODY) {
            return -1;
        }

        sim_buf_append(out, d + off, size);
        off += size;

        if (d[off] == '\r') {
            off++;
        }

        if (d[off] != '\n') {
            return -1;
        }

        off++;
    }

    /* trailer fields, then an empty line */
    for ( ;; ) {
        eol = memchr(d + off, '\n', n - off);
        if (eol == NULL) {
            return 0;
        }

        if (eol == d + off || (eol == d + off + 1 && d[off] == '\r')) {
            return eol - d + 1;
        }

        off = eol - d + 1;
    }
}


static void
sim_http_bad(sim_chan_t *c, int status, const char *reason)
{
    sim_http_req_t  r;

    memset(&r, 0, sizeof(r));
    sim_http_send(c, &r, status, reason, "text/html", NULL, "", 0);
    sim_chan_close(c);
}


void
sim_http_input(sim_chan_t *c)
{
    const char      *d, *hend, *line, *eol, *p, *v;
    size_t           n, hlen, vlen, nlen;
    long long        clen;
    int              chunked, conn_close, conn_keep;
    ssize_t          used;
    sim_buf_t        body;
    sim_http_req_t   r;

    while (!c->want_close && sim_buf_size(&c->in)) {
        d = (const char *) sim_buf_start(&c->in);
        n = sim_buf_size(&c->in);

        /* skip empty lines between requests */
        if (d[0] == '\r' || d[0] == '\n') {
            sim_buf_consume(&c->in, 1);
            continue;
        }

        hend = memmem(d, n, "\r\n\r\n", 4);
        if (hend == NULL) {
            if (n > SIM_HTTP_MAX_HEADER) {
                sim_http_bad(c, 431, "Request Header Fields Too Large");
            }
            return;
        }

        hlen = hend + 4 - d;
        memset(&r, 0, sizeof(r));

        /* request line */
        eol = memchr(d, '\r', hlen);
        p = memchr(d, ' ', eol - d);
        if (p == NULL) {
            sim_http_bad(c, 400, "Bad Request");
            return;
        }

        r.method = d;
        r.method_len = p - d;
        r.uri = p + 1;
        p = memchr(r.uri, ' ', eol - r.uri);
        if (p == NULL || eol - p < 9 || memcmp(p + 1, "HTTP/1.", 7) != 0) {
            sim_http_bad(c, 400, "Bad Request");
            return;
        }

        r.uri_len = p - r.uri;
        r.http10 = p[8] == '0';

        /* headers */
        clen = 0;
        chunked = 0;
        conn_close = 0;
        conn_keep = 0;

        for (line = eol + 2; line < hend + 2; line = eol + 2) {
            eol = memmem(line, hend + 2 - line, "\r\n", 2);
            if (eol == NULL || eol == line) {
                break;
            }

            p = memchr(line, ':', eol - line);
            if (p == NULL) {
                continue;
            }

            nlen = p - line;
            v = p + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) {
                v++;
            }
            vlen = eol - v;

#define H(name) (nlen == sizeof(name) - 1 \
                 && strncasecmp(line, name, nlen) == 0)

            if (H("Content-Length")) {
                clen = strtoll(v, NULL, 10);
                if (clen < 0) {
                    sim_http_bad(c, 400, "Bad Request");
                    return;
                }

            } else if (H("Transfer-Encoding")) {
                chunked = vlen >= 7 && strncasecmp(v + vlen - 7, "chunked",
                                                   7) == 0;

            } else if (H("Connection")) {
                if (vlen >= 5 && strncasecmp(v, "close", 5) == 0) {
                    conn_close = 1;
                }
                if (vlen >= 10 && strncasecmp(v, "keep-alive", 10) == 0) {
                    conn_keep = 1;
                }

            } else if (H("Authorization")) {
                r.auth = v;
                r.auth_len = vlen;
            }

#undef H
        }

        r.keepalive = r.http10 ? conn_keep : !conn_close;

        memset(&body, 0, sizeof(body));

        if (chunked) {
            used = sim_http_chunked(d + hlen, n - hlen, &body);
            if (used < 0) {
                sim_buf_free(&body);
                sim_http_bad(c, 400, "Bad Request");
                return;
            }

            if (used == 0) {
                sim_buf_free(&body);
                return;
            }

            r.body = (const char *) sim_buf_start(&body);
            r.body_len = sim_buf_size(&body);

        } else {
            if (clen > SIM_HTTP_MAX_BODY) {
                sim_http_bad(c, 413, "Request Entity Too Large");
                return;
            }

            if (n - hlen < (size_t) clen) {
                return;
            }

            used = clen;
            r.body = d + hlen;
            r.body_len = clen;
        }

        if (r.body == NULL) {
            r.body = "";
        }

        sim_http_request(c, &r);
        sim_buf_free(&body);

        if (c->want_close) {
            return;
        }

        sim_buf_consume(&c->in, hlen + used);
    }
}
