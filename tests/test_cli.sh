#!/usr/bin/env bash
# tests/test_cli.sh — the qforge command line as a user meets it: --help everywhere, exit codes
# (0 ok, 1 error, 2 usage), one error line naming the file, no output left behind on failure,
# and convert/quantize/inspect on the bundled model.
set -u
QF=${QF_CLI:?QF_CLI must point at the qforge binary}
SRC=${QF_SOURCE_DIR:?}
SHARED=${QF_SHARED_DIR:-$SRC/../shared}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
passes=0

check() { # check NAME EXPECTED_RC ACTUAL_RC
  if [ "$2" = "$3" ]; then passes=$((passes + 1)); else echo "FAIL: $1: exit $3, expected $2"; failures=$((failures + 1)); fi
}
expect() { # expect NAME CONDITION...
  local name=$1; shift
  if "$@"; then passes=$((passes + 1)); else echo "FAIL: $name"; failures=$((failures + 1)); fi
}

"$QF" >/dev/null 2>&1; check "no arguments" 2 $?
"$QF" --help >"$tmp/h" 2>&1; check "--help" 0 $?
expect "--help lists commands" grep -q "quantize" "$tmp/h"
"$QF" --version >/dev/null; check "--version" 0 $?
"$QF" frobnicate >/dev/null 2>&1; check "unknown command" 2 $?
for c in inspect convert quantize; do
  "$QF" $c --help >"$tmp/h" 2>&1; check "$c --help" 0 $?
  expect "$c --help has usage" grep -q "usage: qforge $c" "$tmp/h"
  "$QF" $c --no-such-option x >/dev/null 2>&1; check "$c unknown option" 2 $?
done
"$QF" inspect >/dev/null 2>&1; check "inspect without file" 2 $?
"$QF" quantize x.bin -o "$tmp/x.qf" >/dev/null 2>&1; check "quantize without --mode" 2 $?
"$QF" quantize x.bin -o "$tmp/x.qf" --mode static >/dev/null 2>&1; check "quantize --mode static" 2 $?
"$QF" quantize x.bin --mode dynamic >/dev/null 2>&1; check "quantize without -o" 2 $?
"$QF" quantize x.bin -o "$tmp/x.qf" --mode dynamic --threads zero >/dev/null 2>&1; check "bad --threads" 2 $?
"$QF" convert x.bin -o "$tmp/x.qf" --dtype i8 >/dev/null 2>&1; check "bad --dtype" 2 $?

# shared options (cli/args.c): every command that takes one refuses the same values, exit 2, with
# the same message naming the command
for cmd in "verify x.qf --data d.jsonl" "run x.qf --data d.jsonl" "calibrate x.bin --data d.jsonl -o $tmp/x.qfc" \
           "quantize x.bin -o $tmp/x.qf --mode dynamic" "quantize x.bin -o $tmp/x.qf --mode static --stats s.qfc"; do
  name=${cmd%% *}
  for bad in 0 1025 zero; do
    $QF $cmd --threads $bad >/dev/null 2>"$tmp/e"; check "$name --threads $bad" 2 $?
    expect "$name --threads $bad: one message" \
      grep -qx "qforge $name: --threads takes a whole number from 1 to 1024, not '$bad'" "$tmp/e"
  done
done
for cmd in "verify x.qf --data d.jsonl" "quantize x.bin -o $tmp/x.qf --mode static --stats s.qfc --eval e.jsonl"; do
  name=${cmd%% *}
  for bad in -1 nan inf 1pt; do
    $QF $cmd --max-drop=$bad >/dev/null 2>"$tmp/e"; check "$name --max-drop $bad" 2 $?
    expect "$name --max-drop $bad: one message" grep -qx "qforge $name: --max-drop takes a number of points >= 0" "$tmp/e"
  done
