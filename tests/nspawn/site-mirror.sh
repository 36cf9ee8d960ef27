#!/bin/bash
# The harness on a host whose apt uses another archive than this one's: a
# site mirror. A local HTTP mirror (a small reverse proxy in front of the
# archive this host uses) stands in for it; an apt configuration naming only
# that mirror (deb822) stands in for the host's, through
# PRINTSPOOLD_APT_ETC. With PRINTSPOOLD_TEST_MIRROR unset, `tests/nspawn/run
# --prepare` must debootstrap SUITE from the mirror, into a cache of its
# own: every file through it, and the root file system's own apt sources
# naming it.
#
# Usage: tests/nspawn/site-mirror.sh SUITE   (as root; needs the network)
# Prints "ok"/"not ok" lines and "# " measurements; exits non-zero if a
# check failed.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SUITE=${1:?usage: $0 SUITE}
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=../apt-sources.sh
. "$REPO/tests/apt-sources.sh"

upstream=$(debian_archive) || { not_ok "this host's archive (tests/apt-sources.sh)"; finish; }
work=$(mktemp -d "${TMPDIR:-/var/tmp}/printspoold-site-mirror.XXXXXX")
proxy=
cleanup() {
    [[ -n $proxy ]] && kill "$proxy" 2>/dev/null && wait "$proxy" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# The mirror: GET /site/debian/PATH is UPSTREAM/PATH; each path is logged.
python3 - "$upstream" "$work/requests" "$work/port" <<'PY' 2>"$work/proxy.err" &
import http.server, os, shutil, sys, urllib.error, urllib.request

upstream, log, port_file = sys.argv[1:]
PREFIX = "/site/debian"

class Mirror(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a") as f:
            f.write(self.path + "\n")
        if not self.path.startswith(PREFIX + "/"):
            self.send_error(404)
            return
        try:
            with urllib.request.urlopen(upstream + self.path[len(PREFIX):], timeout=120) as r:
                self.send_response(r.status)
                for name in ("Content-Type", "Content-Length", "Last-Modified"):
                    if r.headers.get(name):
                        self.send_header(name, r.headers[name])
                self.end_headers()
                shutil.copyfileobj(r, self.wfile)
        except urllib.error.HTTPError as e:
            self.send_error(e.code)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_port))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
PY
proxy=$!
port_ready() { [[ -s $work/port ]]; }
if ! wait_until 30 port_ready; then
    not_ok "the local mirror did not start: $(cat "$work/proxy.err")"
    finish
fi
site=http://127.0.0.1:$(cat "$work/port")/site/debian

mkdir -p "$work/apt/sources.list.d"
printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$site" "$SUITE" \
    >"$work/apt/sources.list.d/site.sources"

start=$(now)
out=$(env -u PRINTSPOOLD_TEST_MIRROR PRINTSPOOLD_APT_ETC="$work/apt" \
    PRINTSPOOLD_TEST_CACHE="$work/cache" PRINTSPOOLD_TEST_SUITE="$SUITE" \
    "$HERE/run" --prepare 2>&1)
status=$?
echo "# debootstrap of $SUITE through the site mirror: $(elapsed_since "$start")s"
check_eq "tests/nspawn/run --prepare succeeds" 0 "$status"
[[ $status == 0 ]] || sed 's/^/    # /' <<<"$out" | tail -n 20
check "it took the archive from the apt sources (the site mirror)" \
    grep -qF "archive: $site (from this host's apt sources)" <<<"$out"
check "the suite's release file came through the mirror" \
    grep -qE "^/site/debian/dists/$SUITE/(InRelease|Release)$" "$work/requests"
packages=$(grep -c '\.deb$' "$work/requests")
echo "# $packages packages fetched through the mirror"
check "and the packages (more than 100)" test "$packages" -gt 100
rootfs=$(compgen -G "$work/cache/rootfs-$SUITE-*" | head -n 1)
check "the root file system's apt names the site mirror" \
    grep -rqF "$site" "$rootfs/etc/apt/"
finish
