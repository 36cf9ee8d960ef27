# shellcheck shell=bash
# Builds the packages that tests/nspawn/run installs and checks: the .deb
# from packaging/debian/ and the .rpm from packaging/printspoold.spec, each
# in a temporary copy of the tree (a debian/ directory never appears at the
# top of the repository). Sourced by tests/nspawn/run, which defines REPO,
# CACHE, MIRROR, log and now, and sources tests/apt-sources.sh.

# copy_tree DEST: the repository's files as git sees them (tracked, and new
# files not ignored), so no target/ directory and no .git; a plain copy
# without those two when the tree is not a git checkout.
copy_tree() {
    local dest=$1
    mkdir -p "$dest"
    if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
        # --cached lists files deleted in the work tree too: keep what exists.
        git -C "$REPO" ls-files -z --cached --others --exclude-standard |
            (cd "$REPO" && while IFS= read -r -d '' f; do
                [[ -e $f || -L $f ]] && printf '%s\0' "$f"
            done) |
            tar -C "$REPO" --null -T - -cf - | tar -C "$dest" -xf -
    else
        tar -C "$REPO" --exclude=./.git --exclude=./target -cf - . | tar -C "$dest" -xf -
    fi
}

# deb_version: the version packaging/debian/changelog names.
deb_version() {
    dpkg-parsechangelog -l "$REPO/packaging/debian/changelog" -S Version
}

