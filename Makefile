# ngx_fcfh_module — build, test and demo entry points.
#
#   make            module + simulator
#   make test       unit tests (cmocka) + integration tests (prove t/)
#   make quickstart demo gateway with a simulated device (foreground)
#   make deps       apt-get install everything the build and tests need,
#                   and keep the upstream nginx tarball in $(FCFH_CACHE)
#   make static     upstream nginx with the module linked in (--add-module)
#   make deb        Debian packages (debian/) in build/deb: the module for
#                   Debian's nginx and fcfh-tools (simulator, test tools)
#   make floor      bench/floor.sh's baseline module (a bare TLS echo)
#   make test-asan  the integration suite against nginx + module built with
#                   AddressSanitizer and UndefinedBehaviorSanitizer
#   make fuzz       each libFuzzer target for FUZZ_TIME seconds (60); the
#                   seeds and every past crash in t/fuzz/<target> replayed
#   make fuzz-regress  only replay t/fuzz/<target> (what CI runs, plus a
#                   short fuzz-smoke)

TOP      := $(abspath .)
BUILD    ?= $(TOP)/build
NGX_SRC  ?= /usr/share/nginx/src
# where tools/install-deps.sh keeps the upstream nginx tarball
FCFH_CACHE ?= /var/cache/fcfh
CC       ?= cc
SRC      := $(TOP)/ngx_fcfh_module
MODULE   := $(BUILD)/ngx_fcfh_module.so
SIM      := $(BUILD)/fcfh-sim
UNIT     := $(BUILD)/test_apf $(BUILD)/test_proxy_parse \
            $(BUILD)/test_preamble $(BUILD)/test_escape \
            $(BUILD)/test_webhook_target $(BUILD)/test_wsman \
            $(BUILD)/test_htpasswd $(BUILD)/test_response \
            $(BUILD)/test_ws $(BUILD)/test_jwt $(BUILD)/test_redir \
            $(BUILD)/test_webhook_sign

