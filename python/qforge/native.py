"""A thin ctypes binding to libqforge.so: open any model qforge reads (.qf, PyTorch, safetensors)
and run the reference encoder (FP32 or dynamic int8) on token ids, getting numpy arrays back; and
tokenize text as qforge does.

    from qforge.native import Model
    with Model("model.qf") as m:
        out = m.encoder(threads=1).run([[101, 7592, 2088, 102]])
        out["logits"]      # float32 [batch, num_labels] (None without a classification head)
        out["pooled"]      # float32 [batch, hidden]: mean of the last hidden state over real tokens

    from qforge.native import Tokenizer
    with Tokenizer("model_folder") as t:
        t.encode("a question", "its context", max_length=384)["input_ids"]

Failures raise QfNativeError whose text is qforge's one-line error (file, part, offset, what).
The library is found through $QFORGE_LIB, then a build folder beside this package, then the
system's linker path. Needs numpy and the stdlib only.
"""
import ctypes
import ctypes.util
import os

import numpy as np

# Mirrors of include/qforge/runtime.h (the encoder); tests/test_python_native.py checks
# every figure against `qforge run`, so a drift in these layouts fails there.
MODE_FP32, MODE_DYNAMIC_INT8, MODE_STATIC_INT8 = 0, 1, 2  # qf_encoder_mode (runtime.h)
_ERROR_BYTES = 1 << 16  # more than sizeof(qf_error); only qf_error_* functions look inside


class _EncoderParams(ctypes.Structure):
    _fields_ = [("threads", ctypes.c_int), ("mode", ctypes.c_int), ("reference_kernels", ctypes.c_bool),
                ("max_batch", ctypes.c_int64), ("max_length", ctypes.c_int64),
                ("keep_layer_outputs", ctypes.c_bool), ("quantize_weights", ctypes.c_bool),
                ("observe", ctypes.c_void_p), ("observe_ctx", ctypes.c_void_p), ("no_sentence_dense", ctypes.c_bool)]


class _Batch(ctypes.Structure):
    _fields_ = [("batch", ctypes.c_int64), ("length", ctypes.c_int64),
                ("input_ids", ctypes.POINTER(ctypes.c_int32)), ("attention_mask", ctypes.POINTER(ctypes.c_int32)),
                ("token_type_ids", ctypes.POINTER(ctypes.c_int32))]


class _Output(ctypes.Structure):
    _fields_ = [("batch", ctypes.c_int64), ("length", ctypes.c_int64), ("hidden_size", ctypes.c_int64),
                ("num_labels", ctypes.c_int64), ("num_layer_outputs", ctypes.c_int64),
                ("logits", ctypes.POINTER(ctypes.c_float)), ("last_hidden", ctypes.POINTER(ctypes.c_float)),
                ("pooled", ctypes.POINTER(ctypes.c_float)), ("layer_hidden", ctypes.POINTER(ctypes.c_float)),
                ("head", ctypes.c_int), ("token_logits", ctypes.POINTER(ctypes.c_float)),
                ("embedding_size", ctypes.c_int64), ("sentence_dense", ctypes.c_void_p)]


class _Encoding(ctypes.Structure):  # qf_encoding (include/qforge/text.h)
    _fields_ = [("input_ids", ctypes.POINTER(ctypes.c_int32)), ("attention_mask", ctypes.POINTER(ctypes.c_int32)),
                ("token_type_ids", ctypes.POINTER(ctypes.c_int32)), ("sequence_ids", ctypes.POINTER(ctypes.c_int32)),
                ("offsets", ctypes.POINTER(ctypes.c_int32)), ("word_ids", ctypes.POINTER(ctypes.c_int32)),
                ("length", ctypes.c_size_t), ("capacity", ctypes.c_size_t)]


class _TokenizeParams(ctypes.Structure):  # qf_tokenize_params
    _fields_ = [("max_length", ctypes.c_int32), ("pad_to", ctypes.c_int32), ("add_special_tokens", ctypes.c_bool)]


