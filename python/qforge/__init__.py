"""qforge Python helpers: a numpy reader for .qf artifacts (see docs/format.md)."""
from .qf import QfError, QfFile, to_float32

__all__ = ["QfFile", "QfError", "to_float32"]
