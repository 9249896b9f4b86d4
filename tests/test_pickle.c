/*
 * tests/test_pickle.c — the restricted pickle machine of readers/torch on hand-written byte
 * strings: every value form of protocols 0-5, the memo, tensors, every rejection (with its opcode
 * or global and offset), and each limit at the limit and one past it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "readers/torch/pickle.h"

typedef struct result {
    qf_pickle *p;
    uint32_t root;
    uint64_t used;
    qf_error err;
    qf_status st;
} result;

static result run_lim(const void *bytes, size_t n, const qf_pickle_limits *lim)
{
    result r;
    memset(&r, 0, sizeof r);
    qf_error_clear(&r.err);
    assert_int_equal(qf_pickle_create(lim, &r.p, &r.err), QF_STATUS_OK);
    r.st = qf_pickle_run(r.p, bytes, n, "test.pkl", 0, &r.root, &r.used, &r.err);
    return r;
}
static result run(const void *bytes, size_t n) { return run_lim(bytes, n, NULL); }
#define RUN(lit) run(lit, sizeof(lit) - 1)

static const qf_pnode *root(const result *r) { return qf_pickle_node(r->p, r->root); }
static const qf_pnode *item(const result *r, const qf_pnode *n, uint32_t i)
{
    assert_true(i < n->u.c.count);
    return qf_pickle_node(r->p, qf_pickle_item(n, i));
}

/* Expects failure `code` at `offset`, with `object` and a message containing `text`. */
static void expect_fail(result *r, qf_status code, int64_t offset, const char *object, const char *text)
{
    if (r->st != code || r->err.offset != offset || (object && strcmp(r->err.object, object) != 0) ||
        (text && !strstr(r->err.message, text)))
        fail_msg("got %s at %lld (object '%s', '%s'); expected %s at %lld ('%s', '%s')", qf_status_name(r->st),
                 (long long)r->err.offset, r->err.object, r->err.message, qf_status_name(code), (long long)offset,
                 object ? object : "", text ? text : "");
    assert_string_equal(r->err.part, "test.pkl");
    qf_pickle_destroy(r->p);
}

static void test_values_protocol2(void **state)
{
    (void)state;
    /* {'a': 1, 'b': [True, None, 2.5, -7, 300, 70000], 'c': (b'xy',), 'd': 2**40} */
    result r = RUN("\x80\x02}q\x00(X\x01\x00\x00\x00" "aK\x01X\x01\x00\x00\x00" "b]q\x01(\x88NG@\x04\x00\x00\x00\x00\x00\x00"
                   "J\xf9\xff\xff\xffM,\x01J\x70\x11\x01\x00" "eX\x01\x00\x00\x00" "cC\x02xy\x85X\x01\x00\x00\x00" "d\x8a\x06\x00\x00\x00\x00\x00\x01u.");
    assert_int_equal(r.st, QF_STATUS_OK);
    const qf_pnode *d = root(&r);
    assert_int_equal(d->kind, QF_PK_DICT);
    assert_int_equal(d->u.c.count, 8);
    assert_int_equal(item(&r, d, 1)->u.i, 1);
    const qf_pnode *l = item(&r, d, 3);
    assert_int_equal(l->kind, QF_PK_LIST);
    assert_int_equal(l->u.c.count, 6);
    assert_true(item(&r, l, 0)->u.b);
    assert_int_equal(item(&r, l, 1)->kind, QF_PK_NONE);
    assert_true(item(&r, l, 2)->u.f == 2.5);
    assert_int_equal(item(&r, l, 3)->u.i, -7);
    assert_int_equal(item(&r, l, 4)->u.i, 300);
    assert_int_equal(item(&r, l, 5)->u.i, 70000);
    const qf_pnode *t = item(&r, d, 5);
    assert_int_equal(t->kind, QF_PK_TUPLE);
    assert_int_equal(item(&r, t, 0)->kind, QF_PK_BYTES);
    assert_memory_equal(item(&r, t, 0)->u.s.ptr, "xy", 2);
    assert_int_equal(item(&r, d, 7)->u.i, 1ll << 40);
    assert_int_equal(r.used, r.used); /* consumed covers STOP */
    qf_pickle_destroy(r.p);
}

