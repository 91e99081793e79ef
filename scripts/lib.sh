# shellcheck shell=sh
# lib.sh - what the scripts in scripts/ share. Sourced, never run:
#   . "$(dirname "$0")/lib.sh"
# right after `set -eu` (or `set -u`). Everything here is POSIX sh and named qp_*; a script
# keeps its own names under its own prefix (bk_, br_, ...). Nothing runs on sourcing but
# the assignments below, so sourcing never fails and never prints.
#
#   messages   qp_log, qp_warn, qp_progress (only when stderr is a terminal), qp_die (exit 1),
#              qp_fail STATUS; each line starts with "$qp_name: " (the script's name)
#   options    qp_getopts "r=rounds ..." "$@" (with -h = qp_help: the header comment),
#              qp_positive VALUE MESSAGE
#   places     qp_repo (the repository root), qp_find_qprof, qp_cache_dir, qp_find_peer
#   tools      qp_find_pip, qp_find_python, qp_sha256, qp_tmpdir(_in), qp_as_root
#
# A function that finds something sets a variable of the same name (qp_find_pip sets
# qp_pip), so that a failure can end the script itself rather than a $(...) subshell.
# shellcheck disable=SC2034  # the variables set here are read by the sourcing script

# The name messages start with: the script's file name less .sh ("bench-kernels"), unless
# the sourcing shell set qp_name first (the Makefile's deps recipe sets "make deps").
qp_name=${qp_name:-$(basename "$0" .sh)}
# The repository root, resolved (pwd -P): every script lives in scripts/ one level below it.
qp_repo=$(cd "$(dirname "$0")/.." && pwd -P)
# Set by the sourcing script when it has them: its usage line (for qp_getopts) and a
# command to run at exit before qp_tmpdir's removal.
qp_usage=$0
qp_at_exit=

# ---------------------------------------------------------------- messages (stderr)

qp_log() { printf '%s: %s\n' "$qp_name" "$*" >&2; }
qp_warn() { printf '%s: warning: %s\n' "$qp_name" "$*" >&2; }
# progress that would only clutter a log file: printed when stderr is a terminal
qp_progress() { if [ -t 2 ]; then qp_log "$@"; fi; }
# qp_fail STATUS MESSAGE...: the one error line, then exit STATUS (2: bad usage or input)
qp_fail() {
    qp_status=$1
    shift
    printf '%s: error: %s\n' "$qp_name" "$*" >&2
    exit "$qp_status"
}
qp_die() { qp_fail 1 "$@"; }

# ---------------------------------------------------------------- options

# qp_help: prints the script's header comment (line 2 up to `set -eu`, less the "# ") and
# exits 0. Every script's usage is written there, once.
qp_help() {
    sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
}

# qp_getopts "LETTER=VARIABLE ..." ARGS...: getopts over ARGS, where each option takes a
# value: -LETTER VALUE sets VARIABLE to VALUE (give every VARIABLE its default first).
# -h is qp_help; an unknown option or a missing value (getopts names it) ends with
# "usage: $qp_usage". Sets qp_nopts to the number of arguments the options took:
# `shift "$qp_nopts"`.
qp_getopts() {
    qp_map=$1
    shift
    qp_spec=
    for qp_m in $qp_map; do
        qp_spec="$qp_spec${qp_m%%=*}:"
    done
    OPTIND=1
    while getopts "${qp_spec}h" qp_opt "$@"; do
        case $qp_opt in
            h) qp_help ;;
            \?) qp_die "usage: $qp_usage" ;;
        esac
        for qp_m in $qp_map; do
            # the names are the script's own literals; the value stays in OPTARG
            if [ "${qp_m%%=*}" = "$qp_opt" ]; then eval "${qp_m#*=}=\$OPTARG"; fi
        done
    done
    qp_nopts=$((OPTIND - 1))
}

# qp_positive VALUE MESSAGE: dies with MESSAGE unless VALUE is a whole number above 0
qp_positive() {
    case $1 in ''|*[!0-9]*|0) qp_die "$2" ;; esac
}

# ---------------------------------------------------------------- places

