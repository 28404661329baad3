
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Stream directives and variables of ngx_fcfh_module.  The device side
 * lives in ngx_stream_fcfh_tunnel.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_fcfh.h"
#include "ngx_fcfh_htpasswd.h"
#include "ngx_stream_fcfh_tunnel.h"
#include "ngx_stream_fcfh_channel.h"


static ngx_int_t ngx_stream_fcfh_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_stream_fcfh_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data);
static void *ngx_stream_fcfh_create_srv_conf(ngx_conf_t *cf);
static char *ngx_stream_fcfh_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_stream_fcfh_tunnel(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_fcfh_keepalive_options(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_stream_fcfh_drain(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_stream_fcfh_postconfiguration(ngx_conf_t *cf);
static char *ngx_stream_fcfh_alert_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_fcfh_alert_receivers(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


static ngx_conf_num_bounds_t  ngx_stream_fcfh_max_forwards_bounds = {
    ngx_conf_check_num_bounds, 1, NGX_FCFH_MAX_PORTS
};


static ngx_conf_num_bounds_t  ngx_stream_fcfh_max_channels_bounds = {
    ngx_conf_check_num_bounds, 1, 1024
};


/* below a full APF data message of AMT's, up to what a console can use */
static ngx_conf_num_bounds_t  ngx_stream_fcfh_channel_window_bounds = {
    ngx_conf_check_num_bounds, 4096, 1048576
};


static ngx_command_t  ngx_stream_fcfh_commands[] = {

    { ngx_string("fcfh_tunnel"),
      NGX_STREAM_SRV_CONF|NGX_CONF_NOARGS,
      ngx_stream_fcfh_tunnel,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fcfh_auth_file"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_fcfh_htpasswd_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_srv_conf_t, htpasswd),
      NULL },

    { ngx_string("fcfh_cert_identity"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_set_complex_value_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_srv_conf_t, cert_identity),
      NULL },

    { ngx_string("fcfh_device_guids"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_set_complex_value_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_srv_conf_t, device_guids),
      NULL },

    { ngx_string("fcfh_device_names"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_set_complex_value_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_srv_conf_t, device_names),
      NULL },

    { ngx_string("fcfh_handshake_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_srv_conf_t, handshake_timeout),
      NULL },

    { ngx_string("fcfh_idle_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_srv_conf_t, idle_timeout),
      NULL },

    { ngx_string("fcfh_keepalive"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_srv_conf_t, keepalive),
      NULL },

    { ngx_string("fcfh_keepalive_options"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE12,
      ngx_stream_fcfh_keepalive_options,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fcfh_max_forwards"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_srv_conf_t, max_forwards),
      &ngx_stream_fcfh_max_forwards_bounds },

    { ngx_string("fcfh_max_channels"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_srv_conf_t, max_channels),
      &ngx_stream_fcfh_max_channels_bounds },

    { ngx_string("fcfh_channel_window"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_srv_conf_t, channel_window),
      &ngx_stream_fcfh_channel_window_bounds },

    { ngx_string("fcfh_channel_window_max"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_srv_conf_t, channel_window_max),
      &ngx_stream_fcfh_channel_window_bounds },

    { ngx_string("fcfh_drain"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_fcfh_drain,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_fcfh_srv_conf_t, drain),
      NULL },

    { ngx_string("fcfh_alert_limit"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE12,
      ngx_stream_fcfh_alert_limit,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fcfh_alert_receivers"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_stream_fcfh_alert_receivers,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_stream_module_t  ngx_stream_fcfh_module_ctx = {
    ngx_stream_fcfh_add_variables,         /* preconfiguration */
    ngx_stream_fcfh_postconfiguration,     /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_stream_fcfh_create_srv_conf,       /* create server configuration */
    ngx_stream_fcfh_merge_srv_conf         /* merge server configuration */
};


ngx_module_t  ngx_stream_fcfh_module = {
    NGX_MODULE_V1,
    &ngx_stream_fcfh_module_ctx,           /* module context */
    ngx_stream_fcfh_commands,              /* module directives */
    NGX_STREAM_MODULE,                     /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_fcfh_init_worker,                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


enum {
    ngx_stream_fcfh_var_guid = 0,
    ngx_stream_fcfh_var_user,
    ngx_stream_fcfh_var_identity,
    ngx_stream_fcfh_var_fqdn,
    ngx_stream_fcfh_var_trigger
};


static ngx_stream_variable_t  ngx_stream_fcfh_vars[] = {

    { ngx_string("fcfh_guid"), NULL, ngx_stream_fcfh_variable,
      ngx_stream_fcfh_var_guid, NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("fcfh_user"), NULL, ngx_stream_fcfh_variable,
      ngx_stream_fcfh_var_user, NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("fcfh_identity"), NULL, ngx_stream_fcfh_variable,
      ngx_stream_fcfh_var_identity, NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("fcfh_fqdn"), NULL, ngx_stream_fcfh_variable,
      ngx_stream_fcfh_var_fqdn, NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("fcfh_trigger"), NULL, ngx_stream_fcfh_variable,
      ngx_stream_fcfh_var_trigger, NGX_STREAM_VAR_NOCACHEABLE, 0 },

      ngx_stream_null_variable
};


static ngx_int_t
ngx_stream_fcfh_add_variables(ngx_conf_t *cf)
{
    ngx_stream_variable_t  *var, *v;

    for (v = ngx_stream_fcfh_vars; v->name.len; v++) {
        var = ngx_stream_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_stream_fcfh_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    const char                *name;
    ngx_str_t                 *value;
    ngx_stream_fcfh_tunnel_t  *t;

    t = ngx_stream_get_module_ctx(s, ngx_stream_fcfh_module);

    if (t == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case ngx_stream_fcfh_var_guid:
        value = &t->guid_text;
        break;

    case ngx_stream_fcfh_var_user:
        value = &t->user;
        break;

    case ngx_stream_fcfh_var_identity:
        value = &t->identity;
        break;

    case ngx_stream_fcfh_var_fqdn:
        value = &t->fqdn;
        break;

    default: /* ngx_stream_fcfh_var_trigger */

        if (!t->version_seen) {
            v->not_found = 1;
            return NGX_OK;
        }

        name = ngx_fcfh_apf_trigger_name(t->trigger);

        v->len = ngx_strlen(name);
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;
        v->data = (u_char *) name;

        return NGX_OK;
    }

    if (value->data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = value->data;

    return NGX_OK;
}


static void *
ngx_stream_fcfh_create_srv_conf(ngx_conf_t *cf)
{
    ngx_stream_fcfh_srv_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_stream_fcfh_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->cert_identity = NULL;
     *     conf->device_guids = NULL;
     *     conf->device_names = NULL;
     */

    conf->enabled = NGX_CONF_UNSET;
    conf->htpasswd = NGX_CONF_UNSET_PTR;
    conf->handshake_timeout = NGX_CONF_UNSET_MSEC;
    conf->idle_timeout = NGX_CONF_UNSET_MSEC;
    conf->keepalive = NGX_CONF_UNSET;
    conf->keepalive_options = NGX_CONF_UNSET_UINT;
    conf->keepalive_quiet = NGX_CONF_UNSET_MSEC;
    conf->max_forwards = NGX_CONF_UNSET_UINT;
    conf->max_channels = NGX_CONF_UNSET_UINT;
    conf->channel_window = NGX_CONF_UNSET_SIZE;
    conf->channel_window_max = NGX_CONF_UNSET_SIZE;
    conf->drain = NGX_CONF_UNSET;
    conf->alert_receivers = NGX_CONF_UNSET_PTR;
    conf->alert_limit = NGX_CONF_UNSET_UINT;
    conf->alert_period = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_stream_fcfh_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_stream_fcfh_srv_conf_t *prev = parent;
    ngx_stream_fcfh_srv_conf_t *conf = child;

    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);
    ngx_conf_merge_ptr_value(conf->htpasswd, prev->htpasswd, NULL);

    if (conf->cert_identity == NULL) {
        conf->cert_identity = prev->cert_identity;
    }

    if (conf->device_guids == NULL) {
        conf->device_guids = prev->device_guids;
    }

    if (conf->device_names == NULL) {
        conf->device_names = prev->device_names;
    }

    if (conf->device_names && conf->device_names->lengths == NULL
        && ngx_fcfh_name_list_valid(&conf->device_names->value) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"fcfh_device_names\" list \"%V\"",
                           &conf->device_names->value);
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_msec_value(conf->handshake_timeout,
                              prev->handshake_timeout, 30000);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout, 90000);
    ngx_conf_merge_sec_value(conf->keepalive, prev->keepalive, 30);

    if (conf->keepalive_options == NGX_CONF_UNSET_UINT) {
        conf->keepalive_options = prev->keepalive_options;
        conf->keepalive_quiet = prev->keepalive_quiet;
    }

    ngx_conf_merge_uint_value(conf->keepalive_options,
                              prev->keepalive_options,
                              NGX_FCFH_KA_OPTIONS_5900);
    ngx_conf_merge_msec_value(conf->keepalive_quiet, prev->keepalive_quiet,
                              1000);
    ngx_conf_merge_uint_value(conf->max_forwards, prev->max_forwards, 16);
    ngx_conf_merge_uint_value(conf->max_channels, prev->max_channels, 16);
    ngx_conf_merge_size_value(conf->channel_window, prev->channel_window,
                              32768);
    ngx_conf_merge_size_value(conf->channel_window_max,
                              prev->channel_window_max, NGX_CONF_UNSET_SIZE);

    if (conf->channel_window_max == NGX_CONF_UNSET_SIZE) {
        conf->channel_window_max = ngx_max(conf->channel_window, 262144);
    }

    ngx_conf_merge_value(conf->drain, prev->drain, NGX_FCFH_DRAIN_OFF);
    ngx_conf_merge_ptr_value(conf->alert_receivers, prev->alert_receivers,
                             NULL);
    ngx_conf_merge_uint_value(conf->alert_limit, prev->alert_limit, 60);
    ngx_conf_merge_msec_value(conf->alert_period, prev->alert_period, 60000);

    if (!conf->enabled) {
        return NGX_CONF_OK;
    }

    if (conf->channel_window_max < conf->channel_window) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"fcfh_channel_window_max\" %uz is less than "
                           "\"fcfh_channel_window\" %uz",
                           conf->channel_window_max, conf->channel_window);
        return NGX_CONF_ERROR;
    }

    if (conf->htpasswd == NULL && conf->cert_identity == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"fcfh_tunnel\" needs \"fcfh_auth_file\" or "
                           "\"fcfh_cert_identity\": devices must "
                           "authenticate");
        return NGX_CONF_ERROR;
    }

    if (conf->cert_identity && conf->device_guids == NULL) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"fcfh_cert_identity\" without "
                           "\"fcfh_device_guids\": any device with a valid "
                           "certificate may register any GUID");
    }

    if (conf->keepalive < 1 || conf->keepalive > 86400) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"fcfh_keepalive\" must be between 1s and 1d");
        return NGX_CONF_ERROR;
    }

    if (conf->keepalive_options == NGX_FCFH_KA_OPTIONS_QUIET
        && conf->keepalive_quiet >= conf->idle_timeout)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"fcfh_keepalive_options\" time %Mms is not "
                           "shorter than \"fcfh_idle_timeout\" %Mms",
                           conf->keepalive_quiet, conf->idle_timeout);
        return NGX_CONF_ERROR;
    }

    if ((ngx_msec_t) conf->keepalive * 1000 >= conf->idle_timeout) {
        /* devices would be dropped between two keepalives */
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"fcfh_idle_timeout\" %Mms is not longer than "
                           "\"fcfh_keepalive\" %Ts: idle devices will be "
                           "dropped", conf->idle_timeout, conf->keepalive);
    }

    return NGX_CONF_OK;
}


