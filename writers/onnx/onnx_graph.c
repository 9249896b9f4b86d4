/*
 * writers/onnx/onnx_graph.c — name sets and the structural graph check of the ONNX writers (see
 * onnx_graph.h and onnx_check.h). Subgraph recursion is bounded by the parser's QF_ONNX_MAX_DEPTH
 * for parsed graphs and by construction for the graphs the writers build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "writers/onnx/onnx_check.h"
#include "writers/onnx/onnx_graph.h"

/* ------------------------------------------------------------------------------------------ */
/* Name sets                                                                                   */

static size_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return (size_t)h;
}

static bool names_grow(qf_onnx_names *s)
{
    size_t nc = s->cap ? s->cap * 2 : 256;
    if (nc < s->cap || nc > SIZE_MAX / sizeof *s->slot) return false;
    const char **slot = calloc(nc, sizeof *slot);
    if (!slot) return false;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slot[i]) continue;
        size_t k = hash_name(s->slot[i]) & (nc - 1);
        while (slot[k]) k = (k + 1) & (nc - 1);
        slot[k] = s->slot[i];
    }
    free(s->slot);
    s->slot = slot;
    s->cap = nc;
    return true;
}

bool qf_onnx_names_has(const qf_onnx_names *s, const char *name)
{
    if (!s->cap || !name) return false;
    for (size_t k = hash_name(name) & (s->cap - 1); s->slot[k]; k = (k + 1) & (s->cap - 1))
        if (strcmp(s->slot[k], name) == 0) return true;
    return false;
}

bool qf_onnx_names_add(qf_onnx_names *s, const char *name)
{
    if (!name || qf_onnx_names_has(s, name)) return true;
    if ((s->n + 1) * 2 > s->cap && !names_grow(s)) return false;
    size_t k = hash_name(name) & (s->cap - 1);
    while (s->slot[k]) k = (k + 1) & (s->cap - 1);
    s->slot[k] = name;
    s->n++;
    return true;
}

static bool add_value_infos(qf_onnx_names *s, Onnx__ValueInfoProto *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] && !qf_onnx_names_add(s, v[i]->name)) return false;
    return true;
}

bool qf_onnx_names_add_graph(qf_onnx_names *s, const Onnx__GraphProto *g)
{
    if (!g) return true;
    if (!add_value_infos(s, g->input, g->n_input) || !add_value_infos(s, g->output, g->n_output) ||
        !add_value_infos(s, g->value_info, g->n_value_info))
        return false;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (!qf_onnx_names_add(s, g->initializer[i]->name)) return false;
    for (size_t i = 0; i < g->n_sparse_initializer; i++) {
        const Onnx__SparseTensorProto *sp = g->sparse_initializer[i];
        if (sp->values && !qf_onnx_names_add(s, sp->values->name)) return false;
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (!qf_onnx_names_add(s, n->name)) return false;
        for (size_t k = 0; k < n->n_input; k++)
            if (!qf_onnx_names_add(s, n->input[k])) return false;
        for (size_t k = 0; k < n->n_output; k++)
            if (!qf_onnx_names_add(s, n->output[k])) return false;
        for (size_t a = 0; a < n->n_attribute; a++) {
            const Onnx__AttributeProto *at = n->attribute[a];
            if (!qf_onnx_names_add_graph(s, at->g)) return false;
            for (size_t j = 0; j < at->n_graphs; j++)
                if (!qf_onnx_names_add_graph(s, at->graphs[j])) return false;
        }
    }
    return true;
}

static bool add_all_node_inputs(qf_onnx_names *s, const Onnx__GraphProto *g)
{
    if (!g) return true;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        for (size_t k = 0; k < n->n_input; k++)
            if (!qf_onnx_names_add(s, n->input[k])) return false;
        for (size_t a = 0; a < n->n_attribute; a++) {
            const Onnx__AttributeProto *at = n->attribute[a];
            if (!add_all_node_inputs(s, at->g)) return false;
            for (size_t j = 0; j < at->n_graphs; j++)
                if (!add_all_node_inputs(s, at->graphs[j])) return false;
        }
    }
    for (size_t i = 0; i < g->n_output; i++)
        if (g->output[i] && !qf_onnx_names_add(s, g->output[i]->name)) return false;
    return true;
}

