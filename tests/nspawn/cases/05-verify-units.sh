#!/bin/bash
# (e) The installed units pass `systemd-analyze verify` without a word (it
# only warns on unknown keys, so any output is a failure), and their
# exposure scores stay where the README says.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

units=(/lib/systemd/system/printspoold*.service /lib/systemd/system/printspoold*.socket
    /lib/systemd/system/printspoold*.path /lib/systemd/system/printspoold*.timer)
echo "# units: ${units[*]##*/}"
check_eq "six units are installed" 6 "${#units[@]}"
out=$(systemd-analyze verify --man=no "${units[@]}" 2>&1)
check_eq "systemd-analyze verify prints nothing" "" "$out"

# score UNIT: the overall exposure level, as systemd (this PID 1) sees it.
score() {
    systemd-analyze security --no-pager "$1" 2>&1 |
        sed -n 's/.*Overall exposure level for [^ ]*: \([0-9.]*\).*/\1/p'
}
at_most() { awk -v s="$1" -v m="$2" 'BEGIN { exit !(s != "" && s <= m) }'; }
service=$(score printspoold.service)
cleanup=$(score printspoold-cleanup.service)
echo "# exposure: printspoold.service $service, printspoold-cleanup.service $cleanup"
check "printspoold.service exposure <= 1.5 ($service)" at_most "$service" 1.5
check "printspoold-cleanup.service exposure <= 1.0 ($cleanup)" at_most "$cleanup" 1.0
finish
