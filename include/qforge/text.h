/*
 * qforge text: what turns rows of text into token ids: Hugging Face tokenizers (tokenizer.json,
 * WordPiece, byte-level BPE) with identical ids, finding a model's tokenizer, and JSONL datasets
 * tokenized once. Below calibrate and verify; knows nothing of models.
 *
 * Conventions as in core.h: fallible calls return qf_status and fill an optional qf_error;
 * opaque types have one create/destroy pair and destroy accepts NULL; returned pointers are
 * borrowed unless the comment says "owned".
 */
#ifndef QFORGE_TEXT_H
#define QFORGE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qforge/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* =============================================================================================
 * Tokenizers (text/tokenizer*.c)
 *
 * Hugging Face tokenizers re-implemented so that the ids are identical to those of the Rust
 * `tokenizers` library (what transformers uses with a tokenizer.json) for the families qforge
 * runs: BERT / DistilBERT / ELECTRA / MiniLM (WordPiece) and RoBERTa (byte-level BPE).
 *
 * Supported components of tokenizer.json (anything else is refused with QF_STATUS_UNSUPPORTED,
 * naming the component):
 *   normalizers     BertNormalizer, Lowercase, NFD, NFKD, NFC, NFKC, StripAccents, Strip,
 *                   Replace (String pattern), Prepend, Sequence;
 *   pre-tokenizers  BertPreTokenizer, Whitespace, WhitespaceSplit, ByteLevel, Punctuation,
 *                   Split (String pattern), Digits, Sequence;
 *   models          WordPiece, BPE (dropout null or 0, byte_fallback, fuse_unk, ignore_merges,
 *                   continuing_subword_prefix, end_of_word_suffix);
 *   post-processors BertProcessing, RobertaProcessing, TemplateProcessing ("single", and "pair"
 *                   when present: checked like "single", needed to encode pairs), ByteLevel,
 *                   Sequence;
 *   added_tokens    with single_word, lstrip, rstrip, normalized.
 * The decoder, and the file's own "truncation" / "padding" settings, are ignored (transformers
 * overrides them too); qf_tokenize_params says how to truncate and pad. "padding.pad_id" is used
 * as the padding id when present.
 *
 * Text handling: input bytes that are not valid UTF-8 are decoded like Python's
 * `bytes.decode("utf-8", errors="replace")`: each maximal ill-formed subsequence becomes one
 * U+FFFD (a Rust String cannot hold them, so Hugging Face never sees such bytes). A NUL byte is
 * an ordinary character (U+0000).
 *
 * Unicode data (categories, normalization, lowercase) comes from tables generated from Python's
 * unicodedata (see qf_tokenizer_unicode_version); Rust tokenizers mixes older tables
 * (unicode_categories) and newer ones (Rust std), so characters assigned in recent Unicode
 * versions may be classified differently. No such character occurs in the parity data.
 *
 * A loaded tokenizer is immutable: encode may run concurrently from several threads.
 * ============================================================================================= */

typedef struct qf_tokenizer qf_tokenizer;

/*
 * Loads a tokenizer. `path` is a tokenizer.json file, a SentencePiece model file (*.model: read as
 * its folder, below), or a folder holding one of:
 *   - tokenizer.json;
 *   - vocab.txt: BERT WordPiece with transformers' defaults (BertNormalizer with lowercase =
 *     tokenizer_config.json "do_lower_case" (default true), "strip_accents" and
 *     "tokenize_chinese_chars" when present; BertPreTokenizer; [UNK], "##", 100 chars per word;
 *     [CLS] $A [SEP] and [CLS] $A [SEP] $B [SEP]; [PAD] [UNK] [CLS] [SEP] [MASK] as special tokens);
 *   - vocab.json + merges.txt: RoBERTa byte-level BPE with transformers' defaults (ByteLevel with
 *     add_prefix_space = tokenizer_config.json "add_prefix_space" (default false); <s> $A </s> and
 *     <s> $A </s> </s> $B </s>;
 *     <s> <pad> </s> <unk> special, <mask> special with lstrip);
 *   - sentencepiece.bpe.model, spm.model or spiece.model: a SentencePiece Unigram model, converted
 *     to the tokenizer.json transformers' converter writes for the tokenizer class the folder names
 *     (tokenizer_config.json "tokenizer_class", else config.json "model_type"): XLMRobertaTokenizer,
 *     CamembertTokenizer, DebertaV2Tokenizer (do_lower_case, split_by_punct) or AlbertTokenizer
 *     (do_lower_case, keep_accents); any other class is refused (QF_STATUS_UNSUPPORTED).
 * Validates the whole file (types, ids, limits of limits.h, merge tokens present in the vocabulary)
 * before returning. On failure *out is NULL and err names the file and the field.
 */
