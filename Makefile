# lowbit build. `make` builds bin/lowbit-*; see docs/building.md.
#
# Layout: each of formats/ quantize/ convert/ verify/ is a static library made of its
# *.c files, except the tool mains, which are named lowbit-<tool>.c.
# Tests: tests/unit/test_*.c (one program each), tests/interop/*.c (linked with the
# real llama.cpp when present), tests/cli/*.sh; tests/run.sh runs them all.

# Cross builds (docs/building.md): make CROSS=aarch64-linux-gnu- with Debian's cross
# compiler and the dependencies' :arch -dev packages (scripts/setup.sh --cross ARCH); the
# tree goes to build-<triplet>/, the tools to build-<triplet>/bin/.
CROSS    ?=
ifneq ($(CROSS),)
TRIPLET  := $(patsubst %-,%,$(CROSS))
# Debian's multiarch folder: the triplet, except i686's, which is i386-linux-gnu
MULTIARCH := $(patsubst i686-%,i386-%,$(TRIPLET))
CC       := $(CROSS)gcc
BUILD    ?= build-$(TRIPLET)
BIN      ?= $(BUILD)/bin
PKG_CONFIG = PKG_CONFIG_LIBDIR=/usr/lib/$(MULTIARCH)/pkgconfig:/usr/share/pkgconfig pkg-config
# i686: SSE2 arithmetic, not the x87's 80-bit registers, so every float operation rounds
# as on x86-64 (the kernels' bytes must not depend on the machine)
ifneq ($(filter i686-% i386-%,$(TRIPLET)),)
ARCH_CFLAGS = -msse2 -mfpmath=sse
endif
else
PKG_CONFIG = pkg-config
endif
CC       ?= cc
OPT      ?= -O2 -g
PKGS      = zlib libcjson libarchive libcrypto
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# -ffp-contract=off: no fused multiply-add, so kernels give the same bytes at every -O
# level, with gcc and clang (determinism contract, docs/quantize.md).
CFLAGS_BASE = -std=c11 -D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE -Wall -Wextra -ffp-contract=off \
              -fno-fast-math -Iformats -Iquantize -Iconvert -Iverify
CFLAGS   ?=
ARCH_CFLAGS ?=
ALL_CFLAGS = $(CFLAGS_BASE) $(ARCH_CFLAGS) $(OPT) $(PKG_CFLAGS) $(CFLAGS)
LDLIBS    = $(PKG_LIBS) -lpthread -lm
BUILD    ?= build
BIN      ?= bin
PREFIX   ?= /usr/local
DESTDIR  ?=
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

LIBDIRS   = verify convert quantize formats
lib_srcs  = $(filter-out $(1)/lowbit-%.c,$(wildcard $(1)/*.c))
LIBS      = $(foreach d,$(LIBDIRS),$(BUILD)/lib$(d).a)
TOOL_SRCS = $(wildcard $(addsuffix /lowbit-*.c,$(LIBDIRS)))
TOOLS     = $(basename $(notdir $(TOOL_SRCS)))
TOOL_BINS = $(addprefix $(BIN)/,$(TOOLS))
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
HELPER_SRCS = $(wildcard tests/tools/*.c)
HELPER_BINS = $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(HELPER_SRCS))
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BINS = $(patsubst tests/fuzz/%.c,$(BUILD)/tests/replay_%,$(FUZZ_SRCS))

.PHONY: all test asan fuzz fuzz-long bench install clean tests check-cross FORCE
all: $(TOOL_BINS)
FORCE:

$(BUILD)/obj/%.o: %.c $(wildcard formats/*.h quantize/*.h convert/*.h verify/*.h) VERSION
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DLB_VERSION='"$(VERSION)"' -c $< -o $@

# simd.c passes 32-byte vectors only between inlined helpers; gcc's note that their ABI
# changed in 4.6 ignores the file's pragma, so it is silenced here.
$(BUILD)/obj/quantize/simd.o: CFLAGS_BASE += -Wno-psabi

# The .list stamp changes when a source is added or removed, so a removed file's
# object never lingers in the archive.
define lib_rule
$(BUILD)/lib$(1).list: FORCE
	@mkdir -p $$(dir $$@)
	@echo '$(call lib_srcs,$(1))' | cmp -s - $$@ || echo '$(call lib_srcs,$(1))' > $$@
$(BUILD)/lib$(1).a: $(patsubst %.c,$(BUILD)/obj/%.o,$(call lib_srcs,$(1))) $(BUILD)/lib$(1).list
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $(patsubst %.c,$(BUILD)/obj/%.o,$(call lib_srcs,$(1)))
endef
$(foreach d,$(LIBDIRS),$(eval $(call lib_rule,$(d))))

define tool_rule
$(BIN)/$(1): $(BUILD)/obj/$(2:.c=.o) $(LIBS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_CFLAGS) -o $$@ $$< $$(LIBS) $$(LDLIBS)
endef
$(foreach s,$(TOOL_SRCS),$(eval $(call tool_rule,$(basename $(notdir $(s))),$(s))))

$(BUILD)/tests/test_%: tests/unit/test_%.c tests/unit/tap.h $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(LIBS) $(LDLIBS)

# Helper programs the shell tests call (synthetic model writers...).
$(BUILD)/tests/tools/%: tests/tools/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

# Corpus replay: each fuzz target linked with a tiny main that feeds it every file given.
$(BUILD)/tests/replay_%: tests/fuzz/%.c tests/fuzz/replay_main.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< tests/fuzz/replay_main.c $(LIBS) $(LDLIBS)

tests: all $(UNIT_BINS) $(REPLAY_BINS) $(HELPER_BINS)

test: tests
	BUILD=$(BUILD) BIN=$(BIN) CC="$(CC)" bash tests/run.sh

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own tree.
asan:
	$(MAKE) test BUILD=build-asan BIN=build-asan/bin OPT="-O1 -g" \
	  CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

# libFuzzer targets (clang): build/fuzz/fuzz_<name>; run with e.g. build-fuzz/fuzz_gguf tests/fuzz/corpus/gguf
fuzz:
	@mkdir -p build-fuzz
	$(MAKE) $(foreach d,$(LIBDIRS),build-fuzz/lib$(d).a) BUILD=build-fuzz CC=clang OPT="-O1 -g" CFLAGS="-fsanitize=fuzzer-no-link,address,undefined"
	for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	  clang $(ALL_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -o build-fuzz/$$n $$f \
	    $(foreach d,$(LIBDIRS),build-fuzz/lib$(d).a) $(LDLIBS) || exit 1; done

# The fuzz campaign: every target for FUZZ_RUNS executions (or FUZZ_TIME s); inputs that add
# coverage are merged into tests/fuzz/corpus; figures in build-fuzz/fuzz-long.tsv (docs/fuzzing.md).
fuzz-long: fuzz
	bash tests/fuzz/run_long.sh

# The unit and CLI tests on another architecture under qemu-user (tests/cross.sh).
check-cross:
	bash tests/cross.sh $(ARCH)

bench: tests
	BUILD=$(BUILD) BIN=$(BIN) bash tests/bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/lowbit
	install -m 755 $(TOOL_BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/lowbit/

clean:
	rm -rf build build-asan build-fuzz build-o0 bin build-*-linux-gnu*
