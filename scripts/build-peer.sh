#!/bin/sh
# build-peer.sh - build the peer implementation (llama.cpp, CPU only, AVX2) outside the repo.
#
# qprof measures itself against llama.cpp's own tools (test-backend-ops, llama-bench,
# llama-perplexity, llama-quantize). A pinned copy of llama.cpp's source is vendored in
# the source distribution of the Python package `llama-cpp-python`; pip downloads that
# sdist (nothing is installed) and llama.cpp's own CMake project inside it
# (vendor/llama.cpp) is built. Nothing is written into this repository.
#
# Usage:  scripts/build-peer.sh [PEER_DIR]
#   PEER_DIR defaults to $QPROF_PEER_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/qprof/peer.
#   JOBS (default 2) sets make's parallelism; QPROF_PIP chooses the pip command.
# Result: PEER_DIR/build/bin/{test-backend-ops,llama-bench,llama-perplexity,...} and
#         PEER_DIR/lib/libqp_nprocs.so (see "thread count shim" below). The bin directory
#         is printed on stdout; progress goes to stderr. Exit 1 on failure.
# Rerunning is cheap: the verified sdist is kept and CMake rebuilds incrementally.
#
# The build is "llama.cpp's AVX2 build": GGML_NATIVE=OFF with AVX/AVX2/FMA/F16C/BMI2 on
# and AVX-512 off, so the kernels chosen are those of a generic AVX2 machine whatever
# the host supports. Release, static libraries, OpenMP threading, no network code.
set -eu
. "$(dirname "$0")/lib.sh"

# llama-cpp-python 0.3.36 vendors llama.cpp commit 0c1e57098 (its CHANGELOG says so;
# the sdist carries no git metadata). llama.cpp reports itself as 0.5.0-dev, ggml 0.25.3.
QP_PKG_NAME="llama-cpp-python"
QP_PKG_VERSION="0.3.36"
QP_SDIST_SHA256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
QP_LLAMA_COMMIT="0c1e57098"

# The tools qprof compares against. llama-cli needs the server library in this version,
# so the small llama-simple and llama-completion stand in for it.
QP_TARGETS="test-backend-ops llama-bench llama-perplexity llama-quantize llama-tokenize \
llama-gguf llama-simple llama-completion"

# ---------------------------------------------------------------- locations

