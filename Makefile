# ngx_fcfh_module — build, test and demo entry points.
#
#   make            module + simulator
#   make test       unit tests (cmocka) + integration tests (prove t/)
#   make quickstart demo gateway with a simulated device (foreground)
#   make deps       apt-get install everything the build and tests need
#   make static     upstream nginx with the module linked in (--add-module)

TOP      := $(abspath .)
BUILD    ?= $(TOP)/build
NGX_SRC  ?= /usr/share/nginx/src
CC       ?= cc
SRC      := $(TOP)/ngx_fcfh_module
MODULE   := $(BUILD)/ngx_fcfh_module.so
SIM      := $(BUILD)/fcfh-sim
UNIT     := $(BUILD)/test_apf $(BUILD)/test_proxy_parse

MODULE_SRCS := $(wildcard $(SRC)/*.c $(SRC)/*.h) $(TOP)/config
SIM_SRCS    := $(wildcard $(TOP)/sim/*.c $(TOP)/sim/*.h) \
               $(SRC)/ngx_fcfh_apf.c $(SRC)/ngx_fcfh_apf.h

WARN     := -Wall -Wextra -Wpointer-arith -Wno-unused-parameter -Werror
OPT      ?= -O2 -g

.PHONY: all module sim unit test prove deps quickstart static asan test-asan \
        clean

all: module sim

module: $(MODULE)
sim: $(SIM)

# Configure once against Debian's nginx-dev (configure + headers only),
# with the stream flags Debian's conf_flags leaves out, then build just
# our .so target (a plain "make modules" needs nginx's own .c files).
$(BUILD)/Makefile: $(TOP)/config $(NGX_SRC)/conf_flags
	@mkdir -p $(BUILD)
	cd $(NGX_SRC) && bash -c '. ./conf_flags; ./configure \
	    --with-cc-opt="$$(dpkg-buildflags --get CFLAGS) -fPIC $$(dpkg-buildflags --get CPPFLAGS)" \
	    --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC" \
	    "$${NGX_CONF_FLAGS[@]}" --with-stream=dynamic \
	    --with-stream_ssl_module --with-stream_realip_module \
	    --add-dynamic-module=$(TOP) --builddir=$(BUILD)' > $(BUILD)/configure.log
	@echo "configured $(BUILD) (log: $(BUILD)/configure.log)"

$(MODULE): $(BUILD)/Makefile $(MODULE_SRCS)
	$(MAKE) -f $(BUILD)/Makefile -C $(NGX_SRC) $(MODULE)

$(SIM): $(SIM_SRCS)
	@mkdir -p $(BUILD)
	$(CC) $(OPT) $(WARN) -I$(SRC) -o $@ $(filter %.c,$(SIM_SRCS)) \
	    -lssl -lcrypto

# unit tests: the pure-C layers, each with cmocka
$(BUILD)/test_%: $(TOP)/t/unit/test_%.c $(wildcard $(SRC)/ngx_fcfh_*.h) \
                 $(SRC)/ngx_fcfh_apf.c $(SRC)/ngx_fcfh_proxy_parse.c
	@mkdir -p $(BUILD)
	$(CC) $(OPT) $(WARN) -I$(SRC) -o $@ $< $(SRC)/ngx_fcfh_apf.c \
	    $(SRC)/ngx_fcfh_proxy_parse.c -lcmocka

unit: $(UNIT)
	@for u in $(UNIT); do echo "== $$u"; $$u || exit 1; done

prove: module sim static
	prove -I$(TOP)/t/lib $(PROVE_FLAGS) $(TOP)/t/

test: unit prove

# upstream nginx (Debian's orig tarball) with the module linked in
STATIC   := $(BUILD)/static/nginx

static: $(STATIC)

$(STATIC): $(MODULE_SRCS)
	$(TOP)/tools/nginx-source.sh $(BUILD)/nginx-src
	cd $(BUILD)/nginx-src && ./configure --with-debug --with-stream \
	    --with-stream_ssl_module --with-http_ssl_module \
	    --add-module=$(TOP) --builddir=$(BUILD)/static \
	    > $(BUILD)/static-configure.log
	$(MAKE) -j$$(nproc) -C $(BUILD)/nginx-src -f $(BUILD)/static/Makefile

# upstream nginx and the module built with AddressSanitizer and
# UndefinedBehaviorSanitizer; make test-asan runs the integration tests
# with it (reports fail the tests)
ASAN     := $(BUILD)/asan/nginx
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer

asan: $(ASAN)

$(ASAN): $(MODULE_SRCS)
	$(TOP)/tools/nginx-source.sh $(BUILD)/nginx-src
	cd $(BUILD)/nginx-src && ./configure --with-debug --with-stream \
	    --with-stream_ssl_module --with-http_ssl_module \
	    --with-http_auth_request_module \
	    --with-cc-opt="-O1 -g $(SANITIZE)" --with-ld-opt="$(SANITIZE) -lcrypt" \
	    --add-module=$(TOP) --builddir=$(BUILD)/asan \
	    > $(BUILD)/asan-configure.log
	$(MAKE) -j$$(nproc) -C $(BUILD)/nginx-src -f $(BUILD)/asan/Makefile

test-asan: asan sim
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1 \
	FCFH_NGINX=$(ASAN) FCFH_STREAM_MODULE=none FCFH_MODULE=none \
	FCFH_TIME_SCALE=3 prove -I$(TOP)/t/lib $(PROVE_FLAGS) $(TOP)/t/

deps:
	$(TOP)/tools/install-deps.sh

quickstart:
	$(TOP)/tools/quickstart.sh

clean:
	rm -rf $(BUILD)
