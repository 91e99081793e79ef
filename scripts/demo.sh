#!/bin/sh
# demo.sh - the whole main job on a fresh Debian machine, in one command:
# install what is missing (Debian packages, as root or through sudo), build,
# fetch the default model (SmolLM2-135M-Instruct, Q4_1) into the user cache,
# and run qprof layers on it (4 types by default; arguments replace that).
set -eu
cd "$(dirname "$0")/.."

missing=""
for pc in openblas hdf5 libcjson libpng cmocka libcrypto; do
    pkg-config --exists "$pc" 2>/dev/null || missing="$missing $pc"
done
if [ -n "$missing" ] || ! command -v pkg-config >/dev/null 2>&1; then
    echo "demo: installing Debian packages (missing:${missing:- pkg-config})" >&2
    if [ "$(id -u)" = 0 ]; then make deps; else sudo make deps; fi
fi

make -j"$(nproc 2>/dev/null || echo 2)"
model=$(scripts/fetch-model.sh)

if ./build/qprof help layers >/dev/null 2>&1; then
    if [ $# -eq 0 ]; then
        set -- --types q8_0,q4_K,q4_0,q2_K
    fi
    exec ./build/qprof layers "$model" "$@"
else
    exec ./build/qprof info "$model"
fi