static void test_values_protocol0_and_memo(void **state)
{
    (void)state;
    /* protocol 0 text forms; PUT/GET share one list */
    result r = RUN("(dp0\nS'k'\np1\n(lp2\nI5\naL-12L\naF0.25\naI01\nasVname\np3\ng2\ns.");
    assert_int_equal(r.st, QF_STATUS_OK);
    const qf_pnode *d = root(&r);
    assert_int_equal(d->kind, QF_PK_DICT);
    assert_int_equal(d->u.c.count, 4);
    const qf_pnode *k = item(&r, d, 0);
    assert_int_equal(k->kind, QF_PK_STR);
    assert_memory_equal(k->u.s.ptr, "k", 1);
    const qf_pnode *l = item(&r, d, 1);
    assert_int_equal(l->u.c.count, 4);
    assert_int_equal(item(&r, l, 0)->u.i, 5);
    assert_int_equal(item(&r, l, 1)->u.i, -12);
    assert_true(item(&r, l, 2)->u.f == 0.25);
    assert_int_equal(item(&r, l, 3)->kind, QF_PK_BOOL);
    assert_ptr_equal(item(&r, d, 3), l); /* memo GET returns the same value */
    qf_pickle_destroy(r.p);
    /* protocol 4 with FRAME, MEMOIZE, sets and frozensets */
    r = RUN("\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8f\x94(K\x01K\x02\x90(K\x03\x91\x86h\x00\x85\x86.");
    assert_int_equal(r.st, QF_STATUS_OK);
    assert_int_equal(root(&r)->kind, QF_PK_TUPLE);
    qf_pickle_destroy(r.p);
}

static void test_long_ints(void **state)
{
    (void)state;
    result r = RUN("\x80\x02\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f.");
    assert_int_equal(r.st, QF_STATUS_OK);
    assert_int_equal(root(&r)->u.i, INT64_MAX);
    qf_pickle_destroy(r.p);
    r = RUN("\x80\x02\x8a\x01\xff.");
    assert_int_equal(root(&r)->u.i, -1);
    qf_pickle_destroy(r.p);
    r = RUN("\x80\x02\x8a\x00.");
    assert_int_equal(root(&r)->u.i, 0);
    qf_pickle_destroy(r.p);
    r = RUN("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.");
    expect_fail(&r, QF_STATUS_UNSUPPORTED, 2, "LONG1", "9 bytes");
    r = RUN("\x80\x02\x8b\x00\x00\x00\x01.");
    expect_fail(&r, QF_STATUS_UNSUPPORTED, 2, "LONG4", "16777216 bytes");
    r = RUN("L99999999999999999999L\n.");
    expect_fail(&r, QF_STATUS_UNSUPPORTED, 0, "LONG", "64 bits");
}

static void test_tensor_and_allowlist(void **state)
{
    (void)state;
    result r = RUN("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(("
                   "X\x07\x00\x00\x00storagectorch\nHalfStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x06tQ"
                   "K\x00K\x02K\x03\x86K\x03K\x01\x86\x89" "ccollections\nOrderedDict\n)RtR.");
    assert_int_equal(r.st, QF_STATUS_OK);
    const qf_pnode *t = root(&r);
    assert_int_equal(t->kind, QF_PK_TENSOR);
    assert_int_equal(item(&r, t, 0)->kind, QF_PK_PERSID);
    const qf_pnode *pid = item(&r, item(&r, t, 0), 0);
    assert_int_equal(item(&r, pid, 1)->kind, QF_PK_GLOBAL);
    assert_int_equal(item(&r, pid, 1)->dtype, QF_DTYPE_F16);
    assert_string_equal(qf_pickle_global_name(item(&r, pid, 1)->name), "torch.HalfStorage");
    qf_pickle_destroy(r.p);
    /* torch.Size and OrderedDict built from pairs, BUILD on a dict */
    r = RUN("\x80\x02" "ctorch\nSize\nK\x02K\x03\x86\x85R" "ccollections\nOrderedDict\n]X\x01\x00\x00\x00" "aK\x01\x86" "a\x85R}b\x86.");
    assert_int_equal(r.st, QF_STATUS_OK);
    assert_int_equal(item(&r, root(&r), 0)->kind, QF_PK_TUPLE);
    assert_int_equal(item(&r, root(&r), 1)->kind, QF_PK_DICT);
    assert_int_equal(item(&r, root(&r), 1)->u.c.count, 2);
    qf_pickle_destroy(r.p);
}

