
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/* shared by the libFuzzer targets: a failed property is a crash */


#ifndef _FCFH_FUZZ_H_INCLUDED_
#define _FCFH_FUZZ_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>


#define CHECK(x)                                                             \
    do {                                                                     \
        if (!(x)) {                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,          \
                    __LINE__, #x);                                           \
            abort();                                                         \
        }                                                                    \
    } while (0)


#endif /* _FCFH_FUZZ_H_INCLUDED_ */
