/*
 * tests/test_torch_realfiles.c — readers/torch over the real-files corpus (QF_SHARED_DIR/realfiles):
 * every PyTorch zip, legacy checkpoint or pickle (decided by the bytes) and every file of
 * picklescan-malicious-samples/, against fixtures/realfiles/torch_expected.json (written by
 * fixtures/gen/realfiles_torch_expected.py). Loading files must give the expected tensor count and
 * total bytes; rejected ones the expected status with the global, opcode or reason in the message.
 * Prints one line per file and a count line. Skips (77) when the corpus is absent.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "qforge/readers.h"

#define CORPUS QF_SHARED_DIR "/realfiles"

static json_object *expected;
static int n_load, n_reject, n_other, n_fail;
static char reasons[64][96];
static int reason_counts[64], n_reasons;

static bool is_candidate(const char *path, const char *rel)
{
    if (strncmp(rel, "picklescan-malicious-samples/", 29) == 0) return true;
    static const uint8_t magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    uint8_t head[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n >= 4 && memcmp(head, "PK\x03\x04", 4) == 0) return true;
    if (n >= 1 && head[0] == 0x80) return true;
    for (size_t i = 0; i + 10 <= n; i++)
        if (memcmp(head + i, magic, 10) == 0) return true;
    return false;
}

static void count_reason(const char *status)
{
    for (int i = 0; i < n_reasons; i++)
        if (strcmp(reasons[i], status) == 0) {
            reason_counts[i]++;
            return;
        }
    if (n_reasons < 64) {
        snprintf(reasons[n_reasons], sizeof reasons[0], "%s", status);
        reason_counts[n_reasons++] = 1;
    }
}

static void check_file(const char *path, const char *rel)
{
    json_object *files, *exp, *v;
    json_object_object_get_ex(expected, "files", &files);
    if (!json_object_object_get_ex(files, rel, &exp)) {
        printf("%-60s | NOT IN TABLE\n", rel);
        n_fail++;
        return;
    }
    json_object_object_get_ex(exp, "expect", &v);
    const char *kind = json_object_get_string(v);
    bool all = strcmp(kind, "torch_load_error") == 0;
    qf_read_params params;
    memset(&params, 0, sizeof params);
    params.select = all ? "" : NULL;
    qf_error err;
    qf_error_clear(&err);
    qf_file *f;
    qf_model *m = NULL;
    qf_status st = qf_file_map(path, &f, &err);
    if (!st) st = qf_torch_read(f, &params, &m, &err);
    char line[2048];
    qf_error_format(&err, line, sizeof line);
    const char *msg = strstr(line, rel) ? strstr(line, rel) + strlen(rel) + 2 : line;
    bool ok;
    if (strcmp(kind, "reject") == 0) {
        json_object *js, *jr;
        json_object_object_get_ex(exp, "status", &js);
        json_object_object_get_ex(exp, "reason", &jr);
        ok = st != QF_STATUS_OK && strcmp(qf_status_name(st), json_object_get_string(js)) == 0 &&
             strstr(line, json_object_get_string(jr)) != NULL;
        printf("%-60s | rejected %-11s | %s\n", rel, qf_status_name(st), msg);
        if (!ok) printf("    expected %s with '%s'\n", json_object_get_string(js), json_object_get_string(jr));
        n_reject++;
        count_reason(qf_status_name(st));
    } else {
        json_object *jt, *jb;
        json_object_object_get_ex(exp, all ? "static_tensors" : "tensors", &jt);
        json_object_object_get_ex(exp, all ? "static_bytes" : "bytes", &jb);
        if (st) {
            printf("%-60s | FAILED %s | %s\n", rel, qf_status_name(st), msg);
            ok = false;
        } else {
            size_t count = qf_model_tensor_count(m);
            uint64_t bytes = qf_model_total_bytes(m);
            ok = (int64_t)count == json_object_get_int64(jt) && (int64_t)bytes == json_object_get_int64(jb);
            printf("%-60s | loads%s | %5zu tensors | %10llu bytes\n", rel, all ? " (all)" : "", count,
                   (unsigned long long)bytes);
            if (!ok)
                printf("    expected %lld tensors, %lld bytes\n", (long long)json_object_get_int64(jt),
                       (long long)json_object_get_int64(jb));
        }
        if (all) n_other++;
        else n_load++;
    }
    if (!ok) n_fail++;
    qf_model_destroy(m);
}

static void walk(const char *dir, const char *rel)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    if (n < 0) return;
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        if (name[0] != '.') {
            char path[2048], r[1024];
            snprintf(path, sizeof path, "%s/%s", dir, name);
            snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", name);
            struct stat sb;
            if (stat(path, &sb) == 0) {
                if (S_ISDIR(sb.st_mode)) walk(path, r);
                else if (S_ISREG(sb.st_mode) && strcmp(name, "SOURCE.txt") != 0 && strcmp(name, "INDEX.md") != 0 &&
                         is_candidate(path, r))
                    check_file(path, r);
            }
        }
        free(list[i]);
    }
    free(list);
}

static void test_corpus(void **state)
{
    (void)state;
    expected = json_object_from_file(QF_SOURCE_DIR "/fixtures/realfiles/torch_expected.json");
    assert_non_null(expected);
    walk(CORPUS, "");
    json_object *files;
    json_object_object_get_ex(expected, "files", &files);
    int total = n_load + n_reject + n_other;
    printf("torch realfiles: %d files: %d load, %d load under select \"\" (torch 1.13 weights_only cannot), %d rejected (",
           total, n_load, n_other, n_reject);
    for (int i = 0; i < n_reasons; i++) printf("%s%s %d", i ? ", " : "", reasons[i], reason_counts[i]);
    printf("); %d mismatches\n", n_fail);
    int listed = json_object_object_length(files);
    json_object_put(expected);
    assert_int_equal(total, listed);
    assert_int_equal(n_fail, 0);
}

/* The shared BERT (torch 2.11 zip): every tensor a zero-copy view; one tensor's bytes against torch.load. */
static void test_debsec_bert(void **state)
{
    (void)state;
    const char *path = QF_SHARED_DIR "/models/debsec-bert/pytorch_model.bin";
    struct stat sb;
    if (stat(path, &sb) != 0) skip();
    qf_error err;
    qf_error_clear(&err);
    qf_file *f;
    qf_model *m = NULL;
    assert_int_equal(qf_file_map(path, &f, &err), QF_STATUS_OK);
    const uint8_t *base = qf_file_data(f);
    uint64_t size = qf_file_size(f);
    assert_int_equal(qf_torch_read(f, NULL, &m, &err), QF_STATUS_OK);
    assert_int_equal(qf_model_tensor_count(m), 73);
    assert_int_equal(qf_model_total_bytes(m), 21257336);
    for (size_t i = 0; i < qf_model_tensor_count(m); i++) {
        const uint8_t *d = qf_model_tensor(m, i)->data;
        assert_true(d >= base && d < base + size);
    }
    const qf_tensor *q = qf_model_find(m, "bert.encoder.layer.0.attention.self.query.weight", NULL);
    assert_non_null(q);
    uint8_t digest[32];
    char hex[65];
    qf_sha256(q->data, (size_t)q->nbytes, digest);
    qf_sha256_hex(digest, hex);
    assert_string_equal(hex, "ab568819642bb2b87d2706c8cda24a1103da8b8e23970cbd68900d388bb2e9a8");
    assert_string_equal(qf_model_get_meta(m, "torch.container"), "zip");
    assert_string_equal(qf_model_get_meta(m, "torch.prefix"), "pytorch_model");
    assert_string_equal(qf_model_get_meta(m, "torch.byteorder"), "little");
    assert_non_null(qf_model_get_meta(m, "torch.format_version"));
    qf_model_destroy(m);
}

int main(void)
{
    struct stat sb;
    if (stat(CORPUS, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        printf("skipped: the real-files corpus %s is absent\n", CORPUS);
        return 77;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus), cmocka_unit_test(test_debsec_bert)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