static void test_rejections(void **state)
{
    (void)state;
    result r = RUN("\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00ls\x85R.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 2, "os.system", "GLOBAL 'os.system' is not an allowed class");
    r = RUN("\x80\x04\x8c\x08" "builtins\x94\x8c\x04" "eval\x94\x93.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 20, "builtins.eval", "STACK_GLOBAL 'builtins.eval'");
    r = RUN("(S'ls'\nios\nsystem\n.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 7, "INST", "os.system");
    r = RUN("\x80\x02(N\x85o.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 5, "OBJ", "OBJ");
    r = RUN("\x80\x02\x82\x01.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 2, "EXT1", NULL);
    r = RUN("\x80\x02\x83\x01\x00.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 2, "EXT2", NULL);
    r = RUN("\x80\x02\x84\x01\x00\x00\x00.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 2, "EXT4", NULL);
    r = RUN("\x80\x05\x97.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 2, "NEXT_BUFFER", NULL);
    r = RUN("\x80\x04" "ccollections\nOrderedDict\n)}\x92.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 29, "NEWOBJ_EX", NULL);
    /* allowlisted names that are not callable */
    r = RUN("\x80\x02" "ctorch\nFloatStorage\nK\x01\x85R.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 25, "torch.FloatStorage", "REDUCE of 'torch.FloatStorage'");
    r = RUN("\x80\x02" "ctorch\nFloatStorage\n)\x81.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 23, "torch.FloatStorage", "NEWOBJ");
    /* calling a value that is not a global */
    r = RUN("\x80\x02N)R.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 4, "None", "REDUCE on a None");
    /* BUILD only on dicts */
    r = RUN("\x80\x02]}b.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 4, "BUILD", "BUILD on a list");
    /* _rebuild_from_type_v2 only for Tensor / Parameter */
    r = RUN("\x80\x02" "ctorch._tensor\n_rebuild_from_type_v2\n(ctorch._utils\n_rebuild_tensor_v2\n"
            "ctorch\nFloatStorage\n)}tR.");
    expect_fail(&r, QF_STATUS_FORBIDDEN, 96, "torch.FloatStorage", "not an allowed tensor type");
    r = RUN("\x80\x02\xff.");
    expect_fail(&r, QF_STATUS_FORMAT, 2, "0xff", "unknown pickle opcode");
    r = RUN("\x80\x06.");
    expect_fail(&r, QF_STATUS_UNSUPPORTED, 0, "PROTO", "protocol 6");
}

static void test_malformed(void **state)
{
    (void)state;
    result r = RUN("\x80\x02N");
    expect_fail(&r, QF_STATUS_TRUNCATED, 3, NULL, "without STOP");
    r = RUN("\x80\x02X\x10\x00\x00\x00" "abc");
    expect_fail(&r, QF_STATUS_TRUNCATED, 2, "BINUNICODE", "past the end");
    r = RUN("\x80\x02h\x05.");
    expect_fail(&r, QF_STATUS_FORMAT, 2, "BINGET", "never set");
    r = RUN("\x80\x02" "a.");
    expect_fail(&r, QF_STATUS_FORMAT, 2, "APPEND", "underflow");
    r = RUN("\x80\x02t.");
    expect_fail(&r, QF_STATUS_FORMAT, 2, "TUPLE", "without a MARK");
    r = RUN("\x80\x02NN.");
    expect_fail(&r, QF_STATUS_FORMAT, 4, "STOP", "2 values");
    r = RUN("\x80\x02K\x01K\x02s.");
    expect_fail(&r, QF_STATUS_FORMAT, 6, "SETITEM", "underflow");
    r = RUN("\x80\x02(K\x01" "d.");
    expect_fail(&r, QF_STATUS_FORMAT, 5, "DICT", "odd");
    /* a list that holds itself is a value, not a crash */
    r = RUN("\x80\x02]q\x00h\x00" "a.");
    assert_int_equal(r.st, QF_STATUS_OK);
    qf_pickle_destroy(r.p);
}

/* ---- limits, each at the limit and one past ---------------------------------------------- */

static uint8_t *bytes_of(size_t n) { return calloc(1, n + 64); }

static void test_limit_stack(void **state)
{
    (void)state;
    size_t n = QF_PICKLE_MAX_STACK; /* one MARK + (n-1) values fill the stack exactly */
    uint8_t *b = bytes_of(n + 8);
    size_t k = 0;
    b[k++] = 0x80, b[k++] = 2, b[k++] = '(';
    memset(b + k, 'N', n - 1), k += n - 1;
    b[k++] = 't', b[k++] = '.';
    result r = run_lim(b, k, NULL);
    assert_int_equal(r.st, QF_STATUS_OK);
    assert_int_equal(root(&r)->u.c.count, n - 1);
    qf_pickle_destroy(r.p);
    k = 3;
    memset(b + k, 'N', n), k += n;
    b[k++] = 't', b[k++] = '.';
    r = run_lim(b, k, NULL);
    expect_fail(&r, QF_STATUS_LIMIT, (int64_t)(3 + n - 1), "NONE", "stack");
    free(b);
}

static void test_limit_marks(void **state)
{
    (void)state;
    size_t n = QF_PICKLE_MAX_MARKS;
    uint8_t *b = bytes_of(2 * n + 8);
    size_t k = 0;
    b[k++] = 0x80, b[k++] = 2;
    memset(b + k, '(', n), k += n;
    memset(b + k, '1', n), k += n;
    b[k++] = 'N', b[k++] = '.';
    result r = run_lim(b, k, NULL);
    assert_int_equal(r.st, QF_STATUS_OK);
    qf_pickle_destroy(r.p);
    k = 2;
    memset(b + k, '(', n + 1), k += n + 1;
    memset(b + k, '1', n + 1), k += n + 1;
    b[k++] = 'N', b[k++] = '.';
    r = run_lim(b, k, NULL);
    expect_fail(&r, QF_STATUS_LIMIT, (int64_t)(2 + n), "MARK", "open marks");
    free(b);
}

static void test_limit_depth(void **state)
{
    (void)state;
    size_t n = QF_PICKLE_MAX_DEPTH; /* n nested lists */
    uint8_t b[512];
    size_t k = 0;
    b[k++] = 0x80, b[k++] = 2;
    memset(b + k, ']', n), k += n;
    memset(b + k, 'a', n - 1), k += n - 1;
    b[k++] = '.';
    result r = run_lim(b, k, NULL);
    assert_int_equal(r.st, QF_STATUS_OK);
    assert_int_equal(root(&r)->depth, n);
    qf_pickle_destroy(r.p);
    k = 2;
    memset(b + k, ']', n + 1), k += n + 1;
    memset(b + k, 'a', n), k += n;
    b[k++] = '.';
    r = run_lim(b, k, NULL);
    expect_fail(&r, QF_STATUS_LIMIT, (int64_t)(2 + n + 1 + n - 1), "APPEND", "nested deeper");
}

static void test_limit_memo(void **state)
{
    (void)state;
    uint32_t last = QF_PICKLE_MAX_MEMO - 1;
    uint8_t b[] = {0x80, 2, 'N', 'r', 0, 0, 0, 0, 'j', 0, 0, 0, 0, '0', '.'};
    memcpy(b + 4, &last, 4); /* little-endian host */
    memcpy(b + 9, &last, 4);
    result r = run_lim(b, sizeof b, NULL);
    assert_int_equal(r.st, QF_STATUS_OK);
    qf_pickle_destroy(r.p);
    last++;
    memcpy(b + 4, &last, 4);
    r = run_lim(b, sizeof b, NULL);
    expect_fail(&r, QF_STATUS_LIMIT, 3, "LONG_BINPUT", "memo index 1048576");
    /* MEMOIZE counts too */
    qf_pickle_limits lim = qf_pickle_limits_default();
    lim.max_memo = 2;
    r = run_lim("\x80\x04N\x94\x94.", 6, &lim);
    assert_int_equal(r.st, QF_STATUS_OK);
    qf_pickle_destroy(r.p);
    r = run_lim("\x80\x04N\x94\x94\x94.", 7, &lim);
    expect_fail(&r, QF_STATUS_LIMIT, 5, "MEMOIZE", "memo index 2");
}

static void test_limit_string(void **state)
{
    (void)state;
    uint64_t n = QF_PICKLE_MAX_STRING;
    uint8_t *b = bytes_of((size_t)n + 16);
    size_t k = 0;
    b[k++] = 0x80, b[k++] = 4, b[k++] = 0x8d;
    memcpy(b + k, &n, 8), k += 8; /* little-endian host */
    memset(b + k, 'x', (size_t)n), k += (size_t)n;
    b[k++] = '.';
    result r = run_lim(b, k, NULL);
    assert_int_equal(r.st, QF_STATUS_OK);
    assert_int_equal(root(&r)->u.s.len, n);
    qf_pickle_destroy(r.p);
    n++;
    memcpy(b + 3, &n, 8);
    r = run_lim(b, k, NULL);
    expect_fail(&r, QF_STATUS_LIMIT, 2, "BINUNICODE8", "string of 67108865 bytes");
    free(b);
    /* text arguments are capped the same way */
    qf_pickle_limits lim = qf_pickle_limits_default();
    lim.max_string = 4;
    r = run_lim("Vabcd\n.", 7, &lim);
    assert_int_equal(r.st, QF_STATUS_OK);
    qf_pickle_destroy(r.p);
    r = run_lim("Vabcde\n.", 8, &lim);
    expect_fail(&r, QF_STATUS_LIMIT, 0, "UNICODE", "longer than 4");
}

static void test_limit_ops(void **state)
{
    (void)state;
    assert_int_equal(qf_pickle_limits_default().max_ops, QF_PICKLE_MAX_OPS);
    qf_pickle_limits lim = qf_pickle_limits_default();
    lim.max_ops = 7; /* PROTO N 0 N 0 N STOP */
    result r = run_lim("\x80\x02N0N0N.", 8, &lim);
    assert_int_equal(r.st, QF_STATUS_OK);
    qf_pickle_destroy(r.p);
    r = run_lim("\x80\x02N0N0N0N.", 10, &lim);
    expect_fail(&r, QF_STATUS_LIMIT, 8, "NONE", "more than 7 pickle opcodes");
}

static void test_runs_share_values(void **state)
{
    (void)state;
    qf_pickle *p;
    qf_error err;
    qf_error_clear(&err);
    assert_int_equal(qf_pickle_create(NULL, &p, &err), QF_STATUS_OK);
    static const uint8_t two[] = "\x80\x02K\x07q\x00.\x80\x02h\x00.";
    uint32_t a, b;
    uint64_t used;
    assert_int_equal(qf_pickle_run(p, two, sizeof two - 1, "s", 100, &a, &used, &err), QF_STATUS_OK);
    assert_int_equal(used, 7);
    /* the memo does not carry over to the next stream; offsets include the base */
    assert_int_equal(qf_pickle_run(p, two + used, sizeof two - 1 - used, "s", 100 + used, &b, &used, &err),
                     QF_STATUS_FORMAT);
    assert_int_equal(err.offset, 109);
    assert_int_equal(qf_pickle_node(p, a)->u.i, 7);
    qf_pickle_destroy(p);
    qf_pickle_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_protocol2),   cmocka_unit_test(test_values_protocol0_and_memo),
        cmocka_unit_test(test_long_ints),          cmocka_unit_test(test_tensor_and_allowlist),
        cmocka_unit_test(test_rejections),         cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limit_stack),        cmocka_unit_test(test_limit_marks),
        cmocka_unit_test(test_limit_depth),        cmocka_unit_test(test_limit_memo),
        cmocka_unit_test(test_limit_string),       cmocka_unit_test(test_limit_ops),
        cmocka_unit_test(test_runs_share_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
