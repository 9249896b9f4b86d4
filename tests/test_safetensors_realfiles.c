/*
 * tests/test_safetensors_realfiles.c — readers/safetensors on files written by real tools:
 * every safetensors file under QF_SHARED_DIR/realfiles (found by walking the tree; a file counts
 * when its name ends in .safetensors or its first bytes frame a safetensors header) and the shared
 * debsec-bert model. Tensor counts and total bytes are compared with the independent count in
 * fixtures/realfiles/safetensors_expected.json (fixtures/gen/realfiles_safetensors_expected.py);
 * files listed there as refused must fail with the listed status and reason. Prints one line per
 * file and a count line. Skips (77) when the shared folder is absent.
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

#define EXPECTED QF_SOURCE_DIR "/fixtures/realfiles/safetensors_expected.json"
#define MAX_FILES 4096

typedef struct found_list {
    char *paths[MAX_FILES]; /* relative to QF_SHARED_DIR */
    size_t count;
} found_list;

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Same rule as the Python counter: 8-byte LE length N <= limit, 8 + N <= size, header starts '{'. */
static bool looks_like_safetensors(const char *path, off_t size)
{
    if (size < 9) return false;
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    uint8_t head[9];
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got != sizeof head) return false;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | head[i];
    return n <= QF_SAFETENSORS_MAX_HEADER && n <= (uint64_t)size - 8 && head[8] == '{';
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void walk(const char *rel, found_list *out)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", QF_SHARED_DIR, rel);
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[MAX_FILES];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        assert_true(n < MAX_FILES);
        names[n] = strdup(e->d_name);
        assert_non_null(names[n]);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char child_rel[4096], child[8192];
        snprintf(child_rel, sizeof child_rel, "%s/%s", rel, names[i]);
        snprintf(child, sizeof child, "%s/%s", QF_SHARED_DIR, child_rel);
        struct stat st;
        if (lstat(child, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                walk(child_rel, out);
            } else if (S_ISREG(st.st_mode) &&
                       (has_suffix(names[i], ".safetensors") || looks_like_safetensors(child, st.st_size))) {
                assert_true(out->count < MAX_FILES);
                out->paths[out->count] = strdup(child_rel);
                assert_non_null(out->paths[out->count]);
                out->count++;
            }
        }
        free(names[i]);
    }
}

static json_object *expected_entry(json_object *files, const char *rel)
{
    for (size_t i = 0; i < json_object_array_length(files); i++) {
        json_object *e = json_object_array_get_idx(files, i), *p;
        if (json_object_object_get_ex(e, "path", &p) && strcmp(json_object_get_string(p), rel) == 0) return e;
    }
    return NULL;
}

static const char *field_str(json_object *e, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(e, key, &v) ? json_object_get_string(v) : "";
}

static int64_t field_int(json_object *e, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(e, key, &v)) fail_msg("expected entry lacks '%s'", key);
    return json_object_get_int64(v);
}

typedef struct tally {
    size_t files, loaded, refused;
    uint64_t tensors, bytes;
} tally;

