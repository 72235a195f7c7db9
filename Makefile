# podkit — one GNU Makefile for every binary, test, fuzz target and benchmark.
#
#   make                 build every binary into bin/ (objects in build/)
#   make deps            install the Debian packages that are missing (root)
#   make test            deps + build + unit and end-to-end tests, one summary line
#   make test-unit       unit tests only          make test-e2e   end-to-end tests only
#   make test SANITIZER=address,undefined        the same under ASan+UBSan (build/san-*)
#   make fuzz            libFuzzer targets (clang) make fuzz-smoke run each briefly
#   make bench           benchmarks against the peers we compete with
#   make demo            deps + build + the demo
#   make install PREFIX=/usr/local DESTDIR=      make clean
#
# Knobs: WERROR=1 turns warnings into errors; CC, CFLAGS, LDFLAGS as usual;
# FUZZ_SECONDS (default 10) bounds each fuzz-smoke run.

VERSION := 0.1.0
PREFIX ?= /usr/local
DESTDIR ?=
SANITIZER ?=
WERROR ?= 0
FUZZ_SECONDS ?= 10
CFLAGS ?= -O2 -g
PAUSE_CC ?= musl-gcc
FUZZ_CC ?= clang

comma := ,
GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

# A sanitizer build lives in its own tree so it never mixes with the release objects.
ifeq ($(SANITIZER),)
BUILD := build/release
BINDIR := bin
else
BUILD := build/san-$(subst $(comma),-,$(SANITIZER))
BINDIR := $(BUILD)/bin
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ifeq ($(WERROR),1)
WARN += -Werror
endif

ifeq ($(SANITIZER),)
HARDEN_CFLAGS := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now
else
HARDEN_CFLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
HARDEN_LDFLAGS := -fsanitize=$(SANITIZER)
endif

YAML_CFLAGS := $(shell pkg-config --cflags yaml-0.1 2>/dev/null)
YAML_LIBS := $(shell pkg-config --libs yaml-0.1 2>/dev/null || echo -lyaml)
EVENT_CFLAGS := $(shell pkg-config --cflags libevent_core 2>/dev/null)
EVENT_LIBS := $(shell pkg-config --libs libevent_core 2>/dev/null || echo -levent_core)
# ambassador-redis: libevent's HTTP (admin endpoint) and OpenSSL bufferevents, hiredis.
# libevent_openssl and OpenSSL are not linked: ambassador-redis dlopens them for
# --upstream-tls only (ar_tls.c). (pkg-config would add -levent, the whole library again.)
EVENT_EXTRA_LIBS := $(filter-out -levent,$(shell pkg-config --libs libevent_extra 2>/dev/null \
	|| echo -levent_extra))
HIREDIS_CFLAGS := $(shell pkg-config --cflags hiredis 2>/dev/null)
HIREDIS_LIBS := $(shell pkg-config --libs hiredis 2>/dev/null || echo -lhiredis)
PCRE2_CFLAGS := $(shell pkg-config --cflags libpcre2-8 2>/dev/null)
PCRE2_LIBS := $(shell pkg-config --libs libpcre2-8 2>/dev/null || echo -lpcre2-8)
JANSSON_CFLAGS := $(shell pkg-config --cflags jansson 2>/dev/null)
JANSSON_LIBS := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)

ALL_CPPFLAGS := -D_GNU_SOURCE -Ilib $(YAML_CFLAGS) $(EVENT_CFLAGS) $(HIREDIS_CFLAGS) \
	$(PCRE2_CFLAGS) $(JANSSON_CFLAGS) $(CPPFLAGS)
