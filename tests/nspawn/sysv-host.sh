#!/bin/bash
# (f) SysV mode outside systemd: the daemon's own --daemon mode, then the LSB
# init script, in an installed root file system that is NOT booted: a chroot
# in fresh PID, network and mount namespaces (so port 631 is free, /run is
# empty as after a SysV boot, and every leftover process dies with it).
#
# Usage: tests/nspawn/sysv-host.sh ROOT   (as root; ROOT as left by
#        tests/nspawn/run: printspoold, lib.sh and data/ installed)
# Prints one "ok"/"not ok" line per check; exits non-zero if any failed.
set -u

PAYLOAD=/usr/local/lib/printspoold-test

if [[ ${1:-} != --inside ]]; then
    root=${1:?usage: $0 ROOT}
    [[ -x $root/usr/bin/printspoold || -n $(ls "$root"/usr/*/bin/printspoold 2>/dev/null) ]] ||
        { echo "not ok - no printspoold installed in $root"; exit 1; }
    install -D -m 0755 "$0" "$root$PAYLOAD/sysv-host.sh"
    # PID 1 of the new namespace is this bash: it reaps the daemon once it
    # exits (so `kill -0` stops seeing it) and takes every process down with
    # it when the checks end.
    exec unshare --pid --fork --net --mount --mount-proc="$root/proc" \
        bash -c '
            root=$1
            ip link set lo up || exit 1
            mount -t tmpfs -o mode=0755 tmpfs "$root/run"
            mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
            mount --rbind /dev "$root/dev"
            chroot "$root" "$2/sysv-host.sh" --inside &
            wait $!' _ "$root" "$PAYLOAD"
fi

# --- inside the chroot ------------------------------------------------------
# shellcheck source=lib.sh
. "$PAYLOAD/lib.sh"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

DAEMON=$(command -v printspoold)
PORT=631
URI=ipp://127.0.0.1:$PORT/ipp/print
WORK=/var/tmp/printspoold-sysv
rm -rf "$WORK"
install -d -m 0755 "$WORK"
install -d -m 0711 -o printspoold -g printspoold "$WORK/spool"
CONFIG_FILE=$WORK/printspoold.toml
printf '[server]\nidle_exit_after = 0\n' >"$CONFIG_FILE"
PIDFILE=$WORK/printspoold.pid
# start_daemon [PORT]: the SysV start, as an init script would run it.
start_daemon() {
    "$DAEMON" --daemon --pid-file "$PIDFILE" --user printspoold \
        --config "$CONFIG_FILE" --listen "127.0.0.1:${1:-$PORT}" --spool-dir "$WORK/spool"
}

pid_in_file() { tr -d "[:space:]" 2>/dev/null <"$PIDFILE"; }
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
exe_of() { readlink "/proc/$1/exe" 2>/dev/null; }
uid_of() { awk '/^Uid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
gone() { ! alive "$1"; }
not_served() { ! ipp_ok "$URI" 2>/dev/null; }

echo "# SysV checks in a chroot, $(uname -r), daemon $DAEMON"

# --- the daemon's own --daemon mode -----------------------------------------

start=$(now)
start_daemon
rc=$?
echo "# --daemon returned after $(elapsed_since "$start")s"
check_eq "--daemon exits 0 once the daemon is up" 0 "$rc"
check "an IPP request right after it returned is answered (no retry)" ipp_ok "$URI"
pid=$(pid_in_file)
check "the PID file names a live process" alive "$pid"
check_eq "which is printspoold" "$DAEMON" "$(exe_of "$pid")"
check_eq "running as user printspoold" "$(id -u printspoold)" "$(uid_of "$pid")"
check "not the process that was started (it forked away)" test "$pid" != "$$"

second_err=$(start_daemon 2>&1 >/dev/null)
rc=$?
check "a second --daemon start (same address) fails" test "$rc" -ne 0
check "with an LSB status (1-7)" test "$rc" -ge 1 -a "$rc" -le 7
echo "# second start: status $rc, said: $second_err"
check "and says why" test -n "$second_err"
# The same PID file but a free address: only the PID file can stop it.
third_err=$(start_daemon $((PORT + 1)) 2>&1 >/dev/null)
rc=$?
echo "# start with the same PID file on another port: status $rc, said: $third_err"
check "a second --daemon start with the same PID file fails" test "$rc" -ne 0
check "with an LSB status (1-7)" test "$rc" -ge 1 -a "$rc" -le 7
check "naming the running daemon's PID $pid" grep -qw -- "$pid" <<<"$third_err"
check "nothing listens on the other port" bash -c "! ipptool -T 2 -q ipp://127.0.0.1:$((PORT + 1))/ipp/print $DATA/get-printer-attributes.test 2>/dev/null"
check_eq "the PID file still names the first daemon" "$pid" "$(pid_in_file)"
check "which still serves" ipp_ok "$URI"

kill -TERM "$pid"
check "SIGTERM stops it within 10 s" wait_until 10 gone "$pid"
check "it no longer serves" not_served

# A stale PID file from a dead process must not block the next start.
sleep 0 &
dead=$!
wait "$dead"
echo "$dead" >"$PIDFILE"
check "start with a stale PID file (dead PID $dead) succeeds" start_daemon
pid=$(pid_in_file)
check "the PID file now names the new daemon" test -n "$pid" -a "$pid" != "$dead"
check "which serves" ipp_ok "$URI"
kill -TERM "$pid"
wait_until 10 gone "$pid"

# --- the LSB init script -----------------------------------------------------

INIT=/etc/init.d/printspoold
if [[ ! -x $INIT ]]; then
    not_ok "$INIT is installed (make install INSTALL_SYSV=1)"
    finish
fi
# The init script's own defaults: /run/printspoold.pid, /var/spool/printspoold.
cat >/etc/default/printspoold <<EOF
DAEMON_ARGS="--config $CONFIG_FILE --listen 127.0.0.1:$PORT"
EOF
lsb() {
    "$INIT" "$@" >/dev/null 2>&1
    echo $?
}
init_pid() { tr -d "[:space:]" 2>/dev/null </run/printspoold.pid; }

check_eq "status before start: 3 (not running)" 3 "$(lsb status)"
check_eq "start: 0" 0 "$(lsb start)"
check "answered right after start returned" ipp_ok "$URI"
pid=$(init_pid)
check_eq "status: 0 (running)" 0 "$(lsb status)"
check_eq "start again: 0 (already running is success)" 0 "$(lsb start)"
check_eq "still the same daemon" "$pid" "$(init_pid)"
check_eq "reload: 0" 0 "$(lsb reload)"
check_eq "force-reload: 0" 0 "$(lsb force-reload)"
sleep 0.5
check "the daemon survives reloads" alive "$pid"
check_eq "restart: 0" 0 "$(lsb restart)"
new=$(init_pid)
check "restart replaced the daemon" test -n "$new" -a "$new" != "$pid"
check "and the new one serves" ipp_ok "$URI"
check_eq "stop: 0" 0 "$(lsb stop)"
check "stop waited for the daemon to exit" gone "$new"
check "nothing serves after stop" not_served
check_eq "status after stop: 3" 3 "$(lsb status)"
check_eq "stop again: 0 (already stopped is success)" 0 "$(lsb stop)"
check_eq "reload when stopped: 7 (not running)" 7 "$(lsb reload)"
check_eq "an unknown action: 2" 2 "$(lsb frobnicate)"

check_eq "start: 0" 0 "$(lsb start)"
pid=$(init_pid)
kill -KILL "$pid"
wait_until 10 gone "$pid"
check_eq "status after the daemon was killed: 1 (dead, PID file left)" 1 "$(lsb status)"
check_eq "start over the stale PID file: 0" 0 "$(lsb start)"
check "serves again" ipp_ok "$URI"
check_eq "stop: 0" 0 "$(lsb stop)"

rm -f /etc/default/printspoold
rm -rf "$WORK"
finish
