/*
 * tests/fuzz/replay.c — replays inputs through one fuzz target's entry point without libFuzzer, so
 * every build (plain and ASan+UBSan, gcc or clang) re-runs the committed regression inputs and seed
 * corpora: `replay_<target> DIR...` feeds each regular file under each DIR (recursively) to
 * LLVMFuzzerTestOneInput. A missing DIR counts as empty. Exit 0 when every input returned; a crash,
 * sanitizer report or hang fails the ctest entry.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    /* an exact-size heap copy, as libFuzzer gives, so ASan sees any read past the end */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf || fread(buf, 1, size, f) != size) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, size);
    free(buf);
    return 0;
}

static int walk(const char *dir, long *count)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int failures = 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown) break;
            names = grown;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (names[i] && stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                failures += walk(path, count);
            } else if (S_ISREG(st.st_mode)) {
                if (replay_file(path) != 0) {
                    fprintf(stderr, "cannot read %s\n", path);
                    failures++;
                } else {
                    (*count)++;
                }
            }
        }
        free(names[i]);
    }
    free(names);
    return failures;
}

int main(int argc, char **argv)
{
    long count = 0;
    int failures = 0;
    for (int i = 1; i < argc; i++) failures += walk(argv[i], &count);
    printf("replayed %ld input(s) from %d folder(s)\n", count, argc - 1);
    return failures ? 1 : 0;
}