qf_status qf_tokenizer_load(const char *path, qf_tokenizer **out, qf_error *err);

/*
 * The tokenizer of a model, found the same way by every command (verify, run, calibrate, convert,
 * quantize): `explicit_path` (the user's --tokenizer: a tokenizer.json, or a folder as above; may be
 * anywhere) when non-NULL; else the folder of each of beside[0..nbeside) in turn (NULL entries
 * skipped; an entry that is itself a folder is searched itself): the first folder holding tokenizer.json, vocab.txt,
 * vocab.json or a SentencePiece model file is loaded as a folder
 * (qf_tokenizer_load: each of its files must resolve inside it). *out stays NULL when no folder has
 * one (rows must then carry input_ids). `used` (may be NULL, used_size bytes) receives what was
 * loaded: the tokenizer.json file, or the folder; "" when none.
 */
qf_status qf_tokenizer_find(const char *explicit_path, const char *const *beside, size_t nbeside, qf_tokenizer **out,
                            char *used, size_t used_size, qf_error *err);

/* Same as qf_tokenizer_load for tokenizer.json bytes held in memory; `name` (may be NULL) is the
 * file name used in error messages. The bytes are not referenced after the call. */
qf_status qf_tokenizer_load_json(const void *data, size_t size, const char *name, qf_tokenizer **out,
                                 qf_error *err);

void qf_tokenizer_destroy(qf_tokenizer *t); /* accepts NULL */

typedef struct qf_tokenize_params {
    /* > 0: truncate like transformers' `truncation=True, max_length=N`: one sequence is cut to N
     * minus the special tokens the post-processor adds, then they are added (a pair: see
     * qf_tokenizer_encode_pair). 0: no truncation. */
    int32_t max_length;
    /* > 0: pad on the right up to this length (pad id, attention 0, type id of the padding);
     * a longer encoding is left as it is. 0: no padding. */
    int32_t pad_to;
    /* Add the post-processor's special tokens ([CLS] ... [SEP]); default true. */
    bool add_special_tokens;
} qf_tokenize_params;

qf_tokenize_params qf_tokenize_params_default(void); /* {0, 0, true} */

/*
 * The result of one encode. Caller-owned struct; the arrays are owned by it and released with
 * qf_encoding_free. Zero-initialise it (or call qf_encoding_init) before the first encode; it may
 * be reused for many encodes, which then reuse its memory.
 */
typedef struct qf_encoding {
    int32_t *input_ids;
    int32_t *attention_mask; /* 1 for tokens, 0 for padding */
    int32_t *token_type_ids;
    int32_t *sequence_ids;   /* which text each position came from: 0 (the text, or the first of a
                              * pair), 1 (the second of a pair), -1 (a special token or padding) */
    /* [length][2] start, end (exclusive) in code points of the original text; 0,0 for special
     * tokens and padding. See "Offsets" below. */
    int32_t *offsets;
    /* the word each position belongs to (Hugging Face's `Encoding.word_ids`): the index of the
     * piece of its text that the pre-tokenizer made it from (an added token is one piece),
     * counted from 0 in each text of a pair; -1 for special tokens and padding, and for ids laid
     * out by qf_tokenizer_post_process */
    int32_t *word_ids;
    size_t length;   /* entries in each array (pairs in offsets) */
    size_t capacity; /* allocated entries (internal) */
} qf_encoding;

