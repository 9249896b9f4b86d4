/*
 * readers/torch/pickle.c — the restricted pickle machine (see pickle.h). A loop over opcodes with
 * an explicit value stack, mark stack and memo; values live in one node array owned by the machine.
 * No recursion: container depth is tracked per node and capped. Every failure names the opcode
 * (or global) and its stream offset.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "readers/torch/pickle.h"

typedef struct global_entry {
    const char *name;
    qf_pglobal global;
    int dtype; /* -1 when not a storage / dtype */
} global_entry;

/* What real state dicts use (see fixtures/realfiles/torch_expected.json) and nothing more. */
static const global_entry allowlist[] = {
    {"collections.OrderedDict", QF_PG_ORDERED_DICT, -1},
    {"torch._utils._rebuild_tensor_v2", QF_PG_REBUILD_TENSOR_V2, -1},
    {"torch._utils._rebuild_tensor", QF_PG_REBUILD_TENSOR, -1},
    {"torch._utils._rebuild_parameter", QF_PG_REBUILD_PARAMETER, -1},
    {"torch._utils._rebuild_parameter_with_state", QF_PG_REBUILD_PARAMETER_WITH_STATE, -1},
    {"torch._tensor._rebuild_from_type_v2", QF_PG_REBUILD_FROM_TYPE_V2, -1},
    {"torch.nn.parameter.Parameter", QF_PG_PARAMETER, -1},
    {"torch.Tensor", QF_PG_TENSOR_TYPE, -1},
    {"torch._tensor.Tensor", QF_PG_TENSOR_TYPE, -1},
    {"torch.Size", QF_PG_SIZE, -1},
    {"torch.device", QF_PG_DEVICE, -1},
    {"torch.FloatStorage", QF_PG_STORAGE, QF_DTYPE_F32},
    {"torch.HalfStorage", QF_PG_STORAGE, QF_DTYPE_F16},
    {"torch.BFloat16Storage", QF_PG_STORAGE, QF_DTYPE_BF16},
    {"torch.DoubleStorage", QF_PG_STORAGE, QF_DTYPE_F64},
    {"torch.LongStorage", QF_PG_STORAGE, QF_DTYPE_I64},
    {"torch.IntStorage", QF_PG_STORAGE, QF_DTYPE_I32},
    {"torch.ShortStorage", QF_PG_STORAGE, QF_DTYPE_I16},
    {"torch.CharStorage", QF_PG_STORAGE, QF_DTYPE_I8},
    {"torch.ByteStorage", QF_PG_STORAGE, QF_DTYPE_U8},
    {"torch.BoolStorage", QF_PG_STORAGE, QF_DTYPE_BOOL},
    {"torch.float32", QF_PG_DTYPE, QF_DTYPE_F32},
    {"torch.float16", QF_PG_DTYPE, QF_DTYPE_F16},
    {"torch.bfloat16", QF_PG_DTYPE, QF_DTYPE_BF16},
    {"torch.float64", QF_PG_DTYPE, QF_DTYPE_F64},
    {"torch.int64", QF_PG_DTYPE, QF_DTYPE_I64},
    {"torch.int32", QF_PG_DTYPE, QF_DTYPE_I32},
    {"torch.int16", QF_PG_DTYPE, QF_DTYPE_I16},
    {"torch.int8", QF_PG_DTYPE, QF_DTYPE_I8},
    {"torch.uint8", QF_PG_DTYPE, QF_DTYPE_U8},
    {"torch.bool", QF_PG_DTYPE, QF_DTYPE_BOOL},
};
#define ALLOWLIST_COUNT (sizeof allowlist / sizeof allowlist[0])

struct qf_pickle {
    qf_pickle_limits lim;
    qf_pnode *nodes;
    uint32_t node_count, node_cap;
    uint32_t *stack;
    uint32_t stack_count, stack_cap;
    uint32_t *marks;
    uint32_t mark_count, mark_cap;
    uint32_t *memo; /* node id + 1; 0 = unset */
    uint32_t memo_cap;
    uint32_t memo_size; /* entries set, the index MEMOIZE uses next */
    /* current run */
    const char *part;
    uint64_t base;
};

qf_pickle_limits qf_pickle_limits_default(void)
{
    qf_pickle_limits l = {QF_PICKLE_MAX_STACK, QF_PICKLE_MAX_MEMO, QF_PICKLE_MAX_DEPTH,
                          QF_PICKLE_MAX_MARKS, QF_PICKLE_MAX_STRING, QF_PICKLE_MAX_OPS};
    return l;
}

const char *qf_pickle_global_name(uint32_t name) { return name < ALLOWLIST_COUNT ? allowlist[name].name : "?"; }

