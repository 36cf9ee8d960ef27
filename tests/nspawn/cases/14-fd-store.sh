#!/bin/bash
# The file descriptor store (FileDescriptorStoreMax= in printspoold.service;
# FDSTORE=1/FDNAME= from src/sources/ipp/mod.rs): `systemctl restart printspoold`
# under a load of keep-alive Get-Printer-Attributes requests on 8
# connections. The stopping daemon finishes the requests in flight and
# hands every idle connection to systemd; the new one takes them back and
# answers the next request on the same connection.
# - systemd 254 and later (announces the store in $FDSTORE): 5 restarts
#   during at least 1,000 requests, 0 failed requests, 0 connections
#   dropped;
# - systemd 252 (no $FDSTORE: the daemon does not rely on the store): socket
#   activation alone. Idle connections are closed at the restart; a request
#   sent on one gets end-of-file without an answer, and the same request on
#   a new connection waits in the socket's backlog and is answered by the
#   new instance: the case checks exactly that.
# The client is bash alone (/dev/tcp; `head -c` for the body): the minbase
# root file system has no python3.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

version=$(systemctl --version | awk 'NR == 1 { print $2 }')
echo "# systemd $version"
CLIENTS=8
PER_CLIENT=125
RESTARTS=5
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
URI=ipp://127.0.0.1:631/ipp/print

write_config '[server]
idle_exit_after = 0'

