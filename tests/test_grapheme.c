/*
 * tests/test_grapheme.c: extended grapheme clusters (text/grapheme.c, qf_uni_grapheme_end).
 *
 *   - the generated table: sorted, non-overlapping, and the lookup (ASCII shortcut and binary
 *     search) gives for every code point the class a walk over the ranges gives;
 *   - every line of the Unicode Consortium's GraphemeBreakTest.txt (Debian's unicode-data package;
 *     QF_GRAPHEME_TEST names another copy), boundaries at ÷, none at ×, and every prefix of each
 *     line too (a boundary depends only on what comes before it and the next code point). Each
 *     line is segmented from a buffer of exactly its length, so ASan sees a read past n. Skipped,
 *     saying why, when the file is absent or of another Unicode version than the tables;
 *   - hand-written cases that need no file: combining accent, CR LF, flags, emoji ZWJ sequences,
 *     Hangul syllables, Prepend, SpacingMark, values that are not scalar values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "text/unicode.h"

#define GRAPHEME_TEST_DEFAULT "/usr/share/unicode/auxiliary/GraphemeBreakTest.txt"
#define MAX_LINE_CPS 64 /* the longest line of GraphemeBreakTest.txt 15.0 has 13 */

/* Segments cps[0..n) from a copy of exactly n code points; fills is_break[0..n] (is_break[k]: a
 * cluster ends before cps[k]). False, with a message, when an end is not past its start or past n. */
static bool segment(const uint32_t *cps, size_t n, bool *is_break)
{
    uint32_t *copy = malloc((n ? n : 1) * sizeof *copy);
    assert_non_null(copy);
    if (n) memcpy(copy, cps, n * sizeof *copy);
    memset(is_break, 0, (n + 1) * sizeof *is_break);
    is_break[0] = true;
    bool ok = true;
    for (size_t i = 0; i < n;) {
        size_t end = qf_uni_grapheme_end(copy, n, i);
        if (end <= i || end > n) {
            print_error("qf_uni_grapheme_end(n=%zu, start=%zu) returned %zu\n", n, i, end);
            ok = false;
            break;
        }
        is_break[end] = true;
        i = end;
    }
    free(copy);
    return ok;
}