class QfNativeError(RuntimeError):
    """A failed libqforge call: `code` is the status name ("FORMAT", "NOT_FOUND", ...)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


_lib = None


def _find_library():
    env = os.environ.get("QFORGE_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    candidate = os.path.join(here, "..", "..", "build", "libqforge.so")
    if os.path.exists(candidate):
        return candidate
    found = ctypes.util.find_library("qforge")
    if found:
        return found
    raise OSError("libqforge.so not found: set QFORGE_LIB, build qforge (build/libqforge.so) or install it")


def load_library(path=None):
    """Loads libqforge (once) and declares the functions this module calls."""
    global _lib
    if _lib is not None and path is None:
        return _lib
    lib = ctypes.CDLL(path or _find_library())
    P = ctypes.c_void_p
    sig = {
        "qf_error_clear": (None, [P]),
        "qf_error_format": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_size_t]),
        "qf_status_name": (ctypes.c_char_p, [ctypes.c_int]),
        "qf_model_read": (ctypes.c_int, [ctypes.c_char_p, P, ctypes.POINTER(P), P]),
        "qf_model_destroy": (None, [P]),
        "qf_model_get_meta": (ctypes.c_char_p, [P, ctypes.c_char_p]),
        "qf_model_tensor_count": (ctypes.c_size_t, [P]),
        "qf_arch_map": (ctypes.c_int, [P, P, P]),
        "qf_encoder_params_default": (_EncoderParams, []),
        "qf_encoder_create": (ctypes.c_int, [P, ctypes.POINTER(_EncoderParams), ctypes.POINTER(P), P]),
        "qf_encoder_run": (ctypes.c_int, [P, ctypes.POINTER(_Batch), ctypes.POINTER(_Output), P]),
        "qf_encoder_destroy": (None, [P]),
        "qf_tokenizer_load": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(P), P]),
        "qf_tokenizer_destroy": (None, [P]),
        "qf_tokenizer_encode": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_TokenizeParams),
                                               ctypes.POINTER(_Encoding), P]),
        "qf_tokenizer_encode_pair": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                                    ctypes.c_size_t, ctypes.POINTER(_TokenizeParams),
                                                    ctypes.POINTER(_Encoding), P]),
        "qf_encoding_free": (None, [ctypes.POINTER(_Encoding)]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    _lib = lib
    return lib


class _Error:
    def __init__(self, lib):
        self.lib = lib
        self.buf = ctypes.create_string_buffer(_ERROR_BYTES)
        lib.qf_error_clear(self.buf)

    def raise_for(self, status):
        if status == 0:
            return
        line = ctypes.create_string_buffer(4096)
        self.lib.qf_error_format(self.buf, line, len(line))
        code = self.lib.qf_status_name(status).decode()
        raise QfNativeError(code, line.value.decode("utf-8", errors="replace"))


class _Handle:
    """A libqforge object owned by Python: freed by close(), the end of a `with` block or collection
    (the subclass names its destroy function in _destroy; __init__ sets _lib and _ptr first)."""

    _destroy = None
    _ptr = None

    def close(self):
        if self._ptr:
            getattr(self._lib, self._destroy)(self._ptr)
            self._ptr = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Model(_Handle):
    """A model read by qforge (qf_model_read): the format is detected from the bytes."""

    _destroy = "qf_model_destroy"

    def __init__(self, path, library=None):
        self._lib = load_library(library)
        self._ptr = ctypes.c_void_p()
        err = _Error(self._lib)
        err.raise_for(self._lib.qf_model_read(os.fsencode(path), None, ctypes.byref(self._ptr), err.buf))
        self.path = path

    def meta(self, key):
        """Metadata value (str) or None: "source.sha256", "quant.mode", "arch.family", ..."""
        v = self._lib.qf_model_get_meta(self._require(), key.encode())
        return None if v is None else v.decode("utf-8", errors="replace")

    @property
    def quantized(self):
        return self.meta("quant.mode") is not None

    def encoder(self, mode="auto", threads=0, max_batch=32, max_length=512, reference_kernels=False):
        """An Encoder over this model. mode: "auto" (static int8 for a static artifact, dynamic int8
        for another quantized model, else FP32), "fp32", "int8" (dynamic int8; float weights are
        quantized at creation) or "static" (a static artifact only)."""
        return Encoder(self, mode, threads, max_batch, max_length, reference_kernels)

    def _require(self):
        if not self._ptr:
            raise ValueError("the model is closed")
        return self._ptr


class Encoder(_Handle):
    """qforge's reference encoder over a Model (qf_encoder_create). Not thread-safe."""

    _destroy = "qf_encoder_destroy"

    def __init__(self, model, mode="auto", threads=0, max_batch=32, max_length=512, reference_kernels=False):
        self._lib = model._lib
        self._model = model  # the encoder retains the C model; this keeps the Python object alive too
        p = self._lib.qf_encoder_params_default()
        if mode == "auto":
            mode = ("static" if model.meta("quant.mode") == "static" else "int8") if model.quantized else "fp32"
        if mode not in ("fp32", "int8", "static"):
            raise ValueError("mode must be 'auto', 'fp32', 'int8' or 'static', not %r" % (mode,))
        if mode == "static" and model.meta("quant.mode") != "static":
            raise ValueError("mode 'static' needs a static int8 artifact (qforge quantize --mode static)")
        p.mode = {"int8": MODE_DYNAMIC_INT8, "static": MODE_STATIC_INT8}.get(mode, MODE_FP32)
        p.quantize_weights = mode == "int8" and not model.quantized
        p.threads = int(threads)
        p.max_batch = int(max_batch)
        p.max_length = int(max_length)
        p.reference_kernels = bool(reference_kernels)
        self.mode = mode
        self.max_batch, self.max_length = int(max_batch), int(max_length)
        self._ptr = ctypes.c_void_p()
        err = _Error(self._lib)
        if model.meta("arch.family") is None:
            # the encoder runs a model mapped to its canonical slots: mapped once, in place, here
            err.raise_for(self._lib.qf_arch_map(model._require(), None, err.buf))
        err.raise_for(self._lib.qf_encoder_create(model._require(), ctypes.byref(p), ctypes.byref(self._ptr), err.buf))

    def run(self, input_ids, attention_mask=None, token_type_ids=None, hidden=False):
        """Runs a batch. input_ids: a list of id sequences (any lengths; padded here, the mask marks
        the real tokens) or an int array [batch, length] (then attention_mask may say which count).
        Returns {"logits": [batch, labels] or None, "pooled": [batch, hidden]} (float32 copies), plus
        "token_logits" [batch, length, labels] for a token-classification or question-answering head
        (labels 2: start, end; 0 at padding), and "last_hidden" [batch, length, hidden] when
        hidden=True. "logits" is None for those heads and for a base model."""
        if not self._ptr:
            raise ValueError("the encoder is closed")
        if isinstance(input_ids, np.ndarray) and input_ids.ndim == 2:
            ids = np.ascontiguousarray(input_ids, dtype=np.int32)
            mask = None if attention_mask is None else np.ascontiguousarray(attention_mask, dtype=np.int32)
        else:
            seqs = [list(s) for s in input_ids]
            length = max((len(s) for s in seqs), default=0)
            ids = np.zeros((len(seqs), length), dtype=np.int32)
            mask = np.zeros((len(seqs), length), dtype=np.int32)
            for i, s in enumerate(seqs):
                ids[i, :len(s)] = s
                mask[i, :len(s)] = 1
        types = None if token_type_ids is None else np.ascontiguousarray(token_type_ids, dtype=np.int32)
        for name, a in (("attention_mask", mask), ("token_type_ids", types)):
            if a is not None and a.shape != ids.shape:
                raise ValueError("%s has shape %s, input_ids %s" % (name, a.shape, ids.shape))
        i32p = ctypes.POINTER(ctypes.c_int32)

        def ptr(a):
            return None if a is None else a.ctypes.data_as(i32p)

        batch = _Batch(ids.shape[0], ids.shape[1], ptr(ids), ptr(mask), ptr(types))
        out = _Output()
        err = _Error(self._lib)
        err.raise_for(self._lib.qf_encoder_run(self._ptr, ctypes.byref(batch), ctypes.byref(out), err.buf))

        def copy(p, *shape):
            if not p:
                return None
            return np.ctypeslib.as_array(p, shape=shape).copy()  # borrowed until the next run: copied

        result = {"logits": copy(out.logits, out.batch, out.num_labels) if out.num_labels else None,
                  "pooled": copy(out.pooled, out.batch, out.hidden_size)}
        if out.token_logits:  # token classification [batch, length, labels]; QA [batch, length, 2]
            result["token_logits"] = copy(out.token_logits, out.batch, out.length, out.num_labels)
        if hidden:
            result["last_hidden"] = copy(out.last_hidden, out.batch, out.length, out.hidden_size)
        return result


