/*
 * tests/fuzz/fuzz_pickle.c — the restricted pickle machine (readers/torch/pickle.c): runs every
 * pickle stream of the input back to back, as the legacy torch reader does, and walks each result.
 * After each stream, every tensor node is read as the torch reader's tensor_view reads it (into
 * fixed arrays of QF_MAX_RANK dims) and must still hold what its REDUCE checked: a size and a
 * stride tuple of equally many ints, at most QF_MAX_RANK. A value changed after it was checked
 * (a list grown by APPEND(S) through the memo) aborts: that is the bug class being searched.
 */
#include <stdlib.h>

#include "fuzz_common.h"
#include "readers/torch/pickle.h"

static uint64_t tensor_views(const qf_pickle *p, uint32_t first)
{
    uint64_t sum = 0;
    for (uint32_t id = first;; id++) {
        const qf_pnode *t = qf_pickle_node(p, id);
        if (!t) break;
        if (t->kind != QF_PK_TENSOR) continue;
        if (t->u.c.count != 4) abort();
        const qf_pnode *off = qf_pickle_node(p, qf_pickle_item(t, 1));
        const qf_pnode *size = qf_pickle_node(p, qf_pickle_item(t, 2));
        const qf_pnode *stride = qf_pickle_node(p, qf_pickle_item(t, 3));
        if (qf_pickle_node(p, qf_pickle_item(t, 0))->kind != QF_PK_PERSID || off->kind != QF_PK_INT ||
            size->kind != QF_PK_TUPLE || stride->kind != QF_PK_TUPLE || size->u.c.count > QF_MAX_RANK ||
            stride->u.c.count != size->u.c.count)
            abort();
        int64_t shape[QF_MAX_RANK], step[QF_MAX_RANK];
        for (uint32_t i = 0; i < size->u.c.count; i++) {
            const qf_pnode *d = qf_pickle_node(p, qf_pickle_item(size, i));
            const qf_pnode *s = qf_pickle_node(p, qf_pickle_item(stride, i));
            if (d->kind != QF_PK_INT || s->kind != QF_PK_INT) abort();
            shape[i] = d->u.i;
            step[i] = s->u.i;
            sum += (uint64_t)shape[i] ^ (uint64_t)step[i];
        }
    }
    return sum;
}

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
        uint32_t root = 0, first = 0;
        uint64_t used = 0;
        while (qf_pickle_node(p, first)) first++;
        if (qf_pickle_run(p, data + pos, size - pos, "pickle", pos, &root, &used, NULL) || used == 0) break;
        uint64_t budget = 1u << 20;
        (void)walk(p, root, 0, &budget);
        (void)tensor_views(p, first);
        pos += used;
    }
    qf_pickle_destroy(p);
    return 0;
}
