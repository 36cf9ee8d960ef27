#!/bin/bash
# The package, installed as an administrator would, into the booted system:
# `apt-get install ./printspoold_*.deb`, offline (every dependency is in the
# image). Its maintainer scripts must leave the two sockets, the path unit
# and the timer enabled and running, and the daemon itself enabled (its
# D-Bus alias) but not running: it starts on demand. Every other case runs
# against this installation.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

check "the harness built a package" test -f "${DEB:-}"
check_eq "printspoold is not installed before" "" "$(package_status)"
check "apt-get install ./$(basename "${DEB:-none}") succeeds offline" apt_get install "$DEB"
check_eq "dpkg has it installed" "install ok installed ${DEB_VERSION:-}" "$(package_status)"
check_eq "every file of the package is on disk" "$(package_paths)" "$(existing_package_paths)"
check "the udev rule is where udev reads it" \
    test -f /lib/udev/rules.d/70-printspoold.rules -o -f /usr/lib/udev/rules.d/70-printspoold.rules
check "postinst created the user (sysusers.d)" id printspoold
check_eq "and the spool (tmpfiles.d)" "711 printspoold:printspoold" \
    "$(stat -c '%a %U:%G' /var/spool/printspoold 2>&1)"

# The units did not exist at boot: whatever runs now, postinst started.
for unit in printspoold.socket printspoold-unix.socket printspoold.path printspoold-cleanup.timer; do
    check_eq "$unit enabled by postinst" enabled "$(systemctl is-enabled "$unit" 2>&1)"
    check_eq "$unit started by postinst" active "$(state "$unit")"
done
check_eq "printspoold.service enabled (its D-Bus alias)" enabled \
    "$(systemctl is-enabled printspoold.service 2>&1)"
check_eq "printspoold.service NOT started by postinst" inactive "$(state printspoold.service)"
check_eq "no printspoold process runs" "" "$(daemon_processes)"
check_eq "the TCP socket is systemd's" "127.0.0.1:631" "$(prop printspoold.socket Listen | awk '{ print $1 }')"
check "the first request starts the daemon" ipp_ok_verbose "$TCP_URI"
check "printspoold.service is active now" becomes_active printspoold.service
finish