/*
 * Offsets: what Hugging Face's `Encoding.offsets` holds in Python (transformers'
 * return_offsets_mapping=True): for each token, the characters [start, end) of the original text
 * it comes from, counted in Unicode code points (Python str indices) of the text as decoded above
 * (an invalid UTF-8 sequence counts as the one U+FFFD it becomes; qf_text_char_to_byte maps them
 * back to bytes). They follow the Rust library: a token spans from its first normalized
 * character's original character to its last one's (a character a normalizer decomposes, a CJK
 * ideograph BERT pads with spaces, a multi-byte character a byte-level BPE token covers only part
 * of: each gives its pieces the whole original character); removed characters (controls) belong
 * to no token; an added token covers the text it matched, the spaces its lstrip / rstrip took
 * included; post-processors with trim_offsets (RobertaProcessing, ByteLevel) then drop leading and
 * trailing spaces ('Ġ') from each token's span, keeping the one a first token got from
 * add_prefix_space. Special tokens added by the post-processor, and padding, are (0, 0).
 */

void qf_encoding_init(qf_encoding *e);
void qf_encoding_free(qf_encoding *e); /* frees the arrays and zeroes the struct; accepts NULL */

/*
 * Encodes `len` bytes of `text` (need not be NUL-terminated; any bytes, see above) as one
 * sequence. `p` may be NULL (defaults). sequence_ids is 0 over the text's tokens, -1 over the
 * special tokens and the padding. On failure `out->length` is 0.
 * Fails with QF_STATUS_INVALID_ARGUMENT when max_length is smaller than the number of special
 * tokens, QF_STATUS_LIMIT past QF_TOKENIZER_MAX_TEXT, QF_STATUS_FORMAT when the model needs its
 * unknown token and the vocabulary lacks it.
 */
qf_status qf_tokenizer_encode(const qf_tokenizer *t, const char *text, size_t len,
                              const qf_tokenize_params *p, qf_encoding *out, qf_error *err);

/*
 * Encodes a pair of texts (a question and a passage, a query and a document for a cross-encoder)
 * as transformers does with `tokenizer(text_a, text_b)`: each text is encoded alone, then both are
 * laid out by the post-processor's pair template with its type ids:
 *   BertProcessing      [CLS] A [SEP] B [SEP], types 0 over [CLS] A [SEP], 1 over B [SEP];
 *   RobertaProcessing   <s> A </s> </s> B </s>, all types 0;
 *   TemplateProcessing  its "pair" template ($A, $B and special tokens with their type ids);
 *   Sequence            each processor on what the previous one made, as Rust tokenizers does;
 *   none                A B, types 0 and 1.
 * vocab.txt folders lay pairs out like BertProcessing, vocab.json + merges.txt folders like
 * RobertaProcessing. With max_length > 0 the texts are truncated like transformers'
 * `truncation=True` ("longest_first", Rust tokenizers' closed form since 0.9) to max_length minus
 * qf_tokenizer_num_special_tokens_pair: when both do not fit, the longer is cut to what the shorter
 * leaves, or, when the shorter takes more than half, both are cut to half (the longer, or the second
 * when they are as long, keeps the odd token). Padding as qf_tokenizer_encode. sequence_ids tells A
 * (0) from B (1). `p` may be NULL (defaults). On failure `out->length` is 0.
 * Fails as qf_tokenizer_encode (each text up to QF_TOKENIZER_MAX_TEXT; INVALID_ARGUMENT when
 * max_length is smaller than the special tokens of a pair), and with QF_STATUS_UNSUPPORTED when the
 * tokenizer cannot lay out a pair (a TemplateProcessing without "pair" template, or a Sequence that
 * Rust tokenizers cannot run on a pair); the message says which.
 */
qf_status qf_tokenizer_encode_pair(const qf_tokenizer *t, const char *text_a, size_t len_a, const char *text_b,
                                   size_t len_b, const qf_tokenize_params *p, qf_encoding *out, qf_error *err);

