/*
 * text/tokenizer_internal.h: the parts of a loaded tokenizer, shared by the files of the
 * tokenizer layer:
 *   tokenizer.c            loading (file / folder), added tokens, encode pipeline, post-processing;
 *   tokenizer_json.c       the json-c adapter: tokenizer.json, vocab.json, tokenizer_config.json;
 *   tokenizer_normalize.c  normalizers;
 *   tokenizer_pretok.c     pre-tokenizers (incl. the GPT-2 split, written out by hand);
 *   tokenizer_wordpiece.c  the WordPiece model;   tokenizer_bpe.c  the BPE model;
 *   tokenizer_unigram.c    the Unigram model (SentencePiece's);
 *   tokenizer_precompiled.c  SentencePiece's charsmap normalizer;
 *   tokenizer_spm.c        SentencePiece model files, converted to tokenizer.json;
 *   tokenizer_map.c        hash maps (token -> id, merge pair -> rank).
 * Text inside the pipeline is arrays of code points; vocabularies hold UTF-8 bytes.
 */
#ifndef QF_VERIFY_TOKENIZER_INTERNAL_H
#define QF_VERIFY_TOKENIZER_INTERNAL_H

#include "qforge/text.h"
#include "text/unicode.h"

/* ---- hash maps -------------------------------------------------------------------------- */

/* Byte string -> id. Keys are copied into the map. Insert replaces the id of an existing key. */
typedef struct qf_tok_map_slot {
    uint32_t hash;
    uint32_t len;
    size_t off; /* into pool; SIZE_MAX marks an empty slot */
    int32_t id;
} qf_tok_map_slot;

typedef struct qf_tok_map {
    qf_tok_map_slot *slots;
    size_t cap, count;
    char *pool;
    size_t pool_n, pool_cap;
} qf_tok_map;

bool qf_tok_map_put(qf_tok_map *m, const char *key, size_t len, int32_t id); /* false: no memory */
int32_t qf_tok_map_get(const qf_tok_map *m, const char *key, size_t len);     /* -1 when absent */
void qf_tok_map_free(qf_tok_map *m);

/* (left id, right id) -> (rank, merged id). Insert replaces an existing pair. */
typedef struct qf_tok_pairmap {
    uint64_t *keys; /* UINT64_MAX marks an empty slot */
    uint32_t *ranks;
    int32_t *ids;
    size_t cap, count;
} qf_tok_pairmap;

bool qf_tok_pairmap_put(qf_tok_pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t id);
bool qf_tok_pairmap_get(const qf_tok_pairmap *m, int32_t a, int32_t b, uint32_t *rank, int32_t *id);
void qf_tok_pairmap_free(qf_tok_pairmap *m);

/* The loading context (defined below with the loaders). */
typedef struct qf_tok_ctx qf_tok_ctx;

/* ---- normalizers ------------------------------------------------------------------------ */

typedef enum qf_tok_norm_kind {
    QF_TOK_NORM_BERT,
    QF_TOK_NORM_LOWERCASE,
    QF_TOK_NORM_NFD,
    QF_TOK_NORM_NFKD,
    QF_TOK_NORM_NFC,
    QF_TOK_NORM_NFKC,
    QF_TOK_NORM_STRIP_ACCENTS,
    QF_TOK_NORM_STRIP,
    QF_TOK_NORM_REPLACE,
    QF_TOK_NORM_PREPEND,
    QF_TOK_NORM_PRECOMPILED,
    QF_TOK_NORM_SEQUENCE
} qf_tok_norm_kind;

/* A SentencePiece precompiled_charsmap (tokenizer_precompiled.c). */
typedef struct qf_tok_charsmap qf_tok_charsmap;

typedef struct qf_tok_norm {
    qf_tok_norm_kind kind;
    bool clean_text, handle_chinese_chars, strip_accents, lowercase; /* BERT (strip_accents resolved) */
    bool strip_left, strip_right;                                    /* Strip */
    qf_cpbuf pattern, content;          /* Replace: pattern -> content; Prepend: content */
    size_t min_run;                     /* Replace: 0 for a String pattern; for the Regex "c{m,}" or
                                         * "c+", m (1 for +): a run of at least m of the one
                                         * character of pattern is one match */
    qf_tok_charsmap *charsmap;          /* Precompiled, owned */
    struct qf_tok_norm *items;          /* Sequence */
    size_t n_items;
} qf_tok_norm;

