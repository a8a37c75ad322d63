# m87: three binaries from one static archive per module (docs/design.md).
#   make            build bin/m87, bin/m87-agent, bin/m87-server under $(BUILD)
#   make check      unit tests, then end-to-end tests against a real dockerd and registry
#   make asan       the whole suite built with AddressSanitizer and UndefinedBehaviorSanitizer
#   make valgrind   the agent under memcheck through its end-to-end tests (VALGRIND_TESTS)
#   make checkarch  every include and call against the layers of docs/design.md
#   make check-pg   the server-facing end-to-end tests with every m87-server on PostgreSQL
#   make install    PREFIX=/usr/local DESTDIR=
#   make deps       install the Debian packages the build and the tests need (as root)
#   make deb        the Debian packages m87, m87-agent, m87-server for amd64, arm64 and armhf
#                   into build-deb/ (scripts/build-deb.sh; DEB_ARCHES=amd64 for one)
#   make ARCH=arm64 (or armhf)        cross-build the programs and the unit tests into
#                   build-ARCH/ with Debian's cross compiler and the :ARCH libraries
#                   (scripts/install-cross.sh); `make ARCH=arm64 unit` runs them under qemu-user
#   make e2e-arm64 (or e2e-armhf)     the agent's compose and runner end-to-end tests with those
#                   programs under qemu-user

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DESTDIR ?=

# Cross builds: Debian's cross compiler and its multiarch libraries (/usr/lib/TRIPLET), a build
# directory of their own, and the tests run under qemu-user with that architecture's loader.
# armhf gets the 64-bit time_t and off_t of glibc >= 2.34, as Debian's own 64-bit time
# transition does: a device's clock runs past 2038.
ARCH ?=
ifeq ($(ARCH),arm64)
CROSS := aarch64-linux-gnu
QEMU_ARCH := aarch64
else ifeq ($(ARCH),armhf)
CROSS := arm-linux-gnueabihf
QEMU_ARCH := arm
ARCH_CFLAGS := -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64
else ifneq ($(ARCH),)
$(error ARCH=$(ARCH): only arm64 and armhf can be cross-built)
endif
ifneq ($(CROSS),)
BUILD ?= build-$(ARCH)
ifeq ($(origin CC),default)
CC := $(CROSS)-gcc
endif
ifeq ($(origin AR),default)
AR := $(CROSS)-ar
endif
PKG_CONFIG ?= PKG_CONFIG_LIBDIR=/usr/lib/$(CROSS)/pkgconfig:/usr/share/pkgconfig pkg-config
# No -L /usr/CROSS: the loader there (libc6-ARCH-cross, 2.36-8cross1) would load the libc.so.6
# of libc6:ARCH (2.36-9+deb12u14) from /lib/CROSS, and a loader and libc of two builds crash
# forked children. The :ARCH -dev packages bring libc6:ARCH with its own /lib loader.
RUN ?= qemu-$(QEMU_ARCH)-static
$(info m87: building for $(ARCH) ($(CC)) into $(BUILD)/)
endif
BUILD ?= build
CC ?= cc
PKG_CONFIG ?= pkg-config
RUN ?=
CFLAGS ?= -O2 -g
PYTHON ?= /usr/bin/python3
PYTEST_ARGS ?=
V ?= 0
ifeq ($(V),0)
Q := @
SAY = @printf '  %-5s %s\n' $(1) $(2);
else
Q :=
SAY =
endif

PKGS := libcurl yajl yaml-0.1 libarchive libmicrohttpd sqlite3 libcrypto nettle gnutls
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
# libarchive is dlopen()ed on first use (src/common/archive-lib.c), not linked: it costs every
# process ~3 MB at start. Only tests that build archives themselves link it.
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(filter-out libarchive,$(PKGS)) 2>/dev/null)
ARCHIVE_LIBS := $(shell $(PKG_CONFIG) --libs libarchive 2>/dev/null)

M87_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
	$(ARCH_CFLAGS) -Iinclude -Isrc $(PKG_CFLAGS) -MMD -MP
LDLIBS := -Wl,--as-needed $(PKG_LIBS) -lpthread
# m87-agent links libcurl's GnuTLS flavour (libcurl3-gnutls; same API and headers): its TLS is
# then GnuTLS and nettle, which Debian's libcurl loads and initialises in either flavour (through
# librtmp and libldap), instead of also initialising OpenSSL, 1.7 MB of resident pages more for
# an idle agent (docs/agent.md, Footprint).
AGENT_LDLIBS := $(patsubst -lcurl,-l:libcurl-gnutls.so.4,$(LDLIBS))

