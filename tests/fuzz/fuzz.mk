# fuzz.mk -- builds the libFuzzer targets into build/fuzz/ (run from the top of the
# tree; tests/fuzz/run calls it). The core is compiled again with clang, coverage
# instrumentation, ASan and UBSan; main.c is left out, each target has its own main.
# Variables are FUZZ_* so that CC=/CFLAGS= given to the top-level make do not leak in.
FUZZ_CC      := clang
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -Wall -Wextra -Werror -g -O1 -D_GNU_SOURCE -Icore -Itests/fuzz \
                $(shell pkg-config --cflags lua5.4 libcurl libedit)
FUZZ_LIBS    := -l:liblua5.4-cjson.a -l:liblua5.4.a $(shell pkg-config --libs libcurl) -lm -ldl
FUZZ_COVER   := $(FUZZ_SAN) -fsanitize=fuzzer-no-link

FUZZ_TARGETS := fuzz_duration fuzz_retry_after fuzz_headers fuzz_url fuzz_json fuzz_json_decode fuzz_token fuzz_redact
FUZZ_CORE    := $(patsubst core/%.c,$(FUZZ_BUILD)/obj/%.o,$(filter-out core/main.c,$(wildcard core/*.c)))
FUZZ_SUPPORT := $(FUZZ_BUILD)/obj/fuzz_lua.o $(FUZZ_BUILD)/obj/embedded.o
FUZZ_LUA_SRC := $(shell find lua -name '*.lua')

all: $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))

$(FUZZ_BUILD)/obj/%.o: core/%.c core/evalua.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_COVER) -c -o $@ $<

$(FUZZ_BUILD)/obj/fuzz_lua.o: tests/fuzz/fuzz_lua.c tests/fuzz/fuzz_lua.h core/evalua.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_COVER) -DFUZZ_DIR='"$(CURDIR)/tests/fuzz"' -c -o $@ $<

# The Lua modules as data: nothing in it to instrument.
$(FUZZ_BUILD)/embedded.c: $(FUZZ_LUA_SRC) scripts/embed-lua
	@mkdir -p $(@D)
	scripts/embed-lua lua $@

$(FUZZ_BUILD)/obj/embedded.o: $(FUZZ_BUILD)/embedded.c core/evalua.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_lua.h $(FUZZ_CORE) $(FUZZ_SUPPORT)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_CORE) $(FUZZ_SUPPORT) $(FUZZ_LIBS)

.PHONY: all
# Objects made only for pattern rules would otherwise be deleted as intermediates.
.SECONDARY: $(FUZZ_CORE) $(FUZZ_SUPPORT) $(FUZZ_BUILD)/embedded.c
.DELETE_ON_ERROR:
