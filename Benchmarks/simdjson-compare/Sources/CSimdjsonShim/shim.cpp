// The simdjson side of the measurement: a walk that visits every value of every document with
// the On-Demand API (keys and strings unescaped into the parser's string buffer, numbers
// parsed), counting what it saw into simd_walk_stats. One C call covers a whole file, so the
// Swift-to-C crossing is not in the figures.
#include "simdjson_shim.h"

#include <simdjson.h>

#include <cstring>

using namespace simdjson;

namespace {

struct walker {
    simd_walk_stats *s;

    error_code value(ondemand::value v) {
        ondemand::json_type t;
        SIMDJSON_TRY(v.type().get(t));
        switch (t) {
        case ondemand::json_type::object: {
            ondemand::object obj;
            SIMDJSON_TRY(v.get_object().get(obj));
            s->objects++;
            for (auto fr : obj) {
                ondemand::field f;
                SIMDJSON_TRY(std::move(fr).get(f));
                std::string_view k;
                SIMDJSON_TRY(f.unescaped_key().get(k));
                s->keys++;
                s->key_bytes += k.size();
                SIMDJSON_TRY(value(f.value()));
            }
            return SUCCESS;
        }
        case ondemand::json_type::array: {
            ondemand::array arr;
            SIMDJSON_TRY(v.get_array().get(arr));
            s->arrays++;
            for (auto er : arr) {
                ondemand::value e;
                SIMDJSON_TRY(er.get(e));
                SIMDJSON_TRY(value(e));
            }
            return SUCCESS;
        }
        case ondemand::json_type::string: {
            std::string_view str;
            SIMDJSON_TRY(v.get_string().get(str));
            s->strings++;
            s->string_bytes += str.size();
            return SUCCESS;
        }
        case ondemand::json_type::number: {
            ondemand::number n;
            SIMDJSON_TRY(v.get_number().get(n));
            if (n.is_int64()) {
                s->ints++;
                s->int_sum += uint64_t(n.get_int64());
            } else {
                // An unsigned integer above INT64_MAX becomes a double, as in JSONReader.
                double d = n.as_double();
                uint64_t bits;
                std::memcpy(&bits, &d, sizeof bits);
                s->doubles++;
                s->double_bits ^= bits;
            }
            return SUCCESS;
        }
        case ondemand::json_type::boolean: {
            bool b;
            SIMDJSON_TRY(v.get_bool().get(b));
            s->bools++;
            return SUCCESS;
        }
        case ondemand::json_type::null: {
            if (!v.is_null()) return INCORRECT_TYPE;
            s->nulls++;
            return SUCCESS;
        }
        }
        return INCORRECT_TYPE;
    }

    template <typename Doc> error_code document(Doc &doc) {
        ondemand::value root;
        SIMDJSON_TRY(doc.get_value().get(root));
        // simdjson 3.0.1 has no document::at_end(); JSONReader's expectEnd (one whitespace skip)
        // is the only step of the Swift walk without a counterpart here.
        return value(root);
    }

    void count(error_code e) {
        if (e == SUCCESS) {
            s->documents++;
        } else {
            if (s->errors == 0) s->first_error = int32_t(e);
            s->errors++;
        }
    }
};

} // namespace

extern "C" size_t simd_padding(void) { return SIMDJSON_PADDING; }

extern "C" const char *simd_builtin_implementation(void) {
    // The On-Demand code is this file's, compiled for SIMDJSON_BUILTIN_IMPLEMENTATION; the
    // library's builtin_implementation() would name the library's own build instead.
    return SIMDJSON_STRINGIFY(SIMDJSON_BUILTIN_IMPLEMENTATION);
}

extern "C" const char *simd_active_implementation(void) {
    static std::string name = get_active_implementation()->name();
    return name.c_str();
}

extern "C" size_t simd_walk_lines(const char *buf, size_t len, const uint64_t *starts, const uint64_t *ends,
                                  size_t count, simd_walk_stats *stats) {
    ondemand::parser parser;
    walker w{stats};
    for (size_t i = 0; i < count; i++) {
        const char *p = buf + starts[i];
        size_t n = size_t(ends[i] - starts[i]);
        // The bytes after a line (the next lines, then the buffer's padding) are readable.
        size_t capacity = len - size_t(starts[i]) + SIMDJSON_PADDING;
        ondemand::document doc;
        error_code e = parser.iterate(p, n, capacity).get(doc);
        if (e == SUCCESS) e = w.document(doc);
        w.count(e);
    }
    return size_t(stats->documents);
}

extern "C" size_t simd_walk_ndjson(const char *buf, size_t len, size_t batch_size, simd_walk_stats *stats) {
    ondemand::parser parser;
    walker w{stats};
    ondemand::document_stream stream;
    error_code e = parser.iterate_many(buf, len, batch_size).get(stream);
    if (e != SUCCESS) {
        w.count(e);
        return 0;
    }
    for (auto it = stream.begin(); it != stream.end(); ++it) {
        auto dr = *it;
        ondemand::document_reference doc;
        e = std::move(dr).get(doc);
        if (e == SUCCESS) e = w.document(doc);
        w.count(e);
    }
    return size_t(stats->documents);
}
