
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The redirection-authentication filter: between a console and an AMT
 * redirection port (16994: SOL, KVM, IDER; the stream in clear), it lets
 * the gateway answer AMT's authentication with credentials the console
 * never sees, as Open AMT's MPS does for its web UI (which sends empty
 * credentials).
 *
 * Pure C99 and libcrypto (MD5, random cnonce): no nginx headers, no
 * allocation, no I/O.  The caller feeds each side's bytes in and gets what
 * goes to each side through its send() callback.
 *
 *   console                        filter                        AMT
 *   StartRedirectionSession  ---------------------------------->
 *                            <----------------------------------  ...Reply
 *   AuthenticateSession query ---------------------------------->
 *   methods [4]              <--- rewritten --------------------  methods
 *   AuthenticateSession (any method, any user) -- dropped
 *                                 digest start (user, URI) ----->
 *                                                           <---  challenge
 *                                 digest answer (MD5, cnonce) -->
 *   success / failure        <----------------------------------  result
 *   ... then every byte both ways, untouched ("transparent")
 *
 * Only these messages are parsed, each bounded by
 * NGX_FCFH_REDIR_MAX_MESSAGE; bytes a side sends while the filter waits
 * for the other are held, at most NGX_FCFH_REDIR_HOLD per side.  Any other
 * message, length or order is an error (negative NGX_FCFH_REDIR_ERR_*):
 * the caller closes the session.  When AMT refuses the gateway's
 * credentials, the console is sent status 1 with method 0 and no data,
 * which both known consoles take as "no method left" and stop, and the
 * input answers NGX_FCFH_REDIR_ERR_REFUSED: the caller closes once that
 * went out; any further console byte is an error.
 *
 * Preferred method: 4 (digest with cnonce and qop "auth"), then 3 (digest
 * without), then 1 (basic; old firmware), as the device's answer to the
 * console's query lists them; without a query, the method the console
 * asked for.  Digest: RFC 2617, MD5, method "POST", URI
 * "/RedirectionService", nc 00000001.
 */


#ifndef _NGX_FCFH_REDIR_H_INCLUDED_
#define _NGX_FCFH_REDIR_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_FCFH_REDIR_MAX_MESSAGE   4096
#define NGX_FCFH_REDIR_HOLD          4096
#define NGX_FCFH_REDIR_MAX_CRED      255     /* one length byte */
#define NGX_FCFH_REDIR_URI           "/RedirectionService"

/* sides: where bytes come from (input) or go to (send) */
#define NGX_FCFH_REDIR_CONSOLE       0
#define NGX_FCFH_REDIR_DEVICE        1

/* AuthenticateSession methods */
#define NGX_FCFH_REDIR_QUERY         0
#define NGX_FCFH_REDIR_BASIC         1
#define NGX_FCFH_REDIR_DIGEST        3
#define NGX_FCFH_REDIR_DIGEST_QOP    4

/* states, in order */
#define NGX_FCFH_REDIR_START         0   /* console: StartRedirection... */
#define NGX_FCFH_REDIR_START_REPLY   1   /* device: its reply */
#define NGX_FCFH_REDIR_AUTH          2   /* console: AuthenticateSession */
#define NGX_FCFH_REDIR_METHODS       3   /* device: answer to the query */
#define NGX_FCFH_REDIR_CHALLENGE     4   /* device: realm, nonce, qop */
#define NGX_FCFH_REDIR_RESULT        5   /* device: success or failure */
#define NGX_FCFH_REDIR_TRANSPARENT   6
#define NGX_FCFH_REDIR_FAILED        7

#define NGX_FCFH_REDIR_OK                 0
#define NGX_FCFH_REDIR_ERR_CONSOLE_MSG   -1
#define NGX_FCFH_REDIR_ERR_CONSOLE_LEN   -2
#define NGX_FCFH_REDIR_ERR_CONSOLE_HOLD  -3
#define NGX_FCFH_REDIR_ERR_METHOD        -4
#define NGX_FCFH_REDIR_ERR_DEVICE_MSG    -5
#define NGX_FCFH_REDIR_ERR_DEVICE_LEN    -6
#define NGX_FCFH_REDIR_ERR_DEVICE_HOLD   -7
#define NGX_FCFH_REDIR_ERR_CHALLENGE     -8
#define NGX_FCFH_REDIR_ERR_QOP           -9
#define NGX_FCFH_REDIR_ERR_REFUSED       -10
#define NGX_FCFH_REDIR_ERR_AFTER_FAILURE -11
#define NGX_FCFH_REDIR_ERR_SEND          -12
#define NGX_FCFH_REDIR_ERR_CRYPTO        -13
#define NGX_FCFH_REDIR_ERR_LAST          -13


/* bytes for one side: 0, or non-zero to fail the input (ERR_SEND) */
typedef int (*ngx_fcfh_redir_send_pt)(void *data, int to, const uint8_t *buf,
    size_t len);


typedef struct {
    ngx_fcfh_redir_send_pt        send;
    void                         *data;

    uint8_t                       user[NGX_FCFH_REDIR_MAX_CRED];
    uint8_t                       password[NGX_FCFH_REDIR_MAX_CRED];
    uint8_t                       user_len;
    uint8_t                       password_len;

    uint8_t                       state;
    uint8_t                       method;    /* the one in use */
    uint8_t                       offered;   /* bits 1 << method */
    uint8_t                       session[4];   /* "SOL ", "KVMR", "IDER" */
    uint8_t                       status;    /* device's, on a failure */
    uint8_t                       authenticated;  /* AMT said success */

    size_t                        held[2];
    uint8_t                       hold[2][NGX_FCFH_REDIR_HOLD];
} ngx_fcfh_redir_t;


/* 0, or -1 when user or password is empty or longer than 255 bytes */
int ngx_fcfh_redir_init(ngx_fcfh_redir_t *rd, const uint8_t *user,
    size_t user_len, const uint8_t *password, size_t password_len,
    ngx_fcfh_redir_send_pt send, void *data);

/*
 * Bytes from one side (NGX_FCFH_REDIR_CONSOLE or _DEVICE): all taken, and
 * what they cause sent (possibly bytes held from the other side too);
 * NGX_FCFH_REDIR_OK, or a negative NGX_FCFH_REDIR_ERR_*.  Once transparent,
 * bytes go to the other side unchanged: the caller may stop calling.
 */
int ngx_fcfh_redir_input(ngx_fcfh_redir_t *rd, int from, const uint8_t *buf,
    size_t len);

#define ngx_fcfh_redir_transparent(rd)                                       \
    ((rd)->state == NGX_FCFH_REDIR_TRANSPARENT)

/* a fixed text for logs: never a credential or a byte of the stream */
const char *ngx_fcfh_redir_strerror(int rc);


#endif /* _NGX_FCFH_REDIR_H_INCLUDED_ */
