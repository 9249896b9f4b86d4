/*
 * readers/torch/pickle.h — internal: a restricted pickle machine. It interprets the data opcodes of
 * pickle protocols 0-5 into a graph of plain values (none, bool, int, float, str, bytes, tuple,
 * list, dict, set), references to allowlisted globals, persistent ids and tensor descriptions.
 * Nothing is ever imported or called: the few allowlisted callables (OrderedDict, the torch tensor
 * rebuild functions, torch.Size, torch.device, Parameter) are interpreted here as value
 * constructors; every other global, INST/OBJ/EXT*, and out-of-band buffers are rejected with
 * QF_STATUS_FORBIDDEN naming the opcode or global and the byte offset.
 *
 * Used by readers/torch/torch.c for data.pkl (zip checkpoints) and the pickles of legacy files.
 */
#ifndef QF_READERS_TORCH_PICKLE_H
#define QF_READERS_TORCH_PICKLE_H

#include "qforge/core.h"

typedef enum qf_pkind {
    QF_PK_NONE,
    QF_PK_BOOL,
    QF_PK_INT,
    QF_PK_FLOAT,
    QF_PK_STR,    /* UTF-8 (protocol 0 escapes are not decoded) */
    QF_PK_BYTES,
    QF_PK_TUPLE,
    QF_PK_LIST,
    QF_PK_DICT,   /* items: key0, value0, key1, value1, ... in insertion order */
    QF_PK_SET,
    QF_PK_GLOBAL, /* `global` is a qf_pglobal */
    QF_PK_PERSID, /* items: [the persistent id value] */
    QF_PK_TENSOR  /* items: [persid, storage_offset (int), size (tuple of int), stride (tuple of int)]; size and
                   * stride hold <= QF_MAX_RANK ints each, equally many, and are tuples even when the
                   * stream passed lists (frozen at the REDUCE: no later opcode can change them) */
} qf_pkind;

/* Allowlisted globals. */
typedef enum qf_pglobal {
    QF_PG_ORDERED_DICT,
    QF_PG_REBUILD_TENSOR_V2,
    QF_PG_REBUILD_TENSOR,
    QF_PG_REBUILD_PARAMETER,
    QF_PG_REBUILD_PARAMETER_WITH_STATE,
    QF_PG_REBUILD_FROM_TYPE_V2,
    QF_PG_PARAMETER,
    QF_PG_TENSOR_TYPE,
    QF_PG_SIZE,
    QF_PG_DEVICE,
    QF_PG_STORAGE, /* a torch.*Storage type; node.dtype says which */
    QF_PG_DTYPE    /* a torch dtype object (torch.float32 ...); node.dtype says which */
} qf_pglobal;

typedef struct qf_pnode {
    uint8_t kind;   /* qf_pkind */
    uint8_t global; /* qf_pglobal when kind == QF_PK_GLOBAL */
    uint8_t dtype;  /* qf_dtype for storage / dtype globals, and for tensors once resolved */
    uint8_t depth;  /* containers: 1 + the deepest container inside (1 when it holds none), as measured
                     * when each item was added: a list or dict filled after it was itself added
                     * elsewhere (memo) can make the real nesting deeper, even cyclic, so walkers of
                     * the value graph bound their own depth and visits (torch.c's flatten does) */
    uint32_t name;  /* for globals: index into the allowlist table (see qf_pickle_global_name) */
    uint64_t offset; /* stream offset (base included) of the opcode that made the value */
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *ptr; /* borrowed from the stream; not NUL-terminated */
            uint64_t len;
        } s;
        struct {
            uint32_t *items; /* owned by the machine */
            uint32_t count, cap;
        } c;
    } u;
} qf_pnode;

typedef struct qf_pickle_limits {
    uint32_t max_stack; /* values + marks on the stack */
    uint32_t max_memo;  /* memo entries; indices must be < max_memo */
    uint32_t max_depth; /* nesting of containers */
    uint32_t max_marks;
    uint64_t max_string; /* bytes of one str/bytes value or text line */
    uint64_t max_ops;    /* opcodes executed in one stream */
} qf_pickle_limits;

/* The limits of limits.h. */
qf_pickle_limits qf_pickle_limits_default(void);

typedef struct qf_pickle qf_pickle;

/* lim may be NULL (defaults). */
qf_status qf_pickle_create(const qf_pickle_limits *lim, qf_pickle **out, qf_error *err);
void qf_pickle_destroy(qf_pickle *p); /* accepts NULL */

/*
 * Runs one pickle stream in data[0..size) up to its STOP. Values borrow string bytes from `data`,
 * which must outlive the machine. `part` names the stream in errors; `base` is added to every
 * reported offset. On success *root is the result value and *consumed the bytes read (STOP
 * included). The memo is reset at each run; values of earlier runs stay valid.
 */
qf_status qf_pickle_run(qf_pickle *p, const uint8_t *data, uint64_t size, const char *part, uint64_t base,
                        uint32_t *root, uint64_t *consumed, qf_error *err);

/* Borrowed; valid until the next run or destroy. NULL when id is out of range. */
const qf_pnode *qf_pickle_node(const qf_pickle *p, uint32_t id);
/* Item i of a container node (caller checks i < count). */
static inline uint32_t qf_pickle_item(const qf_pnode *n, uint32_t i) { return n->u.c.items[i]; }
/* "collections.OrderedDict", ... for a QF_PK_GLOBAL node's `name`. Static storage. */
const char *qf_pickle_global_name(uint32_t name);
const char *qf_pickle_kind_name(qf_pkind k);

#endif /* QF_READERS_TORCH_PICKLE_H */
