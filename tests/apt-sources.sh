#!/bin/bash
# The package archive this host's apt uses, so the test harnesses
# (tests/nspawn/run, tests/vm/run) debootstrap from the same place (a site's
# own mirror included) and no archive host is written into the repository.
#
# Sourced: defines apt_source_entries and debian_archive.
# Run:     tests/apt-sources.sh [--security]   prints the archive's URI
#
# Read in apt's order: /etc/apt/sources.list (one-line format), then
# /etc/apt/sources.list.d/*.list (one-line) and *.sources (deb822).
# PRINTSPOOLD_APT_ETC names another directory in place of /etc/apt (for
# tests).

# apt_source_entries: one "URI SUITE" line per enabled binary ("deb") source
# and suite, in apt's order; trailing slashes removed from the URI.
apt_source_entries() {
    local etc=${PRINTSPOOLD_APT_ETC:-/etc/apt} f
    {
        [[ -f $etc/sources.list ]] && one_line_entries "$etc/sources.list"
        for f in "$etc"/sources.list.d/*; do
            case $f in
                *.list) one_line_entries "$f" ;;
                *.sources) deb822_entries "$f" ;;
            esac
        done
    } | sed -E 's|/+ | |'
}

# one_line_entries FILE: "deb [options] URI SUITE [COMPONENT...]" lines.
one_line_entries() {
    sed -E 's/#.*//; s/\[[^]]*\]//' "$1" |
        awk '$1 == "deb" && NF >= 3 { print $2, $3 }'
}

# deb822_entries FILE: stanzas with Types:, URIs:, Suites: and Enabled:
# (field names are case-insensitive; a field may go on over indented lines).
deb822_entries() {
    awk '
        function flush(   i, j, nu, ns, u, s, deb, enabled) {
            deb = (" " f["types"] " ") ~ /[ \t]deb[ \t]/
            enabled = tolower(f["enabled"])
            gsub(/[ \t]/, "", enabled)
            if (deb && enabled != "no") {
                nu = split(f["uris"], u, /[ \t]+/)
                ns = split(f["suites"], s, /[ \t]+/)
                for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
                    if (u[i] != "" && s[j] != "") print u[i], s[j]
            }
            delete f
            key = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ { if (key != "") f[key] = f[key] " " $0; next }
        {
            key = tolower(substr($0, 1, index($0, ":") - 1))
            f[key] = substr($0, index($0, ":") + 1)
        }
        END { flush() }
    ' "$1"
}

# debian_archive [--security]: the URI of the first source whose suite is a
# release (no "-security", "-updates" or "-backports" suffix), or with
# --security the first whose suite ends in "-security". Fails, saying why,
# when the host has none (not Debian, or no apt).
debian_archive() {
    local want='^[a-z]+$' what="a release suite"
    if [[ ${1:-} == --security ]]; then
        want='-security$'
        what="a -security suite"
    fi
    local uri id
    # Another distribution's archive (Ubuntu's, say) cannot debootstrap Debian.
    id=$(. /etc/os-release 2>/dev/null && echo "${ID:-}")
    if [[ -z ${PRINTSPOOLD_APT_ETC:-} && $id != debian ]]; then
        echo "this host is not Debian (ID=$id): set PRINTSPOOLD_TEST_MIRROR to a Debian archive" >&2
        return 1
    fi
    uri=$(apt_source_entries | awk -v want="$want" '$2 ~ want { print $1; exit }')
    if [[ -z $uri ]]; then
        echo "no apt source with $what in ${PRINTSPOOLD_APT_ETC:-/etc/apt}: set PRINTSPOOLD_TEST_MIRROR" >&2
        return 1
    fi
    echo "$uri"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    debian_archive "$@"
fi
