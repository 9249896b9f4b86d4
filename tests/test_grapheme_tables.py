#!/usr/bin/python3
"""text/grapheme_tables.c is exactly what fixtures/gen/make_grapheme_tables.py generates.

Skips (exit 77) when Debian's unicode-data files the generator reads are absent, or are of another
Unicode version than the one the committed file was generated from (they would give other, equally
valid, tables).
"""
import os
import re
import subprocess
import sys

root = os.environ.get("QF_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
generator = os.path.join(root, "fixtures", "gen", "make_grapheme_tables.py")
committed_path = os.path.join(root, "text", "grapheme_tables.c")
gcb_path = "/usr/share/unicode/auxiliary/GraphemeBreakProperty.txt"
emoji_path = "/usr/share/unicode/emoji/emoji-data.txt"

with open(committed_path, encoding="utf-8") as f:
    committed = f.read()
m = re.search(r"Unicode (\S+) \(GraphemeBreakProperty", committed)
if not m:
    print("text/grapheme_tables.c has no Unicode version in its header")
    sys.exit(1)
for path in (gcb_path, emoji_path):
    if not os.path.exists(path):
        print(f"SKIP: {path} is absent (Debian package unicode-data)")
        sys.exit(77)
with open(gcb_path, encoding="utf-8") as f:
    first = f.readline().strip()
found = re.fullmatch(r"# GraphemeBreakProperty-(\S+)\.txt", first)
if not found or found.group(1) != m.group(1):
    print(f"SKIP: tables are Unicode {m.group(1)}, {gcb_path} starts {first!r}")
    sys.exit(77)
run = subprocess.run([sys.executable, generator], capture_output=True, text=True)
if run.returncode != 0:
    print(f"the generator failed:\n{run.stderr}")
    sys.exit(1)
if run.stdout != committed:
    print("text/grapheme_tables.c differs from the generator's output: regenerate it")
    sys.exit(1)
print(f"grapheme_tables.c matches the generator (Unicode {m.group(1)})")
