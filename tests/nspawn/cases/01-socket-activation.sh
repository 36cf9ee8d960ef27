#!/bin/bash
# (a) Socket activation: after boot only the sockets listen; the first IPP
# request, over TCP and over the Unix socket, starts the service and is
# answered; the service knows which sockets trigger it.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

check_eq "printspoold.socket listens after boot" active "$(state printspoold.socket)"
check_eq "printspoold-unix.socket listens after boot" active "$(state printspoold-unix.socket)"
check_eq "printspoold.service is not started at boot" inactive "$(state printspoold.service)"
check "the TCP socket is on port 631 of the loopback address" \
    bash -c "systemctl show -P Listen printspoold.socket | grep -Eq '^127\\.0\\.0\\.1:631 '"
check "the Unix socket exists, mode 0666" \
    test "$(stat -c '%a %F' /run/printspoold/ipp.sock)" = "666 socket"

start=$(now)
check "first request over TCP is answered" ipp_ok_verbose "$TCP_URI"
echo "# first request, including activation: $(elapsed_since "$start")s"
# The daemon may answer from the passed socket a moment before systemd has
# processed its READY=1: "activating" turns "active" within a moment.
wait_until 5 is_state printspoold.service active
check "that request started printspoold.service" becomes_active printspoold.service
pid=$(main_pid)
check "the service is Type=notify and reported READY (ActiveState=active, SubState=running)" \
    test "$(prop printspoold.service SubState)" = running
check "TriggeredBy= names printspoold.socket" \
    bash -c "systemctl show -P TriggeredBy printspoold.service | grep -qw printspoold.socket"
check "TriggeredBy= names printspoold-unix.socket" \
    bash -c "systemctl show -P TriggeredBy printspoold.service | grep -qw printspoold-unix.socket"
check "a request over the Unix socket is answered" ipp_ok_verbose "$UNIX_URI"
check_eq "by the same process" "$pid" "$(main_pid)"
check "the service runs as user printspoold" \
    test "$(ps -o user= -p "$pid")" = printspoold
check_eq "StatusText is set (STATUS=)" yes \
    "$([[ -n $(prop printspoold.service StatusText) ]] && echo yes || echo no)"
echo "# StatusText: $(prop printspoold.service StatusText)"
echo "# IP firewalling (IPAddressDeny=any): $(journalctl -b -q --no-pager | grep -i -m 1 'bpf' || echo 'no BPF warning in the journal')"

# The unit's own activation path once more, from a stopped service: the socket
# must survive `systemctl stop` (no PartOf=, unlike cups.socket).
systemctl stop printspoold.service
check_eq "stopping the service leaves the TCP socket listening" active "$(state printspoold.socket)"
check_eq "and the Unix socket" active "$(state printspoold-unix.socket)"
check "a request after stop starts it again" ipp_ok "$TCP_URI"
check "service active again" becomes_active printspoold.service
finish