done
for cmd in "verify x.qf --data d.jsonl" "run x.qf --data d.jsonl"; do
  name=${cmd%% *}
  $QF $cmd --batch 4097 >/dev/null 2>"$tmp/e"; check "$name --batch 4097" 2 $?
  expect "$name --batch: message" grep -qx "qforge $name: --batch takes a whole number from 1 to 4096, not '4097'" "$tmp/e"
  $QF $cmd --limit 0 >/dev/null 2>"$tmp/e"; check "$name --limit 0" 2 $?
  expect "$name --limit: message" grep -qx "qforge $name: --limit takes a whole number from 1 to 10000000, not '0'" "$tmp/e"
done
for cmd in "verify x.qf --data d.jsonl" "run x.qf --data d.jsonl" "calibrate x.bin --data d.jsonl -o $tmp/x.qfc"; do
  name=${cmd%% *}
  $QF $cmd --max-length 65536 >/dev/null 2>"$tmp/e"; check "$name --max-length 65536" 2 $?
  expect "$name --max-length: message" \
    grep -qx "qforge $name: --max-length takes a whole number from 1 to 65535, not '65536'" "$tmp/e"
done
"$QF" calibrate x.bin --data d.jsonl -o "$tmp/x.qfc" --samples 0 >/dev/null 2>"$tmp/e"; check "calibrate --samples 0" 2 $?
expect "calibrate --samples: message" \
  grep -qx "qforge calibrate: --samples takes a whole number from 1 to 10000000, not '0'" "$tmp/e"
for c in inspect convert; do
  "$QF" $c x.bin --threads 2 >/dev/null 2>"$tmp/e"; check "$c takes no --threads" 2 $?
  expect "$c --threads: unknown" grep -q "^qforge $c: unknown option '--threads'" "$tmp/e"
done

# errors: exit 1, exactly one line on stderr, naming the file; no output file left behind
"$QF" inspect "$tmp/missing.bin" >/dev/null 2>"$tmp/e"; check "missing input" 1 $?
expect "one error line" test "$(wc -l <"$tmp/e")" -eq 1
expect "error names the file" grep -q "^error: $tmp/missing.bin: " "$tmp/e"
printf 'not a model at all' >"$tmp/junk.bin"
"$QF" quantize "$tmp/junk.bin" -o "$tmp/junk.qf" --mode dynamic >/dev/null 2>"$tmp/e"; check "junk input" 1 $?
expect "junk: no output file" test ! -e "$tmp/junk.qf"
expect "junk: no temporary file" test -z "$(ls -A "$tmp" | grep '^\.junk')"
"$QF" quantize "$tmp/junk.bin" -o "$tmp/nodir/out.qf" --mode dynamic >/dev/null 2>&1; check "missing output folder" 1 $?

