/*
 * protobuf/spm_proto.c — unpacking SentencePiece model files (protobuf/spm_proto.h).
 */
#include "spm_proto.h"

#include "qforge/limits.h"

qf_status qf_spm_proto_parse(const uint8_t *data, size_t size, const char *file, Sentencepiece__ModelProto **out,
                             qf_error *err)
{
    *out = NULL;
    if (size > QF_TOKENIZER_MAX_FILE) {
        qf_status s = qf_error_set(err, QF_STATUS_LIMIT, file, NULL, -1, NULL, "SentencePiece model exceeds the size limit");
        qf_error_expected(err, "at most %u bytes", QF_TOKENIZER_MAX_FILE);
        qf_error_found(err, "%zu bytes", size);
        return s;
    }
    if (size == 0) return qf_error_set(err, QF_STATUS_FORMAT, file, NULL, -1, NULL, "empty SentencePiece model file");
    Sentencepiece__ModelProto *m = sentencepiece__model_proto__unpack(NULL, size, data);
    if (!m)
        return qf_error_set(err, QF_STATUS_FORMAT, file, NULL, -1, NULL,
                            "not a SentencePiece model: its protobuf does not unpack as a ModelProto (a field's wire "
                            "type or length does not fit)");
    *out = m;
    return QF_STATUS_OK;
}

void qf_spm_proto_free(Sentencepiece__ModelProto *m)
{
    if (m) sentencepiece__model_proto__free_unpacked(m, NULL);
}