/*
 * Lays ids that are already encoded (qf_tokenizer_encode without special tokens, then cut by the
 * caller, e.g. into the strided windows of a long context for question answering) into the
 * post-processor's template: ids_a alone when ids_b is NULL (as qf_tokenizer_encode lays one
 * sequence), else the pair ids_a, ids_b (as qf_tokenizer_encode_pair). Adds the special tokens when
 * add_special_tokens; no truncation, no padding. sequence_ids gives each position's origin. The ids
 * are copied as they are (not checked against the vocabulary); ids_a (ids_b) may be NULL only when
 * n_a (n_b) is 0. Fails with QF_STATUS_UNSUPPORTED for a pair as qf_tokenizer_encode_pair.
 */
qf_status qf_tokenizer_post_process(const qf_tokenizer *t, const int32_t *ids_a, size_t n_a, const int32_t *ids_b,
                                    size_t n_b, bool add_special_tokens, qf_encoding *out, qf_error *err);

/* Byte offset in text[0..len) where code point `char_index` of its decoding (as qf_tokenizer_encode
 * decodes it: each maximal ill-formed UTF-8 subsequence is one U+FFFD) starts; `len` when
 * char_index is the number of code points or more. Turns a token's offsets into the bytes of the
 * original text. */
size_t qf_text_char_to_byte(const char *text, size_t len, size_t char_index);
/* The same for n offsets at once (e.g. qf_encoding.offsets, n = 2 * length): bytes[i] is the byte
 * offset of code point chars[i] (negative values give 0). One pass over the text when chars is
 * non-decreasing; `bytes` may be `chars`. */
void qf_text_chars_to_bytes(const char *text, size_t len, const int32_t *chars, int32_t *bytes, size_t n);

/* Id used for padding: "padding.pad_id" of tokenizer.json when set, else the id of [PAD] or <pad>
 * (added tokens first, then the vocabulary), else 0. */
int32_t qf_tokenizer_pad_id(const qf_tokenizer *t);
/* Number of ids: 1 + the largest id of the vocabulary and the added tokens (the rows an embedding
 * table needs). */
size_t qf_tokenizer_vocab_size(const qf_tokenizer *t);
/* Id of a token (NUL-terminated UTF-8), added tokens first, then the model vocabulary; -1 if absent. */
int32_t qf_tokenizer_token_to_id(const qf_tokenizer *t, const char *token);
/* Special tokens the post-processor adds to one sequence (2 for BERT and RoBERTa, 0 without one). */
size_t qf_tokenizer_num_special_tokens(const qf_tokenizer *t);
/* Whether `id` is a special token: an added token marked "special", or one the post-processor adds
 * (what transformers' all_special_ids holds for a tokenizer.json tokenizer). */
bool qf_tokenizer_is_special_id(const qf_tokenizer *t, int32_t id);
/*
 * Whether transformers feeds this tokenizer's token_type_ids to the model. A tokenizer loaded from a
 * folder follows AutoTokenizer: tokenizer_config.json "model_input_names" when present, else its
 * "tokenizer_class"'s (transformers 5: BertTokenizer and ElectraTokenizer list token_type_ids;
 * RobertaTokenizer, DistilBertTokenizer, XLMRobertaTokenizer, CamembertTokenizer, MPNetTokenizer
 * and TokenizersBackend / PreTrainedTokenizerFast, what tokenizer.json-only folders load as, do
 * not), else BertTokenizer's for vocab.txt and RobertaTokenizer's for vocab.json. When it does not,
 * every encoding's token_type_ids are 0 (the model's own default when transformers passes none):
 * a BERT cross-encoder saved through PreTrainedTokenizerFast is scored without pair types, as
 * sentence-transformers' CrossEncoder scores it. A tokenizer.json file named alone, or a class not
 * listed here, keeps the post-processor's types (what the tokenizers library returns).
 */
