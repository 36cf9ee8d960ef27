#!/bin/bash
# (d) Stop: `systemctl stop` ends the daemon cleanly (exit 0 on SIGTERM)
# within seconds, and a queued job survives stop and start.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

write_config '[server]
idle_exit_after = 0'
check "service activated by a request" ipp_ok_verbose "$TCP_URI"
jobname=held-$$-$RANDOM
out=$(ipp_show "$TCP_URI" "$DATA/print-job-held.test" -d "jobname=$jobname" -f "$DATA/hello.txt" 2>&1)
rc=$?
check_eq "Print-Job with job-hold-until=indefinite is accepted" 0 "$rc"
jobid=$(sed -n 's/.*job-id (integer) = \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
check "the answer has a job-id" test -n "$jobid"
((rc == 0)) || echo "$out"

start=$(now)
check "systemctl stop succeeds" systemctl stop printspoold.service
took=$(elapsed_since "$start")
echo "# systemctl stop took ${took}s"
check "stop took less than 5 s" awk -v t="$took" 'BEGIN { exit !(t < 5) }'
check_eq "the daemon exited by itself (ExecMainCode 1 = exited, not killed)" 1 \
    "$(prop printspoold.service ExecMainCode)"
check_eq "with status 0" 0 "$(prop printspoold.service ExecMainStatus)"
check_eq "Result" success "$(prop printspoold.service Result)"
check_eq "the socket stays" active "$(state printspoold.socket)"

out=$(ipp_show "$TCP_URI" "$DATA/get-job-held.test" -d "jobid=${jobid:-0}" -d "jobname=$jobname" 2>&1)
rc=$?
check_eq "after a new start the job is still there, held (Get-Job-Attributes)" 0 "$rc"
((rc == 0)) || echo "$out"
check "service active again" becomes_active printspoold.service

systemctl restart printspoold.service
out=$(ipp_show "$TCP_URI" "$DATA/get-job-held.test" -d "jobid=${jobid:-0}" -d "jobname=$jobname" 2>&1)
rc=$?
check_eq "and after systemctl restart" 0 "$rc"
((rc == 0)) || echo "$out"
check "cancel the job" ipp_ok "$TCP_URI" "$DATA/cancel-job.test" -d "jobid=${jobid:-0}"
finish
