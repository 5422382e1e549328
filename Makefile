# evalua -- build, test, demo, bench, install.
#   make                 build bin/evalua (installs missing Debian packages first)
#   make check           C unit tests + Lua tests (TAP, run by prove)
#   make check SANITIZE=address,undefined
#   make stress          the randomized core test for STRESS_SEEDS (200) seeds on ASan+UBSan
#   make demo            the main job against the local sandbox
#   make bench           benchmarks -> tests/bench/work/RESULTS.md
#   make fuzz            every libFuzzer target for FUZZ_SECONDS (default 60) each
#   make install PREFIX=/usr/local

PREFIX   ?= /usr/local
CC       ?= cc
OPT      ?= -O2
SANITIZE ?=
comma    := ,
VARIANT  := $(if $(SANITIZE),san-$(subst $(comma),-,$(SANITIZE)),release)
BUILD    := build/$(VARIANT)
# Where the binary goes; tests/sanitize.sh builds a sanitizer binary beside bin/evalua.
EVALUA_BIN ?= bin/evalua

CFLAGS_BASE = -std=c11 -Wall -Wextra -Werror -g $(OPT) -D_GNU_SOURCE \
              $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
# Release builds allocate through mimalloc (core/alloc.c; linking it replaces malloc for the
# whole process); sanitizer builds keep libc's, which ASan must own.
ALLOC_CFLAGS = $(if $(SANITIZE),,-DEVALUA_MIMALLOC)
ALLOC_LIBS   = $(if $(SANITIZE),,-lmimalloc)
# Evaluated when a recipe runs, i.e. after scripts/install-deps made pkg-config work.
PKG_CFLAGS  = $(shell pkg-config --cflags lua5.4 libcurl libedit) $(ALLOC_CFLAGS)
# libedit is not linked: core/readline.c opens it when the REPL starts.
PKG_LIBS    = $(ALLOC_LIBS) -l:liblua5.4-cjson.a -l:liblua5.4.a $(shell pkg-config --libs libcurl) -lm -ldl
LDFLAGS_SAN = $(if $(SANITIZE),-fsanitize=$(SANITIZE))

CORE_SRC  := $(wildcard core/*.c)
CORE_OBJ  := $(patsubst core/%.c,$(BUILD)/%.o,$(CORE_SRC))
LIB_OBJ   := $(filter-out $(BUILD)/main.o,$(CORE_OBJ))
LUA_SRC   := $(shell find lua -name '*.lua' 2>/dev/null)

.PHONY: all check stress lint demo bench fuzz install clean
all: bin/evalua

# Installs what is missing (apt-get; sudo when not root) the first time, or when
# pkg-config cannot find a library any more.
$(BUILD)/.deps: scripts/install-deps
	@mkdir -p $(BUILD)
	@{ command -v pkg-config >/dev/null && command -v luac5.4 >/dev/null \
	   && pkg-config --exists lua5.4 libcurl libedit \
	   && [ -f /usr/include/lua5.4/lua-cjson.h ] && [ -f /usr/include/mimalloc.h ]; } || scripts/install-deps build
	@touch $@

$(BUILD)/embedded.c: $(LUA_SRC) scripts/embed-lua | $(BUILD)/.deps
	scripts/embed-lua lua $@

$(BUILD)/%.o: core/%.c core/evalua.h $(BUILD)/.deps
	$(CC) $(CFLAGS_BASE) $(PKG_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/embedded.o: $(BUILD)/embedded.c core/evalua.h
	$(CC) $(CFLAGS_BASE) $(PKG_CFLAGS) $(CFLAGS) -Icore -c -o $@ $<

# The binary records which variant it is, so switching SANITIZE relinks it.
$(EVALUA_BIN): $(CORE_OBJ) $(BUILD)/embedded.o FORCE
	@mkdir -p $(dir $@)
	@if [ "$$(cat $@.variant 2>/dev/null)" != "$(VARIANT)" ] || [ ! -f $@ ] \
	   || [ -n "$$(find $(CORE_OBJ) $(BUILD)/embedded.o -newer $@ 2>/dev/null)" ]; then \
	  echo "LINK $@ ($(VARIANT))"; \
	  $(CC) $(LDFLAGS_SAN) $(LDFLAGS) -o $@ $(CORE_OBJ) $(BUILD)/embedded.o $(PKG_LIBS) && \
	  echo $(VARIANT) > $@.variant; \
	fi
FORCE:

# ---- tests ----
bin/test_core: tests/c/test_core.c $(LIB_OBJ) $(BUILD)/embedded.o
	$(CC) $(CFLAGS_BASE) $(PKG_CFLAGS) $(CFLAGS) -Icore $(LDFLAGS_SAN) -o $@ $< $(LIB_OBJ) $(BUILD)/embedded.o $(PKG_LIBS)

check: bin/evalua bin/test_core
	@scripts/install-deps check
	@tests/run-all

STRESS_SEEDS ?= 200
stress: bin/evalua
	@scripts/install-deps check
	@tests/sanitize.sh --stress $(STRESS_SEEDS)

lint:
	luacheck -q lua tests/lua scripts

# Every libFuzzer target for FUZZ_SECONDS each (make check runs them for 5 s).
FUZZ_SECONDS ?= 60
fuzz: bin/evalua
	@scripts/install-deps check
	@tests/fuzz/run $(FUZZ_SECONDS)

demo: bin/evalua
	@scripts/demo

bench: bin/evalua
	@scripts/install-deps bench
	@tests/bench/run

install: bin/evalua
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 bin/evalua $(DESTDIR)$(PREFIX)/bin/evalua
	install -m 0644 docs/evalua.1 $(DESTDIR)$(PREFIX)/share/man/man1/evalua.1

clean:
	rm -rf build bin