/* Reads one file and checks it against its expected entry, adding to the tally. */
static void check_file(const char *rel, json_object *want, tally *t)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", QF_SHARED_DIR, rel);
    qf_file *f = NULL;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_file_map(path, &f, &err), QF_STATUS_OK);
    uint64_t file_size = qf_file_size(f);
    const uint8_t *base = qf_file_data(f);
    qf_model *m = NULL;
    qf_status st = qf_safetensors_read(f, NULL, &m, &err);
    const char *status = field_str(want, "status");
    t->files++;
    if (st != QF_STATUS_OK) {
        char line[2048];
        qf_error_format(&err, line, sizeof line);
        print_message("  %-72s refused %-11s %s\n", rel, qf_status_name(st), err.message);
        if (strcmp(status, qf_status_name(st)) != 0 || !strstr(err.message, field_str(want, "reason")))
            fail_msg("%s: expected %s ('%s'), got %s", rel, status, field_str(want, "reason"), line);
        assert_null(m);
        t->refused++;
        return;
    }
    if (strcmp(status, "OK") != 0) fail_msg("%s: expected %s, but it was read", rel, status);
    size_t count = qf_model_tensor_count(m);
    uint64_t bytes = qf_model_total_bytes(m);
    uint64_t header = strtoull(qf_model_get_meta(m, "safetensors.header_bytes"), NULL, 10);
    size_t copied = 0; /* misaligned for their dtype, so copied out of the mapping */
    for (size_t i = 0; i < count; i++) {
        const qf_tensor *x = qf_model_tensor(m, i);
        assert_int_equal((uintptr_t)x->data % qf_dtype_size(x->dtype), 0);
        if (x->nbytes && !((const uint8_t *)x->data >= base && (const uint8_t *)x->data < base + file_size)) copied++;
    }
    print_message("  %-72s loaded  %5zu tensors %10llu bytes, header %llu, %zu copied\n", rel, count,
                  (unsigned long long)bytes, (unsigned long long)header, copied);
    assert_int_equal(count, (size_t)field_int(want, "tensors"));
    assert_int_equal(bytes, (uint64_t)field_int(want, "bytes"));
    assert_int_equal(header, (uint64_t)field_int(want, "header_bytes"));
    assert_int_equal(bytes, file_size - 8 - header);
    t->loaded++;
    t->tensors += count;
    t->bytes += bytes;
    qf_model_destroy(m);
}

static void test_realfiles(void **state)
{
    (void)state;
    json_object *root = json_object_from_file(EXPECTED);
    if (!root) fail_msg("cannot read %s (run fixtures/gen/realfiles_safetensors_expected.py)", EXPECTED);
    json_object *files;
    assert_true(json_object_object_get_ex(root, "files", &files));

    static found_list found;
    found.count = 0;
    walk("realfiles", &found);
    tally t = {0};
    for (size_t i = 0; i < found.count; i++) {
        json_object *want = expected_entry(files, found.paths[i]);
        if (!want) fail_msg("%s looks like safetensors but is not in %s", found.paths[i], EXPECTED);
        check_file(found.paths[i], want, &t);
    }
    /* every expected realfiles entry was found by the walk */
    size_t listed = 0;
    for (size_t i = 0; i < json_object_array_length(files); i++)
        if (strncmp(field_str(json_object_array_get_idx(files, i), "path"), "realfiles/", 10) == 0) listed++;
    assert_int_equal(listed, found.count);
    print_message(
        "  safetensors realfiles: %zu files, %zu loaded (%llu tensors, %llu bytes), %zu refused as expected\n", t.files,
        t.loaded, (unsigned long long)t.tensors, (unsigned long long)t.bytes, t.refused);
    assert_true(t.loaded > 0);
    for (size_t i = 0; i < found.count; i++) free(found.paths[i]);
    json_object_put(root);
}

static void test_debsec_bert(void **state)
{
    (void)state;
    const char *rel = "models/debsec-bert/model.safetensors";
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", QF_SHARED_DIR, rel);
    struct stat st;
    if (stat(path, &st) != 0) skip();
    json_object *root = json_object_from_file(EXPECTED), *files;
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "files", &files));
    json_object *want = expected_entry(files, rel);
    assert_non_null(want);
    tally t = {0};
    check_file(rel, want, &t);
    assert_int_equal(t.loaded, 1);

    /* a few tensors the encoder will need, by their Hugging Face names */
    qf_file *f = NULL;
    qf_model *m = NULL;
    assert_int_equal(qf_file_map(path, &f, NULL), QF_STATUS_OK);
    assert_int_equal(qf_safetensors_read(f, NULL, &m, NULL), QF_STATUS_OK);
    const qf_tensor *emb = qf_model_find(m, "bert.embeddings.word_embeddings.weight", NULL);
    assert_non_null(emb);
    assert_int_equal(emb->rank, 2);
    assert_int_equal(emb->shape[1], 256);
    assert_int_equal(emb->dtype, QF_DTYPE_F32);
    qf_model_destroy(m);
    json_object_put(root);
}

int main(void)
{
    struct stat st;
    if (stat(QF_SHARED_DIR "/realfiles", &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("skipped: %s/realfiles is absent (the shared real-files corpus is needed)\n", QF_SHARED_DIR);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_realfiles),
        cmocka_unit_test(test_debsec_bert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
