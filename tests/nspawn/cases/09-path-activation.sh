#!/bin/bash
# Path activation (daemon(7) "Path-Based Activation"): with the service
# stopped, a file renamed into the drop directory starts it through
# printspoold.path (DirectoryNotEmpty=); the file prints, the directory ends
# empty, the daemon exits on idle and the path unit waits again. Twenty
# rounds in a row.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

INCOMING=/var/spool/printspoold/incoming
PRINTED=/var/spool/printspoold/printed
ROUNDS=20

# Evaluated at every poll (a $(...) in wait_until's arguments would be
# evaluated once).
printed_count() { find "$PRINTED" -type f | wc -l; }
printed_more_than() { (($(printed_count) > $1)); }
incoming_empty() { [[ -z $(ls -A "$INCOMING") ]]; }

# This case's 1 s idle exit starts the service every 2 s or so, faster than
# systemd's default start limit (5 in 10 s) allows; a real idle_exit_after
# keeps starts far apart. The limit is raised for this case instead of
# pacing rounds by time (which failed on a faster or busier machine). A path
# unit that looped on a directory that never empties would still show: the
# path unit's own trigger limit, and the checks that the directory ends
# empty and the path unit's Result is success.
DROPIN=/run/systemd/system/printspoold.service.d/50-test-start-limit.conf
cleanup() {
    rm -f "$DROPIN"
    systemctl daemon-reload
}
trap cleanup EXIT
mkdir -p "$(dirname "$DROPIN")"
printf '[Unit]\nStartLimitIntervalSec=10s\nStartLimitBurst=1000\n' >"$DROPIN"
systemctl daemon-reload

write_config '[server]
idle_exit_after = 1'
systemctl stop printspoold.service
check_eq "printspoold.path is waiting" active "$(state printspoold.path)"

failed=0
start=$(now)
for ((round = 1; round <= ROUNDS; round++)); do
    is_state printspoold.service inactive || wait_until 20 is_state printspoold.service inactive
    before=$(printed_count)
    doc=/tmp/path-round-$round.txt
    printf 'round %d %s\n' "$round" "$RANDOM$RANDOM" >"$doc"
    # The writer's protocol: a dotfile, then rename into place. Written by
    # an unprivileged user: the job belongs to the file's owner.
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        sh -c "cat '$doc' > '$INCOMING/.round-$round' && mv '$INCOMING/.round-$round' '$INCOMING/round-$round.txt'" ||
        { failed=$((failed + 1)); echo "# round $round: could not drop the file"; continue; }
    if ! wait_until 20 printed_more_than "$before"; then
        failed=$((failed + 1))
        echo "# round $round: nothing printed (service $(state printspoold.service))"
        continue
    fi
    newest=$(ls -t "$PRINTED" | head -n 1)
    cmp -s "$doc" "$PRINTED/$newest" || { failed=$((failed + 1)); echo "# round $round: printed bytes differ"; }
    wait_until 10 incoming_empty || { failed=$((failed + 1)); echo "# round $round: drop directory not empty"; }
done
echo "# $ROUNDS rounds in $(elapsed_since "$start")s"
check_eq "every round started the daemon, printed exactly and emptied the directory" 0 "$failed"
check "the daemon exits on idle after the last round" wait_until 20 is_state printspoold.service inactive
check_eq "printspoold.path is waiting again" active "$(state printspoold.path)"
check "no start-limit hit" test "$(prop printspoold.path Result)" = success
owner=$(journalctl -q --no-pager -u printspoold.service | grep -c 'owner=nobody origin=DropDir' || true)
check "jobs are owned by the file's owner" test "$owner" -ge 1

# A bad entry is moved to rejected/ with a reason, and the directory still
# ends empty.
mkfifo "$INCOMING/a-fifo"
check "a FIFO is rejected and the directory ends empty" wait_until 20 incoming_empty
check "its reason is recorded" grep -q "not a regular file" /var/spool/printspoold/rejected/*a-fifo.reason
rm -f "$CONFIG"
finish
