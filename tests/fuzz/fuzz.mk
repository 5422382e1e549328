# fuzz.mk -- builds the libFuzzer targets into build/fuzz/ (run from the top of the
# tree; tests/fuzz/run calls it). The core is compiled again with clang, coverage
# instrumentation, ASan and UBSan; main.c is left out, each target has its own main.
CC       := clang
BUILD    := build/fuzz
SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
PKG_CFLAGS := $(shell pkg-config --cflags lua5.4 libcurl libedit)
PKG_LIBS := -l:liblua5.4-cjson.a -l:liblua5.4.a $(shell pkg-config --libs libcurl libedit) -lm -ldl
CFLAGS   := -std=c11 -Wall -Wextra -Werror -g -O1 -D_GNU_SOURCE $(PKG_CFLAGS) -Icore -Itests/fuzz
COVER    := $(SAN) -fsanitize=fuzzer-no-link

TARGETS  := fuzz_duration fuzz_retry_after fuzz_headers fuzz_url fuzz_json fuzz_token
CORE_OBJ := $(patsubst core/%.c,$(BUILD)/obj/%.o,$(filter-out core/main.c,$(wildcard core/*.c)))
# fuzz_headers compiles core/http.c into itself (find_header is static).
NOHTTP_OBJ := $(filter-out $(BUILD)/obj/http.o,$(CORE_OBJ))
SUPPORT  := $(BUILD)/obj/fuzz_lua.o $(BUILD)/obj/embedded.o
LUA_SRC  := $(shell find lua -name '*.lua')

all: $(addprefix $(BUILD)/,$(TARGETS))

$(BUILD)/obj/%.o: core/%.c core/evalua.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(COVER) -c -o $@ $<

$(BUILD)/obj/fuzz_lua.o: tests/fuzz/fuzz_lua.c tests/fuzz/fuzz_lua.h core/evalua.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(COVER) -DFUZZ_DIR='"$(CURDIR)/tests/fuzz"' -c -o $@ $<

# The Lua modules as data: nothing in it to instrument.
$(BUILD)/embedded.c: $(LUA_SRC) scripts/embed-lua
	@mkdir -p $(@D)
	scripts/embed-lua lua $@

$(BUILD)/obj/embedded.o: $(BUILD)/embedded.c core/evalua.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/fuzz_headers: tests/fuzz/fuzz_headers.c core/http.c $(NOHTTP_OBJ) $(SUPPORT)
	$(CC) $(CFLAGS) $(SAN) -fsanitize=fuzzer -o $@ $< $(NOHTTP_OBJ) $(SUPPORT) $(PKG_LIBS)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(CORE_OBJ) $(SUPPORT)
	$(CC) $(CFLAGS) $(SAN) -fsanitize=fuzzer -o $@ $< $(CORE_OBJ) $(SUPPORT) $(PKG_LIBS)

.PHONY: all
# Objects made only for pattern rules would otherwise be deleted as intermediates.
.SECONDARY: $(CORE_OBJ) $(SUPPORT) $(BUILD)/embedded.c
.DELETE_ON_ERROR:
