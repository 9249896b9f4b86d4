/*
 * tests/support/synth_encoder.h — small in-memory encoder checkpoints with deterministic random
 * weights and the tensor names Hugging Face writes, for the architecture and encoder tests.
 */
#ifndef QF_TESTS_SYNTH_ENCODER_H
#define QF_TESTS_SYNTH_ENCODER_H

#include "qforge/verify.h"

typedef struct synth_encoder_opts {
    qf_arch_family family;
    int hidden, layers, heads, intermediate, embedding; /* embedding: ELECTRA, ALBERT (0: = hidden) */
    int groups;          /* ALBERT: num_hidden_groups, the layers of weights (0: one per layer) */
    int vocab, positions, labels;                       /* labels 0: base model without head */
    bool prefix;         /* "bert." etc. in front of the encoder's names */
    bool extras;         /* add a position_ids buffer and an MLM head tensor (to be ignored) */
    const char *act;     /* hidden_act; NULL: "gelu" */
    unsigned seed;
} synth_encoder_opts;

synth_encoder_opts synth_encoder_opts_default(qf_arch_family family);

/* Builds the model; *out owns everything. Returns QF_STATUS_OK or the failing status. */
qf_status synth_encoder_model(const synth_encoder_opts *o, qf_model **out);

/* Source name of a canonical slot, as this generator writes it ("" when the family has none). */
void synth_encoder_source_name(const synth_encoder_opts *o, const char *canonical, char *out, size_t size);

#endif
