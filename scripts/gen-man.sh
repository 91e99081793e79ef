#!/bin/sh
# scripts/gen-man.sh - writes the qprof(1) manual page, in troff, on stdout,
# generated from the binary itself so that it cannot drift from it:
#
#   scripts/gen-man.sh [QPROF] > qprof.1      (QPROF default: build/qprof)
#
# NAME and DESCRIPTION come from `qprof --help`, the version from
# `qprof --version`, SYNOPSIS from the usage lines and COMMANDS (one
# subsection each) from `qprof help CMD` for every command --help lists.
# EXIT STATUS and ENVIRONMENT are written here; the ENVIRONMENT list is
# checked against the QPROF_* names in the binary, so a variable added to
# (or removed from) qprof without a line here stops the build.
# The page's date is SOURCE_DATE_EPOCH's when set, else the last commit's,
# so rebuilding the same sources gives the same bytes.
#
# Why not help2man: it turns one --help text into a page; a command with
# subcommands needs each `help CMD` as a section, which help2man only takes
# from a hand-written --include file (the drift this script avoids) or one
# generated here anyway, with the same escaping.
#
# The help texts are plain text laid out for an 80-column terminal; they are
# converted rather than copied verbatim (lines of 84 columns plus the man
# indent would overflow 80): unindented lines are paragraphs (filled),
# "  TAG  description" lines with their deeper-indented continuation lines
# are .TP entries (options and the command list), "usage:" and "Example:"
# lines keep their line breaks. Every text is escaped for troff: \ -> \e,
# - -> \- (an ASCII hyphen-minus when rendered, so options can be copied),
# ' and ` -> \(aq and \(ga, and a line starting with "." gets "\&".
set -eu
. "$(dirname "$0")/lib.sh"

case ${1:-} in -h|--help) qp_help ;; esac
qprof=${1:-$qp_repo/build/qprof}
[ -x "$qprof" ] || qp_die "$qprof not found or not executable: run 'make' first"
qp_tmpdir

"$qprof" --help > "$qp_tmp/top" || qp_die "'$qprof --help' failed"
version=$("$qprof" --version) || qp_die "'$qprof --version' failed"
case $version in
    "qprof "[0-9]*) version=${version#qprof } ;;
    *) qp_die "'$qprof --version' printed '$version', not 'qprof VERSION'" ;;
esac