class Tokenizer(_Handle):
    """A tokenizer qforge reads (qf_tokenizer_load): a tokenizer.json, a vocab.txt, a SentencePiece
    .model (read for the tokenizer class its folder names), or a model folder (whose
    tokenizer_config.json and sentence_bert_config.json settings then apply, as they do for
    `qforge run`)."""

    _destroy = "qf_tokenizer_destroy"

    def __init__(self, path, library=None):
        self._lib = load_library(library)
        self._ptr = ctypes.c_void_p()
        err = _Error(self._lib)
        err.raise_for(self._lib.qf_tokenizer_load(os.fsencode(path), ctypes.byref(self._ptr), err.buf))

    def encode(self, text, text_pair=None, max_length=0, add_special_tokens=True):
        """One text (or the pair text, text_pair) as the model gets it: {"input_ids", "token_type_ids",
        "sequence_ids" (0 / 1: which text, -1: a special token), "offsets" ([start, end) code points of
        its text), "word_ids" (the pre-tokenizer's word of each token, from 0 in each text; -1: a
        special token)}, lists of ints. max_length truncates (0: none), as transformers' truncation=True."""
        if not self._ptr:
            raise ValueError("the tokenizer is closed")
        params = _TokenizeParams(max_length, 0, add_special_tokens)
        enc = _Encoding()
        err = _Error(self._lib)
        a = text.encode("utf-8")
        try:
            if text_pair is None:
                status = self._lib.qf_tokenizer_encode(self._ptr, a, len(a), ctypes.byref(params), ctypes.byref(enc),
                                                       err.buf)
            else:
                b = text_pair.encode("utf-8")
                status = self._lib.qf_tokenizer_encode_pair(self._ptr, a, len(a), b, len(b), ctypes.byref(params),
                                                            ctypes.byref(enc), err.buf)
            err.raise_for(status)
            n = enc.length
            return {"input_ids": enc.input_ids[:n], "token_type_ids": enc.token_type_ids[:n],
                    "sequence_ids": enc.sequence_ids[:n],
                    "offsets": [enc.offsets[2 * i:2 * i + 2] for i in range(n)], "word_ids": enc.word_ids[:n]}
        finally:
            self._lib.qf_encoding_free(ctypes.byref(enc))