/* The bound of one normalization and, when a step went past it, which step. */
typedef struct qf_tok_norm_run {
    size_t piece;      /* code points of the piece given to the whole normalizer */
    size_t max;        /* code points it may become: qf_tok_norm_budget(piece) */
    char where[128];   /* on LIMIT: JSON path of the step, "normalizer.normalizers[2]" */
    const char *type;  /* on LIMIT or FORMAT: its type, "Replace" (static storage) */
    size_t found;      /* on LIMIT: code points the step would make (or had made when it stopped) */
    bool found_exact;  /* found is the step's whole output, not where it was stopped */
} qf_tok_norm_run;

/* QF_TOKENIZER_MAX_NORMALIZE_EXPANSION code points per code point of the piece, at most
 * QF_TOKENIZER_MAX_NORMALIZED. */
size_t qf_tok_norm_budget(size_t piece);
/* Sets run->piece and run->max for a piece of `piece` code points. */
void qf_tok_norm_run_init(qf_tok_norm_run *run, size_t piece);

/* Appends the normalization of in[0..n) to out, and to out_align the alignment of each appended
 * code point (unicode.h) computed from in_align[0..n) as Hugging Face's NormalizedString does; no
 * step (nor a Sequence as a whole) appends more than run->max code points. QF_STATUS_LIMIT
 * (run->where, type, found set) when one would, QF_STATUS_FORMAT (run->where, type set) when a
 * Precompiled step's charsmap points outside itself, QF_STATUS_NO_MEMORY when out of memory. */
qf_status qf_tok_norm_apply(const qf_tok_norm *nm, const uint32_t *in, const uint32_t *in_align, size_t n,
                            qf_cpbuf *out, qf_cpbuf *out_align, qf_tok_norm_run *run);
void qf_tok_norm_free(qf_tok_norm *nm); /* frees the contents, not nm itself */

/* The precompiled_charsmap blob (or its base64, as tokenizer.json holds it), checked: its header,
 * its trie's size, UTF-8 of its strings. `field` names it in errors. */
qf_status qf_tok_charsmap_from_blob(const qf_tok_ctx *c, const char *field, const uint8_t *blob, size_t n,
                                    qf_tok_charsmap **out);
qf_status qf_tok_charsmap_from_base64(const qf_tok_ctx *c, const char *field, const char *text, size_t n,
                                      qf_tok_charsmap **out);
void qf_tok_charsmap_free(qf_tok_charsmap *m);
/* The Precompiled normalization of in[0..n) appended to out / out_align (tokenizer_precompiled.c):
 * QF_STATUS_LIMIT once more than max_out code points were appended, QF_STATUS_FORMAT when the
 * charsmap points outside itself. */
qf_status qf_tok_charsmap_normalize(const qf_tok_charsmap *m, const uint32_t *in, const uint32_t *in_align, size_t n,
                                    size_t max_out, qf_cpbuf *out, qf_cpbuf *out_align);

/* ---- pre-tokenizers --------------------------------------------------------------------- */

typedef enum qf_tok_pre_kind {
    QF_TOK_PRE_BERT,
    QF_TOK_PRE_WHITESPACE,
    QF_TOK_PRE_WHITESPACE_SPLIT,
    QF_TOK_PRE_BYTE_LEVEL,
    QF_TOK_PRE_PUNCTUATION,
    QF_TOK_PRE_SPLIT,
    QF_TOK_PRE_DIGITS,
    QF_TOK_PRE_METASPACE,
    QF_TOK_PRE_SEQUENCE
} qf_tok_pre_kind;

/* Metaspace's prepend_scheme. */
typedef enum qf_tok_prepend { QF_TOK_PREPEND_ALWAYS, QF_TOK_PREPEND_FIRST, QF_TOK_PREPEND_NEVER } qf_tok_prepend;

/* How a split keeps what its pattern matched (Hugging Face's SplitDelimiterBehavior). */
typedef enum qf_tok_behavior {
    QF_TOK_REMOVED,
    QF_TOK_ISOLATED,
    QF_TOK_MERGED_WITH_PREVIOUS,
    QF_TOK_MERGED_WITH_NEXT,
    QF_TOK_CONTIGUOUS
} qf_tok_behavior;