bool qf_tokenizer_feeds_token_types(const qf_tokenizer *t);
/*
 * Whether a Lowercase normalizer was put in front of the tokenizer's because the folder's
 * sentence_bert_config.json says "do_lower_case": true (sentence-transformers 6's Transformer
 * module does that unless the normalizer is a Lowercase or a Sequence holding one at its top level;
 * normalized added tokens are matched through the new normalizer, as tokenizers refreshes them).
 */
bool qf_tokenizer_sentence_lowercase(const qf_tokenizer *t);
/* Whether the normalizer lower-cases every text: a Lowercase, or a BertNormalizer with lowercase, at
 * its top level or in its top-level Sequence. */
bool qf_tokenizer_lowercases(const qf_tokenizer *t);
/* Special tokens the post-processor adds to a pair, as pair truncation counts them (Rust's
 * added_tokens(true): 3 for BERT, 4 for RoBERTa, a TemplateProcessing's "pair" ids; summed over a
 * Sequence). */
size_t qf_tokenizer_num_special_tokens_pair(const qf_tokenizer *t);
/* Unicode version of the tables ("14.0.0"). Static storage. */
const char *qf_tokenizer_unicode_version(void);

/* ============================================================================= end Tokenizers */

/* =============================================================================================
 * Datasets (text/dataset.c): JSONL rows, tokenized once
 *
 * One JSON object per line: {"text": "...", "label": 3} or {"input_ids": [...], "label": "devel"}
 * ("attention_mask" and "token_type_ids" may accompany input_ids). A "text" row may carry a
 * "text_pair" string (the second text for a cross-encoder or QA): the row is then encoded as a pair
 * (qf_tokenizer_encode_pair, truncated to max_length longest-first) and its type ids (0 / 1 for
 * BERT) are the row's token_type_ids; an empty "text_pair" is still a pair ([CLS] a [SEP] [SEP]), as
 * CrossEncoder.predict's batched tokenizer call makes it (a single tokenizer(a, "") call would give
 * the text alone). A "text_pair" that is not a string, or one without a "text"
 * string beside it, is refused naming the field; null counts as absent. The label is an integer class
 * index (0 or more), a class name looked up in config.json's label2id (else among id2label's
 * values), or absent (rows without labels still count for agreement and logit distance). A row
 * {"query", "text"} (a reranker's) is the pair (query, text); a "query" that is not a string, or
 * one with "text_pair" beside it or without "text", is refused naming the field. Without "text"
 * and "input_ids", the other jobs' rows read as their text, so their data files calibrate and run as
 * they are: {"question", "context"} (question answering) is the pair (question, context), and
 * {"tokens": [words]} (token classification) its words joined by single spaces (added to the row
 * as its "text"); a question or context that is not a string, or "tokens" that is not a non-empty
 * list of strings, is refused naming the field. Blank
 * lines are skipped. A row must have at least one token: an empty "input_ids", or a "text" that
 * gives none (empty or whitespace under a tokenizer that adds no special tokens) is refused; a
 * "text" that gives only the special tokens ([CLS] [SEP]) is a row. Errors name the file, "line N"
 * and the byte offset of the row (a tokenizer's error too).
 * =========================================================================================== */

/* Which text of a row is encoded: as written (a pair when the row has one), or one side of each
 * row alone (for embedding both texts of {"text", "text_pair"} rows separately). */
typedef enum qf_dataset_texts {
    QF_DATASET_TEXTS_AS_WRITTEN = 0, /* "text", or the pair ("text", "text_pair") / ("query", "text") */
    QF_DATASET_TEXTS_FIRST,          /* "text" alone; "text_pair" and "query" are not read */
    QF_DATASET_TEXTS_SECOND,         /* "text_pair" alone, as the row's text; a row without it is refused */
} qf_dataset_texts;

