#!/bin/bash
# The unit sets WatchdogSec=; the daemon must ping (WATCHDOG=1) or systemd
# kills it. With a 1 s watchdog (drop-in) the service must still be the same
# process after 5 s, never restarted.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

DROPIN=/run/systemd/system/printspoold.service.d/50-test-watchdog.conf
cleanup() {
    rm -f "$DROPIN"
    systemctl daemon-reload
}
trap cleanup EXIT
mkdir -p "$(dirname "$DROPIN")"
printf '[Service]\nWatchdogSec=1s\n' >"$DROPIN"
systemctl daemon-reload

check_eq "the shipped unit sets a watchdog" 30s \
    "$(systemctl cat printspoold.service | sed -n 's/^WatchdogSec=//p' | head -n 1)"
since=$(date +%s)
check "the service answers with a 1 s watchdog" ipp_ok "$TCP_URI"
pid=$(main_pid)
check_eq "systemd expects a ping every second (WatchdogUSec)" 1s "$(prop printspoold.service WatchdogUSec)"
sleep 5
check_eq "5 s later: the same process" "$pid" "$(main_pid)"
check_eq "not restarted (NRestarts)" 0 "$(prop printspoold.service NRestarts)"
check_eq "still active" active "$(state printspoold.service)"
check "the journal shows no watchdog timeout" \
    bash -c "! journalctl -q --no-pager --since @$since -u printspoold.service | grep -i 'watchdog timeout'"
finish