# the bundled model
MINI="$SRC/fixtures/debsec-mini/pytorch_model.bin"
if [ -f "$MINI" ]; then
  "$QF" inspect "$MINI" --no-tensors >"$tmp/i" 2>&1; check "inspect bundled model" 0 $?
  expect "inspect says pytorch-zip" grep -q "pytorch-zip" "$tmp/i"
  "$QF" quantize "$MINI" -o "$tmp/mini.qf" --mode dynamic --json >"$tmp/q" 2>&1; check "quantize bundled model" 0 $?
  expect "quantize JSON has a ratio" grep -q '"ratio"' "$tmp/q"
  "$QF" inspect "$tmp/mini.qf" --verify-checksums >"$tmp/i" 2>&1; check "inspect .qf" 0 $?
  expect "inspect .qf shows per-channel int8" grep -q "per-channel axis 0" "$tmp/i"
  expect "inspect .qf verified checksums" grep -q "checksum verified" "$tmp/i"
  "$QF" inspect "$tmp/mini.qf" --json >"$tmp/j" 2>&1; check "inspect --json" 0 $?
  expect "inspect --json parses" /usr/bin/python3 -c "import json,sys; d=json.load(open('$tmp/j')); assert d['tensor_count']>0"
  "$QF" convert "$MINI" -o "$tmp/mini.f16.qf" --dtype f16 -q >"$tmp/c" 2>&1; check "convert f16" 0 $?
  expect "convert -q prints nothing" test ! -s "$tmp/c"
  "$QF" quantize "$MINI" -o "$tmp/mini2.qf" --mode dynamic --threads 1 -q; check "quantize 1 thread" 0 $?
  # progress: drawn on a terminal (script gives the command a pty), never in a pipe
  "$QF" quantize "$MINI" -o "$tmp/pipe.qf" --mode dynamic 2>"$tmp/pipe.err" | cat >/dev/null
  expect "no progress in a pipe" test ! -s "$tmp/pipe.err"
  "$QF" calibrate "$MINI" --data "$SRC/fixtures/debsec-mini/eval.jsonl" --samples 40 --threads 1 -o "$tmp/p.qfc" \
    2>"$tmp/pipe.err" | cat >/dev/null
  expect "no calibrate progress in a pipe" test ! -s "$tmp/pipe.err"
  if command -v script >/dev/null 2>&1; then
    script -qec "$QF quantize $MINI -o $tmp/tty.qf --mode dynamic" /dev/null >"$tmp/tty.out" 2>&1
    expect "progress on a terminal" grep -q "quantize: .* MB" "$tmp/tty.out"
    script -qec "$QF quantize $MINI -o $tmp/tty.qf --mode dynamic --quiet" /dev/null >"$tmp/tty.out" 2>&1
    expect "--quiet silences progress" test ! -s "$tmp/tty.out"
    script -qec "$QF calibrate $MINI --data $SRC/fixtures/debsec-mini/eval.jsonl --samples 40 --threads 1 -o $tmp/c.qfc" \
      /dev/null >"$tmp/tty.out" 2>&1
    expect "calibrate progress on a terminal" grep -q "calibrate: [0-9]*/40 rows" "$tmp/tty.out"
  fi
  expect "deterministic across thread counts" cmp -s "$tmp/mini.qf" "$tmp/mini2.qf"
else
  echo "note: $MINI absent; bundled-model checks not run"
fi

# text from a file never reaches the terminal raw (fixtures/gen/make_hostile_text_fixtures.py): names
# and metadata holding ESC/CSI/OSC, C1, DEL, newlines and bidi overrides are printed escaped; --json
# gives back the exact strings; an error line quoting such a name is escaped as well
HOSTILE="$SRC/fixtures/safetensors/hostile_text.safetensors"
no_control_bytes() { # file: only \n and \t below 0x20, no DEL, valid UTF-8 without C1 or bidi controls
  /usr/bin/python3 - "$1" <<'PY'
import re, sys
b = open(sys.argv[1], "rb").read()
bad = [c for c in b if (c < 0x20 and c not in (9, 10)) or c == 0x7f]
t = b.decode("utf-8")  # raises on invalid UTF-8
bad += [c for c in t if 0x80 <= ord(c) <= 0x9f or 0x202a <= ord(c) <= 0x202e or 0x2066 <= ord(c) <= 0x2069]
sys.exit(1 if bad else 0)
PY
}
json_exact() { # json expected: names and metadata values equal the originals byte for byte
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
d, e = json.load(open(sys.argv[1], encoding="utf-8")), json.load(open(sys.argv[2]))
names = [t["source_name"] for t in d["tensors"]]
assert sorted(names) == sorted(e["tensors"]), names
for k, v in e["metadata"].items():
    assert d["metadata"]["safetensors." + k] == v, k
PY
}
"$QF" inspect "$HOSTILE" >"$tmp/hi" 2>&1; check "inspect hostile names" 0 $?
expect "inspect: no control bytes from the file" no_control_bytes "$tmp/hi"
expect "inspect: ESC shown as \\x1b" grep -qF 'layer\x1b[2J\x1b[H.weight' "$tmp/hi"
expect "inspect: C1 shown as \\u009b" grep -qF 'c1\u009b31mred.bias' "$tmp/hi"
expect "inspect: no faked line" test "$(grep -c '^integrity' "$tmp/hi")" -eq 0
"$QF" inspect "$HOSTILE" --json >"$tmp/hj" 2>&1; check "inspect --json hostile names" 0 $?
expect "inspect --json: exact strings" json_exact "$tmp/hj" "$SRC/fixtures/safetensors/hostile_text.expected.json"
"$QF" convert "$HOSTILE" -o "$tmp/hostile.qf" >"$tmp/hc" 2>&1; check "convert hostile names" 0 $?
expect "convert: no control bytes" no_control_bytes "$tmp/hc"
"$QF" inspect "$tmp/hostile.qf" --verify-checksums >"$tmp/hi" 2>&1; check "inspect hostile .qf" 0 $?
expect "inspect .qf: no control bytes from the file" no_control_bytes "$tmp/hi"
"$QF" inspect "$SRC/fixtures/safetensors/hostile_text_bad.safetensors" >/dev/null 2>"$tmp/e"
check "hostile name in an error" 1 $?
expect "error line: one line" test "$(wc -l <"$tmp/e")" -eq 1
expect "error line: no control bytes" no_control_bytes "$tmp/e"
expect "error line: the name escaped" grep -qF "tensor 'layer\x1b[2J\x1b[H.weight'" "$tmp/e"

