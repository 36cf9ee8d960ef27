#!/bin/bash
# The watchdog tells the truth (issue 12, item 6). A test build of the
# daemon (cargo feature `fault-injection`; the package never has it) runs
# under the shipped unit through a drop-in in /run that replaces ExecStart=
# and sets PRINTSPOOLD_FAULT:
# - worker-hang: the print worker blocks its thread; the daemon still
#   answers requests, but its health rounds fail, so WATCHDOG=1 stops and
#   systemd kills it (watchdog timeout) and restarts it (Restart=on-failure);
# - worker-panic: the print worker panics; the process exits with a failure
#   at once and systemd restarts it.
# Each fault fires once (the daemon leaves fault-fired in the spool), on the
# first of several jobs queued while the printer was paused. After the
# restart every job prints, byte for byte, and the journal says why.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

FAULTY=$LIB_DIR/printspoold-faulty
[[ -x $FAULTY ]] || skip "no fault-injection build in the payload (run without --no-build, or give FAULTY_BINARY=)"

SPOOL=/var/spool/printspoold
PRINTED=$SPOOL/printed
DROPIN=/run/systemd/system/printspoold.service.d/50-test-fault.conf
WATCHDOG_SEC=4
# systemd must act within WatchdogSec= of the last healthy round; a round
# may take up to WatchdogSec/4 and start up to WatchdogSec/2 after the
# previous ping; the margin covers the restart and a busy machine.
MARGIN=6
JOBS=4

cleanup() {
    rm -f "$DROPIN" "$SPOOL/fault-fired"
    systemctl daemon-reload
}
trap cleanup EXIT

write_config '[server]
idle_exit_after = 0'

printed_has() { grep -rqxF -- "$1" "$PRINTED" 2>/dev/null; }
all_printed() {
    local token
    for token in "$@"; do printed_has "$token" || return 1; done
}
restarted() { (($(prop printspoold.service NRestarts) >= 1)) && is_state printspoold.service active; }

# run_fault FAULT: the whole story for one fault.
run_fault() {
    local fault=$1 pid since start tokens=() i token doc rc took
    echo "# --- $fault"
    rm -f "$SPOOL/fault-fired"
    mkdir -p "$(dirname "$DROPIN")"
    printf '[Service]\nExecStart=\nExecStart=%s --spool-dir %s\nEnvironment=PRINTSPOOLD_FAULT=%s\nWatchdogSec=%ss\n' \
        "$FAULTY" "$SPOOL" "$fault" "$WATCHDOG_SEC" >"$DROPIN"
    systemctl daemon-reload
    systemctl stop printspoold.service
    systemctl reset-failed printspoold.service 2>/dev/null
    since=$(date +%s)
    check "$fault: the test build starts under the shipped unit" systemctl start printspoold.service
    pid=$(main_pid)
    check_eq "$fault: it runs the fault-injection build" "$FAULTY" "$(readlink "/proc/$pid/exe")"
    check_eq "$fault: WatchdogUSec" "${WATCHDOG_SEC}s" "$(prop printspoold.service WatchdogUSec)"

    check "$fault: Pause-Printer (root, Unix socket)" ipp_ok_verbose "$UNIX_URI" "$DATA/pause-printer.test"
    for ((i = 1; i <= JOBS; i++)); do
        token="watchdog-$fault-$i-$$-$RANDOM$RANDOM"
        doc=/tmp/$token.txt
        echo "$token" >"$doc"
        tokens+=("$token")
        ipp_ok "$TCP_URI" "$DATA/print-job.test" -d "jobname=$token" -f "$doc" ||
            not_ok "$fault: job $i accepted"
    done
    start=$(now)
    check "$fault: Resume-Printer: the worker takes the first job" \
        ipp_ok_verbose "$UNIX_URI" "$DATA/resume-printer.test"

    if [[ $fault == worker-hang ]]; then
        check "$fault: the fault fired" wait_until 10 test -e "$SPOOL/fault-fired"
        check "$fault: requests are still answered while the worker hangs" ipp_ok "$TCP_URI"
        check "$fault: the daemon withholds WATCHDOG=1 and says why" wait_until $((WATCHDOG_SEC + 2)) \
            bash -c "journalctl -q --no-pager --since @$since -u printspoold.service | grep -q 'not sending WATCHDOG=1: print worker'"
    fi
    check "$fault: systemd restarts the daemon within WatchdogSec=${WATCHDOG_SEC}s + ${MARGIN}s" \
        wait_until $((WATCHDOG_SEC + MARGIN)) restarted
    took=$(elapsed_since "$start")
    echo "# $fault: resumed to restarted in ${took}s"
    check "$fault: a new process" test "$(main_pid)" != "$pid"
    rc=0
    wait_until 30 all_printed "${tokens[@]}" || rc=$?
    check_eq "$fault: every queued job printed after the restart" 0 "$rc"
    for token in "${tokens[@]}"; do
        printed_has "$token" || echo "# $fault: $token did not print"
    done
    journalctl -q --no-pager --since "@$since" -u printspoold.service >/tmp/journal-$fault.txt
    if [[ $fault == worker-hang ]]; then
        check "$fault: the journal shows the watchdog timeout" grep -q 'Watchdog timeout' /tmp/journal-$fault.txt
    else
        check "$fault: the journal shows the panic and its message" \
            grep -q 'panic.*fault injection: the print worker for default panics' /tmp/journal-$fault.txt
        check "$fault: and that the process failed (exit status or abort)" \
            grep -Eq 'Main process exited, code=(exited, status=1|killed, status=6/ABRT|dumped, status=6/ABRT)' /tmp/journal-$fault.txt
    fi
    grep -E 'Watchdog|panic|WATCHDOG|Main process exited|Scheduled restart|essential task' \
        /tmp/journal-$fault.txt | sed 's/^/    # /' | head -n 12
}

run_fault worker-hang
run_fault worker-panic
finish
