"""Zero-copy numpy reader for qforge .qf files (docs/format.md).

load_file(path, dequantize=False) returns every tensor by name (the safetensors.numpy.load_file
convention). QfFile(path) checks the header, the JSON block and the tensor directory the way the C reader does
(without reading tensor data) and exposes every tensor as a read-only view into one np.memmap of
the file. bf16 tensors are uint16 views; to_float32() widens them. Needs numpy and the stdlib only.
"""
import json
import struct
import zlib

import numpy as np

MAGIC = b"\x89QFORGE\n"
VERSION = (1, 0)
HEADER = struct.Struct("<8sIIIIQQQQI4s")
ALIGN = 64
MAX_JSON = 256 << 20
MAX_RANK = 8
MAX_INT = (1 << 53) - 1

DTYPES = {"f32": "<f4", "f16": "<f2", "bf16": "<u2", "f64": "<f8", "i64": "<i8", "i32": "<i4",
          "i16": "<i2", "i8": "i1", "u8": "u1", "bool": "?"}
SCHEMES = ("symmetric_per_tensor", "symmetric_per_channel", "asymmetric_per_tensor")
TOP_KEYS = {"format", "version", "metadata", "config", "tensors"}
TENSOR_KEYS = {"name", "source_name", "dtype", "shape", "offset", "nbytes", "crc32", "quant"}
QUANT_KEYS = {"scheme", "axis", "scale", "zero_point"}


class QfError(ValueError):
    """A .qf file that breaks docs/format.md; `offset` is the absolute byte offset or None."""

    def __init__(self, message, offset=None):
        super().__init__(message if offset is None else f"offset {offset}: {message}")
        self.offset = offset


def _align(x):
    return (x + ALIGN - 1) // ALIGN * ALIGN


def _uint(v, limit=MAX_INT):
    return type(v) is int and 0 <= v <= limit


