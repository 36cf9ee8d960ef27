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
check "systemctl list-timers lists it" \
    bash -c 'systemctl list-timers --all --no-pager | grep -q printspoold-cleanup.timer'
calendar=$(sed -n 's/^OnCalendar=//p' /lib/systemd/system/printspoold-cleanup.timer)
check "systemd-analyze calendar accepts OnCalendar=$calendar" \
    systemd-analyze calendar "$calendar"
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

# What it removes: with a retention of 1 s, a finished job goes and a
# queued (held) job stays, while the daemon runs. Cleanup reads the history
# segments: with max_jobs_in_memory = 0 a job is let go of as soon as it
# finishes, and a clean stop seals it into history/.
write_config '[server]
idle_exit_after = 0
[history]
retention = 1
max_jobs_in_memory = 0'
systemctl restart printspoold.service
out=$(ipp_show "$TCP_URI" "$DATA/print-job-held.test" -d "jobname=keep-$$" -f "$DATA/hello.txt" 2>&1)
held=$(sed -n 's/.*job-id (integer) = \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
out=$(ipp_show "$TCP_URI" /usr/share/cups/ipptool/print-job.test -f "$DATA/hello.txt" 2>&1)
done_id=$(sed -n 's/.*job-id (integer) = \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
check "a held and a printed job exist" test -n "$held" -a -n "$done_id"
check "the printed job completes" wait_until 10 test -e "/var/spool/printspoold/printed/job-$done_id.txt"
systemctl restart printspoold.service
check "the restart sealed the finished job into history/" \
    bash -c 'compgen -G "/var/spool/printspoold/history/*.hist" >/dev/null'
sleep 2
since=$(date '+%Y-%m-%d %H:%M:%S')
systemctl start printspoold-cleanup.service
summary=$(journalctl -q --no-pager -u printspoold-cleanup.service --since "$since" | grep 'cleanup: purged' | tail -n 1)
echo "# $summary"
# Earlier cases' finished jobs are past the retention too.
check "the journal shows the summary, finished jobs purged" grep -Eq 'purged [1-9][0-9]* finished job' <<<"$summary"
gone_test=$(mktemp)
cat >"$gone_test" <<'TEST'
# Get-Job-Attributes of a job that must not exist: -d jobid=N.
{
	NAME "Get-Job-Attributes of a purged job"
	OPERATION Get-Job-Attributes
	GROUP operation-attributes-tag
	ATTR charset attributes-charset utf-8
	ATTR naturalLanguage attributes-natural-language en
	ATTR uri printer-uri $uri
	ATTR integer job-id $jobid
	ATTR name requesting-user-name root
	STATUS client-error-not-found
}
TEST
check "the purged job is gone from the running daemon" \
    ipp_ok_verbose "$TCP_URI" "$gone_test" -d "jobid=$done_id"
rm -f "$gone_test"
check "the held job stays" \
    ipp_ok_verbose "$TCP_URI" "$DATA/get-job-held.test" -d "jobid=$held" -d "jobname=keep-$$"
check_eq "the daemon kept running" active "$(state printspoold.service)"
rm -f "$CONFIG"
systemctl restart printspoold.service
finish