# One archive per module. Each binary links only the modules its layer may use, in dependency
# order (docs/design.md); `make checkarch` checks every include and every call against the arrows.
MODULES := common spec engine compose runner agent server cli
MAINS := src/cli/main.c src/agent/main.c src/server/main.c
# the PostgreSQL backend links libpq: linked by name (DB_OBJS), not from the server's archive
NOT_IN_LIBS := src/server/db-pg.c
mod_srcs = $(filter-out $(MAINS) $(NOT_IN_LIBS),$(wildcard src/$(1)/*.c))
mod_lib = $(BUILD)/lib/libm87-$(1).a
LIB_SRCS := $(foreach m,$(MODULES),$(call mod_srcs,$(m)))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
# the archives a program of each layer links, highest first
CLI_LIBS := $(foreach m,cli spec common,$(call mod_lib,$(m)))
SERVER_LIBS := $(foreach m,server spec common,$(call mod_lib,$(m)))
AGENT_LIBS := $(foreach m,agent runner compose engine spec common,$(call mod_lib,$(m)))
ALL_LIBS := $(foreach m,agent runner compose engine server cli spec common,$(call mod_lib,$(m)))
# The server's database backends, linked by name: db-dispatch.c refers to each weakly, and a weak
# reference does not pull an object out of an archive (docs/design.md, Database backends).
DB_OBJS := $(BUILD)/src/server/db-sqlite.o
# and db-pg.o with libpq where pkg-config finds libpq for the target (not in the cross builds
# today: such an m87-server refuses a PostgreSQL url); the agent and the CLI never link it
PQ_CFLAGS := $(shell $(PKG_CONFIG) --cflags libpq 2>/dev/null)
PQ_LIBS := $(shell $(PKG_CONFIG) --libs libpq 2>/dev/null)
ifneq ($(PQ_LIBS),)
DB_OBJS += $(BUILD)/src/server/db-pg.o
endif

BINS := $(BUILD)/bin/m87 $(BUILD)/bin/m87-agent $(BUILD)/bin/m87-server

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
E2E_C_SRCS := $(filter-out tests/e2e/c/e2e-util.c,$(wildcard tests/e2e/c/*.c))
E2E_C_BINS := $(E2E_C_SRCS:tests/e2e/c/%.c=$(BUILD)/tests/e2e/%)
TOOLS := $(BUILD)/tests/tools/m87-faultproxy

.PHONY: all check unit e2e asan asan-tests valgrind install clean deps fmt checksrc checkarch tests bench
# keep test objects: they are not intermediates to throw away
.SECONDARY:
all: $(BINS)
ifneq ($(CROSS),)
# a cross build is for the device and for its unit tests under qemu
all: $(UNIT_BINS)
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call SAY,CC,$<)$(CC) $(M87_CFLAGS) $(CFLAGS) -c -o $@ $<

define MODULE_LIB
$(call mod_lib,$(1)): $(patsubst %.c,$(BUILD)/%.o,$(call mod_srcs,$(1)))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	$$(call SAY,AR,$$@)$$(AR) rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call MODULE_LIB,$(m))))

# The dashboard's files, built into m87-server as C (scripts/gen-ui-assets.sh) that
# src/server/api-ui.c includes; a build output, never committed.
UI_FILES := $(sort $(wildcard src/server/ui/*.html src/server/ui/*.js src/server/ui/*.css \
	src/server/ui/*.svg))
$(BUILD)/gen/server/ui-assets.inc: scripts/gen-ui-assets.sh $(UI_FILES)
	@mkdir -p $(dir $@)
	$(call SAY,GEN,$@)sh scripts/gen-ui-assets.sh $@ $(UI_FILES)
$(BUILD)/src/server/api-ui.o: $(BUILD)/gen/server/ui-assets.inc
$(BUILD)/src/server/api-ui.o: M87_CFLAGS += -I$(BUILD)/gen

$(BUILD)/bin/m87: $(BUILD)/src/cli/main.o $(CLI_LIBS)
	@mkdir -p $(dir $@)
	$(call SAY,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/m87-agent: $(BUILD)/src/agent/main.o $(AGENT_LIBS)
	@mkdir -p $(dir $@)
	$(call SAY,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(AGENT_LDLIBS)

$(BUILD)/bin/m87-server: $(BUILD)/src/server/main.o $(DB_OBJS) $(SERVER_LIBS)
	@mkdir -p $(dir $@)
	$(call SAY,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PQ_LIBS) $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/tests/unit/unit-util.o $(DB_OBJS) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(call SAY,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PQ_LIBS) $(LDLIBS) $(ARCHIVE_LIBS) -lcmocka

$(BUILD)/tests/e2e/%: $(BUILD)/tests/e2e/c/%.o $(BUILD)/tests/e2e/c/e2e-util.o $(DB_OBJS) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(call SAY,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PQ_LIBS) $(LDLIBS) -lcmocka

$(BUILD)/tests/tools/m87-faultproxy: tests/tools/faultproxy.c
	@mkdir -p $(dir $@)
	$(call SAY,CC,$<)$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(ARCH_CFLAGS) $(CFLAGS) -o $@ $<

BENCH_BINS := $(BUILD)/bench/server_load $(BUILD)/bench/fleet_sim

# the load tools share their connections and loop (bench/loadgen.c)
$(BUILD)/bench/%: bench/%.c bench/loadgen.c bench/loadgen.h $(DB_OBJS) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(call SAY,LINK,$@)$(CC) $(M87_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< bench/loadgen.c $(DB_OBJS) $(ALL_LIBS) $(PQ_LIBS) $(LDLIBS)

bench: $(BENCH_BINS)

tests: $(BINS) $(UNIT_BINS) $(E2E_C_BINS) $(TOOLS) $(BENCH_BINS)

ifeq ($(CROSS),)
unit: tests
else
unit: $(BINS) $(UNIT_BINS)
endif
	@set -e; for t in $(UNIT_BINS); do echo "# $$t"; $(RUN) $$t; done

# The end-to-end tests in E2E_JOBS processes (pytest-xdist), each with its own dockerd and
# registry; a file's tests stay in one process. They mostly wait on dockerd, so two per core pay.
E2E_JOBS ?= 2
e2e: tests
	M87_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -n $(E2E_JOBS) --dist loadfile tests/e2e \
		$(PYTEST_ARGS)

check: tests
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory e2e

ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan:
	$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" check
asan-tests:
	$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" tests

# The agent under valgrind's memcheck through the end-to-end tests that drive it (a finding
# exits 99 and fails the test). Slow: VALGRIND_TESTS picks the files.
VALGRIND_TESTS ?= tests/e2e/test_compose_fields.py
valgrind: tests
	./scripts/valgrind-build.sh $(BUILD) $(BUILD)/valgrind
	M87_BUILD=$(abspath $(BUILD))/valgrind $(PYTHON) -m pytest -q $(VALGRIND_TESTS) $(PYTEST_ARGS)

# The agent's end-to-end tests of the compose executor and the runner with the cross-built
# programs under qemu-user (scripts/qemu-build.sh wraps them in build-ARCH/qemu/bin/), against
# the harness's amd64 dockerd over its Unix socket: everything but the CPU is real.
#   make e2e-arm64, make e2e-armhf      ARM_E2E_TESTS picks the files (docs/testing.md)
ARM_E2E_TESTS ?= $(wildcard tests/e2e/test_compose_*.py tests/e2e/test_runner_*.py)
.PHONY: e2e-arm64 e2e-armhf
e2e-arm64 e2e-armhf: e2e-%:
	$(MAKE) --no-print-directory ARCH=$* all
	./scripts/qemu-build.sh $(if $(filter arm64,$*),aarch64,arm) build-$* build-$*/qemu
	M87_BUILD=$(abspath build-$*)/qemu \
	M87_TARGET_CC=$(if $(filter arm64,$*),aarch64-linux-gnu,arm-linux-gnueabihf)-gcc $(PYTHON) -m pytest -q -n $(E2E_JOBS) --dist loadfile \
		$(ARM_E2E_TESTS) $(PYTEST_ARGS)

install: $(BINS)
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/

deps:
	./scripts/install-deps.sh

fmt:
	clang-format -i $$(git ls-files '*.c' '*.h')

# The layers of docs/design.md: includes, calls (from the objects) and circles of files.
checkarch: $(BINS) $(LIB_OBJS)
	$(PYTHON) scripts/checkarch.py $(BUILD)

checksrc:
	@! git grep -nE '(^|[^a-z_0-9])(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets|system|popen) *\(' -- 'src/*.c' 'include/*.h' \
		|| { echo "checksrc: banned function used"; exit 1; }

clean:
	rm -rf build build-asan build-logs build-arm64 build-armhf build-deb

# ---- fuzzing (libFuzzer, clang) ------------------------------------------------------------
#   make fuzz FUZZ_SECONDS=60   each harness for FUZZ_SECONDS on a copy of its corpus; new inputs
#                               stay in build-fuzz/corpus/TARGET, a crash fails with its input
#                               in build-fuzz/artifacts/TARGET/
#   make fuzz-regress           each harness once over fixtures/fuzz/TARGET and
#                               fixtures/fuzz/crashes/TARGET (fast; for CI)
# The library is rebuilt with clang under build-fuzz/ with coverage and sanitizers; only the
# modules the harnesses reach are compiled, so that the fuzz build never waits on the others.
FUZZ_CC ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_ARGS ?=
FUZZ_TARGETS := compose runspec interp dotenv yaml json bundle pull demux server creds selector cp
FUZZ_SAN := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIB_SRCS := $(filter src/common/% src/spec/% src/engine/% src/server/%,$(LIB_SRCS))
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_LIB := $(FUZZ_BUILD)/libm87-fuzz.a
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-regress

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call SAY,CC,$<)$(FUZZ_CC) $(M87_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	@rm -f $@
	$(call SAY,AR,$@)ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(DB_OBJS:$(BUILD)/%=$(FUZZ_BUILD)/obj/%) $(FUZZ_LIB)
	$(call SAY,LINK,$@)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PQ_LIBS) $(LDLIBS) $(ARCHIVE_LIBS)

fuzz-build: $(FUZZ_BINS)

# -timeout: an input that takes this many seconds is a finding (a hang), not a slow machine
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t; \
		echo "# fuzz_$$t for $(FUZZ_SECONDS)s"; \
		$(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ $(FUZZ_ARGS) \
			$(FUZZ_BUILD)/corpus/$$t fixtures/fuzz/$$t </dev/null; \
	done

fuzz-regress: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
		files=$$(find fixtures/fuzz/$$t fixtures/fuzz/crashes/$$t -type f 2>/dev/null || true); \
		echo "# fuzz_$$t: $$(echo "$$files" | wc -w) inputs"; \
		[ -z "$$files" ] || $(FUZZ_BUILD)/fuzz_$$t -timeout=10 $$files </dev/null >$(FUZZ_BUILD)/regress-$$t.log 2>&1 \
			|| { tail -n 40 $(FUZZ_BUILD)/regress-$$t.log; exit 1; }; \
	done

# the dashboard's files, as for the programs (above)
$(FUZZ_BUILD)/obj/src/server/api-ui.o: $(BUILD)/gen/server/ui-assets.inc
$(FUZZ_BUILD)/obj/src/server/api-ui.o: M87_CFLAGS += -I$(BUILD)/gen

-include $(wildcard $(FUZZ_BUILD)/obj/*/*/*.d $(FUZZ_BUILD)/obj/tests/fuzz/*.d)
# ---- end of fuzzing ------------------------------------------------------------------------

-include $(LIB_OBJS:.o=.d) $(BUILD)/src/cli/main.d $(BUILD)/src/agent/main.d $(BUILD)/src/server/main.d
-include $(wildcard $(BUILD)/tests/*/*.d $(BUILD)/tests/e2e/c/*.d $(BUILD)/bench/*.d)

# ---- the database backends (src/server/db.h, issue 18) ------------------------------------
# tests/db/db_conformance runs one sequence of db.h calls against the database its url names
# (tests/e2e/test_db_postgres.py starts a PostgreSQL for it); it links the PostgreSQL backend,
# db-pg.o, with libpq.
DB_TEST_BINS := $(if $(PQ_LIBS),$(BUILD)/tests/db/db_conformance)
$(BUILD)/src/server/db-pg.o: M87_CFLAGS += $(PQ_CFLAGS)
$(FUZZ_BUILD)/obj/src/server/db-pg.o: M87_CFLAGS += $(PQ_CFLAGS)
$(BUILD)/tests/db/%: $(BUILD)/tests/db/%.o $(BUILD)/src/server/db-pg.o $(SERVER_LIBS)
	@mkdir -p $(dir $@)
	$(call SAY,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PQ_LIBS) $(LDLIBS)
tests: $(DB_TEST_BINS)
-include $(wildcard $(BUILD)/tests/db/*.d $(BUILD)/src/server/db-pg.d)

# The server-facing end-to-end tests again with every m87-server on a fresh database of one
# PostgreSQL per pytest process (M87_TEST_DB=postgres, tests/e2e/harness/postgres.py).
PG_E2E_TESTS ?= $(wildcard tests/e2e/test_server_*.py tests/e2e/test_cli_*.py) \
	tests/e2e/test_sessions.py tests/e2e/test_fleet_rollouts.py tests/e2e/test_audit.py \
	tests/e2e/test_remote_exec.py tests/e2e/test_security_hostile_client.py \
	tests/e2e/test_remote_metrics_offline.py
.PHONY: check-pg
check-pg: tests
	M87_TEST_DB=postgres M87_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -n $(E2E_JOBS) \
		--dist loadfile $(PG_E2E_TESTS) $(PYTEST_ARGS)

# ---- Debian packages (scripts/build-deb.sh, packaging/debian) --------------------------------
DEB_ARCHES ?= amd64 arm64 armhf
.PHONY: deb
deb:
	./scripts/build-deb.sh $(DEB_ARCHES)