bool qf_onnx_names_add_subgraph_inputs(qf_onnx_names *s, const Onnx__GraphProto *g)
{
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        for (size_t a = 0; a < n->n_attribute; a++) {
            const Onnx__AttributeProto *at = n->attribute[a];
            if (!add_all_node_inputs(s, at->g)) return false;
            for (size_t j = 0; j < at->n_graphs; j++)
                if (!add_all_node_inputs(s, at->graphs[j])) return false;
        }
    }
    return true;
}

const char *qf_onnx_names_unique(qf_onnx_names *s, qf_onnx_arena *a, const char *base)
{
    if (!base) return NULL;
    const char *name = base;
    /* every try either succeeds or hits one more name of the set: at most n + 1 tries */
    for (size_t k = 1; qf_onnx_names_has(s, name); k++) {
        name = qf_onnx_arena_fmt(a, "%s_%zu", base, k);
        if (!name) return NULL;
    }
    if (name == base && !(name = qf_onnx_arena_fmt(a, "%s", base))) return NULL;
    return qf_onnx_names_add(s, name) ? name : NULL;
}

void qf_onnx_names_free(qf_onnx_names *s)
{
    free(s->slot);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------------------------------ */
/* The check                                                                                   */

enum { DEF_INPUT = 1, DEF_INPUT_DEFAULT, DEF_INIT, DEF_NODE };

typedef struct centry {
    const char *name;
    int depth;    /* graph nesting it is defined at; -1: not in scope */
    int kind;     /* DEF_* */
    bool used;
} centry;

typedef struct chk {
    centry *e;
    size_t n, cap;
    size_t *tab; /* entry index + 1; 0: empty */
    size_t tcap;
    size_t *log; /* entries defined, innermost last */
    size_t nlog, caplog;
    bool allow_unused;
    const char *file, *what;
    qf_error *err;
} chk;

static qf_status chk_oom(chk *c) { return qf_error_set(c->err, QF_STATUS_NO_MEMORY, c->file, NULL, -1, NULL, "out of memory"); }

static size_t chk_lookup(const chk *c, const char *name)
{
    if (!c->tcap) return SIZE_MAX;
    for (size_t k = hash_name(name) & (c->tcap - 1); c->tab[k]; k = (k + 1) & (c->tcap - 1))
        if (strcmp(c->e[c->tab[k] - 1].name, name) == 0) return c->tab[k] - 1;
    return SIZE_MAX;
}

static bool chk_grow_table(chk *c)
{
    size_t nc = c->tcap ? c->tcap * 2 : 256;
    if (nc < c->tcap || nc > SIZE_MAX / sizeof *c->tab) return false;
    size_t *tab = calloc(nc, sizeof *tab);
    if (!tab) return false;
    for (size_t i = 0; i < c->n; i++) {
        size_t k = hash_name(c->e[i].name) & (nc - 1);
        while (tab[k]) k = (k + 1) & (nc - 1);
        tab[k] = i + 1;
    }
    free(c->tab);
    c->tab = tab;
    c->tcap = nc;
    return true;
}

/* Index of `name`'s entry, created out of scope when new; SIZE_MAX when out of memory. */
static size_t chk_intern(chk *c, const char *name)
{
    size_t i = chk_lookup(c, name);
    if (i != SIZE_MAX) return i;
    if ((c->n + 1) * 2 > c->tcap && !chk_grow_table(c)) return SIZE_MAX;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        if (nc > SIZE_MAX / sizeof *c->e) return SIZE_MAX;
        centry *e = realloc(c->e, nc * sizeof *e);
        if (!e) return SIZE_MAX;
        c->e = e;
        c->cap = nc;
    }
    c->e[c->n] = (centry){name, -1, 0, false};
    size_t k = hash_name(name) & (c->tcap - 1);
    while (c->tab[k]) k = (k + 1) & (c->tcap - 1);
    c->tab[k] = c->n + 1;
    return c->n++;
}