typedef struct qf_dataset_params {
    int32_t max_length;      /* truncation of "text" (and pair) rows and of input_ids; 0: none */
    int64_t limit;           /* first N rows only; 0: all */
    const char *config_json; /* config.json text for string labels (label2id); may be NULL */
    bool keep_text;          /* keep each row's "text" (qf_dataset_row_text); default false */
    qf_dataset_texts texts;  /* default QF_DATASET_TEXTS_AS_WRITTEN */
    bool ignore_label;       /* "label" is not read (a job reads it itself: qf_row_fields); row.label -1 */
    /* A sentence-transformers prompt prepended to every row's text (the first text of a pair), as
     * SentenceTransformer.encode(prompt=...) does; NULL or "": none. Rows of input_ids are refused
     * then (they are past the text). */
    const char *prompt;
    /* The prompt's tokens are left out of the pooling (the Pooling module's include_prompt false):
     * qf_dataset_pool_skip gives their count, which sentence-transformers measures by tokenizing
     * the prompt alone (with the special tokens, truncated as the rows, minus a trailing special
     * token). A row with no token after them is refused. */
    bool prompt_excluded;
    bool no_special_tokens;  /* encode without the post-processor's special tokens; default false */
} qf_dataset_params;

qf_dataset_params qf_dataset_params_default(void);

typedef struct qf_dataset_row {
    const int32_t *input_ids;      /* [length]; borrowed from the dataset */
    const int32_t *token_type_ids; /* [length] */
    int32_t length;                /* real tokens (the mask is all ones over them) */
    int32_t label;                 /* -1: none */
} qf_dataset_row;

typedef struct qf_dataset qf_dataset;

/* Reads and tokenizes every row (`tokenizer` may be NULL when every row has input_ids). */
qf_status qf_dataset_load(const char *path, const qf_tokenizer *tokenizer, const qf_dataset_params *params,
                          qf_dataset **out, qf_error *err);
size_t qf_dataset_size(const qf_dataset *d);
/* Tokens at the start of every row that the pooling leaves out (qf_encoder_batch.pool_skip): the
 * prompt's, when it was loaded with prompt_excluded; else 0. */
int32_t qf_dataset_pool_skip(const qf_dataset *d);
/* Whether row i was encoded as a pair ("text_pair", "query", "question" / "context"). */
bool qf_dataset_row_is_pair(const qf_dataset *d, size_t i);
const qf_dataset_row *qf_dataset_row_at(const qf_dataset *d, size_t i); /* borrowed; NULL out of range */
/* Rows [first, first + n) padded to the longest of them, as one encoder batch: ids, mask and types
 * [n][length] (each at least n * that length entries); padding has id 0, type 0, mask 0. Returns
 * the length. */
int64_t qf_dataset_pack(const qf_dataset *d, size_t first, size_t n, int32_t *ids, int32_t *mask, int32_t *types);
size_t qf_dataset_labelled(const qf_dataset *d);                         /* rows with a label */
/* QF_STATUS_FORMAT, naming the file, "line N" and the row's offset, when a row's label (an integer, or
 * a class name's index in config.json) is not a class of a model with `num_labels` classes, i.e. not
 * in 0..num_labels-1. Where the data meets the model (qf_verify_run calls it); a load cannot know. */
qf_status qf_dataset_check_labels(const qf_dataset *d, int64_t num_labels, qf_error *err);
/* Row i's "text" as written in the file (decoded JSON string, NUL-terminated, `*len` bytes; may hold
 * NUL bytes itself) when the dataset was loaded with keep_text and the row has one; else NULL.
 * Borrowed from the dataset. `len` may be NULL. */
const char *qf_dataset_row_text(const qf_dataset *d, size_t i, size_t *len);
/* SHA-256 (hex) of the data file's bytes, for provenance. Borrowed. */
const char *qf_dataset_sha256(const qf_dataset *d);
void qf_dataset_destroy(qf_dataset *d); /* accepts NULL */