# the commands: the "  NAME  summary" lines after "commands:" up to a blank line
commands=$(awk '/^commands:/ { on = 1; next }
                on && /^[ \t]*$/ { exit }
                on && /^  [a-z][a-z0-9-]*  / { print $1 }' "$qp_tmp/top")
[ -n "$commands" ] || qp_die "'$qprof --help' lists no commands (no 'commands:' section)"
for c in $commands; do
    "$qprof" help "$c" > "$qp_tmp/cmd-$c" || qp_die "'$qprof help $c' failed"
    [ -s "$qp_tmp/cmd-$c" ] || qp_die "'$qprof help $c' printed nothing"
    grep -q '^usage: ' "$qp_tmp/cmd-$c" || qp_die "'$qprof help $c' has no 'usage:' line"
done

# ENVIRONMENT: name, then its description (troff); checked against the binary
env_doc='QPROF_KERNELS
\fBscalar\fR, \fBavx2\fR, \fBavx512\fR or \fBneon\fR: forces the kernel
variant (default: the best this CPU can run); a command\(aqs \fB\-\-kernels\fR
option takes precedence. A name the CPU cannot run falls back to the best
variant, with a warning.
QPROF_NO_PROGRESS
Set and not \fB0\fR: no progress line. It is drawn only when standard error
is a terminal anyway.
QPROF_NO_PERF
Set and not \fB0\fR: \fBqprof bench\fR opens no hardware performance counters,
as with \fB\-\-no\-counters\fR; their columns stay empty, the reason given being
"disabled by QPROF_NO_PERF".'
documented=$(printf '%s\n' "$env_doc" | grep '^QPROF_' | sort)
in_binary=$(LC_ALL=C grep -ao 'QPROF_[A-Z0-9_]*' "$qprof" | sort -u)
[ "$documented" = "$in_binary" ] ||
    qp_die "ENVIRONMENT documents '$(echo "$documented" | tr '\n' ' ')' but $qprof reads '$(echo "$in_binary" | tr '\n' ' ')': update env_doc in $0"

if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
else
    date=$(git -C "$qp_repo" log -1 --format=%cs 2>/dev/null) || date=
    [ -n "$date" ] || date=$(date -u +%Y-%m-%d)
fi

# ---------------------------------------------------------------- text -> troff
# One awk program, three parts (-v part=...):
#   help      a help text as troff paragraphs, .TP entries and usage blocks
#   synopsis  only the usage lines of a help text, one per output line (.br)
#   name      the tagline of --help's first line ("qprof V - TAGLINE")
# shellcheck disable=SC2016  # awk's $0 and $1, not the shell's
conv='
# troff-safe text: \ first (the escapes added below contain one), then - and
# quotes; a leading . or \(aq would be a request or control line
function esc(s) {
    gsub(/\\/, "\\\\e", s)
    gsub(/-/, "\\\\-", s)
    gsub(/\047/, "\\\\(aq", s)
    gsub(/`/, "\\\\(ga", s)
    return s
}
function out(s) {
    if (s ~ /^[.]/) s = "\\&" s
    print s
}
# usage and tag words: options (-x, --long) and literal lowercase words bold,
# placeholders (FILE, MODEL.gguf, MxK, [options]) italic, punctuation plain;
# \% before each blank-separated token: never hyphenated (a break inside
# "[--kld" would print a hyphen that is not there)
function words(s,    r, n, i, toks) {
    n = split(s, toks, " ")
    r = ""
    for (i = 1; i <= n; i++) r = r (i > 1 ? " " : "") "\\%" fonts(toks[i])
    return r
}
function fonts(s,    r, w, before, after) {
    r = ""
    while (match(s, /[A-Za-z0-9_.*=+\/-]+/)) {
        before = substr(s, 1, RSTART - 1)
        w = substr(s, RSTART, RLENGTH)
        s = substr(s, RSTART + RLENGTH)
        after = substr(s, 1, 1)
        r = r esc(before)
        if (w ~ /^-/ || (w ~ /^[a-z0-9_.]+$/ && !(before ~ /\[$/ && after == "]")))
            r = r "\\fB" esc(w) "\\fR"
        else
            r = r "\\fI" esc(w) "\\fR"
    }
    return r esc(s)
}
function cmdline(s) { return mode == "usage" ? words(s) : "\\fB" esc(s) "\\fR" }
function indent_of(s) { match(s, /^ */); return RLENGTH }
function strip(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }

part == "name" { sub(/^qprof [^ ]* - /, ""); out(esc($0)); exit }

part == "synopsis" {
    if ($0 ~ /^usage: /) { sub(/^usage: +/, ""); on = 1 }
    else if (!(on && $0 ~ /^ +qprof /)) { on = 0; next }
    if (n++) print ".br"
    out(words(strip($0)))
    next
}

part == "help" {
    sub(/[ \t\r]+$/, "")
    if ($0 == "") { mode = ""; gap = 1; next }
    ind = indent_of($0); text = strip($0)
    if (ind == 0 && match(text, /^(usage|Example): +/)) {
        # a block of commands: the label as a .TP tag, one command per line
        label = substr(text, 1, RLENGTH); rest = substr(text, RLENGTH + 1)
        sub(/ +$/, "", label)
        # usage lines are a grammar (placeholders in italics); examples are
        # literal command lines, set in bold
        mode = label == "usage:" ? "usage" : "example"
        print ".TP"; out(esc(label)); out(cmdline(rest))
        gap = 0; next
    }
    if ((mode == "usage" || mode == "example") && ind > 0 && text !~ /  /) {
        print ".br"; out(cmdline(text)); next
    }
    if (ind > 0 && ind <= 8 && match(text, /  +/)) {
        # "  -x, --long ARG   description": tag and start of the description
        tag = substr(text, 1, RSTART - 1); desc = substr(text, RSTART + RLENGTH)
        print ".TP"; out(words(tag)); out(esc(desc))
        mode = "tag"; gap = 0; next
    }
    if (ind > 0 && ind <= 8 && text ~ /^-/) {
        print ".TP"; out(words(text)); mode = "tag"; gap = 0; next
    }
    if (mode == "tag" && ind > 8) { out(esc(text)); next }
    if (ind == 0) {
        if (mode != "prose" || gap) print ".PP"
        out(esc(text)); mode = "prose"; gap = 0; next
    }
    # anything else indented: kept as its own line
    if (mode == "" || gap) print ".PP"; else print ".br"
    out(esc(text)); mode = "other"; gap = 0
}
'

# ---------------------------------------------------------------- the page
cat <<EOF
.\\" qprof.1 - generated by scripts/gen-man.sh from the output of
.\\" qprof --help, --version and help CMD: do not edit, rerun it.
.TH QPROF 1 "$date" "qprof $version" "User Commands"
.SH NAME
EOF
printf 'qprof \\- %s\n' "$(awk -v part=name "$conv" "$qp_tmp/top")"

echo '.SH SYNOPSIS'
for c in $commands; do
    awk -v part=synopsis "$conv" "$qp_tmp/cmd-$c"
    echo '.br'
done
cat <<'EOF'
\fBqprof help\fR \fICOMMAND\fR
.br
\fBqprof \-\-help\fR
.br
\fBqprof \-\-version\fR
.SH DESCRIPTION
EOF
# --help less its first line (the tagline, in NAME)
sed 1d "$qp_tmp/top" | awk -v part=help "$conv"
cat <<'EOF'
.PP
Each command\(aqs own help, \fBqprof help\fR \fICOMMAND\fR, follows.
.SH COMMANDS
EOF
for c in $commands; do
    printf '.SS %s\n' "$c"
    awk -v part=help "$conv" "$qp_tmp/cmd-$c"
done

cat <<'EOF'
.SH EXIT STATUS
.TP
.B 0
Success.
.TP
.B 1
Runtime failure: an I/O error, out of memory, or an interrupt (an interrupted
\fBqprof layers\fR leaves a valid profile of the finished layers).
.TP
.B 2
Usage error or bad input: an unknown command or option, a bad argument, a
malformed or unsupported file.
.PP
Errors are one line on standard error:
\fBqprof:\fR \fIFILE\fR\fB: offset\fR \fIN\fR\fB:\fR \fIwhat is wrong\fR.
.SH ENVIRONMENT
EOF
printf '%s\n' "$env_doc" | awk '/^QPROF_/ { print ".TP"; print ".B " $0; next } { print }'

cat <<'EOF'
.SH FILES
.TP
.I profile.h5
The profile \fBqprof layers\fR writes by default (HDF5), beside its heatmaps
\fIprofile\-*.png\fR.
.TP
\fIPREFIX\fR\%/lib/libqprof.a
The library behind the command, installed by \fBmake install\fR with its
public headers (\fIPREFIX\fR\%/include/qprof/) and its
.BR pkg\-config (1)
file (\fIPREFIX\fR\%/lib/pkgconfig/qprof.pc): a C program builds against it
with \fBcc prog.c $(pkg\-config \-\-cflags \-\-libs \-\-static qprof)\fR.
.SH SEE ALSO
.BR h5dump (1),
.BR pkg\-config (1).
.PP
In the qprof sources: \fIREADME.md\fR, \fIdocs/profile\-h5.md\fR (the profile
layout), \fIdocs/info\-json.md\fR, \fIdocs/ppl.md\fR, \fIdocs/bench.md\fR and
\fIdocs/library.md\fR (building programs against libqprof).
EOF