static bool chk_define(chk *c, size_t i, int depth, int kind)
{
    if (c->nlog == c->caplog) {
        size_t nc = c->caplog ? c->caplog * 2 : 256;
        if (nc > SIZE_MAX / sizeof *c->log) return false;
        size_t *log = realloc(c->log, nc * sizeof *log);
        if (!log) return false;
        c->log = log;
        c->caplog = nc;
    }
    c->log[c->nlog++] = i;
    c->e[i].depth = depth;
    c->e[i].kind = kind;
    c->e[i].used = false;
    return true;
}

static const char *kind_text(int kind)
{
    switch (kind) {
    case DEF_INPUT: return "a graph input";
    case DEF_INPUT_DEFAULT: return "a graph input with its initializer";
    case DEF_INIT: return "an initializer";
    default: return "a node output";
    }
}

static const char *node_label(const Onnx__NodeProto *n, size_t index, char buf[32])
{
    if (n->name && n->name[0]) return n->name;
    snprintf(buf, 32, "#%zu", index);
    return buf;
}

static qf_status check_graph(chk *c, const Onnx__GraphProto *g, int depth);

static qf_status check_value_defs(chk *c, const Onnx__GraphProto *g, int depth)
{
    for (size_t i = 0; i < g->n_input; i++) {
        const char *v = g->input[i] ? g->input[i]->name : NULL;
        if (!v || !v[0])
            return qf_error_set(c->err, QF_STATUS_FORMAT, c->file, NULL, -1, NULL, "%s: graph input %zu has no name",
                                c->what, i);
        size_t e = chk_intern(c, v);
        if (e == SIZE_MAX) return chk_oom(c);
        if (c->e[e].depth >= 0)
            return qf_error_set(c->err, QF_STATUS_FORMAT, c->file, NULL, -1, v,
                                "%s: graph input '%s' is already defined as %s", c->what, v, kind_text(c->e[e].kind));
        if (!chk_define(c, e, depth, DEF_INPUT)) return chk_oom(c);
    }
    size_t n_init = g->n_initializer + g->n_sparse_initializer;
    for (size_t i = 0; i < n_init; i++) {
        const Onnx__TensorProto *t = i < g->n_initializer ? g->initializer[i]
                                                          : g->sparse_initializer[i - g->n_initializer]->values;
        const char *v = t ? t->name : NULL;
        if (!v || !v[0])
            return qf_error_set(c->err, QF_STATUS_FORMAT, c->file, NULL, -1, NULL, "%s: initializer %zu has no name",
                                c->what, i);
        size_t e = chk_intern(c, v);
        if (e == SIZE_MAX) return chk_oom(c);
        if (c->e[e].depth == depth && c->e[e].kind == DEF_INPUT) {
            c->e[e].kind = DEF_INPUT_DEFAULT; /* the input's default value */
            continue;
        }
        if (c->e[e].depth >= 0)
            return qf_error_set(c->err, QF_STATUS_FORMAT, c->file, NULL, -1, v,
                                "%s: initializer '%s' is already defined as %s", c->what, v, kind_text(c->e[e].kind));
        if (!chk_define(c, e, depth, DEF_INIT)) return chk_oom(c);
    }
    return QF_STATUS_OK;
}

