# shellcheck shell=bash disable=SC2034 # constants used by the cases
# Helpers for the in-container cases. Source it: . "$(dirname "$0")/../lib.sh"
# A case calls check/check_eq for every claim; each prints "ok - ..." or
# "not ok - ..."; `finish` exits non-zero if any claim failed.

set -u
LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATA=$LIB_DIR/data
CONFIG=/etc/printspoold/printspoold.toml
TCP_URI=ipp://127.0.0.1:631/ipp/print
UNIX_URI=ipp://%2Frun%2Fprintspoold%2Fipp.sock/ipp/print
FAILURES=0
# DEB, DEB_VERSION, DEB_UPGRADE, DEB_UPGRADE_VERSION: the packages the
# harness built (tests/nspawn/run install_debs); absent in sysv-host.sh's tree.
if [[ -f $LIB_DIR/packages.env ]]; then
    # shellcheck source=/dev/null
    . "$LIB_DIR/packages.env"
fi

ok() { echo "ok - $*"; }
not_ok() {
    echo "not ok - $*"
    FAILURES=$((FAILURES + 1))
}

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what (command: $*)"; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [[ $2 == "$3" ]]; then ok "$1 ($3)"; else not_ok "$1: expected '$2', got '$3'"; fi
}

# skip REASON: the case cannot apply yet (e.g. a daemon feature that a later
# change brings); exits 77, reported as SKIP, not counted as a failure.
skip() {
    echo "skip - $*"
    exit 77
}

finish() {
    if ((FAILURES)); then
        echo "$FAILURES check(s) failed"
        exit 1
    fi
    echo "all checks passed"
    exit 0
}

prop() { systemctl show -P "$2" "$1"; }
state() { systemctl is-active "$1" 2>/dev/null; }
main_pid() { prop printspoold.service MainPID; }

# wait_until SECONDS COMMAND...: polls every 0.1 s until the command succeeds.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

is_state() { [[ $(state "$1") == "$2" ]]; }
# becomes_active UNIT: waits up to 10 s for "active". A socket-activated
# daemon answers its first request before it has the bus name and sends
# READY=1, so systemd can still say "activating" right after the answer.
becomes_active() { wait_until 10 is_state "$1" active; }

