#!/bin/bash
# Credentials (src/systemd/credentials.rs): a printer's device URI, which
# for a network printer carries its password, comes from a systemd
# credential (`device_uri = "credential:printspoold.office-uri"`) and never
# touches the unit or the configuration. The test secret is a random output
# directory: a job printed there proves the daemon used the content; the
# secret must appear nowhere in the unit (`systemctl cat`, `systemctl show`),
# the configuration, the daemon's environment or its journal.
# - every systemd (LoadCredential=, 247): the file is given by path;
# - 254 and later (ImportCredential=): taken from the credential store
#   (/run/credstore), the unit naming only the credential.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

version=$(systemctl --version | awk 'NR == 1 { print $2 }')
echo "# systemd $version"
NAME=printspoold.office-uri
DROPIN=/run/systemd/system/printspoold.service.d/50-test-credential.conf
SOURCE=/root/office-uri.secret
STORE=/run/credstore
cleanup() { rm -rf "$SOURCE" "$STORE"; }
trap cleanup EXIT

write_config "[server]
idle_exit_after = 0

[[printer]]
name = \"office\"
device_uri = \"credential:$NAME\""

# round LABEL DROPIN-BODY: one start with the credential given as the
# drop-in says; a job must land in a fresh secret directory.
round() {
    local label=$1 body=$2 secret dir out id
    secret=secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    dir=/var/spool/printspoold/$secret
    printf 'file://%s\n' "$dir" >"$SOURCE"
    chmod 0600 "$SOURCE"
    mkdir -p "$STORE"
    install -m 0600 "$SOURCE" "$STORE/$NAME"
    install -d -o printspoold -g printspoold -m 0700 "$dir"
    mkdir -p "$(dirname "$DROPIN")"
    printf '[Service]\n%s\n' "$body" >"$DROPIN"
    systemctl daemon-reload
    systemctl stop printspoold.service
    out=$(ipptool -T 10 -tv -d filename="$DATA/hello.txt" -d jobname=credential \
        ipp://127.0.0.1:631/printers/office "$DATA/print-job.test" 2>&1)
    id=$(sed -n 's/.*job-id (integer) = \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
    check "$label: Print-Job to the printer whose URI is a credential" test -n "$id"
    printed() { compgen -G "$dir/*" >/dev/null; }
    check "$label: the job printed into the directory the credential names" wait_until 30 printed
    check "$label: the service sees it in \$CREDENTIALS_DIRECTORY" \
        test -f "/run/credentials/printspoold.service/$NAME"
    check "$label: not in the unit (systemctl cat)" \
        bash -c "! systemctl cat printspoold.service | grep -q '$secret'"
    check "$label: not in its properties (systemctl show)" \
        bash -c "! systemctl show printspoold.service | grep -q '$secret'"
    check "$label: not in the configuration" bash -c "! grep -q '$secret' $CONFIG"
    check "$label: not in the daemon's environment" \
        bash -c "! tr '\0' '\n' </proc/$(main_pid)/environ | grep -q '$secret'"
    check "$label: not in the journal" \
        bash -c "! journalctl -q --no-pager -u printspoold.service | grep -q '$secret'"
}

round LoadCredential "LoadCredential=$NAME:$SOURCE"

if ((version >= 254)); then
    round ImportCredential "ImportCredential=$NAME"
else
    echo "# ImportCredential= needs systemd 254 (this is $version): LoadCredential= only"
fi

# Without the credential the service fails to start, saying which one.
rm -f "$DROPIN"
systemctl daemon-reload
systemctl stop printspoold.service
systemctl reset-failed printspoold.service 2>/dev/null
systemctl start printspoold.service 2>/dev/null
failed() { is_state printspoold.service failed; }
check "without the credential the start fails" wait_until 10 failed
check "and the journal names the credential" \
    bash -c "journalctl -q --no-pager -u printspoold.service | grep -q 'credential \"$NAME\"'"
finish
