/* Template values with Python semantics (None/bool/int/float/str/list/tuple/dict, Jinja's Undefined,
 * namespaces, callables), the per-render arena they live in, and Python's str()/repr() of them.
 * Owns no evaluation logic: operators live in ct_eval, filters in ct_filters, tojson in ct_json. */
#ifndef BERTH_CT_VALUE_H
#define BERTH_CT_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Every allocation of a parse or a render comes from one arena and is freed at once: values are
 * immutable once built (the sandbox forbids mutating lists and dicts), so nothing needs a count. */
typedef struct ct_arena ct_arena;
ct_arena *ct_arena_new(size_t limit_bytes);
void ct_arena_free(ct_arena *a);
/* NULL when the arena's limit would be passed; callers turn that into a template error. */
void *ct_alloc(ct_arena *a, size_t n);
char *ct_strndup(ct_arena *a, const char *s, size_t n);

typedef enum {
    CT_UNDEF,
    CT_NONE,
    CT_BOOL,
    CT_INT,
    CT_FLOAT,
    CT_STR,
    CT_LIST, /* also tuples and dict views: see ct_list.view */
    CT_DICT,
    CT_NS,   /* namespace(): the one mutable object */
    CT_FUNC, /* builtins, bound methods, macros */
    CT_LOOP, /* the `loop` variable of a for loop */
} ct_kind;

typedef struct ct_list ct_list;
typedef struct ct_dict ct_dict;
typedef struct ct_func ct_func;
typedef struct ct_loop ct_loop;

typedef struct ct_value {
    ct_kind kind;
    /* CT_STR made by the safe filter, a markupsafe.Markup: `+` with a plain string HTML-escapes
     * that string (as Markup.__add__ / __radd__ do) and stays Markup. Other operations give plain
     * strings. */
    bool markup;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *p; /* UTF-8, not NUL-terminated; for CT_UNDEF the missing name or NULL */
            size_t n;
        } s;
        ct_list *l;
        ct_dict *d; /* CT_DICT and CT_NS */
        ct_func *fn;
        ct_loop *loop;
    } u;
} ct_value;

typedef enum { CT_VIEW_LIST, CT_VIEW_TUPLE, CT_VIEW_KEYS, CT_VIEW_VALUES, CT_VIEW_ITEMS } ct_view;

struct ct_list {
    size_t n;
    ct_view view; /* only changes how the list prints: (1, 2), dict_keys([...]) ... */
    ct_value *items;
};

struct ct_dict {
    size_t n, cap;
    ct_value *keys;
    ct_value *vals;
};

struct ct_loop {
    size_t index0, length;
    const ct_list *seq; /* for previtem / nextitem */
};

/* Builtin functions and bound methods are named; a macro points at its AST node. */
struct ct_func {
    const char *name;
    ct_value self;          /* receiver of a bound method, CT_UNDEF for plain functions */
    const void *macro;      /* struct ct_node * of a macro or call block, or NULL */
    void *closure;          /* the frame a macro was defined in */
    const struct ct_func *caller; /* the `caller` a call block passes to its macro */
};

static inline ct_value ct_undef(const char *name) {
    ct_value v = {.kind = CT_UNDEF};
    v.u.s.p = name;
    return v;
}
static inline ct_value ct_none(void) { return (ct_value){.kind = CT_NONE}; }
static inline ct_value ct_bool(bool b) { return (ct_value){.kind = CT_BOOL, .u.b = b}; }
static inline ct_value ct_int(int64_t i) { return (ct_value){.kind = CT_INT, .u.i = i}; }
static inline ct_value ct_float(double f) { return (ct_value){.kind = CT_FLOAT, .u.f = f}; }
static inline ct_value ct_str(const char *p, size_t n) {
    ct_value v = {.kind = CT_STR};
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}

ct_list *ct_list_new(ct_arena *a, size_t n, ct_view view);
ct_dict *ct_dict_new(ct_arena *a, size_t cap);
/* Inserts or replaces (Python dict order: a replaced key keeps its place). -1 if out of memory. */
int ct_dict_set(ct_arena *a, ct_dict *d, ct_value key, ct_value val);
/* Looks a key up with Python equality (1 == 1.0 == True); NULL when absent. */
const ct_value *ct_dict_get(const ct_dict *d, ct_value key);
const ct_value *ct_dict_get_str(const ct_dict *d, const char *key, size_t n);

/* Converts parsed JSON into values. Integral numbers become ints (cJSON keeps no int/float flag). */
int ct_from_json(ct_arena *a, const cJSON *j, ct_value *out);

bool ct_truthy(ct_value v);
bool ct_equal(ct_value a, ct_value b);
bool ct_is_number(ct_value v); /* bool, int, float: Python's numbers.Number */
const char *ct_type_name(ct_value v);

/* A growable output buffer (plain malloc: the rendered text outlives the arena). */
typedef struct ct_buf {
    char *p;
    size_t n, cap;
    size_t limit;
    bool oom;
} ct_buf;
void ct_buf_put(ct_buf *b, const char *s, size_t n);
void ct_buf_puts(ct_buf *b, const char *s);
void ct_buf_printf(ct_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ct_buf_free(ct_buf *b);

/* Python's repr(float). */
void ct_format_float(double f, char out[32]);
/* Python's str(v) and repr(v) appended to b; -1 (with a message in err) for values Python would
 * print as an object address (functions) or that have no text. */
int ct_write_str(ct_buf *b, ct_value v, char *err, size_t errlen);
int ct_write_repr(ct_buf *b, ct_value v, char *err, size_t errlen);

/* UTF-8 helpers. Strings are counted in code points as Python does; invalid bytes count as one
 * code point each so that every input has a defined length. */
size_t ct_utf8_decode(const char *s, size_t n, int32_t *cp);
size_t ct_utf8_encode(int32_t cp, char out[4]);
size_t ct_utf8_len(const char *s, size_t n);
/* Python's str.isspace(). */
bool ct_is_pyspace(int32_t cp);

#endif
