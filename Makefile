# vigil — GNU make build. `make`, `make test`, `make run`, `make bench`, `make fuzz`, `make install`.
# SANITIZE=address,undefined builds everything with those sanitizers into build-san/.

VERSION   := 0.1.0
PREFIX    ?= /usr/local
SANITIZE  ?=
BUILD     ?= $(if $(SANITIZE),build-san,build)
CC        ?= cc
PKGS      := libhs libarchive libssl libcrypto sqlite3 inih liburing cmocka
WERROR    ?= $(if $(CI),-Werror,)

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs libhs libarchive libssl libcrypto sqlite3 inih liburing 2>/dev/null)

CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra $(WERROR) -fvisibility=hidden -pthread \
            -D_GNU_SOURCE -DVIGIL_VERSION=\"$(VERSION)\" -Iinclude -Isrc $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lm -pthread
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

LIB_SRC  := $(sort $(wildcard src/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps run test bench bench-integrity bench-watch bench-defense fuzz install clean format-check
all: deps $(BUILD)/vigil

# Installs missing Debian packages (as root) or says exactly what to run.
deps:
	@scripts/deps.sh build

$(BUILD)/%.o: %.c $(wildcard include/vigil/*.h src/*.h) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libvigil.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/vigil: $(CLI_OBJ) $(BUILD)/libvigil.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libvigil.a $(LDLIBS)

# The destruction simulator of bench/defense.sh and the defense tests (not installed).
$(BUILD)/vigil-attack: bench/attack.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libvigil.a | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libvigil.a $(LDLIBS) -lcmocka

# The quick start's first command: scan the places where data piles up on this machine.
SCAN_PLACES := /home /root /srv /var/www /var/backups /opt /etc /tmp
run: all
	@places=""; for p in $(SCAN_PLACES); do [ -e $$p ] && places="$$places $$p"; done; \
	  $(BUILD)/vigil scan $$places; rc=$$?; [ $$rc -le 1 ] || exit $$rc

test: deps $(BUILD)/vigil $(BUILD)/vigil-attack $(TESTS)
	@scripts/deps.sh test
	@BUILD=$(BUILD) tests/run.sh $(TESTS)

bench: all
	@scripts/deps.sh bench
	@BUILD=$(BUILD) bench/run.sh

bench-integrity: all
	@scripts/deps.sh bench
	@BUILD=$(BUILD) bench/integrity.sh

bench-watch: all
	@BUILD=$(BUILD) bench/watch.sh

bench-defense: all $(BUILD)/vigil-attack
	@scripts/deps.sh test
	@BUILD=$(BUILD) bench/defense.sh

fuzz:
	@scripts/deps.sh build
	@$(MAKE) -f fuzz/Makefile BUILD=build-fuzz $(FUZZ_TARGET)

install: all
	install -D -m 0755 $(BUILD)/vigil $(DESTDIR)$(PREFIX)/bin/vigil
	install -D -m 0644 doc/vigil.1 $(DESTDIR)$(PREFIX)/share/man/man1/vigil.1
	install -D -m 0644 doc/vigil.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/vigil.conf.5
	@# The policy is the administrator's once installed: never overwritten.
	[ -e $(DESTDIR)/etc/vigil/vigil.conf ] || install -D -m 0644 dist/vigil.conf $(DESTDIR)/etc/vigil/vigil.conf
	install -D -m 0644 dist/vigil-scan.service $(DESTDIR)$(PREFIX)/lib/systemd/system/vigil-scan.service
	install -D -m 0644 dist/vigil-scan.timer $(DESTDIR)$(PREFIX)/lib/systemd/system/vigil-scan.timer
	install -D -m 0644 dist/vigil-watch.service $(DESTDIR)$(PREFIX)/lib/systemd/system/vigil-watch.service

format-check:
	clang-format --dry-run --Werror $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) include/vigil/*.h src/*.h

clean:
	rm -rf build build-san build-fuzz
