/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * fcfh-sim: TLS end to end inside a channel (ports 16993 and 16995).
 * The device runs an OpenSSL server over memory BIOs: CHANNEL_DATA
 * bytes go into the read BIO, the write BIO is drained into the
 * channel's output.  One EC P-256 key is made at start; each channel
 * gets a self-signed certificate whose CN is its device's FQDN.
 */


#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "sim.h"


static SSL_CTX   *sim_tls_ctx;
static EVP_PKEY  *sim_tls_key;
static uint8_t    sim_tls_buf[16384];


int
sim_tls_init(void)
{
    sim_tls_key = EVP_EC_gen("P-256");
    if (sim_tls_key == NULL) {
        sim_err("cannot generate the EC key");
        return -1;
    }

    sim_tls_ctx = SSL_CTX_new(TLS_server_method());
    if (sim_tls_ctx == NULL) {
        sim_err("cannot create the server TLS context");
        return -1;
    }

    SSL_CTX_set_min_proto_version(sim_tls_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(sim_tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                                  | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(sim_tls_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(sim_tls_ctx, 0);

    return 0;
}


static X509 *
sim_tls_cert(sim_dev_t *dev)
{
    X509            *x;
    X509_NAME       *name;
    X509_EXTENSION  *ext;
    X509V3_CTX       v3;
    char             cn[256], san[300];

    if (sim_dev_fqdn(dev, cn, sizeof(cn)) == 0) {
        snprintf(cn, sizeof(cn), "device%u", dev->index);
    }

    x = X509_new();
    if (x == NULL) {
        return NULL;
    }

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long) dev->index + 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400);
    X509_set_pubkey(x, sim_tls_key);

    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               (const unsigned char *) "Intel(R) Client Setup "
                               "Certificate", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *) cn, -1, -1, 0);
    X509_set_issuer_name(x, name);

    snprintf(san, sizeof(san), "DNS:%s", cn);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    if (ext) {
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }

    if (X509_sign(x, sim_tls_key, EVP_sha256()) == 0) {
        X509_free(x);
        return NULL;
    }

    return x;
}


int
sim_tls_new(sim_chan_t *c)
{
    SSL   *ssl;
    BIO   *rbio, *wbio;
    X509  *x;

    ssl = SSL_new(sim_tls_ctx);
    if (ssl == NULL) {
        return -1;
    }

    x = sim_tls_cert(c->dev);
    if (x == NULL
        || SSL_use_certificate(ssl, x) != 1
        || SSL_use_PrivateKey(ssl, sim_tls_key) != 1)
    {
        X509_free(x);
        SSL_free(ssl);
        sim_err("cannot set up the channel certificate");
        return -1;
    }

    X509_free(x);

    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());
    if (rbio == NULL || wbio == NULL) {
        BIO_free(rbio);
        BIO_free(wbio);
        SSL_free(ssl);
        return -1;
    }

    BIO_set_mem_eof_return(rbio, -1);
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_accept_state(ssl);

    c->ssl = ssl;
    return 0;
}


/* move TLS records the server produced into the channel output */
static void
sim_tls_drain(sim_chan_t *c)
{
    BIO  *wbio = SSL_get_wbio(c->ssl);
    int   n;

    while (BIO_ctrl_pending(wbio)) {
        n = BIO_read(wbio, sim_tls_buf, sizeof(sim_tls_buf));
        if (n <= 0) {
            break;
        }

        sim_chan_raw_out(c, sim_tls_buf, n);
    }
}


void
sim_tls_input(sim_chan_t *c, const uint8_t *p, size_t n)
{
    int   rc, err;
    char  buf[16384];

    if (c->want_close || c->sent_close) {
        return;
    }

    BIO_write(SSL_get_rbio(c->ssl), p, (int) n);

    for ( ;; ) {
        ERR_clear_error();

        if (!SSL_is_init_finished(c->ssl)) {
            rc = SSL_do_handshake(c->ssl);

            if (rc != 1) {
                err = SSL_get_error(c->ssl, rc);
                sim_tls_drain(c);

                if (err == SSL_ERROR_WANT_READ) {
                    return;
                }

                sim_log(c->dev, "channel %u: TLS handshake failed (%d)",
                        c->id, err);
                sim_chan_close(c);
                c->tls_shut = 1;
                return;
            }

            sim_log(c->dev, "channel %u: TLS %s up", c->id,
                    SSL_get_version(c->ssl));
        }

        rc = SSL_read(c->ssl, buf, sizeof(buf));

        if (rc > 0) {
            sim_chan_plain_input(c, (uint8_t *) buf, rc);
            sim_tls_drain(c);

            if (c->want_close) {
                return;
            }

            continue;
        }

        err = SSL_get_error(c->ssl, rc);
        sim_tls_drain(c);

        if (err == SSL_ERROR_WANT_READ) {
            return;
        }

        if (err == SSL_ERROR_ZERO_RETURN) {
            sim_log(c->dev, "channel %u: TLS close_notify", c->id);
            sim_chan_close(c);
            return;
        }

        sim_log(c->dev, "channel %u: TLS error %d", c->id, err);
        sim_chan_close(c);
        c->tls_shut = 1;
        return;
    }
}


void
sim_tls_write(sim_chan_t *c, const void *p, size_t n)
{
    const uint8_t  *d = p;
    int             rc;

    while (n) {
        rc = SSL_write(c->ssl, d, n > 16384 ? 16384 : (int) n);
        if (rc <= 0) {
            sim_log(c->dev, "channel %u: SSL_write failed", c->id);
            break;
        }

        d += rc;
        n -= rc;
    }

    sim_tls_drain(c);
}


void
sim_tls_shutdown(sim_chan_t *c)
{
    if (SSL_is_init_finished(c->ssl)) {
        SSL_shutdown(c->ssl);
        sim_tls_drain(c);
    }
}
