#!/bin/bash
# What a package install leaves behind, seen from the booted system: the
# user, the directories, and which units are enabled (sockets, path and
# timer: yes; the service itself: "enabled" only as its D-Bus alias,
# wanted by no target, so nothing starts it at boot).
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

check "systemd is PID 1" test "$(cat /proc/1/comm)" = systemd
echo "# $(systemctl --version | head -n 1)"
check "user printspoold exists" id printspoold
check "printspoold is in group lp (USB printer nodes)" \
    bash -c 'id -nG printspoold | tr " " "\n" | grep -qx lp'
check_eq "spool directory mode and owner" "711 printspoold:printspoold" \
    "$(stat -c '%a %U:%G' /var/spool/printspoold)"
check_eq "drop directory mode and owner" "1733 printspoold:printspoold" \
    "$(stat -c '%a %U:%G' /var/spool/printspoold/incoming)"
for unit in printspoold.socket printspoold-unix.socket printspoold.path printspoold-cleanup.timer; do
    check_eq "$unit is enabled" enabled "$(systemctl is-enabled "$unit")"
done
check_eq "printspoold.service is enabled (its D-Bus alias exists)" enabled \
    "$(systemctl is-enabled printspoold.service)"
check "the alias dbus-org.printspoold.Spooler1.service links to it" \
    test "$(readlink /etc/systemd/system/dbus-org.printspoold.Spooler1.service)" != ""
check_eq "no target wants the service (not started at boot)" "" \
    "$(systemctl show -P WantedBy printspoold.service)"
check_eq "printspoold-cleanup.service is static (timer-driven)" static \
    "$(systemctl is-enabled printspoold-cleanup.service)"
check_eq "the drop-directory watch is waiting" active "$(state printspoold.path)"
check_eq "the cleanup timer is waiting" active "$(state printspoold-cleanup.timer)"
check "ipptool is available" command -v ipptool
finish
