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
 *   pipeline.model_type "CrossEncoder" for a pair scorer (config_sentence_transformers.json
 *                       model_type, or the Transformer's transformer_task "sequence-classification"):
 *                       the model's own head scores, no pooling; its prompts go before the first text
 *                       of each pair; any module but the Transformer is unsupported
 *   pipeline.activation_fn "sigmoid" or "identity": a CrossEncoder's score activation from
 *                       config_sentence_transformers.json "activation_fn" (what CrossEncoder loads,
 *                       over config.json's); another activation is unsupported
 *   pipeline.pooling    the pooling mode (qf_pooling_name's names), from <Pooling path>/config.json:
 *                       its "pooling_mode" string (sentence-transformers 6; ASCII case ignored, a
 *                       list of one mode is that mode) or its one pooling_mode_* flag that is true
 *                       (older versions); both present must agree
 *   pipeline.normalize  "true" when a Normalize module follows, else "false"
 *   pipeline.max_seq_length  the sequence limit encode() truncates to: sentence_bert_config.json
 *                       max_seq_length, else tokenizer_config.json model_max_length, when it is an
 *                       integer in 1..QF_MAX_SEQ_LENGTH_HINT (absent otherwise: the model's
 *                       positions bound it); the embedding takes the smaller of it and the positions
 *   pipeline.do_lower_case "true" when sentence_bert_config.json says so (the tokenizer loaded from
 *                       the folder then lower-cases first: qf_tokenizer_sentence_lowercase)
 *   pipeline.dense      K, the number of Dense modules between the Pooling and Normalize (1..
 *                       QF_MAX_SENTENCE_DENSE; absent when none), each k in 0..K-1 with
 *                       pipeline.dense.<k>.activation (tanh identity relu sigmoid gelu silu),
 *                       pipeline.dense.<k>.residual ("true" / "false"), and FP32 tensors
 *                       pipeline.dense.<k>.linear.weight [out, in], .linear.bias [out] (bias true),
 *                       .residual.weight [out, in] (use_residual with in != out), read from
 *                       <path>/model.safetensors or <path>/pytorch_model.bin
 *   pipeline.prompts    N, the named prompts of config_sentence_transformers.json "prompts" (1..
 *                       QF_MAX_SENTENCE_PROMPTS; absent when none), each k in 0..N-1 as
 *                       pipeline.prompt.<k>.name and pipeline.prompt.<k>.text (a null text is "")
 *   pipeline.default_prompt  its "default_prompt_name", the prompt encode() prepends unless told
 *                       otherwise (one of the names)
 *   pipeline.include_prompt "false" when the Pooling config's include_prompt is false: the prompt's
 *                       tokens are attended to but left out of the pooling (absent: true)
 *   pipeline.unsupported what qforge cannot compute (a Dense module it cannot run or out of place, several pooling modes at once,
 *                       an unknown or malformed pooling_mode, a prompt it cannot carry or a default
 *                       prompt that is none of the prompts, an include_prompt that is not a boolean, a
 *                       max_seq_length that is not a positive integer, another module type), so that an embedding is refused
 *                       rather than answered differently; absent when everything is served
 * Every file is opened through qf_file_map_beside (inside `dir`), and bounded by
 * QF_MAX_CONFIG_JSON, and read as UTF-8. Malformed JSON is QF_STATUS_FORMAT naming the file; no
 * modules.json: nothing.
 */
qf_status qf_sentence_pipeline_attach(qf_model *m, const char *dir, qf_error *err);

#endif