static void test_table_and_lookup(void **state)
{
    (void)state;
    assert_true(qf_uni_grapheme_range_count > 0);
    uint32_t next_free = 0; /* the first code point no earlier range covers */
    for (size_t r = 0; r < qf_uni_grapheme_range_count; r++) {
        const uint32_t *row = qf_uni_grapheme_ranges[r];
        if (row[0] < next_free || row[0] > row[1] || row[1] > 0x10FFFF || row[2] == QF_UNI_GCB_OTHER ||
            row[2] > QF_UNI_GCB_EXTENDED_PICTOGRAPHIC)
            fail_msg("range %zu {0x%X, 0x%X, %u} is out of order, empty, or of no class", r, row[0], row[1], row[2]);
        next_free = row[1] + 1;
    }
    size_t r = 0, mismatches = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        while (r < qf_uni_grapheme_range_count && qf_uni_grapheme_ranges[r][1] < cp) r++;
        enum qf_uni_gcb want = QF_UNI_GCB_OTHER;
        if (r < qf_uni_grapheme_range_count && qf_uni_grapheme_ranges[r][0] <= cp)
            want = (enum qf_uni_gcb)qf_uni_grapheme_ranges[r][2];
        if (cp >= 0xD800 && cp <= 0xDFFF) assert_int_equal(want, QF_UNI_GCB_OTHER);
        if (qf_uni_grapheme_class(cp) != want && mismatches++ < 10)
            print_error("U+%04X: lookup gives class %d, the table %d\n", cp, qf_uni_grapheme_class(cp), want);
    }
    assert_int_equal(mismatches, 0);
    assert_int_equal(qf_uni_grapheme_class(0x110000), QF_UNI_GCB_OTHER);
    assert_int_equal(qf_uni_grapheme_class(UINT32_MAX), QF_UNI_GCB_OTHER);
    /* spot checks against GraphemeBreakProperty.txt / emoji-data.txt */
    assert_int_equal(qf_uni_grapheme_class(0x0D), QF_UNI_GCB_CR);
    assert_int_equal(qf_uni_grapheme_class(0x0A), QF_UNI_GCB_LF);
    assert_int_equal(qf_uni_grapheme_class(0x85), QF_UNI_GCB_CONTROL);
    assert_int_equal(qf_uni_grapheme_class(0x0301), QF_UNI_GCB_EXTEND);
    assert_int_equal(qf_uni_grapheme_class(0x200D), QF_UNI_GCB_ZWJ);
    assert_int_equal(qf_uni_grapheme_class(0x1F1E6), QF_UNI_GCB_REGIONAL_INDICATOR);
    assert_int_equal(qf_uni_grapheme_class(0x0600), QF_UNI_GCB_PREPEND);
    assert_int_equal(qf_uni_grapheme_class(0x093F), QF_UNI_GCB_SPACING_MARK);
    assert_int_equal(qf_uni_grapheme_class(0x1100), QF_UNI_GCB_L);
    assert_int_equal(qf_uni_grapheme_class(0x1161), QF_UNI_GCB_V);
    assert_int_equal(qf_uni_grapheme_class(0x11A8), QF_UNI_GCB_T);
    assert_int_equal(qf_uni_grapheme_class(0xAC00), QF_UNI_GCB_LV);
    assert_int_equal(qf_uni_grapheme_class(0xAC01), QF_UNI_GCB_LVT);
    assert_int_equal(qf_uni_grapheme_class(0x1F468), QF_UNI_GCB_EXTENDED_PICTOGRAPHIC);
    assert_int_equal(qf_uni_grapheme_class(0x00A9), QF_UNI_GCB_EXTENDED_PICTOGRAPHIC);
    assert_int_equal(qf_uni_grapheme_class(0x1F3FD), QF_UNI_GCB_EXTEND); /* skin tone modifier */
}

/* One line of GraphemeBreakTest.txt: "÷ 0020 × 0308 ÷ 0020 ÷ # comment". */
typedef enum { LINE_NO_TEST, LINE_TEST, LINE_BAD } line_kind;
static line_kind parse_test_line(const char *line, uint32_t *cps, size_t *n, bool *want_break)
{
    size_t count = 0;
    bool expect_marker = true;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '\0' || *p == '#' || *p == '\n' || *p == '\r') break;
        if (expect_marker) {
            if ((unsigned char)p[0] == 0xC3 && (unsigned char)p[1] == 0xB7) want_break[count] = true; /* ÷ */
            else if ((unsigned char)p[0] == 0xC3 && (unsigned char)p[1] == 0x97) want_break[count] = false; /* × */
            else return LINE_BAD;
            p += 2;
        } else {
            char *end;
            unsigned long cp = strtoul(p, &end, 16);
            if (end == p || cp > 0x10FFFF || count == MAX_LINE_CPS) return LINE_BAD;
            cps[count++] = (uint32_t)cp;
            p = end;
        }
        expect_marker = !expect_marker;
    }
    if (count == 0 && expect_marker) return LINE_NO_TEST;
    if (expect_marker || count == 0 || !want_break[0] || !want_break[count]) return LINE_BAD;
    *n = count;
    return LINE_TEST;
}

static void print_segmentation(const char *what, const uint32_t *cps, size_t n, const bool *is_break)
{
    char buf[MAX_LINE_CPS * 12 + 16];
    size_t used = 0;
    for (size_t k = 0; k <= n && used < sizeof buf - 16; k++) {
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s", is_break[k] ? "÷" : "×");
        if (k < n) used += (size_t)snprintf(buf + used, sizeof buf - used, " %04X ", cps[k]);
    }
    print_error("  %s %s\n", what, buf);
}

