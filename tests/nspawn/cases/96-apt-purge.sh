#!/bin/bash
# `apt-get purge`: on top of removal (95-apt-remove, or from the installed
# state when run alone), postrm removes the spool, the configuration, the
# system user and group, and every trace of the units being enabled.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

check "the package is known to dpkg" test -n "$(package_status)"
# Something for purge to remove: an administrator's configuration.
write_config '[server]
idle_exit_after = 0'
check "apt-get purge printspoold succeeds" apt_get purge printspoold
check_eq "dpkg no longer knows the package" "" \
    "$(package_status | grep -v '^unknown ok not-installed' || true)"

check_eq "no printspoold process is left" "" "$(daemon_processes)"
check_eq "systemctl lists no printspoold unit file" "" "$(printspoold_units_known)"
check_eq "no enablement symlink is left" "" \
    "$(find /etc/systemd /run/systemd/system -name '*printspoold*' \
        ! -name 'printspoold-test.service' 2>/dev/null)"
check_eq "deb-systemd-helper forgot the units" "" \
    "$(find /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
        -name '*printspoold*' 2>/dev/null)"
check_eq "no file of the package is left" "" "$(existing_package_paths)"
check "the udev rule is gone" \
    test ! -e /lib/udev/rules.d/70-printspoold.rules -a ! -e /usr/lib/udev/rules.d/70-printspoold.rules
check "the spool /var/spool/printspoold is gone" test ! -e /var/spool/printspoold
check "the configuration /etc/printspoold is gone" test ! -e /etc/printspoold
check "/run/printspoold is gone" test ! -e /run/printspoold
check_eq "the user printspoold is gone" "" "$(getent passwd printspoold)"
check_eq "the group printspoold is gone" "" "$(getent group printspoold)"
check_eq "and no group lists it as a member" "" "$(grep -E '[:,]printspoold(,|$)' /etc/group)"
finish
