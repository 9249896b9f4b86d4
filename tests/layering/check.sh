#!/bin/bash
# tests/layering/check.sh — proves that the build enforces the layer table of docs/ARCHITECTURE.md:
# each probe is compiled with the include flags of one layer (<build>/layers/<layer>.include_flags,
# written by cmake/qforge_layers.cmake) and must fail exactly on the include it is not allowed,
# while the same probe with an allowed include compiles (so the failure is the rule, not the setup).
# Usage: check.sh CC LAYERS_DIR
set -u
CC=$1
LAYERS=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0

flags_of() { tr '\n' ' ' < "$LAYERS/$1.include_flags"; }

# compile LAYER HEADER: 0 when the probe including HEADER compiles with LAYER's flags
compile() {
    printf '#include "%s"\nint qf_layering_probe(void);\nint qf_layering_probe(void) { return 0; }\n' "$2" > "$work/probe.c"
    # shellcheck disable=SC2046
    "$CC" -std=c11 -fsyntax-only $(flags_of "$1") "$work/probe.c" > "$work/out.txt" 2>&1
}

# refused LAYER HEADER WHY
refused() {
    if compile "$1" "$2"; then
        echo "FAIL: layer $1 compiled #include \"$2\" ($3)"
        fails=$((fails + 1))
    elif grep -q "$2: No such file or directory" "$work/out.txt"; then
        echo "ok: layer $1 cannot include \"$2\" ($3)"
    else
        echo "FAIL: layer $1 with #include \"$2\" failed for another reason:"
        sed 's/^/    /' "$work/out.txt"
        fails=$((fails + 1))
    fi
}

# allowed LAYER HEADER
allowed() {
    if compile "$1" "$2"; then
        echo "ok: layer $1 includes \"$2\""
    else
        echo "FAIL: layer $1 cannot include \"$2\", which it may:"
        sed 's/^/    /' "$work/out.txt"
        fails=$((fails + 1))
    fi
}

# upward includes of public headers, one per arrow the redesign removed or forbids
refused model qforge/runtime.h "model is below runtime"
refused quantize qforge/writers.h "quantize produces lazily produced tensors, never calls a writer"
refused writers qforge/runtime.h "writers export from the model and its family description"
refused calibrate qforge/verify.h "calibrate is below verify"
refused text qforge/model.h "text knows nothing of models"
refused core qforge/readers.h "core uses only libc"
# private headers used across folders
refused readers core/hash_impl.h "core's private header"
refused calibrate runtime/kernels.h "runtime's private header"
refused writers readers/zip/zip_adapter.h "readers' private header"
# controls: the same probes with what each layer may include
allowed model qforge/model.h
allowed quantize qforge/quantize.h
allowed runtime qforge/runtime.h
allowed calibrate qforge/calibrate.h
allowed writers qforge/writers.h
allowed verify qforge/verify.h
allowed readers readers/zip/zip_adapter.h
allowed core core/hash_impl.h

if [ "$fails" -ne 0 ]; then
    echo "$fails layering check(s) failed"
    exit 1
fi
echo "layering: every upward include refused, every allowed one compiles"