/* =============================================================================================
 * Question-answering rows (text/qa_rows.c): JSONL for `qforge run --output spans` and
 * `qforge verify --job qa`
 *
 * One JSON object per line: {"question": "...", "context": "..."} (both non-empty strings, as
 * transformers' pipeline requires), optionally with gold "answers" in the SQuAD / Hugging Face
 * datasets form {"text": ["...", ...], "answer_start": [chars, ...]} (as many starts as texts, each
 * a character of the context in code points) or as a plain list of strings ["...", ...] (no
 * starts). An answer list may not be empty (SQuAD v1.1 scores need one); null counts as absent.
 * A row {"input_ids": [...], "token_type_ids": [...]} is run as it is (logits only: no text to
 * find an answer in). Blank lines are skipped. Errors name the file, "line N", the row's byte
 * offset and the field ("answers.answer_start[1]").
 * =========================================================================================== */

typedef struct qf_qa_row {
    /* {"question", "context"} rows: the decoded strings (NUL-terminated; may hold NUL); else NULL */
    const char *question, *context;
    size_t question_len, context_len;  /* bytes */
    /* {"input_ids"} rows: the ids and their type ids (NULL when not given); else NULL, 0 */
    const int32_t *input_ids, *token_type_ids;
    size_t num_ids;
    size_t num_answers;               /* gold answers; 0 when the row has none */
    const char *const *answer_texts;  /* [num_answers], NUL-terminated */
    const int64_t *answer_starts;     /* [num_answers]: code point in the context; -1 from a plain list */
    size_t line;                      /* 1-based line of the row in its file */
} qf_qa_row;

typedef struct qf_qa_rows qf_qa_rows;

/* Reads and checks every row (first `limit` rows when limit > 0). An empty file is refused. */
qf_status qf_qa_rows_load(const char *path, int64_t limit, qf_qa_rows **out, qf_error *err);
size_t qf_qa_rows_count(const qf_qa_rows *r);
const qf_qa_row *qf_qa_rows_at(const qf_qa_rows *r, size_t i); /* borrowed; NULL out of range */
size_t qf_qa_rows_answered(const qf_qa_rows *r);                /* rows with gold answers */
const char *qf_qa_rows_sha256(const qf_qa_rows *r);             /* of the file's bytes; borrowed */
void qf_qa_rows_destroy(qf_qa_rows *r);                         /* accepts NULL */

/* =============================================================================================
 * Row fields of the scoring jobs (text/dataset_fields.c): what `qforge verify`'s multi-label,
 * rerank and sentence-similarity jobs read beside the texts qf_dataset_load tokenizes, from the
 * same file and the same rows in the same order (blank lines skipped, the same limit):
 *   "labels"  (when params.num_labels > 0) a multi-label row's gold set: a list, possibly empty,
 *             of class indices in 0..num_labels-1 or class names (config.json's label2id, else
 *             id2label's values); absent or null: the row has none.
 *   "label"   (when params.relevance) a reranker row's graded relevance: a number >= 0.
 *   "score"   (when params.score) a sentence-similarity row's gold score: a finite number.
 *   group     a reranker row's group key: its "query", else its "text" (the first text of a pair).
 * A malformed field is refused (QF_STATUS_FORMAT) naming the file, "line N", the row's offset and
 * the field. Strings returned are borrowed from the qf_row_fields.
 * =========================================================================================== */

typedef struct qf_row_fields_params {
    int64_t limit;           /* first N rows only, as qf_dataset_params.limit; 0: all */
    const char *config_json; /* config.json text, for class names in "labels"; may be NULL */
    int64_t num_labels;      /* > 0: read "labels" as a set of this many classes */
    bool relevance;          /* read "label" as a relevance grade */
    bool score;              /* read "score" */
} qf_row_fields_params;

qf_row_fields_params qf_row_fields_params_default(void);

typedef enum qf_row_field {
    QF_ROW_FIELD_LABELS,
    QF_ROW_FIELD_RELEVANCE,
    QF_ROW_FIELD_SCORE,
    QF_ROW_FIELD_TEXT_PAIR,
} qf_row_field;

typedef struct qf_row_fields qf_row_fields;

qf_status qf_row_fields_load(const char *path, const qf_row_fields_params *params, qf_row_fields **out,
                             qf_error *err);
