#!/bin/bash
# An upgrade to a newer package (the same daemon, rebuilt with a higher
# version) while the daemon runs with jobs queued: postinst restarts the
# daemon, the jobs survive, and the sockets stay as they are, so requests
# made during the upgrade wait in their backlog for the new daemon instead
# of failing.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

JOBS=5
write_config '[server]
idle_exit_after = 0'
check_eq "the package is installed" "install ok installed ${DEB_VERSION:-}" "$(package_status)"
check "the daemon is started by a request" ipp_ok_verbose "$TCP_URI"

# Held jobs stay queued across any number of restarts (a pause would not:
# it is not kept across a restart).
ids=()
for ((i = 1; i <= JOBS; i++)); do
    out=$(ipp_show "$TCP_URI" "$DATA/print-job-held.test" -d "jobname=upgrade-$i" \
        -f "$DATA/hello.txt" 2>&1)
    id=$(sed -n 's/.*job-id (integer) = \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
    [[ -n $id ]] && ids+=("$id")
done
check_eq "$JOBS held jobs queued" "$JOBS" "${#ids[@]}"

pid_before=$(main_pid)
invocation_before=$(prop printspoold.service InvocationID)
socket_since=$(prop printspoold.socket ActiveEnterTimestampMonotonic)
unix_since=$(prop printspoold-unix.socket ActiveEnterTimestampMonotonic)

# Clients keep asking, each on a new connection, while apt-get runs.
stop_flag=$(mktemp -u)
tally=$(mktemp)
(
    ok_count=0 fail_count=0
    while [[ ! -e $stop_flag ]] && ((ok_count + fail_count < 20000)); do
        if raw_get_attrs; then ok_count=$((ok_count + 1)); else fail_count=$((fail_count + 1)); fi
    done
    echo "$ok_count $fail_count" >"$tally"
) &
client=$!
start=$(now)
check "apt-get install ./$(basename "${DEB_UPGRADE:-none}") succeeds" apt_get install "$DEB_UPGRADE"
echo "# the upgrade took $(elapsed_since "$start")s"
touch "$stop_flag"
wait "$client"
read -r answered failed <"$tally"
rm -f "$stop_flag" "$tally"

check_eq "dpkg has the new version" "install ok installed ${DEB_UPGRADE_VERSION:-}" "$(package_status)"
check_eq "the daemon runs" active "$(state printspoold.service)"
check "postinst restarted it: a new process" test "$(main_pid)" != "$pid_before"
check "and a new invocation" test "$(prop printspoold.service InvocationID)" != "$invocation_before"
check_eq "it runs the installed binary (not a deleted one)" /usr/bin/printspoold \
    "$(readlink "/proc/$(main_pid)/exe")"
check_eq "the TCP socket was not restarted" "$socket_since" \
    "$(prop printspoold.socket ActiveEnterTimestampMonotonic)"
check_eq "nor the Unix socket" "$unix_since" \
    "$(prop printspoold-unix.socket ActiveEnterTimestampMonotonic)"
echo "# $answered requests answered during the upgrade"
check "requests were made during the upgrade" test "${answered:-0}" -gt 0
check_eq "none failed: the sockets held them for the new daemon" 0 "${failed:-x}"

for ((i = 0; i < ${#ids[@]}; i++)); do
    out=$(ipp_show "$TCP_URI" "$DATA/get-job-held.test" -d "jobid=${ids[i]}" \
        -d "jobname=upgrade-$((i + 1))" 2>&1)
    rc=$?
    check_eq "job ${ids[i]} is still queued (held) after the upgrade" 0 "$rc"
    ((rc == 0)) || sed 's/^/    # /' <<<"$out" | tail -n 10
done
for id in "${ids[@]}"; do
    ipp_ok "$TCP_URI" "$DATA/cancel-job.test" -d "jobid=$id" || true
done
finish
