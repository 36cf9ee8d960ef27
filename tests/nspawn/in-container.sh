#!/bin/bash
# Runs every case in cases/ (sorted) inside the booted container. Each case
# is a script that prints what it checks and exits 0 (pass) or non-zero
# (fail), or 77 (skip: not applicable yet). Results go to
# /var/lib/printspoold-test/results, one line a case:
# "PASS|FAIL|SKIP NAME (SECONDSs)", and each case's output to logs/NAME.log.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=/var/lib/printspoold-test
CASE_TIMEOUT=${CASE_TIMEOUT:-150}
# Cases run in file-name order, byte by byte: 00-apt-install first.
export LC_COLLATE=C
mkdir -p "$OUT/logs"
: >"$OUT/results"

# Undo what a case may have changed, so the next one starts from the state a
# package install leaves: no configuration, service stopped, sockets up.
# (After the removal cases the units are gone and this does nothing.)
reset_state() {
    rm -f /etc/printspoold/printspoold.toml
    if compgen -G '/run/systemd/system/printspoold*.d' >/dev/null; then
        rm -rf /run/systemd/system/printspoold*.d
        systemctl daemon-reload
    fi
    systemctl stop printspoold.service 2>/dev/null
    systemctl reset-failed printspoold.service printspoold-cleanup.service 2>/dev/null
    systemctl start printspoold.socket printspoold-unix.socket 2>/dev/null
}

for case in "$HERE"/cases/*.sh; do
    name=$(basename "$case" .sh)
    log=$OUT/logs/$name.log
    echo "=== $name"
    start=$(date +%s.%N)
    (cd /tmp && timeout --kill-after=5 "$CASE_TIMEOUT" "$case") >"$log" 2>&1
    status=$?
    took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if ((status == 0)); then
        verdict=PASS
    elif ((status == 77)); then
        verdict=SKIP
    else
        verdict=FAIL
        ((status == 124)) && echo "(timed out after ${CASE_TIMEOUT}s)" >>"$log"
        {
            echo "--- journal of printspoold units during this case:"
            journalctl --no-pager -q -o short-monotonic --since "@${start%.*}" \
                -u printspoold.service -u printspoold.socket -u printspoold-unix.socket \
                -u printspoold.path -u printspoold-cleanup.service | tail -n 60
        } >>"$log"
    fi
    echo "$verdict $name (${took}s)" | tee -a "$OUT/results"
    reset_state
done
sync