static qf_status check_nodes(chk *c, const Onnx__GraphProto *g, int depth, qf_onnx_names *node_names)
{
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        char lb[32];
        const char *label = node_label(n, i, lb), *op = n->op_type ? n->op_type : "?";
        if (n->name && n->name[0]) {
            if (qf_onnx_names_has(node_names, n->name))
                return qf_error_set(c->err, QF_STATUS_FORMAT, c->file, NULL, -1, n->name,
                                    "%s: two nodes are named '%s'", c->what, n->name);
            if (!qf_onnx_names_add(node_names, n->name)) return chk_oom(c);
        }
        for (size_t k = 0; k < n->n_input; k++) {
            const char *v = n->input[k];
            if (!v || !v[0]) continue; /* an omitted optional input */
            size_t e = chk_lookup(c, v);
            if (e == SIZE_MAX || c->e[e].depth < 0)
                return qf_error_set(c->err, QF_STATUS_FORMAT, c->file, NULL, -1, v,
                                    "%s: node '%s' (%s) reads '%s', which no graph input, initializer or earlier node "
                                    "output defines",
                                    c->what, label, op, v);
            c->e[e].used = true;
        }
        for (size_t a = 0; a < n->n_attribute; a++) {
            const Onnx__AttributeProto *at = n->attribute[a];
            qf_status s = at->g ? check_graph(c, at->g, depth + 1) : QF_STATUS_OK;
            for (size_t j = 0; !s && j < at->n_graphs; j++) s = check_graph(c, at->graphs[j], depth + 1);
            if (s) return s;
        }
        for (size_t k = 0; k < n->n_output; k++) {
            const char *v = n->output[k];
            if (!v || !v[0]) continue; /* an omitted optional output */
            size_t e = chk_intern(c, v);
            if (e == SIZE_MAX) return chk_oom(c);
            if (c->e[e].depth >= 0)
                return qf_error_set(c->err, QF_STATUS_FORMAT, c->file, NULL, -1, v,
                                    "%s: node '%s' (%s) produces '%s', which is already defined as %s", c->what, label,
                                    op, v, kind_text(c->e[e].kind));
            if (!chk_define(c, e, depth, DEF_NODE)) return chk_oom(c);
        }
    }
    return QF_STATUS_OK;
}

static qf_status check_graph(chk *c, const Onnx__GraphProto *g, int depth)
{
    size_t mark = c->nlog;
    qf_onnx_names node_names = {0};
    qf_status s = check_value_defs(c, g, depth);
    if (!s) s = check_nodes(c, g, depth, &node_names);
    qf_onnx_names_free(&node_names);
    for (size_t i = 0; !s && i < g->n_output; i++) {
        const char *v = g->output[i] ? g->output[i]->name : NULL;
        size_t e = v && v[0] ? chk_lookup(c, v) : SIZE_MAX;
        if (e == SIZE_MAX || c->e[e].depth < 0)
            s = qf_error_set(c->err, QF_STATUS_FORMAT, c->file, NULL, -1, v,
                             "%s: graph output '%s' is not defined by any graph input, initializer or node", c->what,
                             v ? v : "");
        else
            c->e[e].used = true;
    }
    for (size_t i = 0; !s && !c->allow_unused && i < g->n_initializer + g->n_sparse_initializer; i++) {
        const Onnx__TensorProto *t = i < g->n_initializer ? g->initializer[i]
                                                          : g->sparse_initializer[i - g->n_initializer]->values;
        size_t e = chk_lookup(c, t->name);
        if (e != SIZE_MAX && !c->e[e].used && c->e[e].kind != DEF_INPUT_DEFAULT)
            s = qf_error_set(c->err, QF_STATUS_FORMAT, c->file, NULL, -1, t->name,
                             "%s: initializer '%s' is never read (no node, subgraph or graph output uses it)", c->what,
                             t->name);
    }
    /* leave the scope: this graph's values are not visible to the graphs beside it */
    for (size_t i = mark; i < c->nlog; i++) c->e[c->log[i]].depth = -1;
    c->nlog = mark;
    return s;
}

qf_status qf_onnx_graph_check(const Onnx__GraphProto *g, bool allow_unused, const char *file, const char *what,
                              qf_error *err)
{
    chk c;
    memset(&c, 0, sizeof c);
    c.allow_unused = allow_unused;
    c.file = file;
    c.what = what;
    c.err = err;
    qf_status s = g ? check_graph(&c, g, 0)
                    : qf_error_set(err, QF_STATUS_FORMAT, file, NULL, -1, NULL, "%s: the model has no graph", what);
    free(c.e);
    free(c.tab);
    free(c.log);
    return s;
}

qf_status qf_onnx_check_file(const char *path, qf_error *err)
{
    qf_file *f = NULL;
    Onnx__ModelProto *mp = NULL;
    qf_status s = qf_file_map(path, &f, err);
    if (!s) s = qf_onnx_proto_parse(qf_file_data(f), qf_file_size(f), path, &mp, NULL, err);
    if (!s) s = qf_onnx_graph_check(mp->graph, false, path, "graph", err);
    qf_onnx_proto_free(mp);
    qf_file_unmap(f);
    return s;
}
