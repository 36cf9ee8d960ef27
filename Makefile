# printspoold: build, install and test.
#
#   make                         cargo build --release
#   make install DESTDIR= PREFIX=/usr [BINARY=path] [INSTALL_SYSV=1]
#   make uninstall               removes exactly what install installs
#   make -s list-install         prints the installed paths, one a line
#   make man                     the manual pages, into $(CARGO_TARGET_DIR)/man
#   make check                   tests/run
#   make check-nspawn            tests/nspawn/run (root; boots systemd)
#
# Installing enables nothing: enabling units and creating the user and the
# spool directories is the package's job (see packaging/README.md).
#
# Unit, D-Bus and init files name /usr/bin/printspoold and
# /usr/share/doc/printspoold; install rewrites both to $(BINDIR) and
# $(DOCDIR), so the shipped files stay valid as they are for PREFIX=/usr.

PREFIX ?= /usr
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
DOCDIR ?= $(DATADIR)/doc/printspoold
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
INITDDIR ?= $(SYSCONFDIR)/init.d
DESTDIR ?=

CARGO ?= cargo
PKG_CONFIG ?= pkg-config
INSTALL ?= install
CARGO_TARGET_DIR ?= target
BINARY ?= $(CARGO_TARGET_DIR)/release/printspoold
INSTALL_SYSV ?=

# $(call pkgvar,PACKAGE,VARIABLE): a pkg-config variable, empty if unknown.
pkgvar = $(shell $(PKG_CONFIG) --variable=$(2) $(1) 2>/dev/null)

# Where systemd, udev and dbus-daemon look, as their .pc files say; each can
# be overridden on the command line. Computed once, and only if not given.
ifeq ($(origin systemdsystemunitdir),undefined)
systemdsystemunitdir := $(or $(call pkgvar,systemd,systemdsystemunitdir),$(PREFIX)/lib/systemd/system)
endif
ifeq ($(origin sysusersdir),undefined)
sysusersdir := $(or $(call pkgvar,systemd,sysusersdir),$(PREFIX)/lib/sysusers.d)
endif
ifeq ($(origin tmpfilesdir),undefined)
tmpfilesdir := $(or $(call pkgvar,systemd,tmpfilesdir),$(PREFIX)/lib/tmpfiles.d)
endif
ifeq ($(origin systemdsystemgeneratordir),undefined)
systemdsystemgeneratordir := $(or $(call pkgvar,systemd,systemdsystemgeneratordir),$(PREFIX)/lib/systemd/system-generators)
endif

