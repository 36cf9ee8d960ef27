#!/bin/bash
# The cleanup timer is armed, and its service runs to success inside its
# (tighter) sandbox: PrivateUsers=, PrivateDevices=, idle scheduling.
# What the cleanup removes is tested with the daemon; this is the unit.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

check_eq "printspoold-cleanup.timer is waiting" active "$(state printspoold-cleanup.timer)"
check "it has a next elapse time" test -n "$(prop printspoold-cleanup.timer NextElapseUSecRealtime)"
echo "# next cleanup: $(prop printspoold-cleanup.timer NextElapseUSecRealtime)"
check_eq "Persistent=" yes "$(prop printspoold-cleanup.timer Persistent)"
check_eq "the timer triggers printspoold-cleanup.service" printspoold-cleanup.service \
    "$(prop printspoold-cleanup.timer Triggers)"

start=$(now)
systemctl start printspoold-cleanup.service
echo "# cleanup ran in $(elapsed_since "$start")s"
journalctl -q --no-pager -u printspoold-cleanup.service | tail -n 5 | sed 's/^/# /'
check "the cleanup command ran in its sandbox" \
    test "$(prop printspoold-cleanup.service ExecMainCode)" = 1
# LSB status 3: "unimplemented feature".
if [[ $(prop printspoold-cleanup.service ExecMainStatus) == 3 ]]; then
    ((FAILURES)) && finish
    skip "printspoold cleanup is not implemented yet (exit status 3)"
fi
check_eq "Result" success "$(prop printspoold-cleanup.service Result)"
check_eq "exit status" 0 "$(prop printspoold-cleanup.service ExecMainStatus)"
check_eq "it is not left running" inactive "$(state printspoold-cleanup.service)"
check_eq "CPU scheduling policy idle (5)" 5 "$(prop printspoold-cleanup.service CPUSchedulingPolicy)"
check "the spool directory is intact" test "$(stat -c '%a %U' /var/spool/printspoold)" = "711 printspoold"
finish
