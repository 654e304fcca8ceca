#ifndef SIMDJSON_SHIM_H
#define SIMDJSON_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What a walk saw: the same counters for simdjson and for the Swift walker, so that the two
/// can be checked against each other (same file, same totals).
typedef struct simd_walk_stats {
    uint64_t documents;    ///< documents walked without error
    uint64_t errors;       ///< documents that failed (first simdjson error code in first_error)
    uint64_t objects;
    uint64_t arrays;
    uint64_t keys;
    uint64_t key_bytes;    ///< unescaped bytes of all keys
    uint64_t strings;
    uint64_t string_bytes; ///< unescaped bytes of all string values
    uint64_t ints;
    uint64_t int_sum;      ///< wrapping sum of every integer (as uint64)
    uint64_t doubles;
    uint64_t double_bits;  ///< xor of the bit patterns of every double
    uint64_t bools;
    uint64_t nulls;
    int32_t first_error;
} simd_walk_stats;

/// The padding simdjson needs readable after the last byte of the input (SIMDJSON_PADDING).
size_t simd_padding(void);

/// The names of the On-Demand implementation compiled in and of the active (runtime) one.
const char *simd_builtin_implementation(void);
const char *simd_active_implementation(void);

/// Walks every value of every document, one `parser.iterate` per line: `lines` holds
/// `count + 1` offsets into `buf` (line i is buf[lines[i] ..< lines[i+1]], its newline excluded
/// by the caller through `ends`). `buf` must have `simd_padding()` readable bytes after `len`.
/// Every key and string is unescaped (into the parser's string buffer), every number parsed.
size_t simd_walk_lines(const char *buf, size_t len, const uint64_t *starts, const uint64_t *ends,
                       size_t count, simd_walk_stats *stats);

/// Walks every value of every document of NDJSON `buf` with `parser.iterate_many` (simdjson's
/// own NDJSON mode: stage 1 over batches of `batch_size` bytes).
size_t simd_walk_ndjson(const char *buf, size_t len, size_t batch_size, simd_walk_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
