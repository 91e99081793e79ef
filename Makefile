# qprof - layer-wise quantization profiler for GGUF llama-family models.
# `make` builds build/qprof and build/libqprof.a; `make help` lists targets.

CC       ?= cc
PREFIX   ?= /usr/local
BUILD    ?= build
ARCH     := $(shell $(CC) -dumpmachine | cut -d- -f1)

# Warnings live in one variable; CI adds -Werror with `make WERROR=1`.
WARN     := -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes -Wvla
ifeq ($(WERROR),1)
WARN     += -Werror
endif
OPT      ?= -O2 -g
# -march is never set globally: the dispatcher must run on any x86-64 (or
# arm64) CPU. SIMD flags are given per file below.
CFLAGS   += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -pthread -MMD -MP -I.
LDFLAGS  += -pthread

# ---- dependencies (pkg-config name : Debian package) ----------------------
DEPS_PC  := openblas hdf5 libcjson libpng cmocka libcrypto
NODEP_GOALS := deps clean help distclean demo
ifeq ($(filter $(NODEP_GOALS),$(MAKECMDGOALS)),)
deb_of = $(word 2,$(subst :, ,$(filter $(1):%,openblas:libopenblas-dev hdf5:libhdf5-dev libcjson:libcjson-dev libpng:libpng-dev cmocka:libcmocka-dev libcrypto:libssl-dev)))
$(foreach p,$(DEPS_PC),$(if $(shell pkg-config --exists $(p) 2>/dev/null && echo y),,\
  $(error missing library '$(p)': install the Debian package $(call deb_of,$(p)) (or run scripts/deps.sh))))
PC_CFLAGS := $(shell pkg-config --cflags openblas hdf5 libcjson libpng libcrypto)
# HDF5 dimension scales (H5DS) live in the high-level library, hdf5_hl.
PC_LIBS   := -lhdf5_hl $(shell pkg-config --libs openblas hdf5 libcjson libpng libcrypto) -lm
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka)
CMOCKA_LIBS   := $(shell pkg-config --libs cmocka)
endif
CFLAGS += $(PC_CFLAGS)

