#!/bin/bash
# Runs inside the VM when the kernel command line has printspoold.crash=MODE
# (printspoold-vm-crash.service): a load of Print-Jobs against the default
# queue (file backend; its spool is the second disk, LABEL=printspool,
# which this script mounts on /var/spool/printspoold). Every acknowledged job is reported as
#   ACK <job-id> <sha256 of the document sent>
# on the serial console the moment a successful-ok answer is read. The
# clients are crash-client (crates/flush-replay/src/bin/crash-client.rs),
# built on the host: a shell loop of ipptool is 20 times slower under TCG.
#
#   load    clients loop until the host kills the VM (power-cut check)
#   replay  each client sends $JOBS jobs, and after each acknowledgement
#           also writes the ACK line, then fdatasyncs, into its own sector
#           of the spool disk's marker area past the file system
#           (printspoold.markers=SECTOR), so the write log orders it after
#           the flush that made the job durable; then the VM powers off
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SPOOL_DISK=/dev/disk/by-label/printspool
CLIENTS=4
cmdline() { tr ' ' '\n' </proc/cmdline | sed -n "s/^printspoold\.$1=//p"; }
MODE=$(cmdline crash)
BOOT=$(cmdline boot)
MARKERS=$(cmdline markers)
JOBS=$(cmdline jobs)

console() { echo "$*" >/dev/ttyS0; }

# Mounted here, not in fstab: the device-activation boot has no such disk.
# Nothing has started the daemon yet (it is socket-activated by the first
# client below), so its recovery runs on this disk.
for _ in $(seq 100); do
    [[ -e $SPOOL_DISK ]] && break
    sleep 0.1
done
if ! mount -o noatime "$SPOOL_DISK" /var/spool/printspoold; then
    console "CRASH-LOAD-ERROR cannot mount $SPOOL_DISK"
    exit 1
fi
console "CRASH-LOAD-START mode $MODE boot ${BOOT:-0} uptime $(cut -d" " -f1 /proc/uptime)"
args=(--clients "$CLIENTS" --boot "${BOOT:-0}" --console /dev/ttyS0)
if [[ $MODE == replay ]]; then
    args+=(--jobs "$JOBS" --marker-disk "$(realpath "$SPOOL_DISK")" --marker-sector "$MARKERS")
fi
"$HERE/crash-client" "${args[@]}"
sync
console "CRASH-LOAD-DONE"
