
/* what nginx's configure generates for a dynamic module of its own */

#include <ngx_config.h>
#include <ngx_core.h>


extern ngx_module_t  ngx_stream_floor_module;

ngx_module_t  *ngx_modules[] = {
    &ngx_stream_floor_module,
    NULL
};

char  *ngx_module_names[] = {
    "ngx_stream_floor_module",
    NULL
};

char  *ngx_module_order[] = {
    NULL
};
