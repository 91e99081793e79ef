#!/bin/sh
# scripts/check-layout.sh - the module rules of the source tree, checked
# (run by `make test`; prints one line per violation, exits 1 if any):
#   1. each library folder M has exactly one public header, M/M.h;
#   2. a file outside M (tools/, another module) includes only M/M.h of M;
#      M's other headers are private to M/ (and to tests/, which test them);
#   3. modules depend one way: a module includes public headers only of
#      modules before it in MODULES (the Makefile's order), never tools/;
#   4. there is no include loop between files (tsort).
# Usage: scripts/check-layout.sh [MODULES...] (default: the Makefile's).
set -eu
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then modules="$*"; else
    modules=$(sed -n 's/^MODULES *:= *//p' Makefile)
fi
bad=0
fail() { echo "check-layout: $*"; bad=1; }

rank() { # position of a module in $modules, or 0 when it is none
    i=1
    for m in $modules; do [ "$m" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done
    echo 0
}

# 1. one public header per module
for m in $modules; do
    [ -f "$m/$m.h" ] || fail "$m/ has no public header $m/$m.h"
done

# every (file, included file) pair, the included path resolved against
# the including file's folder (tests/ and tools/ also against the root)
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
# the sources: git's list in a checkout, else every file below the modules
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    sources=$(git ls-files '*.c' '*.h' '*.inc'; git ls-files --others --exclude-standard '*.c' '*.h' '*.inc')
else
    sources=$(find $modules tools tests -name '*.[ch]' -o -name '*.inc')
fi
for f in $sources; do
    [ -f "$f" ] || continue
    d=$(dirname "$f")
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" | while read -r inc; do
        t=$(realpath -m --relative-to=. "$d/$inc")
        [ -f "$t" ] || t=$(realpath -m --relative-to=. "$inc")
        echo "$f $t"
    done
done | sort -u > "$edges"

while read -r from to; do
    fm=${from%%/*}; tm=${to%%/*}
    case "$fm" in tests) continue ;; esac
    [ "$fm" = "$tm" ] && continue
    fr=$(rank "$fm"); tr=$(rank "$tm")
    [ "$tr" = 0 ] && { [ "$tm" = tools ] && fail "$from includes $to: the library never includes tools/"; continue; }
    # 2. only the public header crosses a module's border
    [ "$to" = "$tm/$tm.h" ] || fail "$from includes $to, a private header of $tm/ (use $tm/$tm.h)"
    # 3. one direction
    if [ "$fr" != 0 ] && [ "$tr" -ge "$fr" ]; then
        fail "$from includes $to: $fm/ may use only modules before it ($modules)"
    fi
done < "$edges"

# 4. no include loop between files
if ! tsort "$edges" > /dev/null 2> "$edges.err"; then
    fail "include loop: $(tr '\n' ' ' < "$edges.err")"
fi
rm -f "$edges.err"

[ "$bad" = 0 ] && echo "check-layout: $(echo $modules | wc -w) modules, one public header each, dependencies one way, no include loop"
exit "$bad"
