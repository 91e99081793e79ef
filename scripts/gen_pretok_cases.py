#!/usr/bin/env python3
"""scripts/gen_pretok_cases.py - expected word splits for tests/test_tokenizer.c.

Runs the pre-tokenizer regexes of llama.cpp's BPE vocabularies (as written
in llama.cpp's src/llama-vocab.cpp / the models' tokenizer.json) with the
`regex` module, applying a list of regexes one after the other the way
llama.cpp's unicode_regex_split does (each regex splits every piece into its
matches and the gaps between them), and prints a C table of the byte
offsets where each word ends. The C matchers in tokenizer/bpe.c are
written independently; this is the oracle they are checked against.

Usage: python3 scripts/gen_pretok_cases.py > /tmp/cases.h  (needs `pip install regex`)
Then paste the table into tests/test_tokenizer.c.
"""
import regex
GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
L3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
Q2 = L3.replace(r"\p{N}{1,3}", r"\p{N}")
KINDS = {
 'QP_PRE_DEFAULT': [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
 'QP_PRE_GPT2': [GPT2], 'QP_PRE_LLAMA3': [L3], 'QP_PRE_QWEN2': [Q2], 'QP_PRE_SMOLLM': [r"\p{N}", GPT2],
}
def split(segs, pat):
    out=[]
    for s in segs:
        pos=0
        for m in regex.finditer(pat, s):
            if m.start()>pos: out.append(s[pos:m.start()])
            out.append(m.group()); pos=m.end()
        if pos<len(s): out.append(s[pos:])
    return out
TEXTS = ["Hello world", "I'm here, it's 'quoted' HE'LL we'VE", "  leading\tand\n\n trailing  ",
 "12345 678,9 3.14", "x\u00b2\u00b3 \u00bd \u216b", "a\u00a0b\u3000c d", "!!!??.. ...", "$+<=>^~| `x` {a}",
 "\u092e\u0948\u0902 \u0939\u093f\u0928\u094d\u0926\u0940", "emoji \U0001F680\U0001F680 x", "\r\n\r\n  \n x\n\n",
 "caf\u00e9 na\u00efve \u00fcber", "tab\t\tx  y   z"]
def cstr(b):
    return '"' + ''.join(chr(c) if 32<=c<127 and chr(c) not in '"\\?' else '\\x%02x'%c for c in b) + '"'
print("static const struct { qp_pre_kind kind; const char *text; int n; size_t ends[48]; } pre_cases[] = {")
for k, pats in KINDS.items():
    for t in TEXTS:
        segs=[t]
        for p in pats: segs=split(segs,p)
        assert ''.join(segs)==t
        ends=[]; acc=0
        for sg in segs: acc+=len(sg.encode()); ends.append(acc)
        # C string: avoid hex escape swallowing following hex digits: use concatenation
        b=t.encode(); parts=[]
        for c in b:
            if 32<=c<127 and chr(c) not in '"\\?': parts.append(chr(c))
            else: parts.append('\\x%02x""'%c)
        s='"'+''.join(parts)+'"'
        print("    {%s, %s, %d, {%s}}, /* %s */" % (k, s, len(ends), ', '.join(map(str,ends)), ' | '.join(repr(x)[1:-1].replace('*/','*\\/') for x in segs)))
print("};")
