#!/usr/bin/python3
"""text/unicode_tables.c is exactly what fixtures/gen/make_unicode_tables.py generates.

Skips (exit 77) when this interpreter's Unicode version is not the one the committed file was
generated from (another Python would produce other, equally valid, tables).
"""
import os
import re
import subprocess
import sys
import unicodedata

root = os.environ.get("QF_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
committed_path = os.path.join(root, "text", "unicode_tables.c")
with open(committed_path, encoding="utf-8") as f:
    committed = f.read()
m = re.search(r"Unicode (\S+) \(Python", committed)
if not m:
    print("text/unicode_tables.c has no Unicode version in its header")
    sys.exit(1)
if m.group(1) != unicodedata.unidata_version:
    print(f"SKIP: tables are Unicode {m.group(1)}, this Python has {unicodedata.unidata_version}")
    sys.exit(77)
out = subprocess.run([sys.executable, os.path.join(root, "fixtures", "gen", "make_unicode_tables.py")],
                     check=True, capture_output=True, text=True).stdout
if out != committed:
    print("text/unicode_tables.c differs from the generator's output: regenerate it")
    sys.exit(1)
print(f"unicode_tables.c matches the generator (Unicode {m.group(1)})")
