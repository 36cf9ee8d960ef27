#!/bin/bash
# (c) Reload: `systemctl reload` applies a changed configuration in the
# running process (a new printer appears over IPP); a broken configuration
# keeps the old one and `systemctl status` says why (STATUS=).
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

OFFICE=ipp://127.0.0.1:631/printers/office
LAB=ipp://127.0.0.1:631/printers/lab
OFFICE_CONFIG='[server]
idle_exit_after = 0

[[printer]]
name = "office"
device_uri = "file:///var/spool/printspoold/printed-office"'
LAB_CONFIG="$OFFICE_CONFIG

[[printer]]
name = \"lab\"
device_uri = \"file:///var/spool/printspoold/printed-lab\""

write_config "$OFFICE_CONFIG"
check "printer office answers (activates the service)" ipp_ok_verbose "$OFFICE"
pid=$(main_pid)
check "printer lab does not exist yet" bash -c "! ipptool -T 10 -q '$LAB' '$DATA/get-printer-attributes.test'"

write_config "$LAB_CONFIG"
check "systemctl reload succeeds" systemctl reload printspoold.service
start=$(now)
check "printer lab appears after the reload" wait_until 10 ipp_ok "$LAB"
echo "# new printer served $(elapsed_since "$start")s after systemctl reload returned"
check_eq "reloaded in-process: same main PID" "$pid" "$(main_pid)"
check_eq "no restart happened (NRestarts)" 0 "$(prop printspoold.service NRestarts)"
check_eq "service still active/running" active/running \
    "$(prop printspoold.service ActiveState)/$(prop printspoold.service SubState)"
good_status=$(prop printspoold.service StatusText)
echo "# StatusText after a good reload: $good_status"

write_config '[server
idle_exit_after = "soon"
[[printer]]
name = '
check "systemctl reload with a broken configuration" systemctl reload printspoold.service
status_says_config() {
    local text
    text=$(prop printspoold.service StatusText)
    [[ $text != "$good_status" ]] && grep -qi config <<<"$text"
}
check "STATUS= explains the rejected configuration" wait_until 10 status_says_config
bad_status=$(prop printspoold.service StatusText)
echo "# StatusText after a bad reload: $bad_status"
check "systemctl status shows it" \
    bash -c "systemctl status --no-pager printspoold.service | grep -qF -- \"\$1\"" _ "$bad_status"
check_eq "still the same process" "$pid" "$(main_pid)"
check_eq "service still active/running" active/running \
    "$(prop printspoold.service ActiveState)/$(prop printspoold.service SubState)"
check "the old configuration stays in force: lab" ipp_ok "$LAB"
check "and office" ipp_ok "$OFFICE"

write_config "$OFFICE_CONFIG"
check "systemctl reload with a good configuration again" systemctl reload printspoold.service
lab_gone() { ! ipp_ok "$LAB" 2>/dev/null; }
check "the removed printer lab disappears" wait_until 10 lab_gone
check "office still answers" ipp_ok "$OFFICE"
check_eq "still no restart (NRestarts)" 0 "$(prop printspoold.service NRestarts)"
finish