if [ $# -gt 1 ]; then
    qp_die "usage: $0 [PEER_DIR]"
fi
qp_dir=${1:-${QPROF_PEER_DIR:-$(qp_cache_dir)/peer}}
qp_jobs=${JOBS:-2}

# Third-party code must never land in the repository: refuse a PEER_DIR inside it.
# The check needs a resolved path, so create the directory first and remove it again
# (only if we made it and it is still empty) when it is refused.
qp_made=0
[ -d "$qp_dir" ] || qp_made=1
mkdir -p "$qp_dir" || qp_die "cannot create $qp_dir"
qp_dir=$(cd "$qp_dir" && pwd -P)
case "$qp_dir/" in
    "$qp_repo"/*)
        [ "$qp_made" -eq 1 ] && rmdir "$qp_dir" 2>/dev/null
        qp_die "PEER_DIR $qp_dir is inside the repository $qp_repo; choose a directory outside it" ;;
esac

for qp_tool in cmake make cc c++ tar gzip; do
    command -v "$qp_tool" >/dev/null 2>&1 || qp_die "$qp_tool is not installed"
done

# ---------------------------------------------------------------- source

qp_sdist="$qp_dir/llama_cpp_python-$QP_PKG_VERSION.tar.gz"
qp_src="$qp_dir/llama_cpp_python-$QP_PKG_VERSION/vendor/llama.cpp"

if [ -f "$qp_sdist" ] && [ "$(qp_sha256 "$qp_sdist")" = "$QP_SDIST_SHA256" ]; then
    qp_log "using cached $qp_sdist"
else
    qp_find_pip
    qp_tmpdir_in "$qp_dir"
    qp_log "downloading $QP_PKG_NAME==$QP_PKG_VERSION source distribution (~77 MB)"
    # shellcheck disable=SC2086  # qp_pip may be "python3 -m pip" and must split
    $qp_pip download --no-deps --no-binary :all: --disable-pip-version-check \
        -d "$qp_tmp" "$QP_PKG_NAME==$QP_PKG_VERSION" >&2 \
        || qp_die "pip download of $QP_PKG_NAME==$QP_PKG_VERSION failed"
    [ -f "$qp_tmp/$(basename "$qp_sdist")" ] || qp_die "pip did not produce $(basename "$qp_sdist")"
    qp_got=$(qp_sha256 "$qp_tmp/$(basename "$qp_sdist")")
    [ "$qp_got" = "$QP_SDIST_SHA256" ] || qp_die "sdist sha256 is $qp_got, expected $QP_SDIST_SHA256"
    mv "$qp_tmp/$(basename "$qp_sdist")" "$qp_sdist"
    # A new sdist means the old tree (if any) may be stale or half-unpacked.
    rm -rf "$qp_dir/llama_cpp_python-$QP_PKG_VERSION"
fi

if [ ! -f "$qp_src/CMakeLists.txt" ]; then
    qp_log "unpacking into $qp_dir"
    rm -rf "$qp_dir/llama_cpp_python-$QP_PKG_VERSION"
    gzip -dc "$qp_sdist" | (cd "$qp_dir" && tar -xof -) || qp_die "cannot unpack $qp_sdist"
    [ -f "$qp_src/CMakeLists.txt" ] || qp_die "vendor/llama.cpp missing from the sdist"
fi

# ---------------------------------------------------------------- configure + build

# LLAMA_BUILD_COMMIT/NUMBER: without git metadata the tools would report "unknown";
# pass the commit the sdist documents so llama-bench's output names it.
# LLAMA_CURL no longer exists in this version (LLAMA_OPENSSL replaced it); passing it
# OFF keeps the command valid for older pins too.
qp_log "configuring (Release, CPU only, AVX2 without GGML_NATIVE)"
cmake -S "$qp_src" -B "$qp_dir/build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=OFF \
    -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
    -DGGML_AVX512=OFF \
    -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF \
    -DGGML_OPENMP=ON \
    -DGGML_CCACHE=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_EXAMPLES=ON \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_COMMIT="$QP_LLAMA_COMMIT" -DLLAMA_BUILD_NUMBER=0 >&2 \
    || qp_die "cmake configure failed"

qp_log "building $QP_TARGETS with -j$qp_jobs (about 20 min on 2 loaded cores)"
# shellcheck disable=SC2086  # QP_TARGETS is a word list
cmake --build "$qp_dir/build" -j "$qp_jobs" --target $QP_TARGETS >&2 \
    || qp_die "build failed"

# ---------------------------------------------------------------- thread count shim

# test-backend-ops has no thread option: it gives the CPU backend
# max(1, std::thread::hardware_concurrency()/2) threads. libstdc++ answers that with
# glibc's get_nprocs(), which (glibc 2.36) counts online CPUs and ignores taskset. This
# preloadable library makes get_nprocs() return $QP_NPROCS when set, so
#   QP_NPROCS=4 LD_PRELOAD=PEER_DIR/lib/libqp_nprocs.so test-backend-ops perf ...
# runs the kernels on 2 threads. Unset, it defers to the real function.
mkdir -p "$qp_dir/lib"
cat > "$qp_dir/lib/qp_nprocs.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

int get_nprocs(void);

int get_nprocs(void) {
    const char *s = getenv("QP_NPROCS");
    if (s != NULL && atoi(s) > 0) {
        return atoi(s);
    }
    int (*real)(void) = (int (*)(void))dlsym(RTLD_NEXT, "get_nprocs");
    return real != NULL ? real() : 1;
}
EOF
cc -O2 -shared -fPIC -o "$qp_dir/lib/libqp_nprocs.so" "$qp_dir/lib/qp_nprocs.c" -ldl \
    || qp_die "cannot build the thread count shim"

qp_log "done: llama.cpp $QP_LLAMA_COMMIT (from $QP_PKG_NAME $QP_PKG_VERSION)"
printf '%s\n' "$qp_dir/build/bin"
