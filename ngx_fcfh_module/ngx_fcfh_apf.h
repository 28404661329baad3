
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * APF (Intel AMT Port Forwarding) codec.
 *
 * Pure C99: no nginx headers, no allocation, no I/O.  Used by the nginx
 * module, the device simulator, the unit tests and the fuzz targets.
 *
 * Parsing is incremental: ngx_fcfh_apf_parse() looks at the bytes it is
 * given and answers "need more" (0), "one message of N bytes" (N > 0) or
 * "protocol error" (< 0).  Strings in a parsed message point into the
 * caller's buffer; they are valid only as long as those bytes are.
 */


#ifndef _NGX_FCFH_APF_H_INCLUDED_
#define _NGX_FCFH_APF_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


/* message types */
#define NGX_FCFH_APF_DISCONNECT                  1
#define NGX_FCFH_APF_SERVICE_REQUEST             5
#define NGX_FCFH_APF_SERVICE_ACCEPT              6
#define NGX_FCFH_APF_USERAUTH_REQUEST            50
#define NGX_FCFH_APF_USERAUTH_FAILURE            51
#define NGX_FCFH_APF_USERAUTH_SUCCESS            52
#define NGX_FCFH_APF_GLOBAL_REQUEST              80
#define NGX_FCFH_APF_REQUEST_SUCCESS             81
#define NGX_FCFH_APF_REQUEST_FAILURE             82
#define NGX_FCFH_APF_CHANNEL_OPEN                90
#define NGX_FCFH_APF_CHANNEL_OPEN_CONFIRMATION   91
#define NGX_FCFH_APF_CHANNEL_OPEN_FAILURE        92
#define NGX_FCFH_APF_CHANNEL_WINDOW_ADJUST       93
#define NGX_FCFH_APF_CHANNEL_DATA                94
#define NGX_FCFH_APF_CHANNEL_CLOSE               97
#define NGX_FCFH_APF_PROTOCOLVERSION             192
#define NGX_FCFH_APF_KEEPALIVE_REQUEST           208
#define NGX_FCFH_APF_KEEPALIVE_REPLY             209
#define NGX_FCFH_APF_KEEPALIVE_OPTIONS_REQUEST   210
#define NGX_FCFH_APF_KEEPALIVE_OPTIONS_REPLY     211


/* DISCONNECT reason codes */
#define NGX_FCFH_APF_DISC_HOST_NOT_ALLOWED       1
#define NGX_FCFH_APF_DISC_PROTOCOL_ERROR         2
#define NGX_FCFH_APF_DISC_KEY_EXCHANGE_FAILED    3
#define NGX_FCFH_APF_DISC_RESERVED               4
#define NGX_FCFH_APF_DISC_MAC_ERROR              5
#define NGX_FCFH_APF_DISC_COMPRESSION_ERROR      6
#define NGX_FCFH_APF_DISC_SERVICE_NOT_AVAILABLE  7
#define NGX_FCFH_APF_DISC_VERSION_NOT_SUPPORTED  8
#define NGX_FCFH_APF_DISC_HOST_KEY_NOT_VERIFIABLE 9
#define NGX_FCFH_APF_DISC_CONNECTION_LOST        10
#define NGX_FCFH_APF_DISC_BY_APPLICATION         11
#define NGX_FCFH_APF_DISC_TOO_MANY_CONNECTIONS   12
#define NGX_FCFH_APF_DISC_AUTH_CANCELLED         13
#define NGX_FCFH_APF_DISC_NO_MORE_AUTH_METHODS   14
#define NGX_FCFH_APF_DISC_INVALID_CREDENTIALS    15
#define NGX_FCFH_APF_DISC_CONNECTION_TIMED_OUT   16
#define NGX_FCFH_APF_DISC_BY_POLICY              17
#define NGX_FCFH_APF_DISC_TEMPORARILY_UNAVAILABLE 18