typedef struct qf_tok_pre {
    qf_tok_pre_kind kind;
    bool add_prefix_space, use_regex; /* ByteLevel */
    qf_tok_behavior behavior;         /* Punctuation, Split */
    bool invert;                      /* Split */
    bool individual_digits;           /* Digits */
    qf_cpbuf pattern;                 /* Split (String pattern) */
    uint32_t replacement;             /* Metaspace */
    qf_tok_prepend prepend_scheme;    /* Metaspace */
    bool split;                       /* Metaspace */
    struct qf_tok_pre *items;         /* Sequence */
    size_t n_items;
} qf_tok_pre;

/* Pieces of text: spans of one growing code point buffer (pre-tokenizers append new text to it). */
typedef struct qf_tok_span {
    size_t off, len;
} qf_tok_span;

typedef struct qf_tok_spans {
    qf_tok_span *v;
    size_t n, cap;
} qf_tok_spans;

bool qf_tok_spans_push(qf_tok_spans *s, size_t off, size_t len); /* ignores empty spans */
void qf_tok_spans_free(qf_tok_spans *s);

/* Pre-tokenizes the pieces `in` of `text` into `out` (emptied first). `align` holds the alignment
 * of each code point of `text` (unicode.h); text appended to `text` gets its alignment appended. */
bool qf_tok_pre_apply(const qf_tok_pre *pt, qf_cpbuf *text, qf_cpbuf *align, const qf_tok_spans *in,
                      qf_tok_spans *out);
void qf_tok_pre_free(qf_tok_pre *pt);

/* ---- models ------------------------------------------------------------------------------ */

typedef enum qf_tok_model_kind { QF_TOK_MODEL_WORDPIECE, QF_TOK_MODEL_BPE, QF_TOK_MODEL_UNIGRAM } qf_tok_model_kind;

/* A Unigram vocabulary entry in byte order: where its bytes are in the vocabulary map's key pool,
 * and the id the map gives that string (the last of duplicates, as Hugging Face's map keeps). */
typedef struct qf_tok_piece_ref {
    size_t off;
    uint32_t len;
    int32_t id;
} qf_tok_piece_ref;

typedef struct qf_tok_model {
    qf_tok_model_kind kind;
    qf_tok_map vocab;
    int32_t max_id;       /* largest id in vocab; -1 when empty */
    char *unk_token;      /* owned; NULL when the model has none (BPE) */
    int32_t unk_id;       /* -1 when unk_token is absent from the vocabulary */
    char *prefix;         /* continuing_subword_prefix, owned; NULL when none */
    char *suffix;         /* BPE end_of_word_suffix, owned; NULL when none */
    size_t max_input_chars_per_word; /* WordPiece */
    qf_tok_pairmap merges;           /* BPE */
    bool fuse_unk, byte_fallback, ignore_merges;
    /* Unigram: the score of each id (ids are the positions of "vocab", 0 .. n_scores - 1), the
     * lowest score, and the distinct strings sorted by their bytes (the prefix search). */
    double *scores;
    size_t n_scores;
    double min_score;
    qf_tok_piece_ref *sorted;
    size_t n_sorted;
} qf_tok_model;

/* Scratch memory of one encode call, reused across words. */
typedef struct qf_tok_scratch {
    char *bytes;
    size_t bytes_cap;
    size_t *offs;
    size_t offs_cap;
    void *work;
    size_t work_cap;
} qf_tok_scratch;

/* Token ids with the code points each one covers: [start, end) of the word for the models (what
 * Hugging Face's Token offsets are, in code points), of the original text once encode maps them. */
typedef struct qf_tok_ids {
    int32_t *v;
    uint32_t *start, *end;
    int32_t *word; /* the pre-token each id came from (-1 until the encoder sets it) */
    size_t n, cap;
} qf_tok_ids;

bool qf_tok_ids_push(qf_tok_ids *ids, int32_t id, size_t start, size_t end);

/* Appends the ids of one pre-token. QF_STATUS_FORMAT when the unknown token is needed but absent. */
qf_status qf_tok_wordpiece(const qf_tok_model *m, const uint32_t *w, size_t n, qf_tok_scratch *s,
                           qf_tok_ids *out, qf_error *err);
qf_status qf_tok_bpe(const qf_tok_model *m, const uint32_t *w, size_t n, qf_tok_scratch *s,
                     qf_tok_ids *out, qf_error *err);
/* Unigram: the most probable segmentation (Viterbi over the pieces' scores), as Hugging Face's
 * encode_optimized; unknown characters become the unknown token (consecutive ones fused), or
 * their bytes' <0xXX> pieces with byte_fallback. */