/* The version in the first line, "# GraphemeBreakTest-15.0.0.txt", into version (cap bytes). */
static bool test_file_version(const char *first_line, char *version, size_t cap)
{
    static const char prefix[] = "# GraphemeBreakTest-";
    if (strncmp(first_line, prefix, sizeof prefix - 1) != 0) return false;
    const char *v = first_line + sizeof prefix - 1;
    const char *end = strstr(v, ".txt");
    if (!end || end == v || (size_t)(end - v) >= cap) return false;
    memcpy(version, v, (size_t)(end - v));
    version[end - v] = '\0';
    return true;
}

static void test_grapheme_break_test_file(void **state)
{
    (void)state;
    const char *path = getenv("QF_GRAPHEME_TEST");
    if (!path || !*path) path = GRAPHEME_TEST_DEFAULT;
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("SKIP: %s is absent (Debian package unicode-data; QF_GRAPHEME_TEST names another copy)\n", path);
        skip();
    }
    char line[4096];
    char version[32] = "";
    if (!fgets(line, sizeof line, f) || !test_file_version(line, version, sizeof version) ||
        strcmp(version, qf_uni_grapheme_version) != 0) {
        fclose(f);
        printf("SKIP: %s is Unicode %s, the tables are %s: no test of one version against the other\n", path,
               *version ? version : "(no version in its first line)", qf_uni_grapheme_version);
        skip();
    }
    uint32_t cps[MAX_LINE_CPS];
    bool want[MAX_LINE_CPS + 1], got[MAX_LINE_CPS + 1];
    size_t number = 1, lines = 0, passed = 0;
    while (fgets(line, sizeof line, f)) {
        number++;
        size_t n = 0;
        line_kind kind = parse_test_line(line, cps, &n, want);
        if (kind == LINE_NO_TEST) continue;
        if (kind == LINE_BAD) {
            fclose(f);
            fail_msg("%s line %zu is not '÷ cp (÷|×) cp ... ÷' of at most %d code points: %s", path, number,
                     MAX_LINE_CPS, line);
        }
        lines++;
        bool ok = segment(cps, n, got) && memcmp(want, got, (n + 1) * sizeof *want) == 0;
        if (ok) {
            for (size_t m = 1; m < n && ok; m++) { /* each prefix: same boundaries before m, one at m */
                bool prefix_got[MAX_LINE_CPS + 1];
                ok = segment(cps, m, prefix_got) && memcmp(want, prefix_got, m * sizeof *want) == 0 && prefix_got[m];
            }
        }
        if (ok) {
            passed++;
        } else if (lines - passed <= 10) {
            print_error("GraphemeBreakTest line %zu fails (or one of its prefixes):\n", number);
            print_segmentation("want", cps, n, want);
            print_segmentation("got ", cps, n, got);
        }
    }
    fclose(f);
    printf("GraphemeBreakTest-%s.txt: %zu of %zu lines pass (each with all its prefixes)\n", version, passed, lines);
    if (lines == 0) fail_msg("%s holds no test line", path);
    if (passed != lines) fail_msg("%zu of %zu GraphemeBreakTest lines fail", lines - passed, lines);
}

/* cps segmented from the start must end clusters exactly at ends[0..count). */
static void check_clusters(const char *what, const uint32_t *cps, size_t n, const size_t *ends, size_t count)
{
    bool got[MAX_LINE_CPS + 1], want[MAX_LINE_CPS + 1] = {0};
    assert_true(n <= MAX_LINE_CPS);
    want[0] = true;
    for (size_t i = 0; i < count; i++) want[ends[i]] = true;
    if (!segment(cps, n, got) || memcmp(want, got, (n + 1) * sizeof *want) != 0) {
        print_segmentation("want", cps, n, want);
        print_segmentation("got ", cps, n, got);
        fail_msg("%s: clusters differ", what);
    }
}