const char *qf_pickle_kind_name(qf_pkind k)
{
    static const char *const names[] = {"None", "bool", "int", "float", "str", "bytes", "tuple",
                                        "list", "dict", "set", "global", "persistent id", "tensor"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

qf_status qf_pickle_create(const qf_pickle_limits *lim, qf_pickle **out, qf_error *err)
{
    qf_pickle *p = calloc(1, sizeof *p);
    if (!p) return qf_error_set(err, QF_STATUS_NO_MEMORY, NULL, NULL, -1, NULL, "out of memory");
    p->lim = lim ? *lim : qf_pickle_limits_default();
    *out = p;
    return QF_STATUS_OK;
}

void qf_pickle_destroy(qf_pickle *p)
{
    if (!p) return;
    for (uint32_t i = 0; i < p->node_count; i++) {
        uint8_t k = p->nodes[i].kind;
        if (k == QF_PK_TUPLE || k == QF_PK_LIST || k == QF_PK_DICT || k == QF_PK_SET || k == QF_PK_PERSID ||
            k == QF_PK_TENSOR)
            free(p->nodes[i].u.c.items);
    }
    free(p->nodes);
    free(p->stack);
    free(p->marks);
    free(p->memo);
    free(p);
}

const qf_pnode *qf_pickle_node(const qf_pickle *p, uint32_t id) { return id < p->node_count ? &p->nodes[id] : NULL; }

static bool grow32(uint32_t **a, uint32_t *cap, uint64_t need, size_t item)
{
    if (need <= *cap) return true;
    if (need > UINT32_MAX / 2) return false;
    uint64_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *q = realloc(*a, (size_t)n * item);
    if (!q) return false;
    *a = q;
    *cap = (uint32_t)n;
    return true;
}

/* ------------------------------------------------------------------------------------------ */

typedef struct run {
    qf_pickle *p;
    const uint8_t *data;
    uint64_t size;
    uint64_t pos;    /* offset of the next byte */
    uint64_t op_pos; /* offset of the opcode being executed */
    uint8_t op;
    qf_error *err;
} run;

static const char *op_name(uint8_t op)
{
    switch (op) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return NULL;
    }
}

/* Fails the run at the current opcode: object = opcode name. */
#define FAIL(r, code, ...)                                                                               \
    qf_error_set((r)->err, (code), NULL, (r)->p->part, (int64_t)((r)->p->base + (r)->op_pos),             \
                 op_name((r)->op) ? op_name((r)->op) : "opcode", __VA_ARGS__)

static qf_status no_memory(run *r) { return FAIL(r, QF_STATUS_NO_MEMORY, "out of memory"); }

static qf_status need(run *r, uint64_t n, const char *what)
{
    if (n > r->size - r->pos) {
        FAIL(r, QF_STATUS_TRUNCATED, "%s: %s runs past the end of the stream", op_name(r->op), what);
        qf_error_expected(r->err, "%llu more bytes", (unsigned long long)n);
        qf_error_found(r->err, "%llu", (unsigned long long)(r->size - r->pos));
        return QF_STATUS_TRUNCATED;
    }
    return QF_STATUS_OK;
}

static uint64_t rd_le(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static qf_status new_node(run *r, qf_pkind kind, uint32_t *id)
{
    qf_pickle *p = r->p;
    if (!grow32((uint32_t **)&p->nodes, &p->node_cap, (uint64_t)p->node_count + 1, sizeof *p->nodes))
        return no_memory(r);
    qf_pnode *n = &p->nodes[p->node_count];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->offset = p->base + r->op_pos;
    *id = p->node_count++;
    return QF_STATUS_OK;
}

static qf_status push(run *r, uint32_t id)
{
    qf_pickle *p = r->p;
    if ((uint64_t)p->stack_count + p->mark_count >= p->lim.max_stack) {
        FAIL(r, QF_STATUS_LIMIT, "%s: stack holds more than %u values", op_name(r->op), p->lim.max_stack);
        qf_error_expected(r->err, "<= %u values and marks", p->lim.max_stack);
        return QF_STATUS_LIMIT;
    }
    if (!grow32(&p->stack, &p->stack_cap, (uint64_t)p->stack_count + 1, sizeof *p->stack)) return no_memory(r);
    p->stack[p->stack_count++] = id;
    return QF_STATUS_OK;
}

static qf_status push_new(run *r, qf_pkind kind, uint32_t *id)
{
    uint32_t tmp = 0;
    qf_status st = new_node(r, kind, &tmp);
    if (st) return st;
    if (id) *id = tmp;
    return push(r, tmp);
}

static qf_status pop(run *r, uint32_t *id)
{
    qf_pickle *p = r->p;
    uint32_t floor = p->mark_count ? p->marks[p->mark_count - 1] : 0;
    if (p->stack_count <= floor)
        return FAIL(r, QF_STATUS_FORMAT, "%s: stack underflow", op_name(r->op));
    *id = p->stack[--p->stack_count];
    return QF_STATUS_OK;
}

static qf_status top(run *r, uint32_t *id)
{
    qf_pickle *p = r->p;
    uint32_t floor = p->mark_count ? p->marks[p->mark_count - 1] : 0;
    if (p->stack_count <= floor)
        return FAIL(r, QF_STATUS_FORMAT, "%s: stack underflow", op_name(r->op));
    *id = p->stack[p->stack_count - 1];
    return QF_STATUS_OK;
}

/* Pops the topmost mark; *start is the stack index where its items begin. */
static qf_status pop_mark(run *r, uint32_t *start)
{
    qf_pickle *p = r->p;
    if (!p->mark_count) return FAIL(r, QF_STATUS_FORMAT, "%s without a MARK", op_name(r->op));
    *start = p->marks[--p->mark_count];
    return QF_STATUS_OK;
}

static bool is_container(uint8_t k)
{
    return k == QF_PK_TUPLE || k == QF_PK_LIST || k == QF_PK_DICT || k == QF_PK_SET || k == QF_PK_PERSID ||
           k == QF_PK_TENSOR;
}

/* Appends `child` to container `parent`, keeping the depth bound. */
static qf_status add_item(run *r, uint32_t parent, uint32_t child)
{
    qf_pickle *p = r->p;
    qf_pnode *c = &p->nodes[child];
    uint32_t d = (is_container(c->kind) ? c->depth : 0) + 1u; /* an empty container has depth 1 */
    if (d > p->lim.max_depth) {
        FAIL(r, QF_STATUS_LIMIT, "%s: containers nested deeper than %u", op_name(r->op), p->lim.max_depth);
        qf_error_expected(r->err, "depth <= %u", p->lim.max_depth);
        qf_error_found(r->err, "%u", d);
        return QF_STATUS_LIMIT;
    }
    qf_pnode *n = &p->nodes[parent];
    if (!grow32(&n->u.c.items, &n->u.c.cap, (uint64_t)n->u.c.count + 1, sizeof(uint32_t))) return no_memory(r);
    n->u.c.items[n->u.c.count++] = child;
    if (d > n->depth) n->depth = (uint8_t)d;
    return QF_STATUS_OK;
}

/* Builds a container of `kind` from stack[start..] and replaces those items with it. */
static qf_status collect(run *r, qf_pkind kind, uint32_t start, uint32_t *id_out)
{
    qf_pickle *p = r->p;
    uint32_t id;
    qf_status st = new_node(r, kind, &id);
    if (st) return st;
    p->nodes[id].depth = 1;
    for (uint32_t i = start; i < p->stack_count; i++)
        if ((st = add_item(r, id, p->stack[i]))) return st;
    p->stack_count = start;
    if (id_out) *id_out = id;
    return push(r, id);
}

/* Reads a '\n'-terminated line; *len excludes the newline. */
static qf_status read_line(run *r, const char **line, uint64_t *len)
{
    const uint8_t *s = r->data + r->pos;
    uint64_t avail = r->size - r->pos;
    uint64_t cap = avail < r->p->lim.max_string + 1 ? avail : r->p->lim.max_string + 1;
    const uint8_t *nl = memchr(s, '\n', (size_t)cap);
    if (!nl) {
        if (cap < avail || avail > r->p->lim.max_string) {
            FAIL(r, QF_STATUS_LIMIT, "%s: text argument longer than %llu bytes", op_name(r->op),
                 (unsigned long long)r->p->lim.max_string);
            return QF_STATUS_LIMIT;
        }
        return FAIL(r, QF_STATUS_TRUNCATED, "%s: text argument has no end of line", op_name(r->op));
    }
    *line = (const char *)s;
    *len = (uint64_t)(nl - s);
    r->pos += *len + 1;
    return QF_STATUS_OK;
}

static qf_status parse_decimal(run *r, const char *s, uint64_t len, int64_t *out)
{
    uint64_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    if (i == len) return FAIL(r, QF_STATUS_FORMAT, "%s: not a decimal integer", op_name(r->op));
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] == 'L' && i == len - 1) break;
        if (s[i] < '0' || s[i] > '9') return FAIL(r, QF_STATUS_FORMAT, "%s: not a decimal integer", op_name(r->op));
        if (!qf_mul_u64(v, 10, &v) || !qf_add_u64(v, (uint64_t)(s[i] - '0'), &v) ||
            v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
            return FAIL(r, QF_STATUS_UNSUPPORTED, "%s: integer does not fit in 64 bits", op_name(r->op));
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return QF_STATUS_OK;
}

static qf_status push_int(run *r, int64_t v)
{
    uint32_t id;
    qf_status st = push_new(r, QF_PK_INT, &id);
    if (!st) r->p->nodes[id].u.i = v;
    return st;
}

static qf_status push_str(run *r, qf_pkind kind, const char *ptr, uint64_t len)
{
    uint32_t id;
    qf_status st = push_new(r, kind, &id);
    if (!st) {
        r->p->nodes[id].u.s.ptr = ptr;
        r->p->nodes[id].u.s.len = len;
    }
    return st;
}

/* Binary string forms: an n-byte little-endian length then the bytes. */
static qf_status op_binstr(run *r, int lenbytes, qf_pkind kind)
{
    qf_status st = need(r, (uint64_t)lenbytes, "length");
    if (st) return st;
    uint64_t len = rd_le(r->data + r->pos, lenbytes);
    if (lenbytes == 4 && r->op == 'T' && (len & 0x80000000u))
        return FAIL(r, QF_STATUS_FORMAT, "BINSTRING: negative length");
    r->pos += (uint64_t)lenbytes;
    if (len > r->p->lim.max_string) {
        FAIL(r, QF_STATUS_LIMIT, "%s: string of %llu bytes", op_name(r->op), (unsigned long long)len);
        qf_error_expected(r->err, "<= %llu bytes", (unsigned long long)r->p->lim.max_string);
        qf_error_found(r->err, "%llu bytes", (unsigned long long)len);
        return QF_STATUS_LIMIT;
    }
    if ((st = need(r, len, "string"))) return st;
    const char *ptr = (const char *)r->data + r->pos;
    r->pos += len;
    return push_str(r, kind, ptr, len);
}

static const global_entry *find_global(const char *module, uint64_t mlen, const char *name, uint64_t nlen,
                                       uint32_t *index)
{
    for (uint32_t i = 0; i < ALLOWLIST_COUNT; i++) {
        const char *full = allowlist[i].name;
        size_t flen = strlen(full);
        if (mlen + 1 + nlen == flen && memcmp(full, module, (size_t)mlen) == 0 && full[mlen] == '.' &&
            memcmp(full + mlen + 1, name, (size_t)nlen) == 0) {
            *index = i;
            return &allowlist[i];
        }
    }
    return NULL;
}

static qf_status push_global(run *r, const char *module, uint64_t mlen, const char *name, uint64_t nlen)
{
    uint32_t index = 0;
    /* "__builtin__" (Python 2) spells the same modules; not needed by the allowlist. */
    const global_entry *g = find_global(module, mlen, name, nlen, &index);
    if (!g) {
        char obj[QF_ERROR_FIELD_MAX];
        int ml = mlen > 100 ? 100 : (int)mlen, nl = nlen > 100 ? 100 : (int)nlen;
        snprintf(obj, sizeof obj, "%.*s.%.*s", ml, module, nl, name);
        for (char *c = obj; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
        qf_error_set(r->err, QF_STATUS_FORBIDDEN, NULL, r->p->part, (int64_t)(r->p->base + r->op_pos), obj,
                     "%s '%s' is not an allowed class", op_name(r->op), obj);
        return QF_STATUS_FORBIDDEN;
    }
    uint32_t id;
    qf_status st = push_new(r, QF_PK_GLOBAL, &id);
    if (st) return st;
    qf_pnode *n = &r->p->nodes[id];
    n->global = (uint8_t)g->global;
    n->name = index;
    n->dtype = g->dtype >= 0 ? (uint8_t)g->dtype : 0;
    return QF_STATUS_OK;
}

static const qf_pnode *N(run *r, uint32_t id) { return &r->p->nodes[id]; }

static bool is_int(run *r, uint32_t id) { return N(r, id)->kind == QF_PK_INT || N(r, id)->kind == QF_PK_BOOL; }

static qf_status bad_args(run *r, const char *callable, const char *why)
{
    return FAIL(r, QF_STATUS_FORMAT, "REDUCE %s: %s", callable, why);
}

/* Checks a tuple of ints of rank <= QF_MAX_RANK. */
static qf_status check_int_tuple(run *r, uint32_t id, const char *callable, const char *what)
{
    const qf_pnode *t = N(r, id);
    if (t->kind != QF_PK_TUPLE && t->kind != QF_PK_LIST) return bad_args(r, callable, what);
    if (t->u.c.count > QF_MAX_RANK) {
        FAIL(r, QF_STATUS_LIMIT, "%s: %s has %u dimensions", callable, what, t->u.c.count);
        qf_error_expected(r->err, "<= %d dimensions", QF_MAX_RANK);
        qf_error_found(r->err, "%u", t->u.c.count);
        return QF_STATUS_LIMIT;
    }
    for (uint32_t i = 0; i < t->u.c.count; i++)
        if (N(r, t->u.c.items[i])->kind != QF_PK_INT) return bad_args(r, callable, what);
    return QF_STATUS_OK;
}

/*
 * A list passed where a tuple of ints was checked stays mutable: APPEND(S) through a memo reference
 * after the REDUCE would grow it past the checked rank or add non-ints. Python converts such a list
 * at the call (torch.Size(list), _rebuild_tensor_v2 of a list), so the checked values are frozen
 * here into a new tuple (no opcode changes a tuple); *out is `id` itself when that is a tuple.
 */
static qf_status freeze_ints(run *r, uint32_t id, uint32_t *out)
{
    if (N(r, id)->kind == QF_PK_TUPLE) {
        *out = id;
        return QF_STATUS_OK;
    }
    uint32_t t;
    qf_status st = new_node(r, QF_PK_TUPLE, &t);
    if (st) return st;
    r->p->nodes[t].depth = 1;
    for (uint32_t i = 0; i < N(r, id)->u.c.count; i++)
        if ((st = add_item(r, t, N(r, id)->u.c.items[i]))) return st;
    *out = t;
    return QF_STATUS_OK;
}

/* _rebuild_tensor(_v2)(storage, offset, size, stride, ...) -> a tensor node holding the size and
 * stride as checked (frozen: see freeze_ints). */
static qf_status make_tensor(run *r, const char *callable, const qf_pnode *args, uint32_t minargs, uint32_t maxargs,
                             uint32_t *out)
{
    if (args->u.c.count < minargs || args->u.c.count > maxargs) return bad_args(r, callable, "wrong argument count");
    uint32_t a[4];
    for (int i = 0; i < 4; i++) a[i] = args->u.c.items[i];
    if (N(r, a[0])->kind != QF_PK_PERSID) return bad_args(r, callable, "storage is not a persistent id");
    if (N(r, a[1])->kind != QF_PK_INT) return bad_args(r, callable, "storage offset is not an int");
    qf_status st = check_int_tuple(r, a[2], callable, "size");
    if (st) return st;
    if ((st = check_int_tuple(r, a[3], callable, "stride"))) return st;
    if (N(r, a[2])->u.c.count != N(r, a[3])->u.c.count) return bad_args(r, callable, "size and stride differ in rank");
    if ((st = freeze_ints(r, a[2], &a[2])) || (st = freeze_ints(r, a[3], &a[3]))) return st;
    uint32_t id;
    if ((st = new_node(r, QF_PK_TENSOR, &id))) return st;
    r->p->nodes[id].depth = 1;
    for (int i = 0; i < 4; i++)
        if ((st = add_item(r, id, a[i]))) return st;
    *out = id;
    return QF_STATUS_OK;
}

/* Interprets callable(args) for an allowlisted callable; *out is the resulting value. */
static qf_status call_global(run *r, uint32_t fn, uint32_t argsid, int nested, uint32_t *out)
{
    const qf_pnode *f = N(r, fn);
    const qf_pnode *args = N(r, argsid);
    const char *name = f->kind == QF_PK_GLOBAL ? qf_pickle_global_name(f->name) : qf_pickle_kind_name(f->kind);
    if (f->kind != QF_PK_GLOBAL) {
        qf_error_set(r->err, QF_STATUS_FORBIDDEN, NULL, r->p->part, (int64_t)(r->p->base + r->op_pos), name,
                     "%s on a %s is not allowed", op_name(r->op), name);
        return QF_STATUS_FORBIDDEN;
    }
    if (args->kind != QF_PK_TUPLE) return bad_args(r, name, "arguments are not a tuple");
    uint32_t n = args->u.c.count;
    qf_status st;
    switch ((qf_pglobal)f->global) {
    case QF_PG_ORDERED_DICT: {
        uint32_t id;
        if (n > 1) return bad_args(r, name, "wrong argument count");
        if ((st = new_node(r, QF_PK_DICT, &id))) return st;
        r->p->nodes[id].depth = 1;
        if (n == 1) {
            const qf_pnode *pairs = N(r, N(r, argsid)->u.c.items[0]);
            if (pairs->kind != QF_PK_LIST && pairs->kind != QF_PK_TUPLE) return bad_args(r, name, "items are not a list");
            for (uint32_t i = 0; i < pairs->u.c.count; i++) {
                const qf_pnode *kv = N(r, N(r, N(r, argsid)->u.c.items[0])->u.c.items[i]);
                if ((kv->kind != QF_PK_TUPLE && kv->kind != QF_PK_LIST) || kv->u.c.count != 2)
                    return bad_args(r, name, "item is not a pair");
                uint32_t k = kv->u.c.items[0], v = kv->u.c.items[1];
                if ((st = add_item(r, id, k)) || (st = add_item(r, id, v))) return st;
            }
        }
        *out = id;
        return QF_STATUS_OK;
    }
    case QF_PG_REBUILD_TENSOR_V2: return make_tensor(r, name, args, 6, 7, out);
    case QF_PG_REBUILD_TENSOR: return make_tensor(r, name, args, 4, 4, out);
    case QF_PG_REBUILD_PARAMETER:
    case QF_PG_REBUILD_PARAMETER_WITH_STATE:
    case QF_PG_PARAMETER: {
        uint32_t lo = f->global == QF_PG_PARAMETER ? 1 : f->global == QF_PG_REBUILD_PARAMETER ? 3 : 4;
        uint32_t hi = f->global == QF_PG_PARAMETER ? 2 : lo;
        if (n < lo || n > hi) return bad_args(r, name, "wrong argument count");
        if (N(r, args->u.c.items[0])->kind != QF_PK_TENSOR) return bad_args(r, name, "data is not a tensor");
        *out = args->u.c.items[0];
        return QF_STATUS_OK;
    }
    case QF_PG_REBUILD_FROM_TYPE_V2: {
        if (n != 4) return bad_args(r, name, "wrong argument count");
        const qf_pnode *ty = N(r, args->u.c.items[1]);
        if (ty->kind != QF_PK_GLOBAL || (ty->global != QF_PG_TENSOR_TYPE && ty->global != QF_PG_PARAMETER)) {
            const char *tn = ty->kind == QF_PK_GLOBAL ? qf_pickle_global_name(ty->name) : qf_pickle_kind_name(ty->kind);
            qf_error_set(r->err, QF_STATUS_FORBIDDEN, NULL, r->p->part, (int64_t)(r->p->base + r->op_pos), tn,
                         "%s: type '%s' is not an allowed tensor type", name, tn);
            return QF_STATUS_FORBIDDEN;
        }
        if (nested) return bad_args(r, name, "nested rebuild");
        const qf_pnode *inner = N(r, args->u.c.items[0]);
        if (inner->kind == QF_PK_GLOBAL && inner->global == QF_PG_REBUILD_FROM_TYPE_V2)
            return bad_args(r, name, "nested rebuild");
        return call_global(r, args->u.c.items[0], args->u.c.items[2], nested + 1, out);
    }
    case QF_PG_SIZE: {
        if (n != 1) return bad_args(r, name, "wrong argument count");
        uint32_t dims = args->u.c.items[0];
        if ((st = check_int_tuple(r, dims, name, "size"))) return st;
        return freeze_ints(r, dims, out); /* a torch.Size is a tuple */
        return QF_STATUS_OK;
    }
    case QF_PG_DEVICE: {
        if (n < 1 || n > 2 || N(r, args->u.c.items[0])->kind != QF_PK_STR ||
            (n == 2 && !is_int(r, args->u.c.items[1])))
            return bad_args(r, name, "expected (type[, index])");
        *out = args->u.c.items[0];
        return QF_STATUS_OK;
    }
    case QF_PG_TENSOR_TYPE:
    case QF_PG_STORAGE:
    case QF_PG_DTYPE:
        break;
    }
    qf_error_set(r->err, QF_STATUS_FORBIDDEN, NULL, r->p->part, (int64_t)(r->p->base + r->op_pos), name,
                 "%s of '%s' is not allowed", op_name(r->op), name);
    return QF_STATUS_FORBIDDEN;
}

static qf_status memo_put(run *r, uint64_t index, uint32_t id)
{
    qf_pickle *p = r->p;
    if (index >= p->lim.max_memo) {
        FAIL(r, QF_STATUS_LIMIT, "%s: memo index %llu", op_name(r->op), (unsigned long long)index);
        qf_error_expected(r->err, "< %u", p->lim.max_memo);
        qf_error_found(r->err, "%llu", (unsigned long long)index);
        return QF_STATUS_LIMIT;
    }
    if (index >= p->memo_cap) {
        uint32_t old = p->memo_cap;
        if (!grow32(&p->memo, &p->memo_cap, index + 1, sizeof *p->memo)) return no_memory(r);
        memset(p->memo + old, 0, (size_t)(p->memo_cap - old) * sizeof *p->memo);
    }
    if (!p->memo[index]) p->memo_size++;
    p->memo[index] = id + 1;
    return QF_STATUS_OK;
}

static qf_status memo_get(run *r, uint64_t index)
{
    qf_pickle *p = r->p;
    if (index >= p->memo_cap || !p->memo[index]) {
        FAIL(r, QF_STATUS_FORMAT, "%s: memo index %llu was never set", op_name(r->op), (unsigned long long)index);
        return QF_STATUS_FORMAT;
    }
    return push(r, p->memo[index] - 1);
}

static qf_status step(run *r, bool *stop)
{
    qf_pickle *p = r->p;
    qf_status st;
    uint32_t a, b, c, start;
    const char *line;
    uint64_t len;
    int64_t v;
    switch (r->op) {
    case 0x80: /* PROTO */
        if ((st = need(r, 1, "protocol"))) return st;
        if (r->data[r->pos] > 5) {
            FAIL(r, QF_STATUS_UNSUPPORTED, "PROTO: pickle protocol %u", r->data[r->pos]);
            qf_error_expected(r->err, "0..5");
            qf_error_found(r->err, "%u", r->data[r->pos]);
            return QF_STATUS_UNSUPPORTED;
        }
        r->pos++;
        return QF_STATUS_OK;
    case 0x95: /* FRAME: only a size hint; the frame must lie inside the stream */
        if ((st = need(r, 8, "frame size"))) return st;
        len = rd_le(r->data + r->pos, 8);
        r->pos += 8;
        return need(r, len, "frame");
    case '.':
        *stop = true;
        return QF_STATUS_OK;
    case '(':
        if (p->mark_count >= p->lim.max_marks) {
            FAIL(r, QF_STATUS_LIMIT, "MARK: more than %u open marks", p->lim.max_marks);
            qf_error_expected(r->err, "<= %u", p->lim.max_marks);
            return QF_STATUS_LIMIT;
        }
        if ((uint64_t)p->stack_count + p->mark_count >= p->lim.max_stack) {
            FAIL(r, QF_STATUS_LIMIT, "MARK: stack holds more than %u values", p->lim.max_stack);
            qf_error_expected(r->err, "<= %u values and marks", p->lim.max_stack);
            return QF_STATUS_LIMIT;
        }
        if (!grow32(&p->marks, &p->mark_cap, (uint64_t)p->mark_count + 1, sizeof *p->marks)) return no_memory(r);
        p->marks[p->mark_count++] = p->stack_count;
        return QF_STATUS_OK;
    case '0': return pop(r, &a);
    case '1':
        if ((st = pop_mark(r, &start))) return st;
        p->stack_count = start;
        return QF_STATUS_OK;
    case '2':
        if ((st = top(r, &a))) return st;
        return push(r, a);
    case 'N': return push_new(r, QF_PK_NONE, NULL);
    case 0x88:
    case 0x89:
        if ((st = push_new(r, QF_PK_BOOL, &a))) return st;
        p->nodes[a].u.b = r->op == 0x88;
        return QF_STATUS_OK;
    case 'I':
        if ((st = read_line(r, &line, &len))) return st;
        if (len == 2 && (memcmp(line, "00", 2) == 0 || memcmp(line, "01", 2) == 0)) {
            if ((st = push_new(r, QF_PK_BOOL, &a))) return st;
            p->nodes[a].u.b = line[1] == '1';
            return QF_STATUS_OK;
        }
        /* fall through */
    case 'L':
        if (r->op == 'L' && (st = read_line(r, &line, &len))) return st;
        if ((st = parse_decimal(r, line, len, &v))) return st;
        return push_int(r, v);
    case 'J':
        if ((st = need(r, 4, "int"))) return st;
        v = (int32_t)(uint32_t)rd_le(r->data + r->pos, 4);
        r->pos += 4;
        return push_int(r, v);
    case 'K':
        if ((st = need(r, 1, "int"))) return st;
        return push_int(r, r->data[r->pos++]);
    case 'M':
        if ((st = need(r, 2, "int"))) return st;
        v = (int64_t)rd_le(r->data + r->pos, 2);
        r->pos += 2;
        return push_int(r, v);
    case 0x8a:
    case 0x8b: {
        int lb = r->op == 0x8a ? 1 : 4;
        if ((st = need(r, (uint64_t)lb, "length"))) return st;
        len = rd_le(r->data + r->pos, lb);
        r->pos += (uint64_t)lb;
        if (len > 8) {
            FAIL(r, QF_STATUS_UNSUPPORTED, "%s: integer of %llu bytes does not fit in 64 bits", op_name(r->op),
                 (unsigned long long)len);
            qf_error_expected(r->err, "<= 8 bytes");
            qf_error_found(r->err, "%llu bytes", (unsigned long long)len);
            return QF_STATUS_UNSUPPORTED;
        }
        if ((st = need(r, len, "integer"))) return st;
        uint64_t u = rd_le(r->data + r->pos, (int)len);
        if (len > 0 && len < 8 && (r->data[r->pos + len - 1] & 0x80)) u |= ~0ull << (8 * len); /* sign-extend */
        r->pos += len;
        return push_int(r, (int64_t)u);
    }
    case 'F': {
        char buf[64];
        if ((st = read_line(r, &line, &len))) return st;
        if (len == 0 || len >= sizeof buf) return FAIL(r, QF_STATUS_FORMAT, "FLOAT: malformed number");
        memcpy(buf, line, (size_t)len);
        buf[len] = '\0';
        char *end;
        double d = strtod(buf, &end);
        if (*end) return FAIL(r, QF_STATUS_FORMAT, "FLOAT: malformed number");
        if ((st = push_new(r, QF_PK_FLOAT, &a))) return st;
        p->nodes[a].u.f = d;
        return QF_STATUS_OK;
    }
    case 'G': {
        if ((st = need(r, 8, "float"))) return st;
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits = (bits << 8) | r->data[r->pos + (uint64_t)i]; /* big-endian */
        r->pos += 8;
        double d;
        memcpy(&d, &bits, sizeof d);
        if ((st = push_new(r, QF_PK_FLOAT, &a))) return st;
        p->nodes[a].u.f = d;
        return QF_STATUS_OK;
    }
    case 'S': /* protocol 0 quoted string: the quotes are removed, escapes are kept as written */
        if ((st = read_line(r, &line, &len))) return st;
        if (len < 2 || (line[0] != '\'' && line[0] != '"') || line[len - 1] != line[0])
            return FAIL(r, QF_STATUS_FORMAT, "STRING: argument is not quoted");
        return push_str(r, QF_PK_STR, line + 1, len - 2);
    case 'V':
        if ((st = read_line(r, &line, &len))) return st;
        return push_str(r, QF_PK_STR, line, len);
    case 'T': return op_binstr(r, 4, QF_PK_STR);
    case 'U': return op_binstr(r, 1, QF_PK_STR);
    case 'X': return op_binstr(r, 4, QF_PK_STR);
    case 0x8c: return op_binstr(r, 1, QF_PK_STR);
    case 0x8d: return op_binstr(r, 8, QF_PK_STR);
    case 'B': return op_binstr(r, 4, QF_PK_BYTES);
    case 'C': return op_binstr(r, 1, QF_PK_BYTES);
    case 0x8e: return op_binstr(r, 8, QF_PK_BYTES);
    case 0x96: return op_binstr(r, 8, QF_PK_BYTES);
    case ')':
    case ']':
    case '}':
    case 0x8f:
        if ((st = push_new(r, r->op == ')' ? QF_PK_TUPLE : r->op == ']' ? QF_PK_LIST : r->op == '}' ? QF_PK_DICT : QF_PK_SET,
                           &a)))
            return st;
        p->nodes[a].depth = 1;
        return QF_STATUS_OK;
    case 't':
        if ((st = pop_mark(r, &start))) return st;
        return collect(r, QF_PK_TUPLE, start, NULL);
    case 'l':
        if ((st = pop_mark(r, &start))) return st;
        return collect(r, QF_PK_LIST, start, NULL);
    case 0x91:
        if ((st = pop_mark(r, &start))) return st;
        return collect(r, QF_PK_SET, start, NULL);
    case 'd':
        if ((st = pop_mark(r, &start))) return st;
        if ((p->stack_count - start) % 2) return FAIL(r, QF_STATUS_FORMAT, "DICT: odd number of items");
        return collect(r, QF_PK_DICT, start, NULL);
    case 0x85:
    case 0x86:
    case 0x87: {
        uint32_t k = (uint32_t)(r->op - 0x84);
        uint32_t floor = p->mark_count ? p->marks[p->mark_count - 1] : 0;
        if (p->stack_count - floor < k) return FAIL(r, QF_STATUS_FORMAT, "%s: stack underflow", op_name(r->op));
        return collect(r, QF_PK_TUPLE, p->stack_count - k, NULL);
    }
    case 'a':
        if ((st = pop(r, &b)) || (st = top(r, &a))) return st;
        if (N(r, a)->kind != QF_PK_LIST) return FAIL(r, QF_STATUS_FORMAT, "APPEND to a %s", qf_pickle_kind_name(N(r, a)->kind));
        return add_item(r, a, b);
    case 'e':
    case 0x90:
        if ((st = pop_mark(r, &start))) return st;
        if (start == 0 || (p->mark_count && start <= p->marks[p->mark_count - 1]))
            return FAIL(r, QF_STATUS_FORMAT, "%s: no container below the MARK", op_name(r->op));
        a = p->stack[start - 1];
        if (N(r, a)->kind != (r->op == 'e' ? QF_PK_LIST : QF_PK_SET))
            return FAIL(r, QF_STATUS_FORMAT, "%s to a %s", op_name(r->op), qf_pickle_kind_name(N(r, a)->kind));
        for (uint32_t i = start; i < p->stack_count; i++)
            if ((st = add_item(r, a, p->stack[i]))) return st;
        p->stack_count = start;
        return QF_STATUS_OK;
    case 's':
        if ((st = pop(r, &c)) || (st = pop(r, &b)) || (st = top(r, &a))) return st;
        if (N(r, a)->kind != QF_PK_DICT) return FAIL(r, QF_STATUS_FORMAT, "SETITEM on a %s", qf_pickle_kind_name(N(r, a)->kind));
        if ((st = add_item(r, a, b))) return st;
        return add_item(r, a, c);
    case 'u':
        if ((st = pop_mark(r, &start))) return st;
        if (start == 0 || (p->mark_count && start <= p->marks[p->mark_count - 1]))
            return FAIL(r, QF_STATUS_FORMAT, "SETITEMS: no dict below the MARK");
        a = p->stack[start - 1];
        if (N(r, a)->kind != QF_PK_DICT) return FAIL(r, QF_STATUS_FORMAT, "SETITEMS on a %s", qf_pickle_kind_name(N(r, a)->kind));
        if ((p->stack_count - start) % 2) return FAIL(r, QF_STATUS_FORMAT, "SETITEMS: odd number of items");
        for (uint32_t i = start; i < p->stack_count; i++)
            if ((st = add_item(r, a, p->stack[i]))) return st;
        p->stack_count = start;
        return QF_STATUS_OK;
    case 'p':
        if ((st = read_line(r, &line, &len)) || (st = parse_decimal(r, line, len, &v))) return st;
        if (v < 0) return FAIL(r, QF_STATUS_FORMAT, "PUT: negative memo index");
        if ((st = top(r, &a))) return st;
        return memo_put(r, (uint64_t)v, a);
    case 'q':
    case 'r': {
        int lb = r->op == 'q' ? 1 : 4;
        if ((st = need(r, (uint64_t)lb, "memo index"))) return st;
        uint64_t idx = rd_le(r->data + r->pos, lb);
        r->pos += (uint64_t)lb;
        if ((st = top(r, &a))) return st;
        return memo_put(r, idx, a);
    }
    case 0x94:
        if ((st = top(r, &a))) return st;
        return memo_put(r, p->memo_size, a);
    case 'g':
        if ((st = read_line(r, &line, &len)) || (st = parse_decimal(r, line, len, &v))) return st;
        if (v < 0) return FAIL(r, QF_STATUS_FORMAT, "GET: negative memo index");
        return memo_get(r, (uint64_t)v);
    case 'h':
    case 'j': {
        int lb = r->op == 'h' ? 1 : 4;
        if ((st = need(r, (uint64_t)lb, "memo index"))) return st;
        uint64_t idx = rd_le(r->data + r->pos, lb);
        r->pos += (uint64_t)lb;
        return memo_get(r, idx);
    }
    case 'c': {
        const char *mod, *nm;
        uint64_t ml, nl;
        if ((st = read_line(r, &mod, &ml)) || (st = read_line(r, &nm, &nl))) return st;
        return push_global(r, mod, ml, nm, nl);
    }
    case 0x93:
        if ((st = pop(r, &b)) || (st = pop(r, &a))) return st;
        if (N(r, a)->kind != QF_PK_STR || N(r, b)->kind != QF_PK_STR)
            return FAIL(r, QF_STATUS_FORMAT, "STACK_GLOBAL: module and name must be strings");
        return push_global(r, N(r, a)->u.s.ptr, N(r, a)->u.s.len, N(r, b)->u.s.ptr, N(r, b)->u.s.len);
    case 'R':
    case 0x81:
        if ((st = pop(r, &b)) || (st = pop(r, &a))) return st;
        if (r->op == 0x81) {
            const qf_pnode *f = N(r, a);
            if (f->kind == QF_PK_GLOBAL && f->global != QF_PG_ORDERED_DICT && f->global != QF_PG_SIZE) {
                const char *gn = qf_pickle_global_name(f->name);
                qf_error_set(r->err, QF_STATUS_FORBIDDEN, NULL, p->part, (int64_t)(p->base + r->op_pos), gn,
                             "NEWOBJ of '%s' is not allowed", gn);
                return QF_STATUS_FORBIDDEN;
            }
        }
        if ((st = call_global(r, a, b, 0, &c))) return st;
        return push(r, c);
    case 'b':
        if ((st = pop(r, &b)) || (st = top(r, &a))) return st;
        /* OrderedDict state (its _metadata attribute) carries no weights; nothing else may be built */
        if (N(r, a)->kind != QF_PK_DICT) {
            const char *kn = qf_pickle_kind_name(N(r, a)->kind);
            qf_error_set(r->err, QF_STATUS_FORBIDDEN, NULL, p->part, (int64_t)(p->base + r->op_pos), "BUILD",
                         "BUILD on a %s is not allowed", kn);
            return QF_STATUS_FORBIDDEN;
        }
        return QF_STATUS_OK;
    case 'Q':
        if ((st = pop(r, &a))) return st;
        /* fall through */
    case 'P': {
        if (r->op == 'P') {
            if ((st = read_line(r, &line, &len))) return st;
            if ((st = new_node(r, QF_PK_STR, &a))) return st;
            p->nodes[a].u.s.ptr = line;
            p->nodes[a].u.s.len = len;
        }
        if ((st = new_node(r, QF_PK_PERSID, &b))) return st;
        p->nodes[b].depth = 1;
        if ((st = add_item(r, b, a))) return st;
        return push(r, b);
    }
    case 'i': {
        const char *mod, *nm;
        uint64_t ml, nl;
        char obj[QF_ERROR_FIELD_MAX];
        /* INST is refused whatever follows: a cut-off name must not record its own error first */
        qf_error *saved = r->err;
        r->err = NULL;
        bool named = !read_line(r, &mod, &ml) && !read_line(r, &nm, &nl);
        r->err = saved;
        if (!named) {
            mod = nm = "?";
            ml = nl = 1;
        }
        snprintf(obj, sizeof obj, "%.*s.%.*s", ml > 100 ? 100 : (int)ml, mod, nl > 100 ? 100 : (int)nl, nm);
        for (char *ch = obj; *ch; ch++)
            if ((unsigned char)*ch < 0x20 || (unsigned char)*ch >= 0x7f) *ch = '?';
        qf_error_set(r->err, QF_STATUS_FORBIDDEN, NULL, p->part, (int64_t)(p->base + r->op_pos), "INST",
                     "opcode INST ('%s') is not allowed: it instantiates arbitrary classes", obj);
        return QF_STATUS_FORBIDDEN;
    }
    case 'o':
    case 0x82:
    case 0x83:
    case 0x84:
    case 0x92:
    case 0x97:
    case 0x98:
        qf_error_set(r->err, QF_STATUS_FORBIDDEN, NULL, p->part, (int64_t)(p->base + r->op_pos), op_name(r->op),
                     "opcode %s is not allowed", op_name(r->op));
        return QF_STATUS_FORBIDDEN;
    default: break;
    }
    char obj[16];
    snprintf(obj, sizeof obj, "0x%02x", r->op);
    qf_error_set(r->err, QF_STATUS_FORMAT, NULL, p->part, (int64_t)(p->base + r->op_pos), obj,
                 "unknown pickle opcode 0x%02x", r->op);
    return QF_STATUS_FORMAT;
}

qf_status qf_pickle_run(qf_pickle *p, const uint8_t *data, uint64_t size, const char *part, uint64_t base,
                        uint32_t *root, uint64_t *consumed, qf_error *err)
{
    run r = {p, data, size, 0, 0, 0, err};
    p->part = part;
    p->base = base;
    p->stack_count = 0;
    p->mark_count = 0;
    if (p->memo) memset(p->memo, 0, (size_t)p->memo_cap * sizeof *p->memo);
    p->memo_size = 0;
    uint64_t ops = 0;
    for (;;) {
        r.op_pos = r.pos;
        if (r.pos >= size) {
            r.op = 0;
            return qf_error_set(err, QF_STATUS_TRUNCATED, NULL, part, (int64_t)(base + r.pos), NULL,
                                "pickle stream ends without STOP");
        }
        if (++ops > p->lim.max_ops) {
            r.op = data[r.pos];
            FAIL(&r, QF_STATUS_LIMIT, "more than %llu pickle opcodes", (unsigned long long)p->lim.max_ops);
            qf_error_expected(err, "<= %llu opcodes", (unsigned long long)p->lim.max_ops);
            return QF_STATUS_LIMIT;
        }
        r.op = data[r.pos++];
        bool stop = false;
        qf_status st = step(&r, &stop);
        if (st) return st;
        if (stop) break;
    }
    if (p->mark_count || p->stack_count != 1)
        return qf_error_set(err, QF_STATUS_FORMAT, NULL, part, (int64_t)(base + r.op_pos), "STOP",
                            "STOP with %u values and %u marks on the stack", p->stack_count, p->mark_count);
    *root = p->stack[0];
    *consumed = r.pos;
    return QF_STATUS_OK;
}
