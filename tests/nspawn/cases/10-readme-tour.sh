#!/bin/bash
# README.md's activation tour, run verbatim: every shell block marked
# "<!-- tour: nspawn -->" runs here, in the order the README gives, against
# the installed package, each as one bash script with `set -e -o pipefail`.
# A README command that fails is a failing check (issue 7: "a README command
# that does not work is a failing test"). tests/readme.rs makes sure no
# try-it block of the tour is left unmarked.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

# The harness copies the repository's README.md into the payload: the
# tour under test is the one in the tree, never an older installed copy.
readme=$LIB_DIR/README.md
check "the harness put README.md into the payload" test -f "$readme"

blocks=$(mktemp -d)
awk -v env=nspawn -v dir="$blocks" -f "$DATA/tour-blocks.awk" "$readme"
count=$(find "$blocks" -name '*.sh' | wc -l)
check "the README has tour blocks for the container" test "$count" -ge 5

# The try-it blocks assume the state a package install leaves: the sockets,
# the path unit and the timer waiting, the packaged default configuration.
rm -f /etc/printspoold/printspoold.toml
systemctl start printspoold.socket printspoold-unix.socket printspoold.path printspoold-cleanup.timer

for block in "$blocks"/*.sh; do
    first=$(grep -m1 -v '^#' "$block")
    echo "# --- README tour block $(basename "$block" .sh):"
    sed 's/^/#   /' "$block"
    if (cd /tmp && timeout 120 bash -e -o pipefail "$block") >"$block.out" 2>&1; then
        ok "README block $(basename "$block" .sh) ($first ...)"
    else
        not_ok "README block $(basename "$block" .sh) ($first ...) failed"
    fi
    sed 's/^/#   | /' "$block.out" | tail -n 15
done
finish