#define CHECK(what, cps_list, ends_list)                                                              \
    do {                                                                                              \
        const uint32_t cps_[] = cps_list;                                                             \
        const size_t ends_[] = ends_list;                                                             \
        check_clusters(what, cps_, sizeof cps_ / sizeof cps_[0], ends_, sizeof ends_ / sizeof ends_[0]); \
    } while (0)
#define L(...) {__VA_ARGS__}

static void test_hand_written(void **state)
{
    (void)state;
    CHECK("e + combining acute, x", L('e', 0x0301, 'x'), L(2, 3));
    CHECK("a CR LF b LF CR", L('a', '\r', '\n', 'b', '\n', '\r'), L(1, 3, 4, 5, 6));
    CHECK("Control then Extend: GB4 before GB9", L(0x01, 0x0301), L(1, 2));
    CHECK("flags FR DE", L(0x1F1EB, 0x1F1F7, 0x1F1E9, 0x1F1EA), L(2, 4));
    CHECK("three regional indicators", L(0x1F1EB, 0x1F1F7, 0x1F1E9), L(2, 3));
    CHECK("a, then three regional indicators", L('a', 0x1F1EB, 0x1F1F7, 0x1F1E9), L(1, 3, 4));
    CHECK("family: man ZWJ woman ZWJ girl ZWJ boy",
          L(0x1F468, 0x200D, 0x1F469, 0x200D, 0x1F467, 0x200D, 0x1F466), L(7));
    CHECK("thumbs up + skin tone", L(0x1F44D, 0x1F3FD), L(2));
    CHECK("man + skin tone ZWJ woman", L(0x1F468, 0x1F3FD, 0x200D, 0x1F469), L(4));
    CHECK("ZWJ after a letter joins it, the emoji after does not", L('a', 0x200D, 0x1F466), L(2, 3));
    CHECK("ExtPict ZWJ ZWJ ExtPict: only one ZWJ", L(0x1F468, 0x200D, 0x200D, 0x1F469), L(3, 4));
    CHECK("Hangul L V T", L(0x1100, 0x1161, 0x11A8), L(3));
    CHECK("Hangul LVT + T", L(0xD55C, 0x11A8), L(2));
    CHECK("Hangul LV + V + T", L(0xAC00, 0x1161, 0x11A8), L(3));
    CHECK("Hangul L + LV", L(0x1100, 0xAC00), L(2));
    CHECK("Hangul T then L", L(0x11A8, 0x1100), L(1, 2));
    CHECK("Hangul LVT then V", L(0xD55C, 0x1161), L(1, 2));
    CHECK("Prepend U+0600 + digit", L(0x0600, '1'), L(2));
    CHECK("Prepend Prepend letter", L(0x0600, 0x0600, 'a'), L(3));
    CHECK("Prepend then CR: GB5 before GB9b", L(0x0600, '\r'), L(1, 2));
    CHECK("Devanagari KA + SpacingMark I", L(0x0915, 0x093F), L(2));
    CHECK("KA virama KA: no GB9c in Unicode 15.0", L(0x0915, 0x094D, 0x0915), L(2, 3));
    CHECK("surrogate is Other: joins an accent", L(0xD800, 0x0301), L(2));
    CHECK("above U+10FFFF is Other", L(0x110000, 0x0301, UINT32_MAX, UINT32_MAX), L(2, 3, 4));

    /* start at or past n: n, nothing read */
    assert_int_equal(qf_uni_grapheme_end(NULL, 0, 0), 0);
    const uint32_t two[] = {'a', 'b'};
    assert_int_equal(qf_uni_grapheme_end(two, 2, 2), 2);
    assert_int_equal(qf_uni_grapheme_end(two, 2, 7), 2);
    assert_int_equal(qf_uni_grapheme_end(two, 1, 0), 1); /* n bounds the read, not the array */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_and_lookup),
        cmocka_unit_test(test_grapheme_break_test_file),
        cmocka_unit_test(test_hand_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
