/*
 * Every named limit of qforge, in one place. Readers refuse input past these with QF_STATUS_LIMIT
 * before allocating anything for it; each limit has a test at the limit and one past it.
 */
#ifndef QFORGE_LIMITS_H
#define QFORGE_LIMITS_H

/* Tensors */
#define QF_MAX_RANK 8                      /* dimensions of one tensor */
#define QF_MAX_NAME_LEN 1024               /* bytes of a tensor name or metadata key */
#define QF_MAX_TENSORS (1u << 20)          /* tensors in one model */
#define QF_MAX_META_ENTRIES 4096           /* metadata key/value pairs in one model */
#define QF_MAX_META_VALUE_LEN (1u << 20)   /* bytes of one metadata value */
#define QF_MAX_CONFIG_JSON (16u << 20)     /* bytes of config.json */
/* A sentence-transformers folder's sequence limit (sentence_bert_config.json max_seq_length,
 * tokenizer_config.json model_max_length): larger values (Hugging Face writes 1e30 for "none")
 * are no limit, and the model's positions bound the sequence (readers/sentence_pipeline.c). */
#define QF_MAX_SEQ_LENGTH_HINT (1 << 20)
/* sentence-transformers Dense modules after the pooling (models ship 1 or 2), and the features of
 * each (in_features, out_features: hub models use up to 8192) */
#define QF_MAX_SENTENCE_DENSE 8
#define QF_MAX_SENTENCE_DENSE_FEATURES (1 << 16)
/* config_sentence_transformers.json "prompts": named prompts of one model (models ship 2 to ~20:
 * query / document / one per task), and the bytes of one prompt's name and text (instruction
 * prompts run to a few hundred bytes) */
#define QF_MAX_SENTENCE_PROMPTS 64
#define QF_MAX_SENTENCE_PROMPT_NAME 256
#define QF_MAX_SENTENCE_PROMPT_BYTES 4096
/* DeBERTa's relative span (position_buckets, else max_relative_positions; public checkpoints:
 * 256 buckets, or 512 positions): every stored layer projects 2 * span relative embeddings through
 * its query and key weights when the encoder is created (runtime/encoder.c), so the span bounds
 * that work and memory */
#define QF_MAX_RELATIVE_SPAN 4096

/* Pickle machine (readers/torch) */
#define QF_PICKLE_MAX_STACK 65536          /* values on the stack (all marks included) */
#define QF_PICKLE_MAX_MEMO 1048576         /* memo entries; also the largest memo index */
#define QF_PICKLE_MAX_DEPTH 64             /* nesting of containers (dicts in dicts ...) */
#define QF_PICKLE_MAX_MARKS 4096           /* open MARKs */
#define QF_PICKLE_MAX_STRING (64u << 20)   /* bytes of one string / bytes object */
#define QF_PICKLE_MAX_OPS (256u << 20)     /* opcodes executed in one stream */

/* Zip archives (readers/torch) */
#define QF_ZIP_MAX_ENTRIES 1000000         /* entries in one archive */
#define QF_ZIP_MAX_PICKLE_BYTES (1u << 30) /* uncompressed size of data.pkl */
#define QF_ZIP_MAX_RATIO 1100              /* uncompressed / compressed bytes of a deflated entry (deflate tops out near 1032) */
#define QF_ZIP_MAX_INFLATED (16ull << 30)  /* total uncompressed bytes of all compressed entries */
#define QF_ZIP_MAX_COMMENT_SCAN 65557      /* bytes searched backwards for the end-of-central-directory record */
/* Dense copy of a strided tensor (stride 0 / overlapping strides repeat elements) / bytes of its storage;
 * also all such copies of one file / the file's bytes. Same bound as a deflated entry's inflation. */
#define QF_TORCH_MAX_VIEW_RATIO 1100
#define QF_TORCH_MAX_VALUE_META 256        /* non-tensor leaves recorded as torch.value.* metadata */
#define QF_TORCH_MAX_VALUE_LEN 256         /* bytes of one such value (longer ones are not recorded) */

/* safetensors */
/* JSON header bytes: the format's own cap (safetensors' MAX_HEADER_SIZE is 100,000,000, decimal). */
#define QF_SAFETENSORS_MAX_HEADER 100000000u
/* Nesting of JSON arrays/objects in the header (a valid header needs 3; serde_json stops at 128). */
#define QF_SAFETENSORS_MAX_DEPTH 128
/* Entries of the header's __metadata__ map copied into model metadata. */
#define QF_SAFETENSORS_MAX_META_ENTRIES 1024

/* .qf files */
#define QF_QF_MAX_JSON (256u << 20)        /* bytes of the JSON metadata + directory */
#define QF_QF_ALIGN 64                     /* alignment of every tensor's data */
#define QF_QF_MAX_JSON_DEPTH 64            /* nesting of the JSON block (top object = 1; config inside) */

/* ONNX (protobuf/, readers/onnx, writers/onnx) */
#define QF_ONNX_MAX_PROTO 2147483647ull    /* bytes of a ModelProto: protobuf's own 2 GiB cap (bigger models keep tensors in external data) */
#define QF_ONNX_MAX_DEPTH 64               /* nesting of protobuf messages (model = 0, graph = 1, subgraphs deeper) */
#define QF_ONNX_MAX_EXTERNAL_FILES 1024    /* distinct external-data files one model may map */

