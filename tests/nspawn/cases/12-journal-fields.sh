#!/bin/bash
# Structured journal fields (src/journal.rs): under systemd, every log line
# goes to journald through its native protocol with the line's fields, so
# `journalctl SYSLOG_IDENTIFIER=printspoold JOB_ID=N` finds a job's lines,
# from its acceptance to its completion, for a job over IPP (socket
# activation), one through the drop directory (path activation), one over
# D-Bus (bus activation, where busctl can pass the document), and the
# cleanup timer's purge of the IPP job (ACTIVATION=timer); the
# priority, printer, owner and activation path are fields too, and the lines
# still belong to printspoold.service. (SYSLOG_IDENTIFIER=: systemd's own
# messages carry JOB_ID= for its unit jobs.)
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

write_config '[server]
idle_exit_after = 0'
# lines JOB FIELD=VALUE...: the messages journalctl finds for the matches.
lines() { journalctl -q --no-pager -o cat SYSLOG_IDENTIFIER=printspoold "$@"; }
completed() { lines JOB_ID="$1" | grep -q 'job completed'; }

out=$(ipptool -T 10 -tv -d filename="$DATA/hello.txt" -d jobname=journal-fields \
    "$TCP_URI" "$DATA/print-job.test" 2>&1)
id=$(sed -n 's/.*job-id (integer) = \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
check "Print-Job over IPP answered with a job-id" test -n "$id"
check "journalctl JOB_ID=$id: the job completed" wait_until 30 completed "$id"
# At or after its completion time, for the retention check below.
done_at=$(date +%s)
check "its acceptance is there too" grep -q '^job accepted' <<<"$(lines JOB_ID="$id")"
check "and its printing" grep -q '^printing' <<<"$(lines JOB_ID="$id")"
owner=$(lines JOB_ID="$id" | sed -n 's/^job accepted.* owner=\([^ ]*\).*/\1/p' | head -n 1)
check "the acceptance line names the owner" test -n "$owner"
check "JOB_OWNER=$owner is a field of it" grep -q '^job accepted' <<<"$(lines JOB_ID="$id" JOB_OWNER="$owner")"
check "and ACTIVATION=socket" grep -q '^job accepted' <<<"$(lines JOB_ID="$id" ACTIVATION=socket)"
check "PRINTER=default a field of the printing line" grep -q '^printing' <<<"$(lines JOB_ID="$id" PRINTER=default)"
check "PRIORITY=6 (info) kept" grep -q 'job completed' <<<"$(lines JOB_ID="$id" PRIORITY=6)"
check "the lines belong to printspoold.service" \
    grep -q '^job accepted' <<<"$(lines -u printspoold.service JOB_ID="$id")"
echo "# journalctl JOB_ID=$id:"
lines JOB_ID="$id" | sed 's/^/#   /'

# A job through the drop directory.
echo "journal fields through the drop directory" >/var/spool/printspoold/incoming/.journal.txt
mv /var/spool/printspoold/incoming/.journal.txt /var/spool/printspoold/incoming/journal.txt
taken() { lines -u printspoold.service | grep -q 'dropped file taken as a job.*journal.txt'; }
check "the dropped file was taken" wait_until 30 taken
drop_id=$(lines -u printspoold.service | sed -n 's/^dropped file taken as a job.*journal.txt.* job=\([0-9]*\).*/\1/p' | tail -n 1)
check "its line names the job" test -n "$drop_id"
check "journalctl JOB_ID=$drop_id: the job completed" wait_until 30 completed "$drop_id"
check "and the drop-directory line is among its lines" \
    grep -q 'dropped file taken as a job' <<<"$(lines JOB_ID="$drop_id")"
check "its acceptance carries ACTIVATION=path" \
    grep -q '^job accepted' <<<"$(lines JOB_ID="$drop_id" ACTIVATION=path)"

# A job over D-Bus (bus activation path): SubmitJob takes the document as a
# file descriptor, which busctl passes only from systemd 254 or so on (it
# names an fd busctl inherited); older busctl cannot, and tests/dbus.rs
# submits over the bus on the host instead.
if grep -q 'among passed file descriptors' "$(command -v busctl)"; then
    reply=$(busctl --timeout=30 call org.printspoold.Spooler1 /org/printspoold/Spooler1 \
        org.printspoold.Spooler1 SubmitJob ssha{sv} "" journal-bus 3 0 3<"$DATA/hello.txt")
    bus_id=$(sed -n 's/^u \([0-9]*\)$/\1/p' <<<"$reply")
    check "SubmitJob over D-Bus answered with a job id ($reply)" test -n "$bus_id"
    check "journalctl JOB_ID=$bus_id: the job completed" wait_until 30 completed "$bus_id"
    check "its acceptance carries ACTIVATION=bus" \
        grep -q '^job accepted' <<<"$(lines JOB_ID="$bus_id" ACTIVATION=bus)"
    check "and its printing line is there" grep -q '^printing' <<<"$(lines JOB_ID="$bus_id")"
else
    echo "# this busctl cannot pass a file descriptor: the bus job is tested on the host (tests/dbus.rs)"
fi

# The timer path: printspoold-cleanup.service purges the finished IPP job;
# its line joins the job's others, with ACTIVATION=timer. Cleanup reads
# history segments: with max_jobs_in_memory = 0 the restart lets go of the
# finished jobs, and the clean stop seals them into history/.
write_config '[server]
idle_exit_after = 0
[history]
retention = 0
max_jobs_in_memory = 0'
systemctl restart printspoold.service
systemctl stop printspoold.service
check "the finished jobs were sealed into history/" \
    bash -c 'compgen -G "/var/spool/printspoold/history/*.hist" >/dev/null'
purged() { lines JOB_ID="$id" ACTIVATION=timer | grep -q 'purged'; }
# The job finished at least a second ago for a retention of 0.
past_retention() { [[ $(date +%s) -gt $done_at ]]; }
check "the IPP job is past the retention" wait_until 5 past_retention
systemctl start printspoold-cleanup.service
check "journalctl JOB_ID=$id ACTIVATION=timer: the cleanup purged it" purged
echo "# journalctl JOB_ID=$id, now:"
lines JOB_ID="$id" | sed 's/^/#   /'
finish
