#!/bin/bash
# Runs inside the VM (printspoold-vm-test.service, after multi-user.target):
# plugs a virtual USB printer in and out and checks daemon(7) device-based
# activation end to end. The printer is a configfs printer gadget on
# dummy_hcd: usblp binds it as /dev/usb/lp0, and what the daemon writes
# there comes out of /dev/g_printer0.
#
# Writes $RESULTS/results ("PASS|FAIL NAME DETAIL", one line per check),
# $RESULTS/log (everything) and $RESULTS/timings; the unit then powers off
# and tests/vm/run reads them from the image.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RESULTS=/var/lib/printspoold-vm-test
WORK=/var/tmp/printspoold-vm-test
GADGET=/sys/kernel/config/usb_gadget/p1
PNP="MFG:Test;MDL:Virtual Printer;CMD:PDF,PWG;CLS:PRINTER;"
NAME=Test_Virtual_Printer_SN1
MAKE_AND_MODEL="Test Virtual Printer"
URI=ipp://127.0.0.1:631/printers/$NAME
BIG_MIB=20

mkdir -p "$RESULTS" "$WORK"
: >"$RESULTS/results"
: >"$RESULTS/timings"
exec > >(tee -a "$RESULTS/log") 2>&1
TEE=$!

T0=$(date +%s.%N)
log() { printf '[%6.1f] %s\n' "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" "$*"; }
result() { echo "$1 $2 ${3:-}" >>"$RESULTS/results"; log "$1 $2 ${3:-}"; }
timing() { echo "$1 $2" >>"$RESULTS/timings"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# wait_until SECONDS COMMAND...: polls every 0.1 s.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# --- the virtual printer -----------------------------------------------------

setup_gadget() {
    local m
    for m in dummy_hcd libcomposite usb_f_printer usblp; do
        modprobe "$m" || return 1
    done
    mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config || return 1
    mkdir -p "$GADGET" && cd "$GADGET" || return 1
    echo 0x1d6b >idVendor
    echo 0x0104 >idProduct
    mkdir -p strings/0x409
    echo Test >strings/0x409/manufacturer
    echo "Virtual Printer" >strings/0x409/product
    echo SN1 >strings/0x409/serialnumber
    mkdir -p functions/printer.usb0
    echo "$PNP" >functions/printer.usb0/pnp_string
    mkdir -p configs/c.1
    [[ -e configs/c.1/printer.usb0 ]] || ln -s functions/printer.usb0 configs/c.1/
    cd / || return 1
}

plug() { ls /sys/class/udc >"$GADGET/UDC"; }
unplug() { echo "" >"$GADGET/UDC"; }

# The gadget's USB device as the VM's host side sees it.
usb_syspath() {
    local d
    for d in /sys/bus/usb/devices/*; do
        if [[ -f $d/product && $(cat "$d/product") == "Virtual Printer" ]]; then
            realpath "$d"
            return 0
        fi
    done
    return 1
}

# reader OUTFILE: copies what the printer receives into OUTFILE, in the
# background; prints the reader's PID. Right after a plug-in the node exists
# before the host has configured the gadget, and opening it fails with
# ENODEV for a moment: retry the open, but never a read.
reader() {
    wait_until 30 test -c /dev/g_printer0 || return 1
    (
        for _ in $(seq 100); do
            if exec 3</dev/g_printer0; then
                exec cat <&3 >"$1"
            fi
            sleep 0.1
        done
        exit 1
    ) 2>/dev/null &
    echo $!
}

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
size_at_least() { (($(size_of "$1") >= $2)); }

# --- IPP and D-Bus ----------------------------------------------------------

ipp() { ipptool -T 20 -t "$@"; }
# display_value TEXT ATTRIBUTE: the value ipptool's DISPLAY printed.
display_value() { sed -n "s/^ *$2 ([^)]*) = //p" <<<"$1" | head -n 1; }

printer_status() {
    local out
    out=$(ipp "$URI" "$HERE/get-printer-state.test" 2>&1) || return 1
    echo "$(display_value "$out" printer-state) $(display_value "$out" printer-state-reasons)"
}
printer_is() { [[ $(printer_status) == "$1" ]]; }

job_state() {
    local out
    out=$(ipp -d jobid="$1" "$URI" "$HERE/get-job-attributes.test" 2>&1) || return 1
    display_value "$out" job-state
}
job_is() { [[ $(job_state "$1") == "$2" ]]; }

# submit FILE NAME: prints the job-id.
submit() {
    local out
    out=$(ipp -d jobname="$2" -f "$1" "$URI" "$HERE/print-job.test" 2>&1) || {
        echo "$out" >&2
        return 1
    }
    display_value "$out" job-id
}

on_bus() { busctl --system status org.printspoold.Spooler1 >/dev/null 2>&1; }

# --- the checks ---------------------------------------------------------------

check_activation() {
    local state start syspath unit wants wanted_by
    state=$(systemctl is-active printspoold.service)
    log "before plugging: printspoold.service $state, printspoold.socket $(systemctl is-active printspoold.socket)"
    if [[ $state == active || $state == activating ]]; then
        result FAIL a-activation "printspoold.service already $state before the printer was plugged in"
        return 1
    fi
    setup_gadget || {
        result FAIL a-activation "could not set up the printer gadget"
        return 1
    }
    start=$(now)
    plug || {
        result FAIL a-activation "could not plug the gadget in"
        return 1
    }
    if ! wait_until 60 systemctl is-active -q printspoold.service; then
        result FAIL a-activation "printspoold.service did not start within 60 s of plugging ($(systemctl is-active printspoold.service))"
        return 1
    fi
    timing plug-to-active "$(since "$start")"
    syspath=$(usb_syspath) || {
        result FAIL a-activation "no USB device for the gadget"
        return 1
    }
    unit=$(systemd-escape --path --suffix=device "$syspath")
    echo "$unit" >"$WORK/device-unit"
    wants=$(systemctl show -P Wants "$unit")
    # systemctl show quotes names with backslashes: "...\\x2d1.device".
    wanted_by=$(systemctl show -P WantedBy printspoold.service | sed 's/"//g; s/\\\\/\\/g')
    log "device unit $unit: Wants=$wants"
    log "printspoold.service: WantedBy=$wanted_by"
    udevadm info -q property "$syspath" | grep -E '^(ID_USB_INTERFACES|TAGS|CURRENT_TAGS|SYSTEMD_WANTS)=' | sed 's/^/    /'
    if [[ " $wants " != *" printspoold.service "* ]]; then
        result FAIL a-activation "$unit does not want printspoold.service (Wants=$wants)"
    elif [[ " $wanted_by " != *" $unit "* ]]; then
        result FAIL a-activation "printspoold.service is not wanted by $unit (WantedBy=$wanted_by)"
    elif ! journalctl -b -q -u printspoold.service | grep -q 'Started printspoold'; then
        result FAIL a-activation "the journal does not show printspoold.service being started"
    else
        result PASS a-activation "inactive before; started $(since "$start")s after plug-in, wanted by $unit"
    fi
}

check_attributes() {
    local out start
    start=$(now)
    if ! wait_until 30 ipptool -T 5 -q -d makemodel="$MAKE_AND_MODEL" "$URI" "$HERE/get-printer-attributes.test"; then
        ipptool -T 10 -tv -d makemodel="$MAKE_AND_MODEL" "$URI" "$HERE/get-printer-attributes.test" | tail -n 40
        result FAIL b-printer-attributes "no queue $NAME with make-and-model '$MAKE_AND_MODEL' and the device ID over IPP"
        return 1
    fi
    timing queue-visible "$(since "$start")"
    out=$(ipp -d makemodel="$MAKE_AND_MODEL" "$URI" "$HERE/get-printer-attributes.test")
    log "$out"
    if on_bus; then
        out=$(busctl --system --timeout=10 call org.printspoold.Spooler1 /org/printspoold/Spooler1 \
            org.printspoold.Spooler1 ListPrinters 2>&1)
        log "ListPrinters: $out"
        if [[ $out != *"$NAME"* ]]; then
            result FAIL b-printer-attributes "IPP shows $NAME but D-Bus ListPrinters does not"
            return 1
        fi
        result PASS b-printer-attributes "$NAME over IPP ($MAKE_AND_MODEL, device ID) and in D-Bus ListPrinters"
    else
        result PASS b-printer-attributes "$NAME over IPP ($MAKE_AND_MODEL, device ID); D-Bus: org.printspoold.Spooler1 not on the bus, not checked"
    fi
}

check_byte_exact() {
    local doc=$WORK/doc-c out=$WORK/out-c pid job start
    head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$doc"
    pid=$(reader "$out") || {
        result FAIL c-byte-exact "no /dev/g_printer0"
        return 1
    }
    start=$(now)
    job=$(submit "$doc" byte-exact) || {
        kill "$pid"
        result FAIL c-byte-exact "Print-Job refused"
        return 1
    }
    if ! wait_until 120 job_is "$job" completed; then
        kill "$pid"
        result FAIL c-byte-exact "job $job not completed after 120 s (job-state $(job_state "$job"))"
        return 1
    fi
    wait_until 10 size_at_least "$out" "$(size_of "$doc")"
    timing job-3MiB "$(since "$start")"
    kill "$pid"
    wait "$pid" 2>/dev/null
    if [[ $(sha256sum <"$doc") == $(sha256sum <"$out") ]]; then
        result PASS c-byte-exact "job $job: $(size_of "$out") bytes at /dev/g_printer0, sha256 equal"
    else
        result FAIL c-byte-exact "job $job: sent $(size_of "$doc") bytes, the printer got $(size_of "$out"), sha256 differs"
    fi
    check_job_journal "$job"
}

# check_job_journal JOB: the job on the printer that device activation
# brought in has its whole life in the VM's journal by JOB_ID= (src/journal.rs;
# SYSLOG_IDENTIFIER= because systemd's own lines carry JOB_ID= too).
check_job_journal() {
    local job=$1 lines
    lines=$(journalctl -b -q --no-pager -o cat SYSLOG_IDENTIFIER=printspoold JOB_ID="$job")
    if ! grep -q '^job accepted' <<<"$lines"; then
        result FAIL h-journal-job "journalctl JOB_ID=$job has no acceptance line"
    elif ! grep -q 'job completed' <<<"$lines"; then
        result FAIL h-journal-job "journalctl JOB_ID=$job has no completion line"
    elif ! journalctl -b -q --no-pager -o cat SYSLOG_IDENTIFIER=printspoold JOB_ID="$job" PRINTER="$NAME" |
        grep -q '^printing'; then
        result FAIL h-journal-job "journalctl JOB_ID=$job PRINTER=$NAME has no printing line"
    else
        result PASS h-journal-job "journalctl JOB_ID=$job: $(wc -l <<<"$lines") lines from acceptance to completion on $NAME"
    fi
}

check_unplug_replug() {
    local doc=$WORK/doc-d out1=$WORK/out-d1 out2=$WORK/out-d2 pid job start status
    head -c $((BIG_MIB * 1024 * 1024)) /dev/urandom >"$doc"
    pid=$(reader "$out1") || {
        result FAIL d-unplug-replug "no /dev/g_printer0"
        return 1
    }
    job=$(submit "$doc" big) || {
        kill "$pid"
        result FAIL d-unplug-replug "Print-Job refused"
        return 1
    }
    # In the middle of the job: some bytes through, then the printer stops
    # taking data (the reader pauses) and is unplugged while the daemon's
    # write is blocked.
    if ! wait_until 120 size_at_least "$out1" $((2 * 1024 * 1024)); then
        kill "$pid"
        result FAIL d-unplug-replug "job $job: under 2 MiB reached the printer in 120 s"
        return 1
    fi
    kill -STOP "$pid"
    sleep 1
    if ! job_is "$job" processing; then
        kill -KILL "$pid"
        result FAIL d-unplug-replug "job $job not processing before the unplug ($(job_state "$job"))"
        return 1
    fi
    log "job $job: $(size_of "$out1") bytes printed, reader paused; unplugging"
    start=$(now)
    unplug
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    if ! wait_until 30 job_is "$job" pending; then
        result FAIL d-unplug-replug "job $job not back to pending after the unplug ($(job_state "$job"))"
        return 1
    fi
    if ! wait_until 30 printer_is "stopped offline-report"; then
        result FAIL d-unplug-replug "printer not stopped with offline-report after the unplug ($(printer_status))"
        return 1
    fi
    timing unplug-to-stopped "$(since "$start")"
    if [[ -e /dev/usb/lp0 ]]; then
        result FAIL d-unplug-replug "/dev/usb/lp0 still exists after the unplug"
        return 1
    fi
    sleep 2
    if ! job_is "$job" pending; then
        result FAIL d-unplug-replug "job $job did not stay pending while unplugged ($(job_state "$job"))"
        return 1
    fi
    log "unplugged: job $job pending, printer $(printer_status); plugging back in"
    start=$(now)
    plug
    pid=$(reader "$out2") || {
        result FAIL d-unplug-replug "no /dev/g_printer0 after replug"
        return 1
    }
    if ! wait_until 180 job_is "$job" completed; then
        kill "$pid"
        result FAIL d-unplug-replug "job $job not completed within 180 s of the replug ($(job_state "$job"), printer $(printer_status))"
        return 1
    fi
    wait_until 10 size_at_least "$out2" "$(size_of "$doc")"
    timing replug-to-completed-20MiB "$(since "$start")"
    kill "$pid"
    wait "$pid" 2>/dev/null
    status=$(printer_status)
    if [[ $(sha256sum <"$doc") != $(sha256sum <"$out2") ]]; then
        result FAIL d-unplug-replug "after the replug the printer got $(size_of "$out2") of $(size_of "$doc") bytes, sha256 differs"
    elif [[ $status != "idle none" ]]; then
        result FAIL d-unplug-replug "job done but printer $NAME is '$status', not 'idle none'"
    elif ! journalctl -b -q -u printspoold.service | grep -q "printer is back"; then
        result FAIL d-unplug-replug "the daemon did not bring the same queue back (no 'printer is back' in the journal)"
    else
        result PASS d-unplug-replug "job $job pending while unplugged, completed on $NAME after replug; $(size_of "$out2") bytes exact"
    fi
}

check_cancel_stalled() {
    local doc=$WORK/doc-f out=$WORK/out-f pid job start took
    head -c $((4 * 1024 * 1024)) /dev/urandom >"$doc"
    # A printer that takes no data (out of paper): the reader never reads.
    pid=$(reader "$out") || {
        result FAIL f-cancel-stalled "no /dev/g_printer0"
        return 1
    }
    kill -STOP "$pid"
    job=$(submit "$doc" stalled) || {
        kill -KILL "$pid"
        result FAIL f-cancel-stalled "Print-Job refused"
        return 1
    }
    wait_until 30 job_is "$job" processing
    sleep 2
    if ! job_is "$job" processing; then
        kill -KILL "$pid"
        result FAIL f-cancel-stalled "job $job not stuck in processing ($(job_state "$job"))"
        return 1
    fi
    start=$(now)
    ipp -d jobid="$job" "$URI" "$HERE/cancel-job.test" >/dev/null
    if ! wait_until 10 job_is "$job" canceled; then
        kill -KILL "$pid"
        result FAIL f-cancel-stalled "job $job still $(job_state "$job") 10 s after Cancel-Job while the printer took no data"
        return 1
    fi
    took=$(since "$start")
    timing cancel-while-stalled "$took"
    kill -CONT "$pid"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    if ! wait_until 10 printer_is "idle none"; then
        result FAIL f-cancel-stalled "job canceled, but the printer is '$(printer_status)'"
        return 1
    fi
    result PASS f-cancel-stalled "job $job canceled ${took}s after Cancel-Job although the printer took no data; printer idle"
}

check_no_lingering_device() {
    local unit start syspath
    unit=$(cat "$WORK/device-unit" 2>/dev/null) || {
        result FAIL e-no-lingering-device "device unit unknown (activation check failed)"
        return 1
    }
    # An event other than "add" rewrites the device's udev entry: the rule
    # must keep the tag and the want on it (systemd issue #7587).
    syspath=$(usb_syspath)
    udevadm trigger --action=change "$syspath"
    udevadm settle --timeout=10
    if ! udevadm info -q property "$syspath" | grep -q '^SYSTEMD_WANTS=.*printspoold.service'; then
        result FAIL e-no-lingering-device "SYSTEMD_WANTS lost printspoold.service on a change event"
        return 1
    fi
    start=$(now)
    unplug
    wait_until 20 test ! -e /dev/usb/lp0
    if ! wait_until 20 sh -c "! systemctl list-units --type=device --all --plain --no-legend | grep -qF -- '$unit'"; then
        result FAIL e-no-lingering-device "$unit still listed after the unplug: $(systemctl list-units --type=device --all --plain --no-legend | grep -F -- "$unit")"
        return 1
    fi
    timing unplug-to-device-unit-gone "$(since "$start")"
    if ! wait_until 20 printer_is "stopped offline-report"; then
        result FAIL e-no-lingering-device "device unit gone, but the printer is '$(printer_status)'"
        return 1
    fi
    result PASS e-no-lingering-device "$unit gone $(since "$start")s after the unplug; printer stopped (offline-report)"
}

# README.md's device-activation "try it" block ("<!-- tour: vm -->"), run
# verbatim with the printer plugged in: a README command that fails fails here.
check_readme_tour() {
    local blocks block out
    blocks=$(mktemp -d)
    awk -v env=vm -v dir="$blocks" -f "$HERE/tour-blocks.awk" "$HERE/README.md"
    if ! compgen -G "$blocks/*.sh" >/dev/null; then
        result FAIL g-readme-tour "README.md has no <!-- tour: vm --> block"
        return 1
    fi
    for block in "$blocks"/*.sh; do
        if ! out=$(cd /tmp && timeout 60 bash -e -o pipefail "$block" 2>&1); then
            log "README tour block failed:"
            sed 's/^/    | /' "$block"
            sed 's/^/    > /' <<<"$out"
            result FAIL g-readme-tour "README block $(basename "$block" .sh) failed: $(tail -n 1 <<<"$out")"
            return 1
        fi
        sed 's/^/    > /' <<<"$out"
    done
    result PASS g-readme-tour "$(find "$blocks" -name '*.sh' | wc -l) README block(s) ran verbatim"
}

main() {
    log "kernel $(uname -r), $(systemctl --version | head -n 1)"
    check_activation
    check_attributes
    check_readme_tour
    check_byte_exact
    check_unplug_replug
    check_cancel_stalled
    check_no_lingering_device
    timing in-vm-total "$(since "$T0")"
    log "printspoold journal:"
    journalctl -b -q -u printspoold.service --no-pager | tail -n 60 | sed 's/^/    /'
    log "done"
    # Let tee write the last lines before the unit ends (and powers off).
    exec >&- 2>&-
    wait "$TEE"
    sync
}

main