# qp_find_qprof: sets qp_qprof to $QPROF, else the repository's build/qprof; dies when it
# is not an executable.
qp_find_qprof() {
    qp_qprof=${QPROF:-$qp_repo/build/qprof}
    [ -x "$qp_qprof" ] || qp_die "$qp_qprof not found: run 'make' first (or set QPROF)"
}

# qp_cache_dir: prints qprof's cache directory, where models and the peer build live
# (outside the repository: third-party bytes never enter it).
qp_cache_dir() { printf '%s/qprof\n' "${XDG_CACHE_HOME:-$HOME/.cache}"; }

# qp_find_peer TEST PATH: sets qp_peer to the first llama.cpp build directory (made by
# scripts/build-peer.sh) in which `test TEST DIR/PATH` holds, e.g.
# `qp_find_peer -x build/bin/llama-bench`; looks in $QPROF_PEER_DIR, then
# $(qp_cache_dir)/peer, then /opt/peer. Returns 1, qp_peer empty, when none has it.
qp_find_peer() {
    qp_peer=
    for qp_d in "${QPROF_PEER_DIR:-}" "$(qp_cache_dir)/peer" /opt/peer; do
        if [ -n "$qp_d" ] && test "$1" "$qp_d/$2"; then
            qp_peer=$qp_d
            return 0
        fi
    done
    return 1
}

# ---------------------------------------------------------------- tools

# qp_find_python: sets qp_python to a Python 3: python3, else a `python` that is 3.x.
qp_find_python() {
    if command -v python3 >/dev/null 2>&1; then
        qp_python=python3
    elif command -v python >/dev/null 2>&1 &&
            python -c 'import sys; sys.exit(sys.version_info[0] != 3)' >/dev/null 2>&1; then
        qp_python=python
    else
        qp_die "Python 3 is not installed (looked for python3, python)"
    fi
}

# qp_find_pip: sets qp_pip to a pip command: $QPROF_PIP, else pip3, pip, or
# "PYTHON -m pip". It may be several words: expand it unquoted.
qp_find_pip() {
    if [ -n "${QPROF_PIP:-}" ]; then
        qp_pip=$QPROF_PIP
    elif command -v pip3 >/dev/null 2>&1; then
        qp_pip=pip3
    elif command -v pip >/dev/null 2>&1; then
        qp_pip=pip
    elif qp_find_python 2>/dev/null && "$qp_python" -m pip --version >/dev/null 2>&1; then
        qp_pip="$qp_python -m pip"
    else
        qp_die "pip is not installed (looked for pip3, pip, python3 -m pip); install pip or set QPROF_PIP"
    fi
}

# qp_sha256 FILE: prints FILE's sha256 in lowercase hex; coreutils, BSD/macOS and OpenSSL
# spell the command differently, so try each.
qp_sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    elif command -v openssl >/dev/null 2>&1; then
        openssl dgst -sha256 "$1" | sed 's/^.*= *//'
    else
        qp_die "no sha256 tool found (need sha256sum, shasum or openssl)"
    fi
}

# qp_tmpdir_in PARENT: sets qp_tmp to a new directory in PARENT that is removed when the
# script exits, however it exits; INT, TERM and HUP end the script with status 1 (and so
# the removal). A script with more to undo at exit names a command in qp_at_exit, run
# first. With PARENT on the filesystem of a file's final place, a `mv` out of qp_tmp is
# an atomic rename. qp_tmpdir: the same in $TMPDIR, else /tmp.
qp_tmpdir_in() {
    qp_tmp=$(mktemp -d "$1/.$qp_name.XXXXXX") || qp_die "cannot create a temporary directory in $1"
    trap 'eval "$qp_at_exit"; rm -rf "$qp_tmp"' EXIT
    trap 'exit 1' INT TERM HUP
}
qp_tmpdir() { qp_tmpdir_in "${TMPDIR:-/tmp}"; }

# qp_as_root COMMAND...: runs COMMAND as root: directly when this is root, else through
# sudo when there is one; else dies saying how to go on.
qp_as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        qp_log "not root: using sudo"
        sudo "$@"
    else
        qp_die "this needs root, and sudo is not installed: run '$qp_name' as root (su -c '$qp_name'), or install sudo"
    fi
}
