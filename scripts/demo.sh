#!/bin/sh
# demo.sh - the whole main job on a fresh Debian machine, in one command:
# install what is missing (Debian packages, as root or through sudo), build,
# fetch a real model into the user cache, and run qprof layers on it (4 types
# by default; arguments replace that).
#
# Usage:  scripts/demo.sh [qprof layers options...]       (or make demo [MODEL=NAME]; this
#         script also works where make is not installed yet)
# Environment: MODEL, the model to fetch by its scripts/fetch-model.sh name:
# smollm2-135m (the default; SmolLM2-135M-Instruct, Q4_1) or qwen2.5-coder-1.5b
# (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M); BUILD, make's build directory
# (default build), whose qprof runs.
set -eu
. "$(dirname "$0")/lib.sh"
cd "$qp_repo"

missing=""
for tool in make cc pkg-config; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
for pc in openblas hdf5 libcjson libpng cmocka libcrypto; do
    pkg-config --exists "$pc" 2>/dev/null || missing="$missing $pc"
done
if [ -n "$missing" ]; then
    qp_log "installing Debian packages (missing:$missing)"
    scripts/deps.sh
fi

make -j"$(nproc 2>/dev/null || echo 2)"
model=$(scripts/fetch-model.sh ${MODEL:+-m "$MODEL"})
qprof=${BUILD:-build}/qprof

if "$qprof" help layers >/dev/null 2>&1; then
    if [ $# -eq 0 ]; then
        set -- --types q8_0,q4_K,q4_0,q2_K
    fi
    exec "$qprof" layers "$model" "$@"
else
    exec "$qprof" info "$model"
fi
