/*
 * cli/jobs.c — which job measures a model: --job's names and the default the model's head asks
 * for, shared by `qforge verify` (cmd_verify.c, cmd_qa.c) and the accuracy fallback of
 * `qforge quantize` (cmd_fallback.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qforge/limits.h"

#include "cli/cmd_rank.h"
#include "cli/jobs.h"

static const char *const job_names[] = {"classification", "embedding", "token-classification",
                                        "qa",             "multi-label", "rerank"};

bool qf_cli_job_named(const char *name, qf_cli_job *out)
{
    for (size_t i = 0; name && i < sizeof job_names / sizeof job_names[0]; i++)
        if (strcmp(name, job_names[i]) == 0) {
            *out = (qf_cli_job)i;
            return true;
        }
    return false;
}

const char *qf_cli_job_name(qf_cli_job job)
{
    return (size_t)job < sizeof job_names / sizeof job_names[0] ? job_names[job] : "?";
}

qf_cli_job qf_cli_job_of(const qf_model *m, const qf_arch *a)
{
    if (a->head == QF_ARCH_HEAD_TOKEN_CLASSIFICATION) return QF_CLI_JOB_TOKEN_CLASSIFICATION;
    if (a->head == QF_ARCH_HEAD_QUESTION_ANSWERING) return QF_CLI_JOB_QA;
    if (a->head == QF_ARCH_HEAD_NONE || (qf_model_get_meta(m, "pipeline.source") != NULL && !qf_cli_cross_encoder(m)))
        return QF_CLI_JOB_EMBEDDING;
    switch (qf_cli_scoring_job_of(a)) {
    case QF_CLI_SCORING_MULTI_LABEL: return QF_CLI_JOB_MULTI_LABEL;
    case QF_CLI_SCORING_RERANK: return QF_CLI_JOB_RERANK;
    default: return QF_CLI_JOB_CLASSIFICATION;
    }
}

void qf_cli_embedding_max_length(const qf_model *m, bool max_length_given, qf_dataset_params *dp)
{
    const char *source = qf_model_get_meta(m, "pipeline.source");
    const char *limit = qf_model_get_meta(m, "pipeline.max_seq_length");
    if (!source || strcmp(source, "sentence-transformers") != 0 || max_length_given || !limit) return;
    /* written by readers/sentence_pipeline.c as 1..QF_MAX_SEQ_LENGTH_HINT; a .qf's metadata is
     * file text, so it is read again with the same bounds */
    char *end = NULL;
    long n = strtol(limit, &end, 10);
    if (end && !*end && end != limit && n >= 1 && n <= QF_MAX_SEQ_LENGTH_HINT && (dp->max_length <= 0 || n < dp->max_length))
        dp->max_length = (int32_t)n;
}

bool qf_cli_cross_encoder(const qf_model *m)
{
    const char *type = qf_model_get_meta(m, "pipeline.model_type");
    return type && strcmp(type, "CrossEncoder") == 0;
}

int qf_cli_cross_encoder_refused(const qf_model *m, const char *path)
{
    const char *unsupported = qf_model_get_meta(m, "pipeline.unsupported");
    if (!qf_cli_cross_encoder(m) || !unsupported) return QF_EXIT_OK;
    fprintf(stderr, "error: %s: its sentence-transformers CrossEncoder has %s, which qforge does not compute: the "
                    "scores would differ from CrossEncoder.predict's\n",
            qf_cli_safe(path), qf_cli_safe(unsupported));
    return QF_EXIT_ERROR;
}

int qf_cli_embedding_prompt(const qf_model *m, const char *path, const char *prompt, const char *prompt_name, bool plain,
                            qf_dataset_params *dp)
{
    dp->prompt = NULL;
    dp->prompt_excluded = false;
    if (prompt && prompt_name) {
        fprintf(stderr, "qforge: give --prompt or --prompt-name, not both\n");
        return QF_EXIT_USAGE;
    }
    if (prompt) {
        dp->prompt = prompt;
    } else {
        const char *want = prompt_name ? prompt_name : plain ? NULL : qf_model_get_meta(m, "pipeline.default_prompt");
        if (!want) return QF_EXIT_OK;
        const char *count = qf_model_get_meta(m, "pipeline.prompts");
        char *end = NULL;
        long n = count ? strtol(count, &end, 10) : 0;
        if (count && (!end || *end || end == count || n < 1 || n > QF_MAX_SENTENCE_PROMPTS)) {
            fprintf(stderr, "error: %s: its pipeline.prompts is not a count of prompts (1..%d)\n", qf_cli_safe(path),
                    QF_MAX_SENTENCE_PROMPTS);
            return QF_EXIT_ERROR;
        }
        char names[1024] = "";
        for (long k = 0; k < n && !dp->prompt; k++) {
            char key[64];
            snprintf(key, sizeof key, "pipeline.prompt.%ld.name", k);
            const char *name = qf_model_get_meta(m, key);
            snprintf(key, sizeof key, "pipeline.prompt.%ld.text", k);
            const char *text = qf_model_get_meta(m, key);
            if (!name || !text || strlen(text) > QF_MAX_SENTENCE_PROMPT_BYTES) {
                fprintf(stderr, "error: %s: its prompt %ld lacks a name or text of at most %d bytes\n",
                        qf_cli_safe(path), k, QF_MAX_SENTENCE_PROMPT_BYTES);
                return QF_EXIT_ERROR;
            }
            if (strcmp(name, want) == 0) dp->prompt = text;
            size_t used = strlen(names);
            if (used + 8 < sizeof names)
                snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", qf_cli_safe(name));
        }
        if (!dp->prompt) {
            fprintf(stderr, "error: %s: %s '%s' is none of its prompts (%s)\n", qf_cli_safe(path),
                    prompt_name ? "--prompt-name" : "its default prompt", qf_cli_safe(want),
                    n ? names : "it has none");
            return prompt_name ? QF_EXIT_USAGE : QF_EXIT_ERROR;
        }
    }
    const char *include = qf_model_get_meta(m, "pipeline.include_prompt");
    dp->prompt_excluded = !plain && dp->prompt[0] && include && strcmp(include, "false") == 0;
    return QF_EXIT_OK;
}

int32_t qf_cli_model_max_tokens(const qf_model *m)
{
    const char *cfg = qf_model_config_json(m);
    qf_arch a;
    if (!cfg || qf_arch_from_config(cfg, &a, NULL)) return 512;
    int64_t n = qf_arch_max_tokens(&a); /* config's max_position_embeddings is checked >= 1 */
    return n > 0 && n < 65536 ? (int32_t)n : 512;
}

qf_encoder_mode qf_cli_artifact_mode(const qf_model *m)
{
    const char *mode = qf_model_get_meta(m, "quant.mode");
    if (mode && strcmp(mode, "static") == 0) return QF_ENCODER_MODE_STATIC_INT8;
    for (size_t i = 0; i < qf_model_tensor_count(m); i++)
        if (qf_model_tensor(m, i)->quant.scheme != QF_QUANT_NONE) return QF_ENCODER_MODE_DYNAMIC_INT8;
    return QF_ENCODER_MODE_FP32;
}
