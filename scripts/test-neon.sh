#!/bin/sh
# scripts/test-neon.sh - run aarch64 test binaries (make test-neon) under
# qemu-user, once per emulated CPU that picks a different code path of the
# "neon" kernel variant (kernels/arm/neon_base.c):
#
#   max         dotprod, FP16, LSE: dispatch must pick "neon" with its SDOT
#               kernels ("ASIMD+dotprod"); run as detected and again with
#               QPROF_KERNELS=neon
#   cortex-a53  ARMv8.0, no dotprod: "neon" with the SMULL/SADALP kernels
#               ("ASIMD (no dotprod)"); qemu raises SIGILL on any SDOT, so
#               this run also proves the fallback never executes one
#
# For test_kernels the chosen variant is checked from its own output (the
# "default variant" line and the per-variant "accelerates" lines). On an
# arm64 host the binaries run directly, once, as detected.
# Prints one line per run and a closing "N passed, N failed" line; exits
# non-zero if any run failed.
#
# Environment: QEMU_AARCH64 (default qemu-aarch64), QEMU_SYSROOT (qemu's
# -L: where the guest's /lib/ld-linux-aarch64.so.1 is looked up first).
#
# The sysroot is / when Debian's arm64 multiarch libc6 is installed (it
# comes with libcmocka0:arm64, make deps): ld.so and libc.so.6 must be of
# ONE glibc build. With -L /usr/aarch64-linux-gnu (the cross toolchain's
# glibc 2.36-8) the guest ld.so still finds the multiarch libc.so.6 (2.36-9
# +deb12uN) in /lib/aarch64-linux-gnu first, and the first pthread_create
# spins forever in the mismatched stack-cache list (seen here with qemu
# 7.2). Without multiarch libc the cross sysroot is the only choice.
set -u
. "$(dirname "$0")/lib.sh"

QEMU=${QEMU_AARCH64:-qemu-aarch64}
if [ -z "${QEMU_SYSROOT:-}" ]; then
    if [ -e /lib/ld-linux-aarch64.so.1 ]; then
        QEMU_SYSROOT=/
    else
        QEMU_SYSROOT=/usr/aarch64-linux-gnu
    fi
fi
SYSROOT=$QEMU_SYSROOT

if [ $# -eq 0 ]; then
    echo "usage: $0 TEST_BINARY..." >&2
    exit 2
fi

native=0
[ "$(uname -m)" = aarch64 ] && native=1
if [ $native -eq 0 ] && ! command -v "$QEMU" >/dev/null 2>&1; then
    qp_log "$QEMU not found (Debian package qemu-user; make deps)"
    exit 2
fi

pass=0
fail=0
failed=""
qp_tmpdir
log=$qp_tmp/log

# run NAME CPU KERNELS EXPECT BINARY: one run; EXPECT is the describe string
# the "neon" variant must report (checked for test_kernels only), KERNELS the
# QPROF_KERNELS value ("" = unset).
run() {
    name=$1 cpu=$2 kernels=$3 expect=$4 bin=$5
    printf '=== %s (cpu %s, QPROF_KERNELS=%s)\n' "$(basename "$bin")" "$cpu" "${kernels:-unset}"
    if [ $native -eq 1 ]; then
        set -- "$bin"
    else
        set -- "$QEMU" -cpu "$cpu" -L "$SYSROOT" "$bin"
    fi
    if [ -n "$kernels" ]; then
        QPROF_KERNELS=$kernels "$@" >"$log" 2>&1
    else
        env -u QPROF_KERNELS "$@" >"$log" 2>&1
    fi
    rc=$?
    cat "$log"
    ok=1
    [ $rc -eq 0 ] || ok=0
    case $(basename "$bin") in
    test_kernels)
        if ! grep -q 'default variant neon$' "$log"; then
            echo "test-neon: $name: the default variant is not neon"
            ok=0
        fi
        if [ -n "$expect" ] && ! grep -q "^variant neon *($expect)" "$log"; then
            echo "test-neon: $name: neon does not report the '$expect' path"
            ok=0
        fi
        ;;
    esac
    if [ $ok -eq 1 ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        failed="$failed $name"
    fi
}

for bin in "$@"; do
    b=$(basename "$bin")
    if [ $native -eq 1 ]; then
        run "$b" native "" "" "$bin"
        continue
    fi
    run "$b@max" max "" "ASIMD+dotprod" "$bin"
    run "$b@max,neon" max neon "ASIMD+dotprod" "$bin"
    run "$b@cortex-a53" cortex-a53 "" "ASIMD (no dotprod)" "$bin"
done

[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
