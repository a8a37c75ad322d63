# m87: three binaries from one internal static library.
#   make            build bin/m87, bin/m87-agent, bin/m87-server under $(BUILD)
#   make check      unit tests, then end-to-end tests against a real dockerd and registry
#   make asan       the whole suite built with AddressSanitizer and UndefinedBehaviorSanitizer
#   make valgrind   the agent under memcheck through its end-to-end tests (VALGRIND_TESTS)
#   make install    PREFIX=/usr/local DESTDIR=
#   make deps       install the Debian packages the build and the tests need (as root)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DESTDIR ?=
BUILD ?= build
CC ?= cc
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

PKGS := libcurl yajl yaml-0.1 libarchive libmicrohttpd sqlite3 libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

M87_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
	-Iinclude -Isrc $(PKG_CFLAGS) -MMD -MP
LDLIBS := -Wl,--as-needed $(PKG_LIBS) -lpthread

MODULES := common spec engine agent server cli
MAINS := src/cli/main.c src/agent/main.c src/server/main.c
LIB_SRCS := $(filter-out $(MAINS),$(foreach m,$(MODULES),$(wildcard src/$(m)/*.c)))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libm87.a

BINS := $(BUILD)/bin/m87 $(BUILD)/bin/m87-agent $(BUILD)/bin/m87-server

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
E2E_C_SRCS := $(filter-out tests/e2e/c/e2e-util.c,$(wildcard tests/e2e/c/*.c))
E2E_C_BINS := $(E2E_C_SRCS:tests/e2e/c/%.c=$(BUILD)/tests/e2e/%)
TOOLS := $(BUILD)/tests/tools/m87-faultproxy

.PHONY: all check unit e2e asan valgrind install clean deps fmt checksrc tests bench
# keep test objects: they are not intermediates to throw away
.SECONDARY:
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call SAY,CC,$<)$(CC) $(M87_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(call SAY,AR,$@)ar rcs $@ $^

$(BUILD)/bin/m87: $(BUILD)/src/cli/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(call SAY,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/m87-agent: $(BUILD)/src/agent/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(call SAY,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/m87-server: $(BUILD)/src/server/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(call SAY,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/tests/unit/unit-util.o $(LIB)
	@mkdir -p $(dir $@)
	$(call SAY,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/e2e/%: $(BUILD)/tests/e2e/c/%.o $(BUILD)/tests/e2e/c/e2e-util.o $(LIB)
	@mkdir -p $(dir $@)
	$(call SAY,LINK,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/tools/m87-faultproxy: tests/tools/faultproxy.c
	@mkdir -p $(dir $@)
	$(call SAY,CC,$<)$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(CFLAGS) -o $@ $<

BENCH_BINS := $(BUILD)/bench/server_load

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(call SAY,LINK,$@)$(CC) $(M87_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

bench: $(BENCH_BINS)

tests: $(BINS) $(UNIT_BINS) $(E2E_C_BINS) $(TOOLS) $(BENCH_BINS)

unit: tests
	@set -e; for t in $(UNIT_BINS); do echo "# $$t"; $$t; done

e2e: tests
	M87_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q tests/e2e $(PYTEST_ARGS)

check: tests
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory e2e

ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan:
	$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" check

# The agent under valgrind's memcheck through the end-to-end tests that drive it (a finding
# exits 99 and fails the test). Slow: VALGRIND_TESTS picks the files.
VALGRIND_TESTS ?= tests/e2e/test_compose_fields.py
valgrind: tests
	./scripts/valgrind-build.sh $(BUILD) $(BUILD)/valgrind
	M87_BUILD=$(abspath $(BUILD))/valgrind $(PYTHON) -m pytest -q $(VALGRIND_TESTS) $(PYTEST_ARGS)

install: $(BINS)
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/

deps:
	./scripts/install-deps.sh

fmt:
	clang-format -i $$(git ls-files '*.c' '*.h')

checksrc:
	@! git grep -nE '(^|[^a-z_0-9])(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets|system|popen) *\(' -- 'src/*.c' 'include/*.h' \
		|| { echo "checksrc: banned function used"; exit 1; }

clean:
	rm -rf build build-asan

-include $(LIB_OBJS:.o=.d) $(BUILD)/src/cli/main.d $(BUILD)/src/agent/main.d $(BUILD)/src/server/main.d
-include $(wildcard $(BUILD)/tests/*/*.d $(BUILD)/tests/e2e/c/*.d)