/* CHANNEL_OPEN_FAILURE reason codes */
#define NGX_FCFH_APF_OPEN_ADMINISTRATIVELY_PROHIBITED  1
#define NGX_FCFH_APF_OPEN_CONNECT_FAILED               2
#define NGX_FCFH_APF_OPEN_UNKNOWN_CHANNEL_TYPE         3
#define NGX_FCFH_APF_OPEN_RESOURCE_SHORTAGE            4


/* trigger reasons carried in PROTOCOLVERSION */
#define NGX_FCFH_APF_TRIGGER_USER                1
#define NGX_FCFH_APF_TRIGGER_ALERT               2
#define NGX_FCFH_APF_TRIGGER_PROVISIONING        3
#define NGX_FCFH_APF_TRIGGER_PERIODIC            4
#define NGX_FCFH_APF_TRIGGER_LOCAL               254


/* fixed sizes, including the type byte */
#define NGX_FCFH_APF_DISCONNECT_SIZE             7
#define NGX_FCFH_APF_PROTOCOLVERSION_SIZE        93
#define NGX_FCFH_APF_KEEPALIVE_SIZE              5
#define NGX_FCFH_APF_KEEPALIVE_OPTIONS_SIZE      9
#define NGX_FCFH_APF_CHANNEL_DATA_HEADER_SIZE    9
#define NGX_FCFH_APF_GUID_SIZE                   16
#define NGX_FCFH_APF_GUID_TEXT_SIZE              36


/* global request kinds (ngx_fcfh_apf_global_t.kind) */
#define NGX_FCFH_APF_GLOBAL_TCPIP_FORWARD        1
#define NGX_FCFH_APF_GLOBAL_CANCEL_TCPIP_FORWARD 2
#define NGX_FCFH_APF_GLOBAL_UDP_SEND_TO          3


/* parse errors: ngx_fcfh_apf_parse() returns one of these (negative) */
#define NGX_FCFH_APF_ERR_UNKNOWN_TYPE            -1
#define NGX_FCFH_APF_ERR_TOO_LONG                -2  /* a length over limit */
#define NGX_FCFH_APF_ERR_BAD_VALUE               -3  /* e.g. bool not 0/1 */
#define NGX_FCFH_APF_ERR_UNKNOWN_METHOD          -4  /* userauth method */
#define NGX_FCFH_APF_ERR_UNKNOWN_GLOBAL          -5  /* global request name */
#define NGX_FCFH_APF_ERR_DIRECTION               -6  /* not allowed by flags */


/* ngx_fcfh_apf_parse() flags */

/* parse as the gateway: accept only messages a device may send */
#define NGX_FCFH_APF_FROM_DEVICE                 0x01
/* parse as the device: accept only messages a gateway may send */
#define NGX_FCFH_APF_FROM_GATEWAY                0x02
/*
 * REQUEST_SUCCESS carries a port after a tcpip-forward and nothing after
 * a cancel; the bytes alone cannot tell which, so the caller says.
 */
#define NGX_FCFH_APF_EXPECT_PORT                 0x04


typedef struct {
    uint32_t        max_string;     /* user, service, method, names, addrs */
    uint32_t        max_password;
    uint32_t        max_data;       /* CHANNEL_DATA payload */
    uint32_t        max_udp_data;   /* udp-send-to payload */
} ngx_fcfh_apf_limits_t;

/* defaults used when the caller passes NULL limits */
#define NGX_FCFH_APF_DEFAULT_MAX_STRING          255
#define NGX_FCFH_APF_DEFAULT_MAX_PASSWORD        255
#define NGX_FCFH_APF_DEFAULT_MAX_DATA            65536
#define NGX_FCFH_APF_DEFAULT_MAX_UDP_DATA        8192


typedef struct {
    uint32_t        len;
    const uint8_t  *data;
} ngx_fcfh_apf_str_t;


typedef struct {
    ngx_fcfh_apf_str_t  user;
    ngx_fcfh_apf_str_t  service;
    ngx_fcfh_apf_str_t  method;     /* "password" or "none" */
    ngx_fcfh_apf_str_t  password;   /* empty unless method is password */
    int                 has_password;
} ngx_fcfh_apf_userauth_t;


