/*
 * tests/fuzz/fuzz_pickle.c — the restricted pickle machine (readers/torch/pickle.c): runs every
 * pickle stream of the input back to back, as the legacy torch reader does, and walks each result.
 */
#include "fuzz_common.h"
#include "readers/torch/pickle.h"

/* Visits the value graph. Memo references make it a DAG that can be exponentially larger as a
 * tree, so the walk stops after a fixed number of visits (as the torch flattener does). */
static uint64_t walk(const qf_pickle *p, uint32_t id, int depth, uint64_t *budget)
{
    const qf_pnode *n = qf_pickle_node(p, id);
    if (!n || depth > 200 || *budget == 0) return 0;
    (*budget)--;
    uint64_t sum = n->kind;
    if (n->kind == QF_PK_TUPLE || n->kind == QF_PK_LIST || n->kind == QF_PK_DICT || n->kind == QF_PK_SET ||
        n->kind == QF_PK_PERSID || n->kind == QF_PK_TENSOR)
        for (uint32_t i = 0; i < n->u.c.count && *budget; i++) sum += walk(p, qf_pickle_item(n, i), depth + 1, budget);
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qf_pickle_limits lim = qf_pickle_limits_default();
    lim.max_ops = 1u << 20; /* keep one input fast; the limit itself is tested in test_limits */
    qf_pickle *p = NULL;
    if (qf_pickle_create(&lim, &p, NULL)) return 0;
    uint64_t pos = 0;
    for (int streams = 0; streams < 8 && pos < size; streams++) {
        uint32_t root = 0;
        uint64_t used = 0;
        if (qf_pickle_run(p, data + pos, size - pos, "pickle", pos, &root, &used, NULL) || used == 0) break;
        uint64_t budget = 1u << 20;
        (void)walk(p, root, 0, &budget);
        pos += used;
    }
    qf_pickle_destroy(p);
    return 0;
}