MODULE_SRCS := $(wildcard $(SRC)/*.c $(SRC)/*.h) $(TOP)/config
SIM_SRCS    := $(wildcard $(TOP)/sim/*.c $(TOP)/sim/*.h) \
               $(SRC)/ngx_fcfh_apf.c $(SRC)/ngx_fcfh_apf.h

WARN     := -Wall -Wextra -Wpointer-arith -Wno-unused-parameter -Werror
OPT      ?= -O2 -g

.PHONY: all module sim unit test prove deps quickstart static asan test-asan \
        fuzz fuzz-smoke fuzz-regress deb clean floor

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

# bench/floor.sh's baseline: a stream module of its own that holds a
# bare TLS connection and echoes records (bench only, never installed)
FLOOR    := $(BUILD)/ngx_stream_floor_module.so
FLOOR_SRCS := $(TOP)/bench/floor/ngx_stream_floor_module.c \
              $(TOP)/bench/floor/ngx_stream_floor_modules.c

floor: $(FLOOR)

$(FLOOR): $(FLOOR_SRCS) $(BUILD)/Makefile
	cd $(NGX_SRC) && $(CC) -shared -fPIC $(OPT) $(WARN) \
	    $$(dpkg-buildflags --get CFLAGS) $$(dpkg-buildflags --get CPPFLAGS) \
	    -I src/core -I src/event -I src/event/modules -I src/os/unix \
	    -I src/stream -I $(BUILD) -o $@ $(FLOOR_SRCS)

# unit tests: the pure-C layers, each with cmocka
UNIT_SRCS := $(SRC)/ngx_fcfh_apf.c $(SRC)/ngx_fcfh_proxy_parse.c \
             $(SRC)/ngx_fcfh_webhook_target.c $(SRC)/ngx_fcfh_preamble.c \
             $(SRC)/ngx_fcfh_escape.c $(SRC)/ngx_fcfh_response.c \
             $(SRC)/ngx_fcfh_ws.c $(SRC)/ngx_fcfh_webhook_sign.c
UNIT_LIBS := -lcmocka -lcrypto

# the WebSocket tests check the frames against libwslay's
$(BUILD)/test_ws: UNIT_LIBS += -lwslay

$(BUILD)/test_%: $(TOP)/t/unit/test_%.c $(wildcard $(SRC)/ngx_fcfh_*.h) \
                 $(UNIT_SRCS)
	@mkdir -p $(BUILD)
	$(CC) $(OPT) $(WARN) -I$(SRC) -o $@ $< $(UNIT_SRCS) $(UNIT_LIBS)

# the console tokens (libjwt) and the redirection filter (libcrypto's MD5)
$(BUILD)/test_jwt: $(TOP)/t/unit/test_jwt.c $(SRC)/ngx_fcfh_jwt.c \
                   $(SRC)/ngx_fcfh_jwt.h
	@mkdir -p $(BUILD)
	$(CC) $(OPT) $(WARN) -I$(SRC) -o $@ $< $(SRC)/ngx_fcfh_jwt.c \
	    -lcmocka -ljwt -lcrypto

$(BUILD)/test_redir: $(TOP)/t/unit/test_redir.c $(SRC)/ngx_fcfh_redir.c \
                     $(SRC)/ngx_fcfh_redir.h
	@mkdir -p $(BUILD)
	$(CC) $(OPT) $(WARN) -I$(SRC) -o $@ $< $(SRC)/ngx_fcfh_redir.c \
	    -lcmocka -lcrypto

unit: $(UNIT)
	@for u in $(UNIT); do echo "== $$u"; $$u || exit 1; done

prove: module sim static
	prove -I$(TOP)/t/lib $(PROVE_FLAGS) $(TOP)/t/

test: unit prove

# upstream nginx (Debian's orig tarball) with the module linked in
STATIC   := $(BUILD)/static/nginx

static: $(STATIC)

$(STATIC): $(MODULE_SRCS)
	$(TOP)/tools/nginx-source.sh $(BUILD)/nginx-src $(FCFH_CACHE)
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
	$(TOP)/tools/nginx-source.sh $(BUILD)/nginx-src $(FCFH_CACHE)
	cd $(BUILD)/nginx-src && ./configure --with-debug --with-stream \
	    --with-stream_ssl_module --with-http_ssl_module \
	    --with-http_auth_request_module \
	    --with-cc-opt="-O1 -g $(SANITIZE)" --with-ld-opt="$(SANITIZE) -lcrypt" \
	    --add-module=$(TOP) --builddir=$(BUILD)/asan \
	    > $(BUILD)/asan-configure.log
	$(MAKE) -j$$(nproc) -C $(BUILD)/nginx-src -f $(BUILD)/asan/Makefile

# RSS bounds in the tests are loosened (FCFH_SANITIZED): ASan's redzones
# and quarantine are memory the module does not hold
test-asan: asan sim
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:quarantine_size_mb=16 \
	UBSAN_OPTIONS=print_stacktrace=1 FCFH_SANITIZED=1 \
	FCFH_NGINX=$(ASAN) FCFH_STREAM_MODULE=none FCFH_MODULE=none \
	FCFH_TIME_SCALE=3 prove -I$(TOP)/t/lib $(PROVE_FLAGS) $(TOP)/t/

# libFuzzer targets (clang-14).  The two that need nginx's pools and
# strings link nginx's own core files (the source used for "static") and
# t/unit/fuzz_stubs.c for the rest, which aborts if a parser reaches it.
FUZZ_CC      ?= clang-14
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_TARGETS := apf proxy_parse response htpasswd wsman escape preamble ws \
                jwt redir
FUZZ_TIME    ?= 60
FUZZ_NGX     := $(BUILD)/nginx-src/src
FUZZ_INC     := -I$(SRC) -I$(TOP)/t/unit -I$(BUILD) -I$(FUZZ_NGX)/core \
                -I$(FUZZ_NGX)/event -I$(FUZZ_NGX)/event/modules \
                -I$(FUZZ_NGX)/os/unix
FUZZ_CORE    := $(FUZZ_NGX)/core/ngx_string.c $(FUZZ_NGX)/core/ngx_palloc.c \
                $(FUZZ_NGX)/core/ngx_array.c $(FUZZ_NGX)/os/unix/ngx_alloc.c \
                $(TOP)/t/unit/fuzz_stubs.c

FUZZ_SRCS_apf         := $(SRC)/ngx_fcfh_apf.c
FUZZ_SRCS_escape      := $(SRC)/ngx_fcfh_escape.c
FUZZ_SRCS_preamble    := $(SRC)/ngx_fcfh_preamble.c
FUZZ_SRCS_ws          := $(SRC)/ngx_fcfh_ws.c
FUZZ_SRCS_proxy_parse := $(SRC)/ngx_fcfh_proxy_parse.c $(SRC)/ngx_fcfh_apf.c
FUZZ_SRCS_response    := $(SRC)/ngx_fcfh_response.c \
                         $(SRC)/ngx_fcfh_proxy_parse.c $(SRC)/ngx_fcfh_apf.c
FUZZ_SRCS_htpasswd    := $(SRC)/ngx_fcfh_htpasswd.c $(SRC)/ngx_fcfh_apf.c \
                         $(SRC)/ngx_fcfh_proxy_parse.c \
                         $(FUZZ_CORE)
FUZZ_SRCS_wsman       := $(SRC)/ngx_fcfh_wsman.c $(SRC)/ngx_fcfh_response.c \
                         $(SRC)/ngx_fcfh_proxy_parse.c $(SRC)/ngx_fcfh_apf.c \
                         $(FUZZ_CORE)
FUZZ_SRCS_jwt         := $(SRC)/ngx_fcfh_jwt.c
FUZZ_SRCS_redir       := $(SRC)/ngx_fcfh_redir.c
FUZZ_LIBS_jwt         := -ljwt

FUZZ_BINS := $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_TARGETS))

$(FUZZ_NGX)/core/ngx_string.c:
	$(TOP)/tools/nginx-source.sh $(BUILD)/nginx-src $(FCFH_CACHE)

.SECONDEXPANSION:
$(FUZZ_DIR)/fuzz_%: $(TOP)/t/unit/fuzz_%.c $$(FUZZ_SRCS_$$*) \
                    $(TOP)/t/unit/fuzz.h $(wildcard $(SRC)/*.h) $(BUILD)/Makefile
	@mkdir -p $(FUZZ_DIR)/corpus/$*
	$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_INC) -o $@ $< $(FUZZ_SRCS_$*) \
	    $(FUZZ_LIBS_$*) -lcrypto

# unit tests of the parsers that need nginx's pools and strings: linked
# like their fuzz targets, with the system compiler and no sanitizers
UNIT_NGX := $(BUILD)/test_wsman $(BUILD)/test_htpasswd

$(UNIT_NGX): $(BUILD)/test_%: $(TOP)/t/unit/test_%.c $$(FUZZ_SRCS_$$*) \
                    $(wildcard $(SRC)/*.h) $(BUILD)/Makefile
	$(CC) $(OPT) $(WARN) $(FUZZ_INC) -o $@ $< $(FUZZ_SRCS_$*) \
	    -lcmocka -lcrypto

fuzz: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	    echo "== fuzz_$$t: $(FUZZ_TIME) s"; \
	    $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_TIME) -max_len=8192 \
	        -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ \
	        $(FUZZ_DIR)/corpus/$$t $(TOP)/t/fuzz/$$t \
	        > $(FUZZ_DIR)/$$t.log 2>&1 \
	        || { tail -30 $(FUZZ_DIR)/$$t.log; exit 1; }; \
	    grep -E '^#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units' \
	        $(FUZZ_DIR)/$$t.log; \
	done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_TIME=15

fuzz-regress: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	    echo "== fuzz_$$t: replaying t/fuzz/$$t"; \
	    $(FUZZ_DIR)/fuzz_$$t $(TOP)/t/fuzz/$$t/* > $(FUZZ_DIR)/$$t.log 2>&1 \
	        || { tail -30 $(FUZZ_DIR)/$$t.log; exit 1; }; \
	done

# binary packages, built by dpkg-buildpackage in a copy of the tree
# (build/deb/src): the checkout is never written to
deb:
	$(TOP)/tools/build-deb.sh $(BUILD)/deb

deps:
	$(TOP)/tools/install-deps.sh

quickstart:
	$(TOP)/tools/quickstart.sh

clean:
	rm -rf $(BUILD)
