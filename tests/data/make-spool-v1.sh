#!/bin/bash
# Makes tests/data/spool-v1.tar and tests/data/spool-v1.expected: a spool
# written by a release with the first spool layout (jobs/<id>.job +
# jobs/<id>.doc), for the migration test (src/spool/migrate/tests.rs).
#
# usage: tests/data/make-spool-v1.sh OLD_PRINTSPOOLD
#   OLD_PRINTSPOOLD: a printspoold binary of the last layout-1 release
#   (built from commit c8e0b05). Needs ipptool (cups-ipp-utils).
#
# It starts that binary on a scratch spool with two queues, submits jobs
# over IPP, and stops it with SIGTERM, leaving:
#   - completed jobs (one with a document larger than 64 KiB, so above the
#     journal's inline limit), a canceled job;
#   - held jobs (job-hold-until=indefinite), a Create-Job without its
#     document yet;
#   - pending jobs on a paused queue.
# spool-v1.expected lists every job: "ID STATE PRINTER SHA256" (SHA256 of
# the document sent, or "-" for none), in id order, from the daemon's own
# Get-Job-Attributes answers and the bytes this script sent.
set -euo pipefail

old_bin=${1:?usage: $0 OLD_PRINTSPOOLD}
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
daemon_pid=
cleanup() {
    if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -KILL "$daemon_pid"
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT

spool=$scratch/spool
socket=$scratch/ipp.sock
port=$((20000 + RANDOM % 20000))
mkdir -m 0700 "$spool"
cat >"$scratch/printspoold.toml" <<EOF
[[printer]]
name = "office"
device_uri = "file://$scratch/printed-office"

[[printer]]
name = "stopped"
device_uri = "file://$scratch/printed-stopped"
EOF

# The IPP requests, one file each ($uri, $jobname, $filename, $jobid).
tests=$scratch/tests
mkdir "$tests"
header='	GROUP operation-attributes-tag
	ATTR charset attributes-charset utf-8
	ATTR naturalLanguage attributes-natural-language en
	ATTR uri printer-uri $uri
	ATTR name requesting-user-name root'
cat >"$tests/print.test" <<EOF
{
	OPERATION Print-Job
$header
	ATTR name job-name \$jobname
	ATTR mimeMediaType document-format application/octet-stream
	FILE \$filename
	STATUS successful-ok
	EXPECT job-id
}
EOF
cat >"$tests/print-held.test" <<EOF
{
	OPERATION Print-Job
$header
	ATTR name job-name \$jobname
	ATTR mimeMediaType document-format application/octet-stream
	GROUP job-attributes-tag
	ATTR keyword job-hold-until indefinite
	FILE \$filename
	STATUS successful-ok
	EXPECT job-id
}
EOF
cat >"$tests/create-job.test" <<EOF
{
	OPERATION Create-Job
$header
	ATTR name job-name \$jobname
	STATUS successful-ok
	EXPECT job-id
}
EOF
cat >"$tests/cancel-job.test" <<EOF
{
	OPERATION Cancel-Job
$header
	ATTR integer job-id \$jobid
	STATUS successful-ok
}
EOF
cat >"$tests/get-job.test" <<EOF
{
	OPERATION Get-Job-Attributes
$header
	ATTR integer job-id \$jobid
	STATUS successful-ok
	DISPLAY job-state
	DISPLAY job-printer-uri
}
EOF
cat >"$tests/pause.test" <<EOF
{
	OPERATION Pause-Printer
$header
	STATUS successful-ok
}
EOF
cat >"$tests/get-printer.test" <<EOF
{
	OPERATION Get-Printer-Attributes
$header
	STATUS successful-ok
}
EOF

"$old_bin" --config "$scratch/printspoold.toml" --spool-dir "$spool" \
    --listen "127.0.0.1:$port" --listen "$socket" --no-dbus \
    >"$scratch/daemon.log" 2>&1 &
daemon_pid=$!

tcp() { echo "ipp://127.0.0.1:$port/printers/$1"; }
# The Unix socket: where root is an administrator (Pause-Printer).
unix() { echo "ipp://$(sed 's|/|%2F|g' <<<"$socket")/printers/$1"; }

for _ in $(seq 100); do
    ipptool -T 2 -q "$(tcp office)" "$tests/get-printer.test" 2>/dev/null && break
    kill -0 "$daemon_pid" || { cat "$scratch/daemon.log"; exit 1; }
    sleep 0.1
done
ipptool -T 10 -q "$(unix stopped)" "$tests/pause.test"

# A document: $1 bytes, deterministic, distinct per job ($2).
document() {
    local path=$scratch/doc-$2
    yes "job $2: printspoold spool layout 1 fixture" | head -c "$1" >"$path"
    echo "$path"
}

# One line per job: "ID QUEUE SHA256" (submit runs in a subshell).
touch "$scratch/queues"
submit() { # queue test name size -> job id
    local queue=$1 test=$2 name=$3 size=$4 out path
    path=$(document "$size" "$name")
    out=$(ipptool -T 10 -tv -d "jobname=$name" -f "$path" "$(tcp "$queue")" "$tests/$test")
    id=$(sed -n 's/.*job-id (integer) = \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
    [[ -n $id ]] || { echo "$out"; exit 1; }
    echo "$id $queue $(sha256sum <"$path" | cut -d' ' -f1)" >>"$scratch/queues"
    echo "$id"
}
queue() { # id -> the queue it was submitted to
    awk -v id="$1" '$1 == id { print $2 }' "$scratch/queues" | grep . || echo office
}
state_of() {
    ipptool -T 10 -tv -d "jobid=$1" "$(tcp "$(queue "$1")")" "$tests/get-job.test" |
        sed -n 's/.*job-state (enum) = \([a-z-]*\).*/\1/p' | head -n 1
}
wait_state() { # id state
    for _ in $(seq 200); do
        [[ $(state_of "$1") == "$2" ]] && return 0
        sleep 0.05
    done
    echo "job $1 never reached $2 (is $(state_of "$1"))" >&2
    exit 1
}

done_small=$(submit office print.test done-small 1500)
wait_state "$done_small" completed
done_large=$(submit office print.test done-large 66000)
wait_state "$done_large" completed
canceled=$(submit office print-held.test canceled 900)
ipptool -T 10 -q -d "jobid=$canceled" "$(tcp office)" "$tests/cancel-job.test"
wait_state "$canceled" canceled
held=$(submit office print-held.test held 2000)
held_two=$(submit office print-held.test held-two 3000)
out=$(ipptool -T 10 -tv -d jobname=no-document-yet "$(tcp office)" "$tests/create-job.test")
no_document=$(sed -n 's/.*job-id (integer) = \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
queued=$(submit stopped print.test queued 1200)
queued_two=$(submit stopped print.test queued-two 4000)
wait_state "$queued" pending
wait_state "$queued_two" pending

expected=$scratch/expected
for id in "$done_small" "$done_large" "$canceled" "$held" "$held_two" "$no_document" "$queued" "$queued_two"; do
    out=$(ipptool -T 10 -tv -d "jobid=$id" "$(tcp "$(queue "$id")")" "$tests/get-job.test")
    state=$(sed -n 's/.*job-state (enum) = \([a-z-]*\).*/\1/p' <<<"$out" | head -n 1)
    printer=$(sed -n 's|.*job-printer-uri (uri) = .*/printers/\([A-Za-z0-9_.-]*\).*|\1|p' <<<"$out" | head -n 1)
    sha=$(awk -v id="$id" '$1 == id { print $3 }' "$scratch/queues")
    echo "$id $state $printer ${sha:--}"
done | sort -n >"$expected"

kill -TERM "$daemon_pid"
wait "$daemon_pid" || true
daemon_pid=

# The spool as the release left it; the lock file goes (a fresh start
# makes its own), the paused-printers file stays.
rm -f "$spool/lock"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1700000000 \
    -C "$scratch" -cf "$here/spool-v1.tar" spool
{
    echo "# id state printer document-sha256 (made by tests/data/make-spool-v1.sh with $("$old_bin" --version))"
    cat "$expected"
} >"$here/spool-v1.expected"
echo "wrote $here/spool-v1.tar ($(stat -c %s "$here/spool-v1.tar") bytes) and spool-v1.expected:"
cat "$here/spool-v1.expected"
