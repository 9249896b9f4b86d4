"""qforge Python helpers: a numpy reader for .qf artifacts (see docs/format.md) and, in
qforge.native, a ctypes binding to libqforge.so that runs the encoder (imported on demand)."""
from .qf import QfError, QfFile, load_file, to_float32

__all__ = ["load_file", "QfFile", "QfError", "to_float32"]