typedef struct {
    ngx_fcfh_apf_str_t  name;
    int                 kind;       /* NGX_FCFH_APF_GLOBAL_* */
    uint8_t             want_reply;
    ngx_fcfh_apf_str_t  address;
    uint32_t            port;
    ngx_fcfh_apf_str_t  originator_address;  /* udp-send-to only */
    uint32_t            originator_port;     /* udp-send-to only */
    ngx_fcfh_apf_str_t  data;                /* udp-send-to only */
} ngx_fcfh_apf_global_t;


typedef struct {
    ngx_fcfh_apf_str_t  type;
    uint32_t            sender;
    uint32_t            window;
    uint32_t            reserved;
    ngx_fcfh_apf_str_t  connected_address;
    uint32_t            connected_port;
    ngx_fcfh_apf_str_t  originator_address;
    uint32_t            originator_port;
} ngx_fcfh_apf_channel_open_t;


typedef struct {
    uint8_t                              type;

    union {
        uint32_t                         reason;     /* DISCONNECT */
        ngx_fcfh_apf_str_t               service;    /* SERVICE_* */
        ngx_fcfh_apf_userauth_t          userauth;

        struct {
            ngx_fcfh_apf_str_t           methods;
            uint8_t                      partial;
        }                                userauth_failure;

        ngx_fcfh_apf_global_t            global;

        struct {
            uint32_t                     port;
            int                          has_port;
        }                                request_success;

        ngx_fcfh_apf_channel_open_t      channel_open;

        struct {
            uint32_t                     recipient;
            uint32_t                     sender;
            uint32_t                     window;
            uint32_t                     reserved;
        }                                confirmation;

        struct {
            uint32_t                     recipient;
            uint32_t                     reason;
            ngx_fcfh_apf_str_t           description;  /* written empty */
            ngx_fcfh_apf_str_t           language;     /* written empty */
        }                                open_failure;

        struct {
            uint32_t                     recipient;
            uint32_t                     bytes;
        }                                window_adjust;

        struct {
            uint32_t                     recipient;
            ngx_fcfh_apf_str_t           data;
        }                                channel_data;

        uint32_t                         recipient;  /* CHANNEL_CLOSE */

        struct {
            uint32_t                     major;
            uint32_t                     minor;
            uint32_t                     trigger;
            uint8_t                      guid[NGX_FCFH_APF_GUID_SIZE];
        }                                version;

        uint32_t                         cookie;     /* KEEPALIVE_* */

        struct {
            uint32_t                     interval;
            uint32_t                     timeout;
        }                                keepalive_options;
    } u;
} ngx_fcfh_apf_msg_t;


/*
 * Returns the size of the first complete message in buf[0..len) and fills
 * msg; 0 when more bytes are needed; a negative NGX_FCFH_APF_ERR_* on a
 * protocol error.  When 0 is returned and len is large enough to know the
 * full size, *need (if not NULL) is set to the total bytes required;
 * otherwise (and on every other return) *need is set to 0.  A length over
 * its limit is reported as soon as the length field is readable.
 * limits may be NULL for the defaults.
 */
ssize_t ngx_fcfh_apf_parse(const uint8_t *buf, size_t len, unsigned flags,
    const ngx_fcfh_apf_limits_t *limits, ngx_fcfh_apf_msg_t *msg,
    size_t *need);

const char *ngx_fcfh_apf_strerror(ssize_t err);
const char *ngx_fcfh_apf_type_name(unsigned type);
const char *ngx_fcfh_apf_trigger_name(uint32_t trigger);
const char *ngx_fcfh_apf_disconnect_reason_name(uint32_t reason);


/*
 * Serialisers: each writes one message into buf (of size bytes) and
 * returns its length, or 0 when it does not fit.  Strings are passed as
 * pointer and length.
 */
size_t ngx_fcfh_apf_write_disconnect(uint8_t *buf, size_t size,
    uint32_t reason);
size_t ngx_fcfh_apf_write_service(uint8_t *buf, size_t size, uint8_t type,
    const uint8_t *service, uint32_t service_len);