# ipp_ok URI [TESTFILE] [ipptool options...]: one IPP request, must succeed.
# The test file defaults to a minimal Get-Printer-Attributes.
ipp_ok() {
    local uri=$1 test=${2:-$DATA/get-printer-attributes.test}
    shift $(($# < 2 ? $# : 2))
    ipptool -T 10 -q "$@" "$uri" "$test"
}

# ipp_ok_verbose URI [TESTFILE] [options]: like ipp_ok, but prints ipptool's
# report when the request fails, so the case log shows why.
ipp_ok_verbose() {
    local uri=$1 test=${2:-$DATA/get-printer-attributes.test} out
    shift $(($# < 2 ? $# : 2))
    out=$(ipptool -T 10 -tv "$@" "$uri" "$test" 2>&1) && return 0
    sed 's/^/    # /' <<<"$out" | tail -n 25
    return 1
}

# ipp_show URI TESTFILE [options]: like ipp_ok, but prints the verbose report.
ipp_show() {
    local uri=$1 test=$2
    shift 2
    ipptool -T 10 -tv "$@" "$uri" "$test"
}

# write_config TEXT: installs TEXT as the daemon's configuration.
write_config() {
    mkdir -p "$(dirname "$CONFIG")"
    printf '%s\n' "$1" >"$CONFIG.tmp"
    mv "$CONFIG.tmp" "$CONFIG"
}

# elapsed_since START: seconds since START (from `date +%s.%N`), 2 decimals.
now() { date +%s.%N; }
elapsed_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# raw_get_attrs [PORT]: one Get-Printer-Attributes for /ipp/print on
# 127.0.0.1, on a new connection, from bash alone (/dev/tcp and builtins: no
# process is started, so thousands of requests take seconds, not minutes).
# Succeeds if the answer is HTTP 200 with an IPP successful-* status.
# ipptool remains the client everywhere else.
raw_get_attrs() {
    local port=${1:-631} uri line hex chunked=0 b i code fd ok=1 status=()
    uri="ipp://127.0.0.1:$port/ipp/print"
    { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
    # Bash variables cannot hold NUL bytes: the body is written by printf
    # escapes. Its length: 9 (version, operation-id 0x000B, request-id,
    # group tag) + 28 (charset) + 34 (language) + 16 + URI (printer-uri)
    # + 38 (requested-attributes: printer-state only, as bash reads a socket
    # one byte per system call) + 1 (end tag).
    printf 'POST /ipp/print HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/ipp\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' \
        "$port" $((126 + ${#uri})) >&"$fd"
    printf '\x01\x01\x00\x0b\x00\x00\x00\x01\x01' >&"$fd"
    printf '\x47\x00\x12attributes-charset\x00\x05utf-8' >&"$fd"
    printf '\x48\x00\x1battributes-natural-language\x00\x02en' >&"$fd"
    printf -v hex '%02x' "${#uri}"
    printf "\\x45\\x00\\x0bprinter-uri\\x00\\x$hex%s" "$uri" >&"$fd"
    printf '\x44\x00\x14requested-attributes\x00\x0dprinter-state\x03' >&"$fd"
    if IFS= read -r -t 10 line <&"$fd" && [[ $line == "HTTP/1.1 200"* ]]; then
        while IFS= read -r -t 10 line <&"$fd" && [[ $line != $'\r' && -n $line ]]; do
            [[ ${line,,} == transfer-encoding:*chunked* ]] && chunked=1
        done
        ((chunked)) && IFS= read -r -t 10 line <&"$fd"
        # version (2 bytes) and status-code (2 bytes). Bash drops NUL bytes,
        # so read NUL-delimited pieces and put the NULs back.
        while ((${#status[@]} < 4)) && LC_ALL=C IFS= read -r -d '' -t 10 b <&"$fd"; do
            for ((i = 0; i < ${#b}; i++)); do
                LC_ALL=C printf -v code '%d' "'${b:i:1}"
                status+=("$code")
            done
            status+=(0)
        done
        ((${#status[@]} >= 4 && (status[0] == 1 || status[0] == 2) && status[2] == 0)) && ok=0
        while LC_ALL=C IFS= read -r -d '' -N 65536 -t 10 b <&"$fd"; do :; done
    fi
    exec {fd}>&-
    return "$ok"
}

# apt_get ARGS...: apt-get as an administrator runs it, offline and without
# questions; its output is kept in $APT_LOG and the last lines are shown
# as comments when it fails.
APT_LOG=${TMPDIR:-/tmp}/printspoold-apt.$$.log
apt_get() {
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "$@" >"$APT_LOG" 2>&1 || rc=$?
    ((rc == 0)) || sed 's/^/    # /' "$APT_LOG" | tail -n 25
    return "$rc"
}

# package_status: dpkg's "Status Version" of printspoold, empty when dpkg
# does not know it (never installed, or purged).
package_status() {
    dpkg-query -W -f '${Status} ${Version}' printspoold 2>/dev/null || true
}

# package_paths: every non-directory path the package ships (from the .deb
# itself, so it works after removal too), one a line.
package_paths() {
    dpkg-deb --fsys-tarfile "$DEB" | tar -t | sed -n 's|^\./|/|; /[^/]$/p'
}

# existing_package_paths: those of package_paths still on disk.
existing_package_paths() {
    local path
    while IFS= read -r path; do
        if [[ -e $path || -L $path ]]; then echo "$path"; fi
    done < <(package_paths)
}

# printspoold_units_known: the printspoold unit files systemctl still lists
# (not the harness's own printspoold-test.service).
printspoold_units_known() {
    systemctl list-unit-files --no-legend 'printspoold*' 'dbus-org.printspoold*' 2>/dev/null |
        awk '$1 != "printspoold-test.service" { print $1 }'
}

# listening PORT: whether something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
not_listening() { ! listening "$1"; }

# daemon_processes: PIDs of running printspoold processes.
daemon_processes() { pgrep -x printspoold || true; }