/* Reference encoder (runtime/) */
#define QF_ENCODER_MAX_BATCH 65536         /* sequences in one run (workspace is sized for max_batch) */
#define QF_ENCODER_MAX_LENGTH 65536        /* tokens of one sequence */
#define QF_ENCODER_MAX_INT8_K 65536        /* inner dimension of an int8 GEMM: 255 * 128 * K stays in int32 */
#define QF_ENCODER_MAX_WORKSPACE (64ull << 30) /* bytes of the encoder's workspace */

/* Verification (verify/) */
#define QF_VERIFY_MAX_RETRIEVAL_ROWS 4096 /* rows whose nearest neighbours an embedding verification compares (n^2 pairs) */

/* Tokenizers (text/tokenizer*.c) */
#define QF_TOKENIZER_MAX_FILE (256u << 20)  /* bytes of tokenizer.json / vocab.txt / vocab.json / merges.txt */
#define QF_TOKENIZER_MAX_JSON_DEPTH 64      /* nesting of JSON containers in those files */
#define QF_TOKENIZER_MAX_VOCAB (1u << 21)   /* vocabulary entries; also bounds every token id */
#define QF_TOKENIZER_MAX_MERGES (1u << 21)  /* BPE merge rules */
#define QF_TOKENIZER_MAX_ADDED 65536        /* added / special tokens */
#define QF_TOKENIZER_MAX_TOKEN_BYTES 4096   /* bytes of one vocabulary or added token */
#define QF_TOKENIZER_MAX_STAGES 64          /* components in a Sequence (normalizer, pre-tokenizer, ...) */
#define QF_TOKENIZER_MAX_NESTING 8          /* Sequences inside Sequences */
#define QF_TOKENIZER_MAX_TEMPLATE 64        /* pieces of a TemplateProcessing template */
#define QF_TOKENIZER_MAX_TEXT (64u << 20)   /* bytes of one text given to qf_tokenizer_encode */
#define QF_TOKENIZER_MAX_CHARSMAP (16u << 20) /* bytes of a SentencePiece precompiled_charsmap (nmt_nfkc's: 237 KB) */
/* Code points a normalizer may make of one piece of text, per code point of that piece: checked
 * after (and, where the size is known, before) every step of a normalizer and of a Sequence, each
 * against the piece the pipeline gave the whole normalizer. Real ones stay far below (BERT's CJK
 * spacing 3, NFKD's longest decomposition 18); chained Replace steps multiply without it. */
#define QF_TOKENIZER_MAX_NORMALIZE_EXPANSION 32
#define QF_TOKENIZER_MAX_NORMALIZED (128u << 20) /* code points of one normalized piece, whatever the ratio allows */

/* Datasets (text/dataset.c): JSONL rows of {"text"|"input_ids", "label"} */
#define QF_DATASET_MAX_ROWS 10000000        /* rows in one file */
#define QF_DATASET_MAX_LINE (16u << 20)     /* bytes of one row */

/* Question answering (text/qa_rows.c, verify/qa.c) */
#define QF_QA_MAX_ANSWERS 1024              /* gold answers of one row */
#define QF_QA_MAX_WINDOWS 65536             /* strided windows over one context */

/* Sharded checkpoints (readers/sharded): *.index.json with a weight_map */
#define QF_SHARDED_MAX_INDEX (64u << 20)    /* bytes of the index file */
#define QF_SHARDED_MAX_SHARDS 65536         /* distinct shard files */
#define QF_SHARDED_MAX_NAME 255             /* bytes of one shard file name */

/* Calibration statistics (.qfc files, calibrate/) */
#define QF_CALIB_MAX_ENTRIES 65536          /* observed activations in one file */
#define QF_CALIB_MAX_NAME 256               /* bytes of an entry name */
#define QF_CALIB_MAX_CHANNELS 65536         /* channels (columns) of one activation */
#define QF_STATIC_MAX_FP32_PATTERNS 64      /* --fp32 patterns of one static quantization */

/* HDF5 / Keras (readers/hdf5): checked before libhdf5 reads anything they bound */
#define QF_HDF5_MAX_OBJECTS 1000000        /* links visited in one file (groups, datasets, others) */
#define QF_HDF5_MAX_DEPTH 32               /* nesting of groups below the root */
#define QF_HDF5_MAX_ATTR_BYTES (16u << 20) /* stored bytes of one attribute read (layer_names, weight_names ...) */
#define QF_HDF5_MAX_ATTR_STRINGS 65536     /* strings in one string-array attribute (all its chunks together) */
#define QF_HDF5_MAX_ATTR_CHUNKS 256        /* Keras "name0", "name1" ... pieces of one long attribute */
#define QF_HDF5_MAX_CHUNK_BYTES (256u << 20) /* bytes of one chunk of a chunked dataset (libhdf5 allocates it) */
#define QF_HDF5_MAX_RATIO 1100             /* dataset bytes / stored bytes of a filtered or partly stored dataset */
#define QF_HDF5_MAX_UNSTORED 4096          /* stored-byte floor of that ratio (small fill-value datasets) */
#define QF_HDF5_MAX_COPIED (16ull << 30)   /* total bytes decoded into model memory from one file */
#define QF_HDF5_CPU_SECONDS 10            /* CPU time of the isolated pre-check of a file ... */
#define QF_HDF5_CPU_BYTES_PER_SECOND (8u << 20) /* ... plus one second per this many bytes of it */
#define QF_HDF5_MAX_LISTING 65536          /* bytes of each keras.* listing kept as metadata (longer ones are cut) */

/* Error detail field sizes */
#define QF_ERROR_PATH_MAX 512
#define QF_ERROR_FIELD_MAX 256
#define QF_ERROR_MESSAGE_MAX 512

#endif /* QFORGE_LIMITS_H */