qf_status qf_tok_unigram(const qf_tok_model *m, const uint32_t *w, size_t n, qf_tok_scratch *s,
                         qf_tok_ids *out, qf_error *err);
/* Sorts the Unigram vocabulary for the prefix search, once every entry was added. */
bool qf_tok_unigram_index(qf_tok_model *m);
void qf_tok_model_free(qf_tok_model *m);

/* UTF-8 of w[0..n) into s->bytes (grown), with the byte offset of each code point in s->offs
 * (n + 1 entries, the last one the total length). Returns false when out of memory. */
bool qf_tok_scratch_utf8(qf_tok_scratch *s, const uint32_t *w, size_t n, size_t reserve_extra);

/* ---- added tokens, post-processor, tokenizer --------------------------------------------- */

typedef struct qf_tok_added {
    int32_t id;
    char *content;      /* UTF-8, owned */
    size_t content_len;
    qf_cpbuf match;     /* what is searched: the content, or its normalization when `normalized` */
    bool single_word, lstrip, rstrip, normalized, special;
} qf_tok_added;

/* A piece of a TemplateProcessing template: sequence A or B, or a special token's ids. */
typedef struct qf_tok_piece {
    int32_t seq;     /* 0: sequence A, 1: sequence B, -1: a special token */
    int32_t type_id;
    int32_t *ids;    /* the special token's ids, owned; NULL for a sequence */
    size_t n_ids;
} qf_tok_piece;

typedef enum qf_tok_post_kind {
    QF_TOK_POST_BERT,
    QF_TOK_POST_ROBERTA,
    QF_TOK_POST_TEMPLATE,
    QF_TOK_POST_BYTE_LEVEL /* trim_offsets only: no special tokens, ids and types unchanged */
} qf_tok_post_kind;

/* One post-processor. For a single sequence it is one step: prefix + sequence + suffix. For pairs
 * it is kept as Hugging Face's processor (kind, cls/sep, the templates), which qf_tok_finish runs
 * symbolically into the pair layouts of the tokenizer. */
typedef struct qf_tok_post {
    int32_t *prefix_ids, *prefix_types;
    size_t n_prefix;
    int32_t *suffix_ids, *suffix_types;
    size_t n_suffix;
    int32_t seq_type; /* type id given to the sequence; -1 keeps the ones it has */
    qf_tok_post_kind kind;
    int32_t cls_id, sep_id;            /* BertProcessing, RobertaProcessing */
    qf_tok_piece *single, *pair;       /* TemplateProcessing; owned */
    size_t n_single, n_pair;
    bool has_pair;                     /* the file gives a "pair" template */
    /* RobertaProcessing / ByteLevel trim_offsets: each token's offsets lose the leading and trailing
     * whitespace ('Ġ' or White_Space) of its string, except one leading space of the first token
     * when trim_add_prefix_space (their add_prefix_space). */
    bool trim_offsets, trim_add_prefix_space;
} qf_tok_post;

/* One position of a laid-out pair: a special token, or where sequence A or B goes. */
typedef struct qf_tok_slot {
    int32_t seq;     /* 0: sequence A, 1: sequence B (all its tokens, with type_id); -1: special token id */
    int32_t id;
    int32_t type_id;
} qf_tok_slot;

/* Entries a pair layout may have (specials and sequence places together): a Sequence of
 * post-processors whose templates copy the sequences can multiply them. */
#define QF_TOK_MAX_PAIR_LAYOUT (QF_TOKENIZER_MAX_TEMPLATE * QF_TOKENIZER_MAX_TEMPLATE)
/* tokenizer_config.json "model_input_names": transformers' classes list 2 to 4 */
#define QF_TOK_MAX_INPUT_NAMES 64