size_t qf_row_fields_size(const qf_row_fields *f); /* rows; 0 for NULL */
/* Row i's gold label set, [num_labels] bytes of 0 / 1; NULL when the row has no "labels". */
const uint8_t *qf_row_fields_labels(const qf_row_fields *f, size_t i);
/* Row i's group key (NUL-terminated); NULL for a row with neither "query" nor "text". */
const char *qf_row_fields_group(const qf_row_fields *f, size_t i);
bool qf_row_fields_relevance(const qf_row_fields *f, size_t i, double *out); /* false: none */
bool qf_row_fields_score(const qf_row_fields *f, size_t i, double *out);     /* false: none */
bool qf_row_fields_has_pair(const qf_row_fields *f, size_t i);               /* a "text_pair" string */
size_t qf_row_fields_count(const qf_row_fields *f, qf_row_field which);      /* rows that carry it */
/* QF_STATUS_FORMAT naming the first row without the field (its line and the field), with `why`
 * (may be NULL) after the message; OK when every row carries it. */
qf_status qf_row_fields_require(const qf_row_fields *f, qf_row_field which, const char *why, qf_error *err);
void qf_row_fields_destroy(qf_row_fields *f); /* accepts NULL */

/* =============================================================================================
 * Word-labelled rows (text/word_rows.c): token-classification data in the CoNLL / Hugging Face
 * datasets form, tokenized once, each word tied to its first token
 *
 * One JSON object per line: {"tokens": ["word", ...], "labels": ["B-PKG", "O", ...]}, the words
 * joined with single spaces making the row's text, or {"text": "...", "labels": [...]}, the words
 * being the text split at runs of ASCII whitespace (space, \t, \n, \v, \f, \r; the text is kept as
 * it is). "labels" (optional; null counts as absent) is an array of strings, one per word; what
 * the strings may be is the model's to say (verify checks them against id2label and IOB2). A word
 * of "tokens" must be a non-empty string without ASCII whitespace. A row needs at least one word.
 * Errors name the file, "line N", the row's byte offset and the field ("tokens", "labels",
 * "text"; the index of the bad element in the message). Blank lines are skipped.
 *
 * Each row's text is tokenized (truncated to max_length, special tokens added) and each word gets
 * its first token: the first non-special token whose character span (qf_encoding.offsets, mapped
 * to bytes) overlaps the word's bytes; -1 when truncation cut the word off (or it made no token).
 * =========================================================================================== */

typedef struct qf_word_row {
    const int32_t *input_ids;      /* [length], borrowed */
    const int32_t *token_type_ids; /* [length] */
    const int32_t *offsets;        /* [length][2] characters of the text (qf_encoding.offsets) */
    const uint8_t *special;        /* [length]: 1 where the post-processor added the token */
    int32_t length;
    size_t num_words;
    const int32_t *word_first_token; /* [num_words]: the word's first token, -1 none */
    const char *const *labels;       /* [num_words] NUL-terminated tags, or NULL: the row has none */
    const char *text;                /* the row's text (the joined words), NUL-terminated */
    size_t text_len;
    size_t line;                     /* where the row is in the file (1-based) and its byte offset */
    uint64_t offset;
} qf_word_row;

typedef struct qf_word_rows qf_word_rows;

/* Reads and tokenizes every row (`params`: max_length and limit; may be NULL). */
qf_status qf_word_rows_load(const char *path, const qf_tokenizer *tokenizer, const qf_dataset_params *params,
                            qf_word_rows **out, qf_error *err);
size_t qf_word_rows_size(const qf_word_rows *w);
const qf_word_row *qf_word_rows_at(const qf_word_rows *w, size_t i); /* borrowed; NULL out of range */
size_t qf_word_rows_labelled(const qf_word_rows *w);                 /* rows with "labels" */
const char *qf_word_rows_path(const qf_word_rows *w);                /* the file, borrowed */
const char *qf_word_rows_sha256(const qf_word_rows *w);              /* SHA-256 (hex) of the file, borrowed */
void qf_word_rows_destroy(qf_word_rows *w);                          /* accepts NULL */

#ifdef __cplusplus
}
#endif
#endif /* QFORGE_TEXT_H */
