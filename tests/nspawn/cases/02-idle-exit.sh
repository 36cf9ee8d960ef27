#!/bin/bash
# (b) Idle exit: with idle_exit_after = 2 the service exits cleanly when idle
# while the sockets keep listening, and no request is lost: 2,000
# Get-Printer-Attributes requests, each on its own connection, sent across an
# idle exit and a `systemctl restart`, all succeed. The 2,000 come from
# raw_get_attrs (lib.sh): ipptool starts a process per request, too slow here.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

TOTAL=2000

WORKERS=4

# burst N RESULTFILE: N requests from $WORKERS concurrent clients, each
# request on a new connection; writes the number that failed.
burst() {
    local w i per=$(($1 / WORKERS)) pids=()
    for ((w = 0; w < WORKERS; w++)); do
        (
            failed=0
            for ((i = 0; i < per; i++)); do
                raw_get_attrs || failed=$((failed + 1))
            done
            echo "$failed" >"$2.$w"
        ) &
        pids+=($!)
    done
    wait "${pids[@]}"
    cat "$2".* | awk '{ n += $1 } END { print n }' >"$2"
}

write_config '[server]
idle_exit_after = 2'
systemctl restart printspoold.service
check "service started with the new configuration" becomes_active printspoold.service
start=$(now)
check "it exits on its own when idle (within 15 s)" wait_until 15 is_state printspoold.service inactive
echo "# idle exit after $(elapsed_since "$start")s (configured: 2 s)"
check_eq "the idle exit is a clean exit (Result)" success "$(prop printspoold.service Result)"
check_eq "exit status 0" 0 "$(prop printspoold.service ExecMainStatus)"
check_eq "systemd did not restart it (NRestarts)" 0 "$(prop printspoold.service NRestarts)"
check_eq "the TCP socket still listens" active "$(state printspoold.socket)"
check_eq "the Unix socket still listens" active "$(state printspoold-unix.socket)"

tmp=$(mktemp -d)
start=$(now)
burst 500 "$tmp/a"
check_eq "500 requests, starting from an idle-exited service: failures" 0 "$(cat "$tmp/a")"
check "the service idle-exits again after the burst" wait_until 15 is_state printspoold.service inactive

burst 1000 "$tmp/b" &
loop=$!
check "the next burst re-activates the service" wait_until 10 is_state printspoold.service active
sleep 0.5
check "the burst is still running when the restart begins" kill -0 "$loop"
check "systemctl restart in the middle of the burst" systemctl restart printspoold.service
wait "$loop"
check_eq "1000 requests across a restart: failures" 0 "$(cat "$tmp/b")"

burst 500 "$tmp/c"
check_eq "500 requests after the restart: failures" 0 "$(cat "$tmp/c")"
took=$(elapsed_since "$start")
echo "# $TOTAL requests in ${took}s ($(awk -v n=$TOTAL -v t="$took" 'BEGIN { printf "%.0f", n / t }') per second, each on a new connection, $WORKERS clients at a time)"
check_eq "systemd never restarted the service on its own (NRestarts)" 0 "$(prop printspoold.service NRestarts)"
rm -rf "$tmp"
finish