# request FD: one keep-alive Get-Printer-Attributes on connection FD.
# Succeeds when the answer is HTTP 200 with an IPP successful-* status;
# returns 2 when the connection gave end-of-file or an error instead.
request() {
    local fd=$1 line len=-1 hex status
    printf -v hex '%02x' "${#URI}"
    {
        printf 'POST /ipp/print HTTP/1.1\r\nHost: 127.0.0.1:631\r\nContent-Type: application/ipp\r\nContent-Length: %d\r\n\r\n' \
            $((126 + ${#URI}))
        printf '\x01\x01\x00\x0b\x00\x00\x00\x01\x01'
        printf '\x47\x00\x12attributes-charset\x00\x05utf-8'
        printf '\x48\x00\x1battributes-natural-language\x00\x02en'
        printf "\\x45\\x00\\x0bprinter-uri\\x00\\x$hex%s" "$URI"
        printf '\x44\x00\x14requested-attributes\x00\x0dprinter-state\x03'
    } >&"$fd" 2>/dev/null || return 2
    IFS= read -r -t 20 line <&"$fd" || return 2
    [[ $line == "HTTP/1.1 200"* ]] || return 1
    while IFS= read -r -t 20 line <&"$fd" && [[ $line != $'\r' && -n $line ]]; do
        [[ ${line,,} == content-length:* ]] && len=${line#*:} && len=${len//[!0-9]/}
    done
    ((len > 0)) || return 2
    # version (2 bytes), status-code (2 bytes): successful-* is 0x00NN.
    status=$(head -c "$len" <&"$fd" | od -An -tu1 -N4 | tr -s ' ')
    [[ $status =~ ^\ ?[12]\ [0-9]+\ 0\ [0-9]+$ ]] && return 0
    [[ -z $status ]] && return 2
    return 1
}

# client ID: at least PER_CLIENT requests on one keep-alive connection,
# until $WORK/done exists; a connection that ends is counted as dropped and
# the request is sent again on a new one (a failure only if that fails too).
# Writes "requests failed dropped" to $WORK/result.ID.
client() {
    local id=$1 fd=-1 n=0 failed=0 dropped=0 rc
    trap '' PIPE
    connect() { { exec {fd}<>/dev/tcp/127.0.0.1/631; } 2>/dev/null || { fd=-1; return 1; }; }
    connect
    while ((n < PER_CLIENT)) || [[ ! -e $WORK/done ]]; do
        n=$((n + 1))
        if ((fd < 0)) && ! connect; then
            failed=$((failed + 1))
            continue
        fi
        request "$fd" 2>/dev/null
        rc=$?
        if ((rc == 2)); then
            dropped=$((dropped + 1))
            exec {fd}>&-
            fd=-1
            if ! connect || ! request "$fd" 2>/dev/null; then
                failed=$((failed + 1))
            fi
        elif ((rc != 0)); then
            failed=$((failed + 1))
        fi
        echo "$n" >"$WORK/progress.$id"
    done
    ((fd >= 0)) && exec {fd}>&-
    echo "$n $failed $dropped" >"$WORK/result.$id"
}

progress() { cat "$WORK"/progress.* 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
reached() { (($(progress) >= $1)); }

check "the service starts" ipp_ok_verbose "$URI"
store_max=$(prop printspoold.service FileDescriptorStoreMax)
check "FileDescriptorStoreMax= is set ($store_max)" test "${store_max:-0}" -gt 0
since=$(date +%s)
start=$(now)
for i in $(seq "$CLIENTS"); do client "$i" & done
restarted=0
for r in $(seq "$RESTARTS"); do
    # Spread the restarts over the first 1,000 requests.
    wait_until 120 reached $((r * CLIENTS * PER_CLIENT / (RESTARTS + 1))) || break
    old=$(main_pid)
    # The default start limit (5 starts in 10 s) counts restarts too, and
    # this case restarts faster than any administrator: reset the count.
    systemctl reset-failed printspoold.service
    systemctl restart printspoold.service || break
    [[ $(main_pid) != "$old" && $(main_pid) != 0 ]] && restarted=$((restarted + 1))
done
touch "$WORK/done"
wait
took=$(elapsed_since "$start")
read -r requests failed dropped < <(cat "$WORK"/result.* | awk '{ r += $1; f += $2; d += $3 } END { print r, f, d }')
echo "# $requests requests on $CLIENTS keep-alive connections, $restarted restarts, ${took}s: $failed failed, $dropped connections dropped"
check_eq "$RESTARTS restarts, each a new process" "$RESTARTS" "$restarted"
check "at least $((CLIENTS * PER_CLIENT)) requests" test "$requests" -ge $((CLIENTS * PER_CLIENT))
check_eq "no request failed" 0 "$failed"
handed=$(journalctl -q --no-pager -o cat -u printspoold.service --since "@$since" |
    sed -n 's/^handed \([0-9]*\) of [0-9]* idle client connection.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
resumed=$(journalctl -q --no-pager -o cat -u printspoold.service --since "@$since" |
    sed -n 's/^resumed \([0-9]*\) of [0-9]* idle client connection.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
echo "# connections handed to the store: $handed; resumed from it: $resumed"

if ((version >= 254)); then
    check_eq "no connection dropped" 0 "$dropped"
    check "idle connections went through the store" test "$handed" -gt 0
    check_eq "every one handed over was resumed" "$handed" "$resumed"

    # Listeners the daemon bound itself (a unit without sockets): stored at
    # start under the socket units' names, taken over by the restart.
    SELF=printspoold-selfbound
    : >"$WORK/empty.toml"
    systemd-run --quiet --unit="$SELF" -p Type=notify -p FileDescriptorStoreMax=8 \
        /usr/bin/printspoold --no-dbus --config "$WORK/empty.toml" \
        --listen 127.0.0.1:8631 --spool-dir "$WORK/spool"
    self_lines() { journalctl -q --no-pager -o cat -u "$SELF.service"; }
    check "self-bound: it serves on 127.0.0.1:8631" ipp_ok ipp://127.0.0.1:8631/ipp/print
    check_eq "self-bound: its listener is in the store" 1 "$(prop "$SELF.service" NFileDescriptorStore)"
    systemctl restart "$SELF.service"
    check "self-bound: the restarted daemon took the listener over" \
        grep -q 'listening on 127.0.0.1:8631 (passed by systemd)' <<<"$(self_lines)"
    check "self-bound: and serves" ipp_ok ipp://127.0.0.1:8631/ipp/print
    systemctl stop "$SELF.service"
else
    # systemd 252: no $FDSTORE, so socket activation alone.
    check_eq "systemd $version: nothing handed to the store" 0 "$handed"
    check "systemd $version: idle connections closed at the restarts, each request answered on a new connection" \
        test "$dropped" -gt 0
fi
finish