# build_deb OUT BINARY [VERSION]: builds printspoold_*.deb from BINARY into
# OUT and prints its path. With VERSION, a changelog entry for that version
# goes first: the same binary as a newer package, for the upgrade case.
# Faster than a release build in what does not matter here: gzip -1 instead
# of xz, no -dbgsym package.
build_deb() {
    local out=$1 binary=$2 version=${3:-} tree=$1/tree
    mkdir -p "$out"
    copy_tree "$tree"
    cp -r "$REPO/packaging/debian" "$tree/debian"
    if [[ -n $version ]]; then
        {
            printf 'printspoold (%s) unstable; urgency=medium\n\n' "$version"
            printf '  * Rebuilt by tests/nspawn/run to test upgrades.\n\n'
            printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$tree/debian/changelog" -S Maintainer)" \
                "$(date -R)"
            cat "$tree/debian/changelog"
        } >"$tree/debian/changelog.new"
        mv "$tree/debian/changelog.new" "$tree/debian/changelog"
    fi
    if ! (cd "$tree" && BINARY=$binary DEB_BUILD_OPTIONS="nocheck noautodbgsym" \
        DPKG_DEB_COMPRESSOR_TYPE=gzip DPKG_DEB_COMPRESSOR_LEVEL=1 \
        dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1; then
        tail -n 30 "$out/build.log" | sed 's/^/    | /' >&2
        return 1
    fi
    rm -rf "$tree"
    compgen -G "$out/printspoold_*.deb"
}

# --- RPM ----------------------------------------------------------------------

# pc_var PACKAGE VARIABLE: a variable of PACKAGE's pkg-config file.
pc_var() { pkg-config --variable="$2" "$1"; }

# render_systemd_macros IN OUT: fills in systemd's macros.systemd.in with
# the values systemd's meson build puts into macros.systemd.in, from the
# build host's systemd.pc and udev.pc where they say, else as meson derives
# them.
render_systemd_macros() {
    local in=$1 out=$2 prefix rootprefix util udevdir

    prefix=$(pc_var systemd prefix)
    rootprefix=$(pc_var systemd rootprefix)
    util=$(pc_var systemd systemdutildir)
    udevdir=$(pc_var udev udevdir)
    [[ -n $prefix && -n $util && -n $udevdir ]] || return 1
    sed -e "s|{{ROOTLIBEXECDIR}}|$util|g" \
        -e "s|{{SYSTEM_DATA_UNIT_DIR}}|$(pc_var systemd systemdsystemunitdir)|g" \
        -e "s|{{USER_DATA_UNIT_DIR}}|$(pc_var systemd systemduserunitdir)|g" \
        -e "s|{{SYSTEM_PRESET_DIR}}|$(pc_var systemd systemdsystempresetdir)|g" \
        -e "s|{{USER_PRESET_DIR}}|$(pc_var systemd systemduserpresetdir)|g" \
        -e "s|{{UDEV_HWDB_DIR}}|$udevdir/hwdb.d|g" \
        -e "s|{{UDEV_RULES_DIR}}|$udevdir/rules.d|g" \
        -e "s|{{SYSTEMD_CATALOG_DIR}}|$(pc_var systemd catalogdir)|g" \
        -e "s|{{KERNEL_INSTALL_DIR}}|$prefix/lib/kernel/install.d|g" \
        -e "s|{{BINFMT_DIR}}|$(pc_var systemd binfmtdir)|g" \
        -e "s|{{SYSCTL_DIR}}|$(pc_var systemd sysctldir)|g" \
        -e "s|{{SYSUSERS_DIR}}|$(pc_var systemd sysusersdir)|g" \
        -e "s|{{TMPFILES_DIR}}|$(pc_var systemd tmpfilesdir)|g" \
        -e "s|{{USER_TMPFILES_DIR}}|$(pc_var systemd user_tmpfiles_dir)|g" \
        -e "s|{{ENVIRONMENT_DIR}}|$prefix/lib/environment.d|g" \
        -e "s|{{MODULESLOAD_DIR}}|$(pc_var systemd modulesloaddir)|g" \
        -e "s|{{MODPROBE_DIR}}|$rootprefix/lib/modprobe.d|g" \
        -e "s|{{SYSTEM_GENERATOR_DIR}}|$(pc_var systemd systemdsystemgeneratordir)|g" \
        -e "s|{{USER_GENERATOR_DIR}}|$(pc_var systemd systemdusergeneratordir)|g" \
        -e "s|{{SYSTEM_ENV_GENERATOR_DIR}}|$prefix/lib/systemd/system-environment-generators|g" \
        -e "s|{{USER_ENV_GENERATOR_DIR}}|$prefix/lib/systemd/user-environment-generators|g" \
        -e "s|{{SYSTEMD_UPDATE_HELPER_PATH}}|$util/systemd-update-helper|g" \
        "$in" >"$out.tmp"
    # Anything left is a template construct this renderer does not know.
    if grep -n '{{\|{%' "$out.tmp" >&2; then
        rm -f "$out.tmp"
        return 1
    fi
    mv "$out.tmp" "$out"
}

# security_archive: the host's security archive (its apt sources), or the
# archive's sibling "debian-security" when PRINTSPOOLD_TEST_MIRROR is set or
# the host has none.
security_archive() {
    if [[ -z ${PRINTSPOOLD_TEST_MIRROR:-} ]] && debian_archive --security 2>/dev/null; then
        return
    fi
    echo "${MIRROR%/debian}/debian-security"
}

# rpm_systemd_macros: prints the macros.systemd file to load into rpmbuild,
# or nothing when rpm already has the macros (an RPM distribution's
# systemd-rpm-macros). Debian's rpm has none and no Debian binary package
# ships the file (systemd is built with -Drpmmacrosdir=no); Debian ships its
# source in the systemd source package. So: fetch that source (the version
# of the host's systemd, or the newest of the suite), take
# src/rpm/macros.systemd.in and fill it in as systemd's build would.
# Cached per systemd version.
rpm_systemd_macros() {
    [[ -n $(rpm --eval '%{?systemd_post:yes}') ]] && return 0
    local version codename dir apt tarball
    version=$(dpkg-query -W -f '${source:Version}' systemd) || return 1
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [[ -n $codename ]] || return 1
    dir=$CACHE/rpm-macros-systemd-$version
    if [[ ! -f $dir/macros.systemd ]]; then
        log "fetching Debian's systemd $version source for macros.systemd.in"
        apt=$(mktemp -d "$CACHE/apt.XXXXXX")
        mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/src"
        printf 'deb-src %s %s %s-updates main\ndeb-src %s %s-security main\n' \
            "$MIRROR" "$codename" "$codename" "$(security_archive)" "$codename" \
            >"$apt/sources.list"
        local opts=(-o Dir::Etc::sourcelist="$apt/sources.list" -o Dir::Etc::sourceparts=-
            -o Dir::State::lists="$apt/lists" -o Dir::Cache="$apt/cache"
            -o APT::Sandbox::User=root -q)
        if ! apt-get "${opts[@]}" update >"$apt/log" 2>&1 ||
            ! (cd "$apt/src" && { apt-get "${opts[@]}" source --download-only "systemd=$version" ||
                apt-get "${opts[@]}" source --download-only systemd; }) >>"$apt/log" 2>&1; then
            tail -n 20 "$apt/log" >&2
            rm -rf "$apt"
            return 1
        fi
        tarball=$(compgen -G "$apt/src/systemd_*.orig.tar.*" | head -n 1)
        mkdir -p "$apt/x" "$dir"
        if ! tar -C "$apt/x" -xf "$tarball" --wildcards '*/src/rpm/macros.systemd.in' ||
            ! render_systemd_macros "$(compgen -G "$apt/x/*/src/rpm/macros.systemd.in")" \
                "$dir/macros.systemd"; then
            rm -rf "$apt"
            return 1
        fi
        rm -rf "$apt"
    fi
    echo "$dir/macros.systemd"
}

# build_rpm OUT BINARY: builds the .rpm from BINARY under OUT/rpmbuild and
# prints its path.
build_rpm() {
    local out=$1 binary=$2 top=$1/rpmbuild version macros load=()
    macros=$(rpm_systemd_macros) || { log "no systemd RPM macros"; return 1; }
    [[ -n $macros ]] && load=(--load "$macros")
    version=$(rpmspec -q --qf '%{version}\n' --srpm "${load[@]}" "$REPO/packaging/printspoold.spec" 2>/dev/null)
    [[ -n $version ]] || { log "rpmspec could not read packaging/printspoold.spec"; return 1; }
    mkdir -p "$top/SOURCES"
    copy_tree "$top/SOURCES/printspoold-$version"
    tar -C "$top/SOURCES" -czf "$top/SOURCES/printspoold-$version.tar.gz" "printspoold-$version"
    rm -rf "$top/SOURCES/printspoold-$version"
    cp "$REPO/packaging/printspoold.sysusers.conf" "$REPO/packaging/printspoold.tmpfiles.conf" \
        "$top/SOURCES/"
    # --nodeps: BuildRequires name RPM packages, which a Debian host's empty
    # RPM database cannot confirm. gzip -1 payload: speed, not size.
    if ! rpmbuild -bb --nodeps "${load[@]}" --define "_topdir $top" \
        --define "binary $binary" --define "_binary_payload w1.gzdio" \
        "$REPO/packaging/printspoold.spec" >"$out/rpmbuild.log" 2>&1; then
        tail -n 30 "$out/rpmbuild.log" | sed 's/^/    | /' >&2
        return 1
    fi
    compgen -G "$top/RPMS/*/printspoold-$version-*.rpm" | head -n 1
}