struct qf_tokenizer {
    qf_tok_norm *normalizer; /* NULL when none */
    qf_tok_pre *pre;         /* NULL when none */
    qf_tok_model model;
    qf_tok_post *post;       /* steps applied in order */
    size_t n_post;
    /* The pair as Hugging Face lays it out: [0] without, [1] with the special tokens (owned). */
    qf_tok_slot *pair_layout[2];
    size_t n_pair_layout[2];
    size_t n_special_pair;        /* what pair truncation keeps room for (Rust's added_tokens(true)) */
    char pair_unsupported[160];   /* why pairs cannot be encoded; "" when they can */
    qf_tok_added *added;
    size_t n_added, cap_added;
    qf_tok_map added_index;           /* content -> index into added */
    size_t *match_raw, n_match_raw;   /* indexes into added, sorted by first code point */
    size_t *match_norm, n_match_norm;
    int32_t pad_id;           /* -1 until resolved */
    int32_t pad_type_id;
    /* When a post-processor step trims offsets: leading and trailing whitespace characters of each
     * model vocabulary entry, by id ([trim_ws_count], capped at UINT16_MAX); NULL otherwise. */
    uint16_t *trim_lead, *trim_trail;
    size_t trim_ws_count;
    /* transformers passes no token_type_ids to the model (its tokenizer's model_input_names lack
     * them): every encoding's type ids are 0, what the model then uses. Set by the folder load. */
    bool drop_token_types;
    /* a Lowercase normalizer was put in front by sentence-transformers' do_lower_case */
    bool sentence_lowercase;
};

/* Loading context: the file being read, for error messages. */
struct qf_tok_ctx {
    const char *file;
    qf_error *err;
};

qf_status qf_tok_format_error(const qf_tok_ctx *c, const char *field, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* tokenizer.c: building blocks the JSON adapter calls. */
qf_status qf_tok_add_vocab(const qf_tok_ctx *c, qf_tok_model *m, const char *tok, size_t len,
                           int64_t id, const char *field);
qf_status qf_tok_add_merge(const qf_tok_ctx *c, qf_tok_model *m, const char *a, size_t a_len,
                           const char *b, size_t b_len, uint32_t rank, const char *field);
qf_status qf_tok_add_added(const qf_tok_ctx *c, qf_tokenizer *t, const qf_tok_added *spec,
                           const char *field);
qf_status qf_tok_finish(const qf_tok_ctx *c, qf_tokenizer *t);
qf_tokenizer *qf_tok_alloc(void);

/* tokenizer_json.c: the json-c adapter. */
qf_status qf_tok_parse_tokenizer_json(const qf_tok_ctx *c, const void *data, size_t size,
                                      qf_tokenizer *t);
/* vocab.json of a byte-level BPE into m->vocab. */
qf_status qf_tok_parse_vocab_json(const qf_tok_ctx *c, const void *data, size_t size, qf_tok_model *m);
/* tokenizer_config.json: the keys the folder defaults read. Absent keys keep the given values. */
typedef struct qf_tok_config {
    bool do_lower_case, add_prefix_space, tokenize_chinese_chars;
    int strip_accents; /* -1 null / absent, else 0 or 1 */
    /* "model_input_names": -1 absent / null, else whether it lists "token_type_ids" */
    int lists_token_types;
    /* "tokenizer_class" (a longer one is refused); "" when absent / null */
    char tokenizer_class[64];
    /* SentencePiece classes' options: 1 true, 0 false, -1 absent or null */
    int lower_case, keep_accents, split_by_punct;
} qf_tok_config;
qf_status qf_tok_parse_config_json(const qf_tok_ctx *c, const void *data, size_t size,
                                   qf_tok_config *cfg);
/* config.json "model_type" (a longer one is refused); "" when absent. */
qf_status qf_tok_parse_model_type_json(const qf_tok_ctx *c, const void *data, size_t size, char out[64]);

/* tokenizer_spm.c: a SentencePiece model file converted to the tokenizer.json transformers' converter
 * of the folder's tokenizer class lays out (the options from tokenizer_config.json / config.json). */
typedef struct qf_tok_spm_options {
    char tokenizer_class[64];   /* "" when the folder names none */
    char model_type[64];        /* config.json's; "" when absent */
    int do_lower_case, keep_accents, split_by_punct; /* 1, 0, or -1 absent (the class's default) */
    int add_prefix_space;                            /* 0 false; else true */
} qf_tok_spm_options;
qf_status qf_tok_spm_to_json(const qf_tok_ctx *c, const uint8_t *data, size_t size, const qf_tok_spm_options *o,
                             char **json, size_t *json_len);
/* The class a folder's SentencePiece model is read as (its converter), or NULL when none is. */
const char *qf_tok_spm_class(const qf_tok_spm_options *o);

/* sentence_bert_config.json: *lower true when "do_lower_case" is the boolean true (sentence-
 * transformers tests it for truth; any other value leaves the tokenizer as it is). */
qf_status qf_tok_parse_sbert_config_json(const qf_tok_ctx *c, const void *data, size_t size, bool *lower);

#endif /* QF_VERIFY_TOKENIZER_INTERNAL_H */
