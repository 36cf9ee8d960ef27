#!/bin/bash
# The README's first command on a fresh machine: a copy of the cached Debian
# root file system (minbase: no compiler, no pkg-config, no libudev-dev) with
# the host's rustup toolchain bind-mounted read-only, a normal user who may
# use sudo, and the repository in their home. The user runs the first
# command of README.md's "Two commands" section, verbatim; it must install
# what the build lacks (as root, for that step only), build, and serve: a
# Get-Printer-Attributes from ipptool must succeed.
#
# Usage: tests/nspawn/fresh-machine.sh ROOT REPO-COPY   (as root, on the host)
# ROOT: a fresh copy of the root file system (lib.sh and data/ installed by
# tests/nspawn/run); REPO-COPY: the repository's files, copied to the user's
# home. Needs the network (apt-get inside). Prints "ok"/"not ok" lines and
# "# " measurements; exits non-zero if a check failed.
set -u

PAYLOAD=/usr/local/lib/printspoold-test
USER_NAME=builder
HOME_DIR=/home/$USER_NAME
SRC=$HOME_DIR/printspoold
# A release build with fat LTO, after apt-get: minutes. A bound, not a pace.
LINE_TIMEOUT=${PRINTSPOOLD_FRESH_LINE_TIMEOUT:-1800}

if [[ ${1:-} != --inside ]]; then
    root=${1:?usage: $0 ROOT REPO-COPY}
    tree=${2:?usage: $0 ROOT REPO-COPY}
    rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
    cargo_home=${CARGO_HOME:-$HOME/.cargo}
    [[ -x $cargo_home/bin/rustup && -d $rustup_home/toolchains ]] ||
        { echo "not ok - no rustup toolchain on the host ($cargo_home/bin/rustup, $rustup_home)"; exit 1; }
    install -D -m 0755 "$0" "$root$PAYLOAD/fresh-machine.sh"
    sed -n '/^## Two commands/,/^## /p' "$(dirname "$0")/../../README.md" |
        awk '/^```sh$/ { on = 1; next } on && /^```$/ { exit } on' >"$root$PAYLOAD/first-command"
    install -d "$root$HOME_DIR/.cargo/bin" "$root/opt/rustup"
    cp -a "$tree" "$root$SRC"
    # The crates the lock file names, when this host has them: a fresh
    # machine would download them, but the test should not depend on
    # crates.io being reachable for files it already has.
    if [[ -d $cargo_home/registry/cache ]]; then
        install -d "$root$HOME_DIR/.cargo/registry"
        cp -a "$cargo_home/registry/index" "$cargo_home/registry/cache" "$root$HOME_DIR/.cargo/registry/"
    fi
    # --as-pid2: nspawn's stub init reaps; the host's network, so apt-get
    # reaches the archive the root file system was made from.
    exec systemd-nspawn -D "$root" --register=no --keep-unit -q --as-pid2 \
        --bind-ro="$rustup_home:/opt/rustup" --bind-ro="$cargo_home/bin:$HOME_DIR/.cargo/bin" \
        "$PAYLOAD/fresh-machine.sh" --inside </dev/null
fi

# --- inside the container, as root ------------------------------------------
# shellcheck source=lib.sh
. "$PAYLOAD/lib.sh"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PORT=8631
URI=ipp://127.0.0.1:$PORT/ipp/print
LOG=/var/tmp/first-command.log
command=$(cat "$PAYLOAD/first-command")

installed() { [[ $(dpkg-query -W -f '${db:Status-Status}' "$1" 2>/dev/null) == installed ]]; }
not_installed() { ! installed "$1"; }
port_free() { ! { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null; }

echo "# the README's first command: $command"
check "README.md's \"Two commands\" section starts with a command" test -n "$command"
check "the machine has no libudev-dev" not_installed libudev-dev
check "nor pkg-config" not_installed pkg-config
check "nor a C compiler" not_installed gcc
check "port $PORT is free (the daemon's default for a normal user)" port_free

# The machine's owner: a normal user with sudo, as after a Debian install
# with the root account disabled. The package lists go again afterwards, as
# in a fresh container image.
start=$(now)
if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends sudo; } >/var/tmp/setup.log 2>&1; then
    tail -n 20 /var/tmp/setup.log | sed 's/^/    # /'
    not_ok "setting up sudo in the container (apt-get)"
    finish
fi
rm -rf /var/lib/apt/lists/*
useradd -m -s /bin/bash "$USER_NAME" 2>/dev/null || true
# The home existed already (the host put the tree and the crates there).
chown "$USER_NAME:$USER_NAME" "$HOME_DIR"
echo "$USER_NAME ALL=(ALL) NOPASSWD: ALL" >/etc/sudoers.d/"$USER_NAME"
chown -R "$USER_NAME:$USER_NAME" "$SRC" "$HOME_DIR/.cargo/registry" 2>/dev/null
chown "$USER_NAME:$USER_NAME" "$HOME_DIR/.cargo"
echo "# set up the user in $(elapsed_since "$start")s"

# The command runs as the user, in a login-like environment, in its own
# session so that it and everything it started can be stopped together.
fifo=$(mktemp -u /var/tmp/first-command.XXXXXX)
mkfifo "$fifo"
start=$(now)
setsid runuser -u "$USER_NAME" -- env -i HOME="$HOME_DIR" USER="$USER_NAME" LOGNAME="$USER_NAME" \
    PATH="$HOME_DIR/.cargo/bin:/usr/local/bin:/usr/bin:/bin" RUSTUP_HOME=/opt/rustup \
    TERM=dumb LANG=C.UTF-8 bash -c "cd ~/printspoold && $command" >"$fifo" 2>&1 &
session=$!
exec {out}<"$fifo"
rm -f "$fifo"
# Ready when the daemon says how to print; the end of its output (it
# exited) or a line-less stretch of LINE_TIMEOUT seconds is a failure.
ready=0
while IFS= read -r -t "$LINE_TIMEOUT" -u "$out" line; do
    printf '%s\n' "$line" >>"$LOG"
    if [[ $line == *"Finished \`release\` profile"* ]]; then
        echo "# built after $(elapsed_since "$start")s: ${line#*Finished }"
    elif [[ $line == *"print with: lp -h 127.0.0.1:$PORT"* ]]; then
        ready=1
        break
    fi
done
took=$(elapsed_since "$start")
# Keep reading, or the daemon would block on a full pipe.
cat <&"$out" >>"$LOG" &
echo "# from the command to serving: ${took}s"
check "the daemon came up (said how to print)" test "$ready" = 1
if ((!ready)); then tail -n 40 "$LOG" | sed 's/^/    # /'; fi
check "it installed libudev-dev" installed libudev-dev
check "and pkg-config" installed pkg-config
check "it said it installs them as root, for that step only" grep -q 'installing them with apt-get' "$LOG"
check "Get-Printer-Attributes is answered" ipp_ok_verbose "$URI"
if pid=$(pgrep -u "$USER_NAME" -x printspoold); then
    check_eq "the daemon runs as the user" "$(id -u "$USER_NAME")" "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")"
else
    not_ok "no printspoold process of $USER_NAME"
fi
root_owned=$(find "$SRC/target" -maxdepth 3 ! -user "$USER_NAME" -print -quit 2>/dev/null)
check_eq "the build ran as the user (nothing in target/ owned by another)" "" "$root_owned"

kill -TERM -- "-$session" 2>/dev/null
wait "$session"
finish