static char *
ngx_stream_fcfh_tunnel(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_fcfh_srv_conf_t *fscf = conf;

    ngx_stream_core_srv_conf_t  *cscf;

    if (fscf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (ngx_fcfh_check_zone(cf, "fcfh_tunnel") != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cscf = ngx_stream_conf_get_module_srv_conf(cf, ngx_stream_core_module);

    if (cscf->handler) {
        return "conflicts with another content handler in this server";
    }

    cscf->handler = ngx_stream_fcfh_tunnel_handler;
    fscf->enabled = 1;

    return NGX_CONF_OK;
}



/*
 * "after_5900", "after_forwards [time]" or "off": when the gateway sends
 * KEEPALIVE_OPTIONS_REQUEST.  Some APF clients close the connection on
 * it, and they never register 5900, which real AMT registers last.
 */

static char *
ngx_stream_fcfh_keepalive_options(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_stream_fcfh_srv_conf_t *fscf = conf;

    ngx_str_t   *value;
    ngx_msec_t   quiet;

    if (fscf->keepalive_options != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    quiet = 1000;

    if (ngx_strcmp(value[1].data, "after_forwards") == 0) {

        if (cf->args->nelts > 2) {
            quiet = ngx_parse_time(&value[2], 0);

            if (quiet == (ngx_msec_t) NGX_ERROR || quiet == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid time \"%V\"", &value[2]);
                return NGX_CONF_ERROR;
            }
        }

        fscf->keepalive_options = NGX_FCFH_KA_OPTIONS_QUIET;
        fscf->keepalive_quiet = quiet;
        return NGX_CONF_OK;
    }

    if (cf->args->nelts > 2) {
        return "takes a time only with \"after_forwards\"";
    }

    if (ngx_strcmp(value[1].data, "after_5900") == 0) {
        fscf->keepalive_options = NGX_FCFH_KA_OPTIONS_5900;

    } else if (ngx_strcmp(value[1].data, "off") == 0) {
        fscf->keepalive_options = NGX_FCFH_KA_OPTIONS_OFF;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", expected \"after_5900\", "
                           "\"after_forwards\" or \"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    fscf->keepalive_quiet = quiet;

    return NGX_CONF_OK;
}


/* "off", or the time an exiting worker waits before draining */

static char *
ngx_stream_fcfh_drain(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_fcfh_srv_conf_t *fscf = conf;

    ngx_int_t   t;
    ngx_str_t  *value;

    if (fscf->drain != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        fscf->drain = NGX_FCFH_DRAIN_OFF;
        return NGX_CONF_OK;
    }

    t = ngx_parse_time(&value[1], 0);

    if (t == NGX_ERROR) {
        return "invalid value, expected \"off\" or a time";
    }

    fscf->drain = t;

    return NGX_CONF_OK;
}


/* the channel operations the core's relay reaches tunnels through */

static ngx_int_t
ngx_stream_fcfh_postconfiguration(ngx_conf_t *cf)
{
    ngx_fcfh_main_conf_t  *fmcf;

    fmcf = ngx_fcfh_get_main_conf(cf->cycle);

    if (fmcf) {
        fmcf->channel_ops.open = ngx_fcfh_channel_open;
        fmcf->channel_ops.start = ngx_fcfh_channel_start;
        fmcf->channel_ops.abort = ngx_fcfh_channel_abort;
        fmcf->channel_ops.data = ngx_fcfh_channel_data;
    }

    return NGX_OK;
}


/* "number [period]" or "off": alerts one device may send per period */

static char *
ngx_stream_fcfh_alert_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_fcfh_srv_conf_t *fscf = conf;

    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_msec_t   period;

    if (fscf->alert_limit != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            return "takes no period with \"off\"";
        }

        fscf->alert_limit = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid alert limit \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    fscf->alert_limit = n;

    if (cf->args->nelts > 2) {
        period = ngx_parse_time(&value[2], 0);

        if (period == (ngx_msec_t) NGX_ERROR || period == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid alert limit period \"%V\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        fscf->alert_period = period;
    }

    return NGX_CONF_OK;
}


/* "address:port ...": where device datagrams (SNMP traps) may go */

static char *
ngx_stream_fcfh_alert_receivers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_stream_fcfh_srv_conf_t *fscf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_uint_t   i;
    ngx_addr_t  *addr;

    if (fscf->alert_receivers != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    fscf->alert_receivers = ngx_array_create(cf->pool, cf->args->nelts,
                                             sizeof(ngx_addr_t));
    if (fscf->alert_receivers == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        addr = ngx_array_push(fscf->alert_receivers);
        if (addr == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_parse_addr_port(cf->pool, addr, value[i].data, value[i].len);

        if (rc != NGX_OK || ngx_inet_get_port(addr->sockaddr) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid alert receiver \"%V\", expected "
                               "address:port", &value[i]);
            return NGX_CONF_ERROR;
        }

        addr->name = value[i];
    }

    return NGX_CONF_OK;
}