# files found beside a model: config.json as a FIFO is refused at once (no hang: timeout), config.json
# linked out of the model's folder is refused, not copied into the output; --config anywhere is the
# user's choice
mkdir -p "$tmp/beside_fifo" "$tmp/beside_out" "$tmp/elsewhere"
cp "$SRC/fixtures/safetensors/dtypes.safetensors" "$tmp/beside_fifo/model.safetensors"
cp "$SRC/fixtures/safetensors/dtypes.safetensors" "$tmp/beside_out/model.safetensors"
mkfifo "$tmp/beside_fifo/config.json"
printf '{"outside_secret": 1}' >"$tmp/elsewhere/secret.json"
ln -s "$tmp/elsewhere/secret.json" "$tmp/beside_out/config.json"
timeout 20 "$QF" convert "$tmp/beside_fifo/model.safetensors" -o "$tmp/beside_fifo.qf" >/dev/null 2>"$tmp/e"
check "config.json FIFO: refused, no hang" 1 $?
expect "config.json FIFO: the error names it and its type" \
  grep -qF "error: $tmp/beside_fifo/config.json: 'config.json' is a FIFO (named pipe), not a regular file" "$tmp/e"
expect "config.json FIFO: no output" test ! -e "$tmp/beside_fifo.qf"
"$QF" convert "$tmp/beside_out/model.safetensors" -o "$tmp/beside_out.qf" >/dev/null 2>"$tmp/e"
check "config.json linked out: refused" 1 $?
expect "config.json linked out: the error says so" \
  grep -qF "error: $tmp/beside_out/config.json: 'config.json' resolves outside the model folder" "$tmp/e"
expect "config.json linked out: no output" test ! -e "$tmp/beside_out.qf"
rm "$tmp/beside_out/config.json"
"$QF" inspect "$tmp/beside_out/model.safetensors" --config "$tmp/elsewhere/secret.json" >/dev/null 2>"$tmp/e"
check "--config outside the folder: the user's choice" 0 $?

# the tokenizer of a RoBERTa folder with vocab.json + merges.txt and no tokenizer.json is found by
# every command that tokenizes (qf_tokenizer_find): verify, calibrate and quantize --max-drop
rob="$tmp/roberta_bpe_files"
mkdir -p "$rob"
for f in config.json model.safetensors vocab.json merges.txt tokenizer_config.json special_tokens_map.json; do
  cp "$SRC/fixtures/families/roberta/$f" "$rob/"
