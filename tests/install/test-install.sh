#!/bin/sh
# tests/install/test-install.sh - what `make install` gives a user, checked
# (run by `make test-install`, after build/qprof, build/libqprof.a and
# build/qprof.1 are built):
#
#   1. install     make install PREFIX=TMP/prefix: exactly bin/qprof,
#                  lib/libqprof.a, lib/pkgconfig/qprof.pc,
#                  share/man/man1/qprof.1 and the public headers
#                  include/qprof/M/M.h of the Makefile's MODULES, no other
#   2. destdir     make install DESTDIR=TMP/stage PREFIX=/usr/local: the same
#                  files under the stage, and qprof.pc names /usr/local
#   3. headers     each installed header compiles alone (-Wall -Wextra -Werror)
#   4. pkg-config  qprof.pc's version is `qprof --version`'s
#   5. example     tests/install/example.c built with
#                  cc example.c $(pkg-config --cflags --libs --static qprof)
#                  against the installed tree; run, every check "ok"
#                  (and --read on ../shared's stories260K.gguf when present)
#   6. man         man -l on the installed page renders without a warning
#   7. symbols     every global symbol libqprof.a defines starts with qp_
#   8. ggml        libqprof.a, whole, links beside a library defining ggml's
#                  gguf_* (and quantize_*) names into one program that runs
#
# One line per check, "ok" or "FAILED" (then what went wrong, indented), and
# a closing "N passed, N failed"; exits 1 if any failed. Temporary files
# go in one directory, removed however the script ends.
#
# Environment (make test-install sets them): BUILD (default build), MAKE,
# CC (default cc), LDFLAGS (added to every link: the sanitizer flags of
# `make check`), QPROF_SHARED (default ../shared), CI (true: a missing
# ../shared or man(1) fails instead of skipping).
set -eu
# shellcheck source-path=SCRIPTDIR/../../scripts source=lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"
ti_repo=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$ti_repo"
BUILD=${BUILD:-build}
MAKE=${MAKE:-make}
CC=${CC:-cc}
LDFLAGS=${LDFLAGS:-}
qp_tmpdir
ti_log=$qp_tmp/log

ti_pass=0
ti_fail=0
ti_failed=
ti_ok() { echo "$qp_name: ok: $*"; ti_pass=$((ti_pass + 1)); }
# ti_bad NAME WHAT: a failed check; the log's first lines, indented, below it
ti_bad() {
    echo "$qp_name: FAILED: $2"
    if [ -s "$ti_log" ]; then head -n 40 "$ti_log" | sed 's/^/    /'; fi
    ti_fail=$((ti_fail + 1))
    ti_failed="$ti_failed $1"
}
ti_skip() {
    if [ "${CI:-}" = true ]; then
        : > "$ti_log"
        ti_bad "$1" "$2 (required under CI=true)"
    else
        echo "$qp_name: skipped: $2"
    fi
}

for f in "$BUILD/qprof" "$BUILD/libqprof.a" "$BUILD/qprof.1"; do
    [ -f "$f" ] || qp_die "$f not found: run 'make test-install' (it builds it)"
done
modules=$(sed -n 's/^MODULES *:= *//p' Makefile)
version=$("$BUILD/qprof" --version | sed 's/^qprof //')

# ---------------------------------------------------------------- 1, 2: the trees
prefix=$qp_tmp/prefix
stage=$qp_tmp/stage
# the files a tree must hold, relative to its PREFIX, sorted
{
    printf '%s\n' bin/qprof lib/libqprof.a lib/pkgconfig/qprof.pc share/man/man1/qprof.1
    for m in $modules; do echo "include/qprof/$m/$m.h"; done
} | LC_ALL=C sort > "$qp_tmp/expected"

