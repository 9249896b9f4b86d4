/*
 * readers/sentence_pipeline.h — internal to readers/: the sentence-transformers pipeline of a model
 * folder (modules.json beside the checkpoint), read after the checkpoint by readers/reader.c.
 */
#ifndef QFORGE_READERS_SENTENCE_PIPELINE_H
#define QFORGE_READERS_SENTENCE_PIPELINE_H

#include "qforge/core.h"

/*
 * When `dir` holds modules.json (a sentence-transformers folder whose Transformer module is the
 * folder itself), records the pipeline after the encoder in m's metadata:
 *   pipeline.source     "sentence-transformers"
 *   pipeline.pooling    the pooling mode (qf_pooling_name's names), from <Pooling path>/config.json
 *   pipeline.normalize  "true" when a Normalize module follows, else "false"
 *   pipeline.unsupported what qforge cannot compute (a Dense module, several pooling modes at once,
 *                       a default prompt, another module type), so that an embedding is refused
 *                       rather than answered differently; absent when everything is served
 * Every file is opened through qf_file_map_beside (inside `dir`), and bounded by
 * QF_MAX_CONFIG_JSON. Malformed JSON is QF_STATUS_FORMAT naming the file; no modules.json: nothing.
 */
qf_status qf_sentence_pipeline_attach(qf_model *m, const char *dir, qf_error *err);

#endif
