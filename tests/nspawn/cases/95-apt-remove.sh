#!/bin/bash
# `apt-get remove` while the daemon runs: prerm stops the sockets, the path
# unit, the timer and then the daemon; every file of the package goes.
# What the administrator and the daemon made (configuration, spool, the
# user) and the units' enablement stay until purge (96-apt-purge).
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

check_eq "the package is installed" "install ok installed" \
    "$(package_status | awk '{ print $1, $2, $3 }')"
check "the daemon is started by a request" ipp_ok_verbose "$TCP_URI"
check "apt-get remove printspoold succeeds" apt_get remove printspoold
check_eq "dpkg keeps only its record of the configuration" "deinstall ok config-files" \
    "$(package_status | awk '{ print $1, $2, $3 }')"

check "no printspoold process is left" wait_until 10 test -z "$(daemon_processes)"
for unit in printspoold.service printspoold.socket printspoold-unix.socket \
    printspoold.path printspoold-cleanup.timer printspoold-cleanup.service; do
    check "$unit is stopped" bash -c "! systemctl is-active -q $unit"
done
# What stays are the enablement symlinks, dangling: deb-systemd-helper keeps
# an administrator's choices until purge, so a reinstall enables what was
# enabled. The D-Bus alias is one of them, and an alias is all systemctl
# can still list.
check_eq "systemctl lists no printspoold unit file but the dangling alias" \
    dbus-org.printspoold.Spooler1.service "$(printspoold_units_known)"
check "the alias is a dangling symlink" bash -c \
    'test -L /etc/systemd/system/dbus-org.printspoold.Spooler1.service &&
     test ! -e /etc/systemd/system/dbus-org.printspoold.Spooler1.service'
check_eq "the enablement links left all dangle" "" \
    "$(find /etc/systemd/system -name '*printspoold*' ! -name 'printspoold-test.service' -xtype f)"
check_eq "no file of the package is left" "" "$(existing_package_paths)"
check "the udev rule is gone" \
    test ! -e /lib/udev/rules.d/70-printspoold.rules -a ! -e /usr/lib/udev/rules.d/70-printspoold.rules
check "nothing listens on 127.0.0.1:631" not_listening 631
check "/run/printspoold is gone" test ! -e /run/printspoold
check "the spool stays until purge" test -d /var/spool/printspoold
check_eq "the user stays until purge" printspoold "$(getent passwd printspoold | cut -d: -f1)"
finish