done
printf '{"text":"libfoo development files","label":1}\n{"text":"a python module for parsing","label":0}\n' >"$rob/rows.jsonl"
"$QF" quantize "$rob/model.safetensors" -o "$tmp/rob.qf" --mode dynamic --min-elements 1 >/dev/null 2>&1
check "RoBERTa vocab.json + merges.txt: quantize" 0 $?
"$QF" verify "$tmp/rob.qf" --data "$rob/rows.jsonl" --json "$tmp/rob_verify.json" >/dev/null 2>"$tmp/e"
check "RoBERTa vocab.json + merges.txt: verify finds the tokenizer" 0 $?
"$QF" calibrate "$rob/model.safetensors" --data "$rob/rows.jsonl" -o "$tmp/rob.qfc" >/dev/null 2>"$tmp/e"
check "RoBERTa vocab.json + merges.txt: calibrate finds the tokenizer" 0 $?
"$QF" quantize "$rob/model.safetensors" -o "$tmp/rob_static.qf" --mode static --stats "$tmp/rob.qfc" \
  --min-elements 1 --max-drop 100 --eval "$rob/rows.jsonl" >/dev/null 2>"$tmp/e"
check "RoBERTa vocab.json + merges.txt: quantize --max-drop finds the tokenizer" 0 $?
printf '{"text":"only a file with half a tokenizer","label":0}\n' >"$tmp/half.jsonl"
rm "$rob/merges.txt"
"$QF" calibrate "$rob/model.safetensors" --data "$tmp/half.jsonl" -o "$tmp/half.qfc" >/dev/null 2>"$tmp/e"
check "vocab.json without merges.txt: refused" 1 $?
expect "vocab.json without merges.txt: the error says what is missing" grep -q "vocab.json + merges.txt" "$tmp/e"

# text of unknown encoding: a folder whose name is not UTF-8 (legal on Linux) converts to a .qf that
# reads back (source.path stored with U+FFFD), and every line that shows the path escapes the byte
nu="$tmp/nu$(printf '\377')dir"
mkdir -p "$nu" && cp "$SRC/fixtures/families/bert/"* "$nu/"
"$QF" convert "$nu/pytorch_model.bin" -o "$tmp/nu.qf" >"$tmp/o" 2>"$tmp/e"
check "non-UTF-8 folder: convert" 0 $?
expect "non-UTF-8 folder: the summary line shows the byte escaped" grep -qF 'nu\xffdir/pytorch_model.bin' "$tmp/o"
expect "non-UTF-8 folder: the summary line holds no stray byte" no_control_bytes "$tmp/o"
"$QF" inspect "$tmp/nu.qf" >"$tmp/hi" 2>"$tmp/e"
check "non-UTF-8 folder: the .qf reads back" 0 $?
expect "non-UTF-8 folder: source.path with U+FFFD" grep -q "source.path.*nu$(printf '\357\277\275')dir/pytorch_model.bin" "$tmp/hi"
"$QF" convert "$SRC/tests/fuzz/regressions/onnx/tensor-name-not-utf8.onnx" -o "$tmp/nuname.qf" >/dev/null 2>"$tmp/e"
check "ONNX tensor name not UTF-8: refused" 1 $?
expect "ONNX tensor name not UTF-8: the error says so, escaped" grep -qF "tensor name is not valid UTF-8 (expected UTF-8 text, found 'emb.word_embeddings.weigh\xff')" "$tmp/e"
expect "ONNX tensor name not UTF-8: no output" test ! -e "$tmp/nuname.qf"
badcfg="$tmp/badcfg"
mkdir -p "$badcfg" && cp "$SRC/fixtures/families/bert/"* "$badcfg/"
sed -i "s/\"LABEL_0\"/\"LAB$(printf '\377')L_0\"/" "$badcfg/config.json"
"$QF" convert "$badcfg/pytorch_model.bin" -o "$tmp/badcfg.qf" >/dev/null 2>"$tmp/e"
check "config.json not UTF-8: refused" 1 $?
expect "config.json not UTF-8: the error names config.json" grep -q "config.json.*invalid utf-8" "$tmp/e"

# a malicious pickle from the real corpus is refused with the global named
if [ -f "$SHARED/realfiles/picklescan-malicious-samples/malicious1_v4.pkl" ]; then
  "$QF" inspect "$SHARED/realfiles/picklescan-malicious-samples/malicious1_v4.pkl" >/dev/null 2>"$tmp/e"
  check "malicious pickle" 1 $?
  expect "malicious pickle: reason names a global" grep -qi "not an allowed" "$tmp/e"
fi

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
