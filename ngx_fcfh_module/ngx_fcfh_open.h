
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * The results of a console request for a channel: what the opener is
 * told, what the relay and the cluster carry in their status byte, and
 * what the counters (opens[]), the stats JSON and the metrics show.  One
 * table names them all, so that a new result is added in one place.
 */


#ifndef _NGX_FCFH_OPEN_H_INCLUDED_
#define _NGX_FCFH_OPEN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the values go between workers and nodes: never renumber them */
typedef enum {
    NGX_FCFH_OPEN_OK = 0,
    NGX_FCFH_OPEN_NO_TUNNEL = 1,
    NGX_FCFH_OPEN_PORT = 2,          /* port not registered */
    NGX_FCFH_OPEN_REFUSED = 3,       /* device refused the channel */
    NGX_FCFH_OPEN_DRAINING = 4,
    NGX_FCFH_OPEN_TIMEOUT = 5,
    NGX_FCFH_OPEN_LIMIT = 6,         /* too many channels */
    NGX_FCFH_OPEN_ERROR = 7,
    NGX_FCFH_OPEN_UNAVAILABLE = 8,   /* cluster: no directory or node */
    NGX_FCFH_OPEN_MAX
} ngx_fcfh_open_result_e;


typedef struct {
    const char                      *name;    /* stats key, metric label */
    const char                      *text;    /* logs and error answers */
    ngx_uint_t                       status;  /* HTTP answer of a refusal */
} ngx_fcfh_open_result_t;


/* indexed by NGX_FCFH_OPEN_* */
extern const ngx_fcfh_open_result_t  ngx_fcfh_open_results[NGX_FCFH_OPEN_MAX];


const char *ngx_fcfh_open_result_text(ngx_uint_t result);


#endif /* _NGX_FCFH_OPEN_H_INCLUDED_ */