# ti_tree NAME ROOT WHAT: ROOT holds exactly the expected files
ti_tree() {
    (cd "$2" && find . \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort) > "$qp_tmp/got"
    if cmp -s "$qp_tmp/expected" "$qp_tmp/got"; then
        ti_ok "$3: $(wc -l < "$qp_tmp/got") files, the headers exactly the $(echo "$modules" | wc -w) public ones"
    else
        diff "$qp_tmp/expected" "$qp_tmp/got" | sed -n 's/^< /missing: /p; s/^> /not expected (private or stray): /p' > "$ti_log"
        ti_bad "$1" "$3: the installed files differ from the expected list"
    fi
}

installed=0
if "$MAKE" --no-print-directory -s BUILD="$BUILD" install PREFIX="$prefix" > "$ti_log" 2>&1; then
    installed=1
    ti_tree install "$prefix" "make install PREFIX=$prefix"
else
    ti_bad install "make install PREFIX=$prefix failed"
fi

if "$MAKE" --no-print-directory -s BUILD="$BUILD" install DESTDIR="$stage" PREFIX=/usr/local > "$ti_log" 2>&1; then
    ti_tree destdir "$stage/usr/local" "make install DESTDIR=... PREFIX=/usr/local"
    if grep -qx 'prefix=/usr/local' "$stage/usr/local/lib/pkgconfig/qprof.pc"; then
        ti_ok "DESTDIR stages only: qprof.pc says prefix=/usr/local"
    else
        grep '^prefix=' "$stage/usr/local/lib/pkgconfig/qprof.pc" > "$ti_log" 2>&1 || true
        ti_bad destdir-pc "qprof.pc of a DESTDIR install does not say prefix=/usr/local"
    fi
else
    ti_bad destdir "make install DESTDIR=$stage PREFIX=/usr/local failed"
fi

if [ "$installed" = 0 ]; then
    echo "$qp_name: the checks on the installed tree need a successful install"
    echo "$ti_pass passed, $ti_fail failed"
    exit 1
fi

# ---------------------------------------------------------------- 3, 4: headers and pkg-config
PKG_CONFIG_PATH=$prefix/lib/pkgconfig
export PKG_CONFIG_PATH
: > "$ti_log"
ti_alone=
for m in $modules; do
    printf '#include <qprof/%s/%s.h>\nint main(void) { return 0; }\n' "$m" "$m" > "$qp_tmp/h.c"
    # shellcheck disable=SC2046  # pkg-config's flags are words
    "$CC" -std=c11 -Wall -Wextra -Werror -fsyntax-only $(pkg-config --cflags qprof) "$qp_tmp/h.c" >> "$ti_log" 2>&1 ||
        ti_alone="$ti_alone $m/$m.h"
done
if [ -z "$ti_alone" ]; then
    ti_ok "each installed header compiles alone, included as <qprof/M/M.h>"
else
    ti_bad headers "installed headers that do not compile on their own:$ti_alone"
fi

pc_version=$(pkg-config --modversion qprof 2> "$ti_log") || pc_version=
if [ "$pc_version" = "$version" ]; then
    ti_ok "pkg-config --modversion qprof: $pc_version, as qprof --version"
else
    ti_bad pkg-config "pkg-config --modversion qprof gives '$pc_version', qprof --version '$version'"
fi

# ---------------------------------------------------------------- 5: a program built against it
# shellcheck disable=SC2046,SC2086  # pkg-config's and LDFLAGS' flags are words
if "$CC" -Wall -Wextra -Werror tests/install/example.c $(pkg-config --cflags --libs --static qprof) $LDFLAGS \
        -o "$qp_tmp/example" > "$ti_log" 2>&1; then
    if "$qp_tmp/example" "$qp_tmp/example.gguf" > "$ti_log" 2>&1 && ! grep -q FAILED "$ti_log" &&
            grep -q '^ok: gguf round trip' "$ti_log"; then
        ti_ok "example.c built with pkg-config --cflags --libs --static qprof: $(grep -c '^ok: ' "$ti_log") checks ok"
    else
        ti_bad example "example.c (built with pkg-config) did not pass its checks"
    fi
    model=${QPROF_SHARED:-../shared}/data/models/stories260K.gguf
    if [ -f "$model" ]; then
        if "$qp_tmp/example" --read "$model" > "$ti_log" 2>&1 && ! grep -q FAILED "$ti_log"; then
            ti_ok "example --read stories260K.gguf: $(grep -c '^tensor ' "$ti_log") tensors, a row to q8_0 and back"
        else
            ti_bad example-read "example --read $model"
        fi
    else
        ti_skip example-read "example --read: $model not found"
    fi
