#!/bin/sh
# deps.sh - install every Debian package qprof needs to build, test and run,
# as root (directly, or through sudo when not root). It needs only sh and
# apt, so it is also how a machine without make or a compiler starts
# (`make deps` runs it too). Idempotent: installed packages are skipped.
#
# Usage:  scripts/deps.sh
# The packages, and why each is there: README.md, "Dependencies".
set -eu
. "$(dirname "$0")/lib.sh"

# build tools, the libraries (pkg-config names in the Makefile), test tools
qp_debs="build-essential pkg-config git \
libopenblas-dev libhdf5-dev libcjson-dev libpng-dev libcmocka-dev libssl-dev \
hdf5-tools python3-h5py man-db groff-base \
clang libclang-rt-14-dev gcc-aarch64-linux-gnu qemu-user"

# shellcheck disable=SC2016  # expanded by the root shell
qp_as_root sh -c '
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq '"$qp_debs"'
    # test-neon links Debian'"'"'s arm64 cmocka
    if [ "$(dpkg --print-architecture)" != arm64 ]; then
        dpkg --add-architecture arm64
        apt-get update -qq
        apt-get install -y -qq libcmocka-dev:arm64
    fi'