ALL_CFLAGS := -std=c11 $(WARN) $(HARDEN_CFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(HARDEN_LDFLAGS) $(LDFLAGS)

# Objects are rebuilt whenever the flags change (WERROR=1, CFLAGS=...), not only
# when sources do: flags.txt is rewritten only when its content differs.
FLAGS_STAMP := $(BUILD)/flags.txt
FLAGS_NOW = $(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) | $(PAUSE_BUILD_CC) $(PAUSE_FLAGS) \
	| $(VERSION)
# The git revision has its own stamp: only the files that print it are rebuilt per commit.
REV_STAMP := $(BUILD)/rev.txt

.PHONY: all deps deps-test deps-fuzz deps-bench test test-unit test-e2e fuzz fuzz-smoke \
	bench demo install uninstall clean FORCE
.DEFAULT_GOAL := all

$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(FLAGS_NOW)' | cmp -s - $@ || echo '$(FLAGS_NOW)' > $@

$(REV_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(GIT_REV)' | cmp -s - $@ || echo '$(GIT_REV)' > $@

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# ---- lib/: code shared by two or more binaries --------------------------------
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_A := $(BUILD)/lib/libpodkit.a
LIB_LIBS := $(YAML_LIBS)

$(BUILD)/lib/pk_version.o: $(REV_STAMP)
$(BUILD)/lib/pk_version.o: ALL_CPPFLAGS += -DPODKIT_VERSION='"$(VERSION)"' \
	-DPODKIT_GIT_REV='"$(GIT_REV)"'

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# ---- pause/: the infra process, one file, static with musl --------------------
# It links nothing of lib/ on purpose: every byte counts (goal: <= 16 KiB).
# -z noseparate-code lets the ELF header and read-only data share pages with the code:
# without it the linker pads three segments to 4 KiB each (17.5 KB instead of 13 KB).
ifeq ($(SANITIZER),)
PAUSE_BUILD_CC := $(PAUSE_CC)
PAUSE_FLAGS := -std=c11 $(WARN) -Os -static -s -fno-asynchronous-unwind-tables \
	-fno-unwind-tables -ffunction-sections -fdata-sections -Wl,--gc-sections \
	-fstack-protector-strong -D_FORTIFY_SOURCE=2 -Wl,-z,noexecstack -Wl,--build-id=none \
	-Wl,-z,noseparate-code
else
PAUSE_BUILD_CC := $(CC)
PAUSE_FLAGS := -std=c11 $(WARN) -O1 -g $(HARDEN_CFLAGS) $(HARDEN_LDFLAGS)
endif

$(BINDIR)/pause: pause/pause.c $(FLAGS_STAMP) $(REV_STAMP)
	@command -v $(PAUSE_BUILD_CC) >/dev/null || \
		{ echo "$(PAUSE_BUILD_CC) not found: run 'make deps' as root" >&2; exit 1; }
	@mkdir -p $(@D)
	$(PAUSE_BUILD_CC) -D_GNU_SOURCE -DPODKIT_VERSION='"$(VERSION)"' \
		-DPODKIT_GIT_REV='"$(GIT_REV)"' $(PAUSE_FLAGS) $< -o $@

# ---- shim/: podshim. Everything but main.c goes into an archive the tests link. ----------
SHIM_SRC := $(filter-out shim/main.c,$(wildcard shim/*.c))
SHIM_A := $(BUILD)/shim/libshim.a
SHIM_LIBS := $(EVENT_LIBS) $(YAML_LIBS)

$(SHIM_A): $(SHIM_SRC:%.c=$(BUILD)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(BINDIR)/podshim: $(BUILD)/shim/main.o $(SHIM_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $^ -o $@ $(SHIM_LIBS)

# ---- ambassador-redis/: the Redis ambassador. The same layout as shim/. ------------------
AR_SRC := $(filter-out ambassador-redis/main.c,$(wildcard ambassador-redis/*.c))
AR_A := $(BUILD)/ambassador-redis/libar.a
AR_LIBS := $(EVENT_EXTRA_LIBS) $(EVENT_LIBS) $(HIREDIS_LIBS) $(YAML_LIBS) -ldl

$(AR_A): $(AR_SRC:%.c=$(BUILD)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(BINDIR)/ambassador-redis: $(BUILD)/ambassador-redis/main.o $(AR_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $^ -o $@ $(AR_LIBS)

# ---- sidecar-log/: the log shipper. The same layout. -------------------------------------
# PCRE2 for --multiline-start (JIT-compiled), jansson to check JSON lines and read _bulk
# replies.
SL_SRC := $(filter-out sidecar-log/main.c,$(wildcard sidecar-log/*.c))
SL_A := $(BUILD)/sidecar-log/libsl.a
SL_LIBS := $(EVENT_EXTRA_LIBS) $(EVENT_LIBS) $(HIREDIS_LIBS) $(YAML_LIBS) $(PCRE2_LIBS) \
	$(JANSSON_LIBS)

$(SL_A): $(SL_SRC:%.c=$(BUILD)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(BINDIR)/sidecar-log: $(BUILD)/sidecar-log/main.o $(SL_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $^ -o $@ $(SL_LIBS)

# ---- adapter-metrics/: the metrics adapter. The same layout. ------------------------------
AM_SRC := $(filter-out adapter-metrics/main.c,$(wildcard adapter-metrics/*.c))
AM_A := $(BUILD)/adapter-metrics/libam.a
AM_LIBS := $(EVENT_EXTRA_LIBS) $(EVENT_LIBS) $(HIREDIS_LIBS) $(YAML_LIBS) $(PCRE2_LIBS) \
	$(JANSSON_LIBS) -lz -lm -pthread

$(AM_A): $(AM_SRC:%.c=$(BUILD)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

# Release builds link adapter-metrics statically (static-pie keeps ASLR): the shared
# libraries' pages would be most of its memory (RSS 3.6 MB dynamic, 2.0 MB static), and an
# image then needs nothing else. glibc warns that getaddrinfo wants its NSS modules at run
# time; files and dns are built into it since 2.34, so host names still resolve without them.
AM_LINK := $(if $(SANITIZER),$(ALL_LDFLAGS),-static-pie -Wl,-z,relro,-z,now $(LDFLAGS))

$(BINDIR)/adapter-metrics: $(BUILD)/adapter-metrics/main.o $(AM_A) $(LIB_A)
	@mkdir -p $(@D)
	@rm -f $@.tmp
	$(CC) $(ALL_CFLAGS) $(AM_LINK) $^ -o $@.tmp $(AM_LIBS) 2>&1 | \
		{ grep -v "statically linked applications requires at runtime\|: in function" || true; }
	@mv $@.tmp $@

BINS := $(BINDIR)/pause $(if $(wildcard shim/main.c),$(BINDIR)/podshim) \
	$(if $(wildcard ambassador-redis/main.c),$(BINDIR)/ambassador-redis) \
	$(if $(wildcard sidecar-log/main.c),$(BINDIR)/sidecar-log) \
	$(if $(wildcard adapter-metrics/main.c),$(BINDIR)/adapter-metrics)
# The archives of every binary's modules, for the unit tests, and every library they use.
MODULE_A := $(if $(SHIM_SRC),$(SHIM_A)) $(if $(AR_SRC),$(AR_A)) $(if $(SL_SRC),$(SL_A)) \
	$(if $(AM_SRC),$(AM_A))
MODULE_DIRS := shim ambassador-redis sidecar-log adapter-metrics
MODULE_LIBS := $(SHIM_LIBS) $(AR_LIBS) $(SL_LIBS) $(if $(AM_SRC),$(AM_LIBS))

all: $(BINS)

# ---- tests -----------------------------------------------------------------------
# Each tests/unit/test_X.c is a cmocka binary linked with everything but main.o.
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

$(BUILD)/tests/unit/%.o: ALL_CPPFLAGS += $(MODULE_DIRS:%=-I%)
$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(MODULE_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $^ -o $@ -lcmocka $(MODULE_LIBS)

deps:
	@sh mk/deps.sh build test
deps-test: deps
deps-fuzz:
	@sh mk/deps.sh fuzz
deps-bench:
	@sh mk/deps.sh bench

# Order matters on the command line (deps before building) but not for -j users.
test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@sh tests/run.sh --bindir $(BINDIR) --build $(BUILD) --unit --e2e

test-unit: deps
	@$(MAKE) --no-print-directory $(UNIT_BINS)
	@sh tests/run.sh --bindir $(BINDIR) --build $(BUILD) --unit

test-e2e: deps
	@$(MAKE) --no-print-directory all
	@sh tests/run.sh --bindir $(BINDIR) --build $(BUILD) --e2e

# ---- fuzzing: libFuzzer with clang, sources compiled afresh with ASan+UBSan ------
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_FLAGS := -std=c11 -g -O1 -D_GNU_SOURCE -Ilib $(MODULE_DIRS:%=-I%) $(YAML_CFLAGS) \
	$(EVENT_CFLAGS) $(HIREDIS_CFLAGS) $(PCRE2_CFLAGS) $(JANSSON_CFLAGS) $(WARN) -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all

build/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(SHIM_SRC) $(AR_SRC) $(SL_SRC) $(AM_SRC) \
		$(wildcard lib/*.h shim/*.h ambassador-redis/*.h sidecar-log/*.h adapter-metrics/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $< $(LIB_SRC) $(SHIM_SRC) $(AR_SRC) $(SL_SRC) $(AM_SRC) -o $@ \
		$(MODULE_LIBS)

fuzz: deps-fuzz
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz-smoke: fuzz
	@sh tests/fuzz/smoke.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# ---- benchmarks, demo, install ----------------------------------------------------
bench: deps-bench
	@$(MAKE) --no-print-directory all
	@for b in tests/bench/*.sh; do sh "$$b" $(BINDIR) || exit 1; done

demo: deps
	@$(MAKE) --no-print-directory all
	@sh examples/demo.sh $(BINDIR)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/

uninstall:
	rm -f $(patsubst $(BINDIR)/%,$(DESTDIR)$(PREFIX)/bin/%,$(BINS))

clean:
	rm -rf build bin

FORCE:

# Objects of chained rules (tests/unit/*.o) are kept, so a second run rebuilds nothing.
.SECONDARY:

-include $(shell find build -name '*.d' 2>/dev/null)