else
    ti_bad example "example.c does not build against the installed tree with pkg-config"
fi

# ---------------------------------------------------------------- 6: the man page
page=$prefix/share/man/man1/qprof.1
if command -v man > /dev/null 2>&1; then
    if MANWIDTH=80 man --warnings -l "$page" > "$qp_tmp/page.txt" 2> "$ti_log" && [ ! -s "$ti_log" ] &&
            grep -q '^COMMANDS' "$qp_tmp/page.txt"; then
        ti_ok "man -l share/man/man1/qprof.1: $(wc -l < "$qp_tmp/page.txt") lines, no warning"
    else
        ti_bad man "man --warnings -l $page"
    fi
else
    ti_skip man "man -l: man(1) is not installed (Debian: man-db groff-base, make deps)"
fi

# ---------------------------------------------------------------- 7: symbol names
# nm -g: the external symbols; defined ones have an address. Sanitizer
# builds (make check) add their own, named __asan_* / __odr_asan*.
if nm -g --defined-only "$BUILD/libqprof.a" > "$qp_tmp/nm" 2> "$ti_log"; then
    awk '/:$/ { obj = $1; next }
         NF == 3 && $3 !~ /^qp_/ && $3 !~ /^(__odr_asan|__asan_)/ { print obj " " $3 }' "$qp_tmp/nm" > "$ti_log"
    n=$(awk 'NF == 3 && $3 ~ /^qp_/' "$qp_tmp/nm" | wc -l)
    if [ -s "$ti_log" ]; then
        ti_bad symbols "$(wc -l < "$ti_log") global symbols of libqprof.a do not start with qp_ (object, symbol):"
    else
        ti_ok "all $n global symbols libqprof.a defines start with qp_"
    fi
else
    ti_bad symbols "nm $BUILD/libqprof.a failed"
fi

# ---------------------------------------------------------------- 8: beside ggml
# shellcheck disable=SC2046,SC2086
if "$CC" -c tests/install/ggml_names.c -o "$qp_tmp/ggml_names.o" > "$ti_log" 2>&1 &&
        ar rcs "$qp_tmp/libggml-names.a" "$qp_tmp/ggml_names.o" >> "$ti_log" 2>&1 &&
        "$CC" tests/install/ggml_link.c $(pkg-config --cflags qprof) \
            -Wl,--whole-archive "$BUILD/libqprof.a" "$qp_tmp/libggml-names.a" -Wl,--no-whole-archive \
            $(pkg-config --libs --static qprof) $LDFLAGS -o "$qp_tmp/ggml_link" >> "$ti_log" 2>&1; then
    if "$qp_tmp/ggml_link" > "$ti_log" 2>&1; then
        ti_ok "all of libqprof.a and $(nm -g --defined-only "$qp_tmp/ggml_names.o" | grep -c ' T ') of ggml's names link into one program: $(cat "$ti_log")"
    else
        ti_bad ggml "the program linking libqprof.a beside ggml's names failed"
    fi
else
    ti_bad ggml "libqprof.a (whole archive) does not link beside a library of ggml's gguf_*/quantize_* names"
fi

[ -n "$ti_failed" ] && echo "$qp_name: failed:$ti_failed"
echo "$qp_name: $ti_pass passed, $ti_fail failed"
[ "$ti_fail" -eq 0 ]