def to_float32(bf16):
    """Widens a bf16 tensor (uint16 view) to float32 (a new array)."""
    return (np.asarray(bf16, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


class QfFile:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            head = f.read(HEADER.size)
            if head[:len(MAGIC)] != MAGIC[:len(head)]:
                raise QfError("not a .qf file (bad magic)", 0)
            if len(head) < HEADER.size:
                raise QfError("file ends inside the 64-byte header", len(head))
            (_, major, minor, bom, hcrc, json_off, json_size, data_off, data_size, jcrc,
             reserved) = HEADER.unpack(head)
            if major != VERSION[0]:
                raise QfError(f"unsupported major version {major}", 8)
            if bom != 0x01020304:
                raise QfError(f"byte-order mark 0x{bom:08x}", 16)
            if zlib.crc32(head[:20] + b"\0\0\0\0" + head[24:]) != hcrc:
                raise QfError("header CRC-32 mismatch", 20)
            f.seek(0, 2)
            size = f.tell()
            if json_off != HEADER.size:
                raise QfError("json_offset must be 64", 24)
            if json_size > MAX_JSON:
                raise QfError("JSON block too large", 32)
            if HEADER.size + json_size > size:
                raise QfError("JSON block extends past the end of the file", 32)
            if data_off != _align(HEADER.size + json_size):
                raise QfError("data_offset is not align64(64 + json_size)", 40)
            if data_off > size or data_size != size - data_off:
                raise QfError("data_size does not match the file size", 48)
            if reserved != b"\0" * 4:
                raise QfError("reserved header bytes are not zero", 60)
            f.seek(HEADER.size)
            raw = f.read(data_off - HEADER.size)
        text = raw[:json_size]
        if zlib.crc32(text) != jcrc:
            raise QfError("JSON block CRC-32 mismatch", 56)
        if raw[json_size:].strip(b"\0"):
            raise QfError("padding before the data section is not zero", HEADER.size + json_size)
        try:
            doc = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise QfError(f"invalid JSON: {e}", HEADER.size) from None
        self.version = (major, minor)
        self.data_offset, self.data_size = data_off, data_size
        self._parse(doc, strict=minor <= VERSION[1])
        # One read-only mapping of the whole file; tensors are views into it.
        self._map = np.memmap(path, dtype=np.uint8, mode="r")
        self.tensors = {}
        for e in self.entries:
            start = data_off + e["offset"]
            raw_view = self._map[start:start + e["nbytes"]]
            self.tensors[e["name"]] = raw_view.view(DTYPES[e["dtype"]]).reshape(e["shape"])
        # scale values, as the C reader checks them on open: finite and > 0 (scales are small)
        for e in self.entries:
            q = e.get("quant")
            if q is None:
                continue
            scales = self.tensors[q["scale"]].reshape(-1)
            bad = np.flatnonzero(~(np.isfinite(scales) & (scales > 0)))
            if bad.size:
                se = next(x for x in self.entries if x["name"] == q["scale"])
                raise QfError(f"tensor {e['name']!r}: scale {q['scale']!r} element {int(bad[0])} is "
                              f"{scales[bad[0]]!r}, not a finite value > 0",
                              data_off + se["offset"] + 4 * int(bad[0]))

    def _parse(self, doc, strict):
        where = HEADER.size
        if not isinstance(doc, dict):
            raise QfError("JSON block is not an object", where)
        if strict and set(doc) - TOP_KEYS:
            raise QfError(f"unknown keys {sorted(set(doc) - TOP_KEYS)}", where)
        if doc.get("format") != "qforge" or doc.get("version") != list(self.version):
            raise QfError("\"format\"/\"version\" do not match the header", where)
        meta = doc.get("metadata")
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise QfError("\"metadata\" must map strings to strings", where)
        self.metadata = meta
        self.config = doc.get("config")
        if self.config is not None and not isinstance(self.config, dict):
            raise QfError("\"config\" is not an object", where)
        entries = doc.get("tensors")
        if not isinstance(entries, list):
            raise QfError("\"tensors\" is not an array", where)
        extents, end, names = {}, 0, {}
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or (strict and set(e) - TENSOR_KEYS):
                raise QfError(f"tensors[{i}]: not an object or unknown keys", where)
            name = e.get("name")
            if not isinstance(name, str) or not name or "\0" in name or name in names:
                raise QfError(f"tensors[{i}]: missing, empty or duplicate name", where)
            shape, dtype = e.get("shape"), e.get("dtype")
            if dtype not in DTYPES:
                raise QfError(f"tensor {name!r}: unknown dtype {dtype!r}", where)
            if (not isinstance(shape, list) or len(shape) > MAX_RANK
                    or not all(_uint(d) for d in shape)):
                raise QfError(f"tensor {name!r}: bad shape", where)
            nbytes = int(np.prod(shape, dtype=object)) * np.dtype(DTYPES[dtype]).itemsize
            off, crc = e.get("offset"), e.get("crc32")
            if not _uint(e.get("nbytes")) or e["nbytes"] != nbytes:
                raise QfError(f"tensor {name!r}: nbytes does not match dtype and shape", where)
            if not _uint(off) or off % ALIGN or not _uint(crc, 0xFFFFFFFF):
                raise QfError(f"tensor {name!r}: bad offset or crc32", where)
            nxt = _align(end)
            if nbytes and off < nxt:
                if extents.get(off) != (nbytes, crc):
                    raise QfError(f"tensor {name!r}: overlaps without sharing an identical extent", where)
            elif off != nxt:
                raise QfError(f"tensor {name!r}: expected offset {nxt}, found {off}", where)
            elif nbytes:
                if off + nbytes > self.data_size:
                    raise QfError(f"tensor {name!r}: extends past the data section", where)
                extents[off] = (nbytes, crc)
                end = off + nbytes
            q = e.get("quant")
            if q is not None and (not isinstance(q, dict) or (strict and set(q) - QUANT_KEYS)
                                  or q.get("scheme") not in SCHEMES):
                raise QfError(f"tensor {name!r}: bad \"quant\"", where)
            names[name] = e
        if _align(end) != self.data_size:
            raise QfError("data section has bytes after the last tensor", self.data_offset + _align(end))
        for e in entries:
            self._check_quant(e, names, where)
        self.entries = entries
        self._extents = sorted(extents.items())

    @staticmethod
    def _check_quant(e, names, where):
        q = e.get("quant")
        if q is None:
            return
        name, shape, scheme = e["name"], e["shape"], q["scheme"]
        asym = scheme == "asymmetric_per_tensor"
        if e["dtype"] not in (("i8", "u8") if asym else ("i8",)):
            raise QfError(f"tensor {name!r}: {scheme} data has dtype {e['dtype']}", where)
        channels = 1
        if scheme == "symmetric_per_channel":
            axis = q.get("axis")
            if not _uint(axis) or axis >= len(shape):
                raise QfError(f"tensor {name!r}: quantization axis out of range", where)
            channels = shape[axis]
        elif "axis" in q:
            raise QfError(f"tensor {name!r}: \"axis\" with a per-tensor scheme", where)
        s = names.get(q.get("scale"))
        if s is None or s["dtype"] != "f32" or "quant" in s or int(np.prod(s["shape"], dtype=object)) != channels:
            raise QfError(f"tensor {name!r}: scale must be an f32 tensor of {channels} element(s)", where)
        if asym:
            z = names.get(q.get("zero_point"))
            if z is None or z["dtype"] != e["dtype"] or "quant" in z or int(np.prod(z["shape"], dtype=object)) != 1:
                raise QfError(f"tensor {name!r}: zero point must be one {e['dtype']} element", where)
        elif "zero_point" in q:
            raise QfError(f"tensor {name!r}: symmetric scheme names a zero point", where)

    def dequantize(self, name):
        """float32 values of a quantized tensor: (q - zero_point) * scale, scale per channel along axis."""
        e = next(x for x in self.entries if x["name"] == name)
        q = e.get("quant")
        if q is None:
            raise KeyError(f"tensor {name!r} is not quantized")
        x = self.tensors[name].astype(np.float32)
        if "zero_point" in q:
            x -= self.tensors[q["zero_point"]].astype(np.float32).reshape(())
        s = self.tensors[q["scale"]].astype(np.float32)
        if q["scheme"] == "symmetric_per_channel":
            bshape = [1] * x.ndim
            bshape[q["axis"]] = -1
            return x * s.reshape(bshape)
        return x * s.reshape(())

    def verify_checksums(self):
        """Reads every extent and padding byte; raises QfError on a CRC-32 mismatch or non-zero padding."""
        data = self._map[self.data_offset:]
        pos = 0
        for off, (nbytes, crc) in self._extents + [(self.data_size, (0, None))]:
            if np.any(data[pos:off]):
                raise QfError("padding byte is not zero", self.data_offset + pos)
            if crc is None:
                break
            if zlib.crc32(data[off:off + nbytes]) != crc:
                raise QfError("data CRC-32 mismatch", self.data_offset + off)
            pos = off + nbytes


def load_file(path, dequantize=False):
    """All tensors of a .qf file by name, as safetensors.numpy.load_file gives a safetensors file's.

    dequantize=False: read-only np.memmap views into the file (zero-copy), every tensor as stored,
    scale and zero-point tensors included (bf16 as uint16, see to_float32).
    dequantize=True: float32 arrays (new memory): each quantized tensor dequantized, every other
    float tensor (f16, bf16, f64) widened or narrowed to float32; the scale and zero-point tensors,
    now applied, are left out; integer and bool tensors that are not quantized stay views.
    Raises QfError for a file that breaks docs/format.md.
    """
    f = QfFile(path)
    if not dequantize:
        return dict(f.tensors)
    applied = set()
    for e in f.entries:
        q = e.get("quant")
        if q is not None:
            applied.add(q["scale"])
            if "zero_point" in q:
                applied.add(q["zero_point"])
    out = {}
    for e in f.entries:
        name, dtype = e["name"], e["dtype"]
        if name in applied:
            continue
        t = f.tensors[name]
        if "quant" in e:
            out[name] = f.dequantize(name).astype(np.float32, copy=False)
        elif dtype == "bf16":
            out[name] = to_float32(t)
        elif dtype in ("f16", "f32", "f64"):
            with np.errstate(over="ignore"):  # f64 beyond float32's range becomes +-inf, as a cast does
                out[name] = np.array(t, dtype=np.float32)
        else:
            out[name] = t
    return out
