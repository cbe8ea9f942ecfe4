#!/usr/bin/env bash
# Switchboard lab: a real Asterisk 22 (Debian sid) in a cached chroot, bound to
# 127.0.0.1, with the project's configs, dialplan and prompts.
#
#   lab.sh deps | build | start | stop | status | cli "core show channels" | root
#
# Runs as root (debootstrap, chroot, bind mounts). Idempotent: every command
# can be repeated. SWITCHBOARD_LAB_ROOT overrides where the chroot lives.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
ROOT=${SWITCHBOARD_LAB_ROOT:-${HOME:-/root}/.cache/switchboard/asterisk-sid}
ARI_URL=http://127.0.0.1:8088/ari/asterisk/info
ARI_AUTH=switchboard:switchboard
APT_PACKAGES=(debootstrap sip-tester espeak-ng sox curl chromium)  # chromium: the pages test
SUITE_PACKAGES=asterisk,asterisk-modules,asterisk-core-sounds-en-gsm

log() { echo "lab: $*" >&2; }
die() { log "error: $*"; exit 1; }

is_mounted() { mountpoint -q "$ROOT/$1"; }
# The asterisk process whose root directory is our chroot (not any other one).
asterisk_pid() {
    local pid root
    root=$(realpath -m "$ROOT")
    for pid in $(pgrep -x asterisk || true); do
        if [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ]; then
            echo "$pid"
            return 0
        fi
    done
}
ast() { chroot "$ROOT" asterisk -rx "$1"; }

ensure_apt() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
}

# Remove a directory that might be (part of) a chroot, refusing if anything is
# still bind-mounted below it: rm -rf through a /dev bind mount deletes the
# host's /dev.
safe_rm_tree() {
    local dir=$1
    if findmnt -rn -o TARGET | grep -q "^$(realpath -m "$dir")\(/\|$\)"; then
        die "refusing to delete $dir: something is mounted inside it"
    fi
    rm -rf --one-file-system "$dir"
}

cmd_build() {
    ensure_apt
    if [ -x "$ROOT/usr/sbin/asterisk" ]; then
        return 0
    fi
    # Build into ROOT.tmp and rename at the end, so an interrupted debootstrap
    # never leaves a half chroot that looks usable.
    local tmp="$ROOT.tmp"
    [ -e "$tmp" ] && safe_rm_tree "$tmp"
    mkdir -p "$(dirname "$ROOT")"
    log "debootstrapping Debian sid with Asterisk into $ROOT (about a minute)"
    debootstrap --variant=minbase --include="$SUITE_PACKAGES" \
        sid "$tmp" http://deb.debian.org/debian >"$(dirname "$ROOT")/debootstrap.log" 2>&1 \
        || die "debootstrap failed, see $(dirname "$ROOT")/debootstrap.log"
    [ -e "$ROOT" ] && safe_rm_tree "$ROOT"
    mv "$tmp" "$ROOT"
}

mount_binds() {
    local m
    for m in proc dev; do
        is_mounted "$m" || mount --bind "/$m" "$ROOT/$m"
    done
}

umount_binds() {
    local m
    for m in dev proc; do
        if is_mounted "$m"; then umount "$ROOT/$m" || umount -l "$ROOT/$m"; fi
    done
}

# Asterisk reads only our files: Debian's samples (kept once as
# etc/asterisk.dist for reference) would load consoles, demo dialplans, etc.
install_configs() {
    local etc="$ROOT/etc/asterisk"
    if [ ! -e "$ROOT/etc/asterisk.dist" ]; then
        mv "$etc" "$ROOT/etc/asterisk.dist"
    fi
    rm -rf "$etc"
    mkdir -p "$etc"
    cp "$REPO"/deploy/asterisk/*.conf "$REPO"/dialplan/*.conf "$etc/"
}

# Sound folders in the chroot are absolute symlinks (en -> /etc/alternatives/..),
# so resolve them inside the chroot, not on the host.
install_prompts() {
    local sounds="$REPO/build/sounds" langdir lang dest
    "$REPO/prompts/build.sh"   # incremental: a no-op when prompts are current
    for langdir in "$sounds"/*/; do
        lang=$(basename "$langdir")
        dest=$(chroot "$ROOT" sh -c \
            "mkdir -p /usr/share/asterisk/sounds/$lang/switchboard && readlink -f /usr/share/asterisk/sounds/$lang/switchboard")
        [[ $dest == /usr/share/asterisk/sounds/?*/switchboard ]] || die "odd sound dir '$dest'"
        rm -rf "${ROOT:?}$dest"
        mkdir -p "$ROOT$dest"
        cp "$langdir"switchboard/* "$ROOT$dest/"
    done
    mkdir -p "$ROOT/usr/share/asterisk/moh"
    cp "$REPO"/build/moh/*.wav "$ROOT/usr/share/asterisk/moh/"
}

wait_for_ari() {
    local i
    for i in $(seq 1 60); do
        if curl -fsS -u "$ARI_AUTH" -o /dev/null "$ARI_URL" 2>/dev/null; then
            log "Asterisk up, ARI answering at $ARI_URL"
            return 0
        fi
        sleep 0.5
    done
    log "ARI did not answer within 30 s; last lines of the Asterisk log:"
    tail -n 40 "$ROOT/var/log/asterisk/messages" >&2 || true
    die "Asterisk failed to start"
}

cmd_start() {
    cmd_build
    [ -n "$(asterisk_pid)" ] && cmd_stop   # fresh configs need a fresh start
    mount_binds
    mkdir -p "$ROOT/run/asterisk"
    # ARI recordings (voicemail) are written here; Debian's package does not make it,
    # and without it POST /channels/{id}/record answers 500.
    mkdir -p "$ROOT/var/spool/asterisk/recording"
    install_configs
    install_prompts
    : >"$ROOT/var/log/asterisk/messages"   # each lab run gets its own log
    # No -U: as a non-root user Asterisk can't read the chroot's configs.
    chroot "$ROOT" asterisk
    wait_for_ari
}

cmd_stop() {
    local pid i
    pid=$(asterisk_pid)
    if [ -n "$pid" ]; then
        ast "core stop now" >/dev/null 2>&1 || true
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "Asterisk (pid $pid) did not stop in 10 s, killing it"
            kill -9 "$pid" || true
        fi
    fi
    umount_binds
}

cmd_status() {
    local pid
    pid=$(asterisk_pid)
    echo "root:     $ROOT"
    echo "mounts:   proc=$(is_mounted proc && echo yes || echo no) dev=$(is_mounted dev && echo yes || echo no)"
    if [ -n "$pid" ]; then
        echo "asterisk: running (pid $pid)"
        ast "core show channels count" || true
    else
        echo "asterisk: stopped"
        return 3
    fi
}

case "${1:-}" in
    deps) ensure_apt ;;
    build) cmd_build ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    cli) shift; [ $# -ge 1 ] || die 'usage: lab.sh cli "<asterisk command>"'; ast "$*" ;;
    root) echo "$ROOT" ;;
    *) echo "usage: $0 deps|build|start|stop|status|cli \"<command>\"|root" >&2; exit 2 ;;
esac
