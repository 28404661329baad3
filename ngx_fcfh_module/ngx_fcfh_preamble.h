
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The relay preamble: what a front door sends to the worker that owns a
 * tunnel (over that worker's relay socket) or to another gateway node
 * (over mutual TLS) to open a channel, before the bytes are the
 * channel's.
 *
 * Pure C99 and OpenSSL's libcrypto: no nginx headers, no allocation, no
 * I/O, so that the unit tests can check it on its own.
 *
 * Between workers the preamble carries an HMAC-SHA-256 under the
 * secret the master made at start (the workers' user is often shared
 * with other daemons, so the peer's uid proves nothing).  The MAC also
 * covers the pid of the worker the preamble is meant for: one sent to
 * worker A does not open a channel in worker B.  Between nodes the MAC
 * is zero: mutual TLS proves the node, and a node's secret never leaves
 * it.
 *
 * layout (version 2):
 *     0   4  magic "FCFH"
 *     4   1  version
 *     5   1  op
 *     6   2  port, network order
 *     8  16  device GUID (wire order)
 *    24   8  registry serial of the tunnel, network order (0: any)
 *    32   2  console port, network order
 *    34   2  reserved, zero
 *    36  60  console address text, NUL padded, at least one NUL
 *    96  32  HMAC-SHA-256(secret, bytes 0..95 | owner pid, 4 bytes,
 *            network order)
 */


#ifndef _NGX_FCFH_PREAMBLE_H_INCLUDED_
#define _NGX_FCFH_PREAMBLE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ngx_fcfh_apf.h"


#define NGX_FCFH_RELAY_MAGIC         "FCFH"
/* 1 had no MAC and is refused */
#define NGX_FCFH_RELAY_VERSION       2
#define NGX_FCFH_RELAY_OP_OPEN       1
/* between nodes only: close a tunnel (API), or it moved to another node */
#define NGX_FCFH_RELAY_OP_CLOSE      2
#define NGX_FCFH_RELAY_OP_REPLACED   3

#define NGX_FCFH_RELAY_PREAMBLE_SIZE 128
#define NGX_FCFH_RELAY_SIGNED_SIZE   96     /* the bytes before the MAC */
#define NGX_FCFH_RELAY_MAC_SIZE      32
#define NGX_FCFH_RELAY_SECRET_SIZE   32
#define NGX_FCFH_RELAY_CONSOLE_OFF   36
#define NGX_FCFH_RELAY_CONSOLE_SIZE  60

/* ngx_fcfh_preamble_parse() results, besides 0 (need more) and the size */
#define NGX_FCFH_PREAMBLE_ERR_MAGIC   -1
#define NGX_FCFH_PREAMBLE_ERR_VERSION -2
#define NGX_FCFH_PREAMBLE_ERR_OP      -3
#define NGX_FCFH_PREAMBLE_ERR_MAC     -4


typedef struct {
    unsigned                         op;
    unsigned                         port;
    uint8_t                          guid[NGX_FCFH_APF_GUID_SIZE];
    uint64_t                         serial;
    unsigned                         console_port;
    /* in the caller's buffer; the encoder keeps at most 59 bytes */
    const uint8_t                   *console;
    size_t                           console_len;
} ngx_fcfh_preamble_t;


void ngx_fcfh_preamble_write(uint8_t *buf, const ngx_fcfh_preamble_t *pre,
    const uint8_t *secret, uint32_t owner);
ssize_t ngx_fcfh_preamble_parse(const uint8_t *buf, size_t len,
    ngx_fcfh_preamble_t *pre, const uint8_t *secret, uint32_t owner);
ssize_t ngx_fcfh_preamble_parse_node(const uint8_t *buf, size_t len,
    ngx_fcfh_preamble_t *pre);
const char *ngx_fcfh_preamble_error(ssize_t rc);


#endif /* _NGX_FCFH_PREAMBLE_H_INCLUDED_ */
