#!/bin/bash
# What systemd/printspoold-generator adds on a systemd newer than 252, and
# that it adds nothing on 252:
# - 253 and later: Type=notify-reload; `systemctl reload` returns only once
#   the new configuration is live (checked with no wait, 10 rounds), and a
#   bad one shows in `systemctl status` while the old one serves;
# - 255 and later: PollLimitIntervalSec=/PollLimitBurst= on both sockets; a
#   burst of connections while the daemon is down starts it and leaves the
#   sockets active, every request answered.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

version=$(systemctl --version | awk 'NR == 1 { print $2 }')
echo "# systemd $version"
GEN=/run/systemd/generator
LAB=ipp://127.0.0.1:631/printers/lab
BASE='[server]
idle_exit_after = 0

[[printer]]
name = "office"
device_uri = "file:///var/spool/printspoold/printed-office"'
WITH_LAB="$BASE

[[printer]]
name = \"lab\"
device_uri = \"file:///var/spool/printspoold/printed-lab\""

lab_served() { ipptool -T 10 -q "$LAB" "$DATA/get-printer-attributes.test" 2>/dev/null; }
lab_absent() { ! lab_served; }

if ((version < 253)); then
    check_eq "Type= as written (no drop-in on systemd $version)" notify "$(prop printspoold.service Type)"
    check "the generator wrote nothing" test ! -e "$GEN/printspoold.service.d/50-notify-reload.conf"
    check "reload still goes through ExecReload=" \
        grep -q 'kill' <<<"$(prop printspoold.service ExecReload)"
    finish
fi

check_eq "Type= (printspoold-generator's drop-in)" notify-reload "$(prop printspoold.service Type)"
check "the drop-in is in DropInPaths" grep -q "$GEN/printspoold.service.d/50-notify-reload.conf" \
    <<<"$(prop printspoold.service DropInPaths)"
check_eq "no ExecReload= left" "" "$(prop printspoold.service ExecReload)"

write_config "$BASE"
check "the service starts (first request)" ipp_ok_verbose ipp://127.0.0.1:631/printers/office
pid=$(main_pid)
late=0
for round in 1 2 3 4 5; do
    write_config "$WITH_LAB"
    systemctl reload printspoold.service || late=$((late + 1000))
    lab_served || late=$((late + 1))
    write_config "$BASE"
    systemctl reload printspoold.service || late=$((late + 1000))
    lab_absent || late=$((late + 1))
done
check_eq "10 reloads, each live when systemctl reload returned (no wait)" 0 "$late"
check_eq "all in the same process" "$pid" "$(main_pid)"

write_config '[server
idle_exit = '
check "a reload with a broken configuration returns" systemctl reload printspoold.service
check "systemctl status shows why (STATUS=), at once" \
    bash -c 'systemctl status --no-pager printspoold.service | grep -qi config'
check_eq "still active/running" active/running \
    "$(prop printspoold.service ActiveState)/$(prop printspoold.service SubState)"
check "the old configuration serves" ipp_ok ipp://127.0.0.1:631/printers/office
write_config "$BASE"
systemctl reload printspoold.service

if ((version >= 255)); then
    for unit in printspoold.socket printspoold-unix.socket; do
        check_eq "$unit: PollLimitIntervalUSec" 2s "$(prop "$unit" PollLimitIntervalUSec)"
        check_eq "$unit: PollLimitBurst" 10 "$(prop "$unit" PollLimitBurst)"
    done
    systemctl stop printspoold.service
    burst() { local i ok=0; for i in $(seq 50); do raw_get_attrs && ok=$((ok + 1)); done; echo "$ok"; }
    total=0
    for n in $(for j in $(seq 8); do burst & done; wait); do total=$((total + n)); done
    check_eq "400 requests on new connections from 8 clients, the daemon down at first: all answered" 400 "$total"
    check_eq "printspoold.socket still active" active "$(state printspoold.socket)"
    check_eq "and never failed (Result)" success "$(prop printspoold.socket Result)"
fi
finish
