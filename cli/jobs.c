/*
 * cli/jobs.c — which job measures a model: --job's names and the default the model's head asks
 * for, shared by `qforge verify` (cmd_verify.c, cmd_qa.c) and the accuracy fallback of
 * `qforge quantize` (cmd_fallback.c).
 */
#include <string.h>

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
    if (a->head == QF_ARCH_HEAD_NONE || qf_model_get_meta(m, "pipeline.source") != NULL) return QF_CLI_JOB_EMBEDDING;
    switch (qf_cli_scoring_job_of(a)) {
    case QF_CLI_SCORING_MULTI_LABEL: return QF_CLI_JOB_MULTI_LABEL;
    case QF_CLI_SCORING_RERANK: return QF_CLI_JOB_RERANK;
    default: return QF_CLI_JOB_CLASSIFICATION;
    }
}