# ---- sources: one folder per module ---------------------------------------
# In dependency order: a module uses only the public headers of those
# before it (scripts/check-layout.sh holds that).
MODULES  := common quant gguf kernels tokenizer model eval output profiler bench
LIB_SRC  := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
ifeq ($(ARCH),x86_64)
LIB_SRC  += $(wildcard kernels/x86/*.c)
endif
ifeq ($(ARCH),aarch64)
LIB_SRC  += $(wildcard kernels/arm/*.c)
endif
TOOL_SRC := $(wildcard tools/*.c)
TEST_SRC := $(wildcard tests/test_*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB      := $(BUILD)/libqprof.a
QPROF    := $(BUILD)/qprof

# Per-file SIMD flags (BLIS/libjpeg-turbo style): only these objects may
# contain AVX/NEON instructions; dispatch.c decides at run time.
$(BUILD)/kernels/x86/avx2.o:   SIMD := -mavx2 -mfma -mf16c
$(BUILD)/kernels/x86/avx512.o: SIMD := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx2 -mfma -mf16c
$(BUILD)/kernels/arm/neon.o:   SIMD := -march=armv8.2-a+dotprod+fp16

.PHONY: all test check fuzz install deps clean help demo test-neon test-avx512-emu
all: $(QPROF) $(LIB)                              ## build build/qprof and build/libqprof.a

# eval/text.c embeds data/default_text.txt with .incbin (make sees no #include)
$(BUILD)/eval/text.o: data/default_text.txt

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SIMD) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(QPROF): $(TOOL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $(TOOL_OBJ) $(LIB) $(PC_LIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CMOCKA_CFLAGS) $< $(LIB) $(LDFLAGS) $(PC_LIBS) $(CMOCKA_LIBS) -o $@

# a random-weight GGUF of a real model's shapes (scripts/measure-memory.sh)
$(BUILD)/gen-synthetic: scripts/gen-synthetic.c $(LIB)
	$(CC) $(CFLAGS) $< $(LIB) $(LDFLAGS) $(PC_LIBS) -o $@

test: $(TESTS) $(QPROF)                           ## build and run every test (reads ../shared when present)
	@scripts/check-layout.sh
	@./tests/run_tests.sh $(TESTS)
	@$(MAKE) --no-print-directory test-install

check:                                            ## the test suite under ASan+UBSan, in build-san/
	$(MAKE) BUILD=build-san OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" test

# test-neon: kernels/arm/ cross-built for aarch64 into build-aarch64/ and run
# under qemu-user by scripts/test-neon.sh, on an emulated CPU with dotprod and
# one without. Only what the kernel tests link is built (common/ quant/
# kernels/ kernels/arm/); cmocka is Debian's arm64 package (make deps).
# On an arm64 host NEON_CROSS= builds natively and the script runs directly.
NEON_CROSS ?= $(if $(filter aarch64,$(ARCH)),,aarch64-linux-gnu-)
NEON_BUILD := build-aarch64
NEON_LIB   := $(NEON_BUILD)/libqprof-kernels.a
NEON_OBJ   := $(patsubst %.c,$(NEON_BUILD)/%.o,$(filter-out common/sha256.c,$(wildcard common/*.c quant/*.c kernels/*.c kernels/arm/*.c)))
NEON_TESTS := $(patsubst tests/%.c,$(NEON_BUILD)/tests/%,$(wildcard tests/test_kernels.c tests/test_quant.c))
# CFLAGS less the host's pkg-config include paths (x86 headers)
NEON_CFLAGS = $(filter-out $(PC_CFLAGS),$(CFLAGS))
# neon.c may hold ARMv8.2 instructions; neon_base.c must run on any ARMv8-A
$(NEON_BUILD)/kernels/arm/neon.o: SIMD := -march=armv8.2-a+dotprod+fp16
$(BUILD)/kernels/arm/neon_base.o $(NEON_BUILD)/kernels/arm/neon_base.o: SIMD := -march=armv8-a

$(NEON_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(NEON_CROSS)gcc $(NEON_CFLAGS) $(SIMD) -c $< -o $@

$(NEON_LIB): $(NEON_OBJ)
	@rm -f $@
	$(NEON_CROSS)ar rcs $@ $^

$(NEON_BUILD)/tests/%: tests/%.c $(NEON_LIB)
	@mkdir -p $(dir $@)
	$(NEON_CROSS)gcc $(NEON_CFLAGS) $< $(NEON_LIB) $(LDFLAGS) -lcmocka -lm -o $@

test-neon: $(NEON_TESTS)                          ## kernel tests built for aarch64, run under qemu-aarch64
	@scripts/test-neon.sh $(NEON_TESTS)

# test-avx512-emu: the avx512 variant's logic on any x86-64 with AVX2, for
# machines (like the development VM) without AVX-512: avx512.c and
# x86_tables.c rebuilt into build-emu512/ with tests/emu/avx512_emu.h
# force-included (plain-C AVX-512 intrinsics, the variant marked usable),
# linked with the rest of the library and run through test_kernels.
EMU_BUILD := build-emu512
EMU_FLAGS := -mavx2 -mfma -mf16c -include tests/emu/avx512_emu.h -Dqp_cpu_usable_avx512=qp_emu_usable_avx512
EMU_OBJ   := $(EMU_BUILD)/avx512.o $(EMU_BUILD)/x86_tables.o
$(EMU_BUILD)/%.o: kernels/x86/%.c tests/emu/avx512_emu.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(EMU_FLAGS) -c $< -o $@
$(EMU_BUILD)/test_kernels: tests/test_kernels.c $(EMU_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(CMOCKA_CFLAGS) $< $(EMU_OBJ) $(filter-out %/avx512.o %/x86_tables.o,$(LIB_OBJ)) \
	  $(LDFLAGS) $(PC_LIBS) $(CMOCKA_LIBS) -o $@

ifeq ($(ARCH),x86_64)
test-avx512-emu: $(EMU_BUILD)/test_kernels       ## kernel tests of the avx512 variant, AVX-512 emulated in C
	@$(EMU_BUILD)/test_kernels > $(EMU_BUILD)/test_kernels.log 2>&1 || { cat $(EMU_BUILD)/test_kernels.log; exit 1; }
	@grep '^variant avx512 ' $(EMU_BUILD)/test_kernels.log | grep -qv 'not usable' || \
	  { echo "test-avx512-emu: the avx512 variant was not tested"; exit 1; }
	@echo "test-avx512-emu: passed (test_kernels with the avx512 variant, AVX-512 emulated in C)"
else
test-avx512-emu:
	@echo "test-avx512-emu: skipped (x86-64 only)"
endif

# libFuzzer needs clang (Debian: clang, libclang-rt-14-dev). The seeds, the
# malformed corpus and two valid files written by test_gguf_malformed
# --write-seeds (alignment 32 and 64), go into build-fuzz/corpus/, which
# keeps what the fuzzer finds between runs; tests/ is never written.
# Crashes land in build-fuzz/crash-*.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_SRC     := common/error.c $(wildcard quant/*.c) gguf/reader.c gguf/writer.c
build-fuzz/fuzz_gguf: tests/fuzz/fuzz_gguf.c $(FUZZ_SRC) $(wildcard common/*.h quant/*.h gguf/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -I. $(WARN) \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $< $(FUZZ_SRC) -lm -o $@

fuzz: build-fuzz/fuzz_gguf $(BUILD)/tests/test_gguf_malformed ## fuzz the GGUF reader+writer for FUZZ_SECONDS (default 60)
	@mkdir -p build-fuzz/corpus
	cp tests/malformed/*.gguf build-fuzz/corpus/
	$(BUILD)/tests/test_gguf_malformed --write-seeds build-fuzz/corpus
	build-fuzz/fuzz_gguf -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
	  -print_final_stats=1 -artifact_prefix=build-fuzz/ build-fuzz/corpus

# install: bin/qprof, lib/libqprof.a, ONLY the public headers M/M.h as
# include/qprof/M/M.h (their "../common/common.h" includes resolve there as in
# the tree; a program writes #include <qprof/quant/quant.h>, docs/library.md),
# lib/pkgconfig/qprof.pc (from qprof.pc.in: names PREFIX, never DESTDIR) and
# share/man/man1/qprof.1. DESTDIR stages the tree for a package.
PUBLIC_H      := $(foreach m,$(MODULES),$(m)/$(m).h)
QPROF_VERSION := $(shell sed -n 's/^.define QPROF_VERSION "\(.*\)"/\1/p' common/common.h)
MAN1          := $(BUILD)/qprof.1
INSTALL_ROOT   = $(DESTDIR)$(PREFIX)
.PHONY: man test-install

# the manual page, generated from the binary's own help texts
$(MAN1): $(QPROF) scripts/gen-man.sh scripts/lib.sh
	scripts/gen-man.sh $(QPROF) > $@.tmp && mv $@.tmp $@

man: $(MAN1)                                      ## build/qprof.1, the man page, from build/qprof's help texts

install: all $(MAN1)                              ## install qprof, libqprof.a, public headers, qprof.pc, man page under PREFIX
	install -d $(INSTALL_ROOT)/bin $(INSTALL_ROOT)/lib/pkgconfig $(INSTALL_ROOT)/share/man/man1
	install -m 755 $(QPROF) $(INSTALL_ROOT)/bin/qprof
	install -m 644 $(LIB) $(INSTALL_ROOT)/lib/libqprof.a
	for h in $(PUBLIC_H); do install -d $(INSTALL_ROOT)/include/qprof/$${h%/*} && \
	  install -m 644 $$h $(INSTALL_ROOT)/include/qprof/$$h || exit 1; done
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(QPROF_VERSION)|' qprof.pc.in > $(INSTALL_ROOT)/lib/pkgconfig/qprof.pc
	chmod 644 $(INSTALL_ROOT)/lib/pkgconfig/qprof.pc
	install -m 644 $(MAN1) $(INSTALL_ROOT)/share/man/man1/qprof.1

# test-install: make install into temporary dirs, a program built against
# the installed tree with pkg-config, the man page rendered; every global
# symbol of libqprof.a named qp_*, and the library linked beside ggml's gguf_*.
test-install: $(QPROF) $(LIB) $(MAN1)             ## install into a temp dir and build a program against it; symbol checks
	+@MAKE='$(MAKE)' BUILD='$(BUILD)' CC='$(CC)' LDFLAGS='$(LDFLAGS)' tests/install/test-install.sh

demo:                                             ## install what is missing, fetch a model (MODEL=smollm2-135m), profile it
	@MODEL='$(MODEL)' BUILD='$(BUILD)' scripts/demo.sh

deps:                                             ## install the Debian packages qprof needs (as root, or through sudo)
	scripts/deps.sh

clean:                                            ## remove build outputs
	rm -rf build build-san build-fuzz build-aarch64 build-emu512

help:                                             ## this list
	@grep -E '^[a-z0-9-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | sed 's/:.*## /\t/'

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(NEON_OBJ:.o=.d) $(EMU_OBJ:.o=.d)