size_t ngx_fcfh_apf_write_userauth_password(uint8_t *buf, size_t size,
    const uint8_t *user, uint32_t user_len, const uint8_t *service,
    uint32_t service_len, const uint8_t *password, uint32_t password_len);
size_t ngx_fcfh_apf_write_userauth_none(uint8_t *buf, size_t size,
    const uint8_t *user, uint32_t user_len, const uint8_t *service,
    uint32_t service_len);
size_t ngx_fcfh_apf_write_userauth_failure(uint8_t *buf, size_t size);
size_t ngx_fcfh_apf_write_userauth_success(uint8_t *buf, size_t size);
size_t ngx_fcfh_apf_write_global_forward(uint8_t *buf, size_t size,
    int cancel, uint8_t want_reply, const uint8_t *address,
    uint32_t address_len, uint32_t port);
size_t ngx_fcfh_apf_write_global_udp_send_to(uint8_t *buf, size_t size,
    uint8_t want_reply, const uint8_t *address, uint32_t address_len,
    uint32_t port, const uint8_t *orig_address, uint32_t orig_address_len,
    uint32_t orig_port, const uint8_t *data, uint32_t data_len);
/* port < 0: a cancel reply, no port field */
size_t ngx_fcfh_apf_write_request_success(uint8_t *buf, size_t size,
    int64_t port);
size_t ngx_fcfh_apf_write_request_failure(uint8_t *buf, size_t size);
size_t ngx_fcfh_apf_write_channel_open(uint8_t *buf, size_t size,
    const uint8_t *type, uint32_t type_len, uint32_t sender,
    uint32_t window, const uint8_t *conn_addr, uint32_t conn_addr_len,
    uint32_t conn_port, const uint8_t *orig_addr, uint32_t orig_addr_len,
    uint32_t orig_port);
size_t ngx_fcfh_apf_write_channel_open_confirmation(uint8_t *buf,
    size_t size, uint32_t recipient, uint32_t sender, uint32_t window);
size_t ngx_fcfh_apf_write_channel_open_failure(uint8_t *buf, size_t size,
    uint32_t recipient, uint32_t reason);
size_t ngx_fcfh_apf_write_window_adjust(uint8_t *buf, size_t size,
    uint32_t recipient, uint32_t bytes);
/* writes only the 9-byte header; the caller appends data_len bytes */
size_t ngx_fcfh_apf_write_channel_data_header(uint8_t *buf, size_t size,
    uint32_t recipient, uint32_t data_len);
size_t ngx_fcfh_apf_write_channel_close(uint8_t *buf, size_t size,
    uint32_t recipient);
size_t ngx_fcfh_apf_write_protocolversion(uint8_t *buf, size_t size,
    uint32_t major, uint32_t minor, uint32_t trigger,
    const uint8_t guid[NGX_FCFH_APF_GUID_SIZE]);
/* type: KEEPALIVE_REQUEST or KEEPALIVE_REPLY */
size_t ngx_fcfh_apf_write_keepalive(uint8_t *buf, size_t size, uint8_t type,
    uint32_t cookie);
/* type: KEEPALIVE_OPTIONS_REQUEST or KEEPALIVE_OPTIONS_REPLY */
size_t ngx_fcfh_apf_write_keepalive_options(uint8_t *buf, size_t size,
    uint8_t type, uint32_t interval, uint32_t timeout);


/*
 * GUID text form: the first three fields are little-endian on the wire
 * (SMBIOS/Microsoft order), output is lower case with dashes, 36 chars,
 * not NUL-terminated.  Parsing accepts upper or lower case; returns 0 on
 * success, -1 on a malformed text.
 */
void ngx_fcfh_apf_guid_to_text(const uint8_t wire[NGX_FCFH_APF_GUID_SIZE],
    char text[NGX_FCFH_APF_GUID_TEXT_SIZE]);
int ngx_fcfh_apf_guid_from_text(const char *text, size_t len,
    uint8_t wire[NGX_FCFH_APF_GUID_SIZE]);

/* the value of a hex digit, or -1 */
int ngx_fcfh_apf_hex(int ch);


#endif /* _NGX_FCFH_APF_H_INCLUDED_ */
