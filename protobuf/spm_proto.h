/*
 * protobuf/spm_proto.h — the adapter around protobuf-c and the SentencePiece code protoc-c generates
 * at build time from protobuf/sentencepiece_model.proto (build/generated/sentencepiece_model.pb-c.h,
 * never committed). Internal: only text/tokenizer_spm.c includes it; no protobuf-c type reaches a
 * public header.
 *
 * The schema has no recursion (ModelProto holds pieces and two specs, none holding a ModelProto), so
 * protobuf-c's unpack is bounded by the input: what it allocates is proportional to the bytes it
 * reads, and the input is bounded by QF_TOKENIZER_MAX_FILE. What the fields hold (piece bytes,
 * scores, ids, the charsmap) is validated by the caller.
 */
#ifndef QF_PROTOBUF_SPM_PROTO_H
#define QF_PROTOBUF_SPM_PROTO_H

#include "qforge/core.h"
#include "sentencepiece_model.pb-c.h"

/* Unpacks a ModelProto of `size` bytes; `file` names it in errors. On success *out is owned by the
 * caller (qf_spm_proto_free). LIMIT past QF_TOKENIZER_MAX_FILE bytes; FORMAT when protobuf-c cannot
 * unpack it (not a protobuf of this schema: a wire type that does not match a field, a length past
 * the end). */
qf_status qf_spm_proto_parse(const uint8_t *data, size_t size, const char *file, Sentencepiece__ModelProto **out,
                             qf_error *err);
void qf_spm_proto_free(Sentencepiece__ModelProto *m);

#endif /* QF_PROTOBUF_SPM_PROTO_H */