UNITS := $(wildcard systemd/*.service systemd/*.socket systemd/*.path systemd/*.timer)
UDEV_RULES := $(wildcard udev/*.rules)
DBUS_SERVICES := $(wildcard dbus/*.service)
DBUS_POLICIES := $(wildcard dbus/*.conf)
DBUS_INTERFACES := $(wildcard dbus/*.xml)
README := $(wildcard README.md)

ifneq ($(UDEV_RULES),)
ifeq ($(origin udevrulesdir),undefined)
udevrulesdir := $(or $(call pkgvar,udev,udevdir),$(PREFIX)/lib/udev)/rules.d
endif
endif
ifneq ($(DBUS_SERVICES)$(DBUS_POLICIES)$(DBUS_INTERFACES),)
ifeq ($(origin dbussystemservicesdir),undefined)
dbussystemservicesdir := $(or $(call pkgvar,dbus-1,system_bus_services_dir),$(DATADIR)/dbus-1/system-services)
endif
ifeq ($(origin dbussystemconfdir),undefined)
dbussystemconfdir := $(or $(call pkgvar,dbus-1,datadir),$(DATADIR))/dbus-1/system.d
endif
ifeq ($(origin dbusinterfacesdir),undefined)
dbusinterfacesdir := $(or $(call pkgvar,dbus-1,interfaces_dir),$(DATADIR)/dbus-1/interfaces)
endif
endif

# The single list of installed files: MODE:SOURCE:DESTINATION:HOW, where HOW
# is "copy", "subst" (rewrite the paths named above) or "page" (a manual
# page cut out of man/printspoold.man by man/generate, then "subst"). install, uninstall
# and list-install all read it, so they cannot disagree.
FILES := 0755:$(BINARY):$(BINDIR)/printspoold:copy
FILES += $(foreach f,$(UNITS),0644:$(f):$(systemdsystemunitdir)/$(notdir $(f)):subst)
FILES += 0755:systemd/printspoold-generator:$(systemdsystemgeneratordir)/printspoold-generator:copy
FILES += 0644:packaging/printspoold.sysusers.conf:$(sysusersdir)/printspoold.conf:copy
FILES += 0644:packaging/printspoold.tmpfiles.conf:$(tmpfilesdir)/printspoold.conf:copy
FILES += $(foreach f,$(UDEV_RULES),0644:$(f):$(udevrulesdir)/$(notdir $(f)):subst)
FILES += $(foreach f,$(DBUS_SERVICES),0644:$(f):$(dbussystemservicesdir)/$(notdir $(f)):subst)
FILES += $(foreach f,$(DBUS_POLICIES),0644:$(f):$(dbussystemconfdir)/$(notdir $(f)):copy)
FILES += $(foreach f,$(DBUS_INTERFACES),0644:$(f):$(dbusinterfacesdir)/$(notdir $(f)):copy)
FILES += $(foreach f,$(README),0644:$(f):$(DOCDIR)/README.md:copy)
FILES += 0644:systemd/README.md:$(DOCDIR)/README.systemd.md:copy
FILES += 0644:packaging/README.md:$(DOCDIR)/README.packaging.md:copy
FILES += 0644:man/printspoold.man:$(MANDIR)/man8/printspoold.8:page
FILES += 0644:man/printspoold.man:$(MANDIR)/man5/printspoold.toml.5:page
ifneq ($(INSTALL_SYSV),)
FILES += 0755:packaging/printspoold.init:$(INITDDIR)/printspoold:subst
endif

SUBST := sed -e 's|/usr/bin/printspoold|$(BINDIR)/printspoold|g' \
             -e 's|/usr/share/doc/printspoold|$(DOCDIR)|g'

.PHONY: all build install uninstall list-install man check check-nspawn clean

all: build

build:
	$(CARGO) build --release --locked

install:
	@test -x '$(BINARY)' || { \
	    echo 'make install: $(BINARY) is missing: run "make" first or set BINARY=' >&2; \
	    exit 1; }
	@set -e; for entry in $(FILES); do \
	    mode=$${entry%%:*}; rest=$${entry#*:}; \
	    src=$${rest%%:*}; rest=$${rest#*:}; \
	    dest='$(DESTDIR)'$${rest%%:*}; how=$${rest#*:}; \
	    echo "  INSTALL $$dest"; \
	    $(INSTALL) -d -m 0755 "$$(dirname "$$dest")"; \
	    if [ "$$how" = page ]; then \
	        man/generate "$$src" "$$(basename "$$dest")" | $(SUBST) >"$$dest.tmp"; \
	        chmod "$$mode" "$$dest.tmp"; \
	        mv -f "$$dest.tmp" "$$dest"; \
	    elif [ "$$how" = subst ]; then \
	        $(SUBST) "$$src" >"$$dest.tmp"; \
	        chmod "$$mode" "$$dest.tmp"; \
	        mv -f "$$dest.tmp" "$$dest"; \
	    else \
	        $(INSTALL) -m "$$mode" "$$src" "$$dest"; \
	    fi; \
	done

uninstall:
	@for entry in $(FILES); do \
	    rest=$${entry#*:}; rest=$${rest#*:}; \
	    dest='$(DESTDIR)'$${rest%%:*}; \
	    echo "  RM      $$dest"; \
	    rm -f "$$dest"; \
	done
	@rmdir '$(DESTDIR)$(DOCDIR)' 2>/dev/null || true

list-install:
	@for entry in $(FILES); do \
	    rest=$${entry#*:}; rest=$${rest#*:}; \
	    echo '$(DESTDIR)'$${rest%%:*}; \
	done

# To read them before installing: man -l target/man/printspoold.8
man:
	@mkdir -p '$(CARGO_TARGET_DIR)/man'
	man/generate man/printspoold.man printspoold.8 >'$(CARGO_TARGET_DIR)/man/printspoold.8'
	man/generate man/printspoold.man printspoold.toml.5 >'$(CARGO_TARGET_DIR)/man/printspoold.toml.5'

check:
	tests/run

check-nspawn:
	tests/nspawn/run

clean:
	$(CARGO) clean
