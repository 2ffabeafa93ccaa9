# vp: Makefile.  Quiet unless V=1.  ./configure writes config.mk (run here
# automatically when missing; as root, missing packages are installed first).
#   make            library and programs
#   make check      unit tests and Bats tests   (WERROR=1 adds -Werror;
#                   SANITIZE=address,undefined or SANITIZE=thread builds
#                   everything with those sanitizers)
#   make demo       Fashion-MNIST (or synthetic) end to end
#   make fuzz       the libFuzzer targets, FUZZ_SECONDS each (needs clang)
#   make install    PREFIX=/usr/local DESTDIR=

-include config.mk
PREFIX ?= /usr/local
CC ?= cc

ifeq ($(V),1)
Q =
else
Q = @
endif

WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wno-unused-parameter -Wformat=2 -Wno-format-nonliteral
ifeq ($(WERROR),1)
WARN += -Werror
endif
# SANITIZE=address,undefined (or thread): sanitizer builds; a change of
# flags rebuilds everything (.flags records the last ones)
ifneq ($(SANITIZE),)
SAN_FLAGS = -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
# SANITIZE=thread builds with clang and its OpenMP runtime (libomp): its
# OMPT tool libarcher tells TSan about OpenMP's barriers, locks and
# reductions (scripts/run-tests loads it).  GCC's libgomp is not
# instrumented, so TSan would report races inside it that are not there.
ifneq ($(findstring thread,$(SANITIZE)),)
CC = clang
OPENMP_CFLAGS = -fopenmp=libomp
endif
CFLAGS_ALL = -std=gnu11 -O3 -g -fPIC $(WARN) $(OPENMP_CFLAGS) $(ARCH_CFLAGS) \
             -Ilib $(HDF5_CFLAGS) $(EXTRA_CFLAGS) $(SAN_FLAGS)
AVX2_FLAGS = -mavx2 -mfma
AVX512_FLAGS = -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma

LIB_SRC = $(wildcard lib/*.c)
LIB_OBJ = $(LIB_SRC:.c=.o)
PROGS = vp-build vp-search vp-bench vp-diag vp-warmup vp-gen vp-tune vp-merge
BINS = $(addprefix bin/,$(PROGS))
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(patsubst tests/unit/%.c,bin/%,$(UNIT_SRC))
MAN1 = $(addprefix man/,$(addsuffix .1,$(PROGS)))
MAN5 = man/vp-index.5 man/vp.yaml.5

all: $(BINS)

config.mk: configure
	@sh ./configure || { [ "$$(id -u)" = 0 ] && sh scripts/install-deps && sh ./configure; }

lib/vp_dist_avx2.o: CFLAGS_EXTRA_FILE = $(if $(ARCH_CFLAGS),$(AVX2_FLAGS))
lib/vp_dist_avx512.o: CFLAGS_EXTRA_FILE = $(if $(ARCH_CFLAGS),$(AVX512_FLAGS))
lib/vp_hnsw_walk_avx2.o: CFLAGS_EXTRA_FILE = $(if $(ARCH_CFLAGS),$(AVX2_FLAGS))
lib/vp_hnsw_walk_avx512.o: CFLAGS_EXTRA_FILE = $(if $(ARCH_CFLAGS),$(AVX512_FLAGS) -mavx512vnni)

.flags: FORCE
	@echo '$(CFLAGS_ALL)' | cmp -s - $@ || echo '$(CFLAGS_ALL)' > $@

%.o: %.c config.mk .flags
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS_ALL) $(CFLAGS_EXTRA_FILE) -MMD -MP -c -o $@ $<

lib/libvp.a: $(LIB_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

bin/%: cmd/%.o cmd/vp_cli.o lib/libvp.a
	@mkdir -p bin
	@echo "  LINK    $@"
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDWRAP) $(LIBS)

# vp-search counts its allocations (--stats) by wrapping the allocator
bin/vp-search: LDWRAP = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

bin/test_%: tests/unit/test_%.o lib/libvp.a
	@mkdir -p bin
	@echo "  LINK    $@"
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $^ $(LIBS)

# cmd/vp-build.c -> cmd/vp-build.o (pattern rule above); keep objects
.SECONDARY: $(LIB_OBJ) $(patsubst %,cmd/%.o,$(PROGS)) cmd/vp_cli.o $(UNIT_SRC:.c=.o)

unit: $(UNIT_BINS)

check: all unit
	@command -v bats >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && sh scripts/install-deps; }
	@VP_SANITIZE='$(SANITIZE)' sh scripts/run-tests

demo: all
	@sh scripts/demo

# libFuzzer targets of tests/fuzz/ (clang, ASan, UBSan), FUZZ_SECONDS each
FUZZ_SECONDS ?= 20
fuzz:
	@sh scripts/fuzz $(FUZZ_SECONDS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/include/vp $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 lib/libvp.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 lib/*.h $(DESTDIR)$(PREFIX)/include/vp/
	install -m 644 $(MAN1) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(MAN5) $(DESTDIR)$(PREFIX)/share/man/man5/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/^#define VP_VERSION "\(.*\)"/\1/p' lib/vp.h)|' \
	  vp.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/vp.pc

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(PROGS)) \
	  $(DESTDIR)$(PREFIX)/lib/libvp.a $(DESTDIR)$(PREFIX)/lib/pkgconfig/vp.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/vp

clean:
	rm -rf bin build lib/*.o lib/*.d lib/libvp.a cmd/*.o cmd/*.d tests/unit/*.o tests/unit/*.d

distclean: clean
	rm -f config.mk .flags

.PHONY: all check unit demo fuzz install uninstall clean distclean FORCE

-include $(LIB_OBJ:.o=.d) $(wildcard cmd/*.d tests/unit/*.d)
