/*
 * cli/cmd_calibrate.c — `qforge calibrate`: runs the FP32 encoder over calibration rows and writes
 * the activation statistics (.qfc), or merges .qfc files from several jobs (--merge). The work is
 * in calibrate/ (qf_calibrate_run, qf_calib_stats_*); this file parses arguments and prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/jobs.h"
#include "qforge/calibrate.h"
#include "qforge/readers.h"

static qf_cli_option calibrate_options[] = {
    QF_CLI_OPTION("data", 0, true, "FILE.jsonl", "calibration rows {\"text\"|\"input_ids\"} (required unless --merge)"),
    QF_CLI_OPTION("out", 'o', true, "PATH", "output .qfc statistics file (required)"),
    QF_CLI_SHARED(QF_CLI_SAMPLES, NULL),
    QF_CLI_OPTION("skip", 0, true, "N", "start at row N of the data (split calibration across jobs)"),
    QF_CLI_SHARED(QF_CLI_THREADS, "worker threads (default: all cores); the result does not depend on it"),
    QF_CLI_SHARED(QF_CLI_MAX_LENGTH, NULL),
    QF_CLI_SHARED(QF_CLI_TOKENIZER, "tokenizer.json or its folder (default: beside SOURCE)"),
    QF_CLI_SHARED(QF_CLI_CONFIG, "config.json (default: next to SOURCE)"),
    QF_CLI_OPTION("merge", 0, false, NULL, "merge the .qfc files given as arguments into -o"),
    QF_CLI_SHARED(QF_CLI_QUIET, NULL),
};

static qf_cli_command calibrate_command = {
    "calibrate", "SOURCE --data calib.jsonl -o stats.qfc [options] | --merge A.qfc B.qfc... -o all.qfc",
    "Runs SOURCE in FP32 over calibration rows and records, for every activation that static int8\n"
    "quantizes (the inputs of the six projections of each layer), min, max, a 4096-bin histogram of\n"
    "|x|, per-channel maxima, and the count of non-finite values (excluded). A sentence-transformers\n"
    "model's default prompt (config_sentence_transformers.json) is prepended to every text first, as\n"
    "encode() prepends it wherever the model is deployed.",
    "The statistics do not depend on the thread count or on how the rows are split: --merge of the\n"
    ".qfc files of disjoint row ranges (--skip / --samples) equals one run over all of them, byte for\n"
    "byte. Use them with: qforge quantize SOURCE --mode static --stats stats.qfc --method M.",
    calibrate_options, sizeof calibrate_options / sizeof calibrate_options[0], 1, 64};

static void print_stats(const qf_calib_stats *s)
{
    const qf_calib_provenance *p = qf_calib_stats_provenance(s);
    printf("rows %llu, tokens %llu, %zu activations\n", (unsigned long long)p->rows, (unsigned long long)p->tokens,
           qf_calib_stats_count(s));
    printf("  %-28s %9s %12s %12s %10s\n", "activation", "channels", "min", "max", "non-finite");
    for (size_t i = 0; i < qf_calib_stats_count(s); i++) {
        const qf_calib_entry *e = qf_calib_stats_entry(s, i);
        printf("  %-28s %9lld %12.5g %12.5g %10llu\n", qf_cli_safe(e->name), (long long)e->channels, (double)e->min, (double)e->max,
               (unsigned long long)e->nonfinite);
    }
}

static int merge_files(int npos, const char **pos, const char *out, bool quiet)
{
    qf_error err;
    qf_error_clear(&err);
    qf_calib_stats *all = NULL;
    if (qf_calib_stats_create(&all, &err)) return qf_cli_fail(&err);
    for (int i = 0; i < npos; i++) {
        qf_calib_stats *one = NULL;
        if (qf_calib_stats_read(pos[i], &one, &err) || qf_calib_stats_merge(all, one, &err)) {
            qf_error_set_file(&err, pos[i]);
            qf_calib_stats_destroy(one);
            qf_calib_stats_destroy(all);
            return qf_cli_fail(&err);
        }
        qf_calib_stats_destroy(one);
    }
    int rc = QF_EXIT_OK;
    if (qf_calib_stats_write(all, out, &err)) rc = qf_cli_fail(&err);
    else if (!quiet) {
        printf("merged %d files -> %s: ", npos, qf_cli_safe(out));
        print_stats(all);
    }
    qf_calib_stats_destroy(all);
    return rc;
}

int qf_cmd_calibrate(int argc, char **argv)
{
    const char *pos[64];
    int npos;
    bool help;
    qf_cli_command *cmd = &calibrate_command;
    int rc = qf_cli_parse(cmd, argc, argv, pos, &npos, &help);
    if (rc || help) return rc;
    qf_cli_option *out = qf_cli_find(cmd, "out");
    bool quiet = qf_cli_given(cmd, QF_CLI_QUIET);
    if (!out->seen) {
        fprintf(stderr, "qforge calibrate: -o OUT.qfc is required\nTry 'qforge calibrate --help'.\n");
        return QF_EXIT_USAGE;
    }
    if (qf_cli_find(cmd, "merge")->seen) return merge_files(npos, pos, out->value, quiet);
    qf_cli_option *data_opt = qf_cli_find(cmd, "data");
    if (!data_opt->seen || npos != 1) {
        fprintf(stderr, "qforge calibrate: give one SOURCE and --data FILE.jsonl\nTry 'qforge calibrate --help'.\n");
        return QF_EXIT_USAGE;
    }
    long samples = 0, skip = 0, threads = 0, max_length = 0;
    qf_cli_option *skip_opt = qf_cli_find(cmd, "skip");
    if (!qf_cli_number(cmd, QF_CLI_SAMPLES, &samples) ||
        (skip_opt->seen && !qf_cli_int(cmd, skip_opt, 0, QF_DATASET_MAX_ROWS, &skip)) ||
        !qf_cli_number(cmd, QF_CLI_THREADS, &threads) || !qf_cli_number(cmd, QF_CLI_MAX_LENGTH, &max_length))
        return QF_EXIT_USAGE;

    double t0 = qf_cli_now();
    qf_error err;
    qf_error_clear(&err);
    qf_read_params rp = qf_read_params_default();
    rp.threads = (int)threads; /* the CPU budget: with 1 the source is hashed up front */
    if (qf_cli_given(cmd, QF_CLI_CONFIG)) rp.config_path = qf_cli_text(cmd, QF_CLI_CONFIG);
    qf_model *m = NULL;
    if (qf_model_read(pos[0], &rp, &m, &err)) return qf_cli_fail(&err);
    qf_arch arch;
    if (!qf_model_config_json(m)) {
        fprintf(stderr, "error: %s: no config.json found (give --config)\n", qf_cli_safe(pos[0]));
        qf_model_destroy(m);
        return QF_EXIT_ERROR;
    }
    if (qf_arch_map(m, &arch, &err)) {
        qf_model_destroy(m);
        return qf_cli_fail(&err);
    }
    /* tokenizer: --tokenizer, else beside SOURCE (qf_tokenizer_find) */
    qf_tokenizer *tok = NULL;
    const char *beside[] = {pos[0]};
    if (qf_tokenizer_find(qf_cli_text(cmd, QF_CLI_TOKENIZER), beside, 1, &tok, NULL, 0, &err)) {
        qf_model_destroy(m);
        return qf_cli_fail(&err);
    }
    int64_t cap = qf_arch_max_tokens(&arch);
    qf_dataset_params dp = qf_dataset_params_default();
    dp.max_length = (int32_t)(max_length && max_length < cap ? max_length : cap);
    dp.limit = samples ? skip + samples : 0;
    dp.config_json = qf_model_config_json(m);
    /* a sentence-transformers model with a default prompt sees every text behind it: so do its
     * calibration rows */
    if ((rc = qf_cli_embedding_prompt(m, pos[0], NULL, NULL, false, &dp))) {
        qf_tokenizer_destroy(tok);
        qf_model_destroy(m);
        return rc;
    }
    qf_dataset *data = NULL;
    qf_calib_stats *stats = NULL;
    rc = QF_EXIT_OK;
    if (qf_dataset_load(data_opt->value, tok, &dp, &data, &err)) {
        rc = qf_cli_fail(&err);
    } else {
        qf_calibrate_params cp = qf_calibrate_params_default();
        qf_cli_progress progress;
        qf_cli_progress_init(&progress, "calibrate", false, quiet);
        cp.progress = qf_cli_progress_update;
        cp.progress_ctx = &progress;
        cp.threads = (int)threads;
        cp.first_row = (size_t)skip;
        cp.samples = (size_t)samples;
        if (qf_calibrate_run(m, data, &cp, &stats, &err) || qf_calib_stats_write(stats, out->value, &err))
            rc = qf_cli_fail(&err);
        else if (!quiet) {
            printf("calibrate: %s on %s -> %s (%.2f s): ", qf_cli_safe(pos[0]), qf_cli_safe(data_opt->value),
                   qf_cli_safe(out->value), qf_cli_now() - t0);
            print_stats(stats);
        }
    }
    qf_calib_stats_destroy(stats);
    qf_dataset_destroy(data);
    qf_tokenizer_destroy(tok);
    qf_model_destroy(m);
    return rc;
}
