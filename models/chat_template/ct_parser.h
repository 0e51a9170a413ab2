/* Template parser: Jinja2's grammar (jinja2/parser.py) over ct_lexer tokens into an AST held in the
 * template's arena. Owns the node types; evaluation belongs to ct_eval. Unknown tags are parse
 * errors naming line and column; so are unknown filters and tests outside conditionals. */
#ifndef BERTH_CT_PARSER_H
#define BERTH_CT_PARSER_H

#include "models/chat_template/ct_lexer.h"
#include "models/chat_template/ct_value.h"

typedef enum {
    /* statements */
    CT_N_DATA,     /* literal text: name */
    CT_N_OUTPUT,   /* {{ a }} */
    CT_N_IF,       /* a: test, body, orelse (elif is a nested IF in orelse) */
    CT_N_FOR,      /* a: target, b: iterable, c: filter or NULL, body, orelse */
    CT_N_SET,      /* a: target, b: value */
    CT_N_SETBLOCK, /* a: target, body, args: filters applied to the captured text */
    CT_N_MACRO,    /* name, args: parameters (NAME nodes, default in a), body */
    CT_N_CALLBLOCK,/* a: call expression, args: caller parameters, body */
    CT_N_BREAK,
    CT_N_CONTINUE,
    CT_N_BLOCK,    /* {% generation %}: body, rendered in its own scope */
    CT_N_FILTERBLOCK, /* {% filter f | g %}: args: the filters, body: rendered in its own scope */
    /* expressions */
    CT_N_CONST,    /* value */
    CT_N_NAME,     /* name (in parameter lists: a is the default) */
    CT_N_NSREF,    /* name.attr as an assignment target: name, attr */
    CT_N_TUPLE,    /* args */
    CT_N_LIST,     /* args */
    CT_N_DICT,     /* args: PAIR nodes */
    CT_N_PAIR,     /* a: key, b: value */
    CT_N_GETATTR,  /* a: object, name */
    CT_N_GETITEM,  /* a: object, b: key */
    CT_N_SLICE,    /* a, b, c: start, stop, step (each may be NULL) */
    CT_N_CALL,     /* a: callee, args, kwargs: KEYWORD nodes */
    CT_N_KEYWORD,  /* name, a: value */
    CT_N_FILTER,   /* a: operand (NULL in a block set), name, args, kwargs */
    CT_N_TEST,     /* a: operand, name, args, kwargs */
    CT_N_UNARY,    /* op: '-', '+' or 'n' (not); a */
    CT_N_BINARY,   /* op: CT_OP_*; a, b */
    CT_N_COMPARE,  /* a: first operand, args: OPERAND nodes */
    CT_N_OPERAND,  /* op: CT_OP_*; a */
    CT_N_CONDEXPR, /* a: condition, b: value if true, c: value if false (NULL: undefined) */
    CT_N_CONCAT,   /* args */
} ct_node_kind;

typedef enum {
    CT_OP_ADD, CT_OP_SUB, CT_OP_MUL, CT_OP_DIV, CT_OP_FLOORDIV, CT_OP_MOD, CT_OP_POW,
    CT_OP_AND, CT_OP_OR,
    CT_OP_EQ, CT_OP_NE, CT_OP_LT, CT_OP_LE, CT_OP_GT, CT_OP_GE, CT_OP_IN, CT_OP_NOTIN,
} ct_op;

typedef struct ct_node ct_node;

typedef struct ct_nodes {
    ct_node **v;
    size_t n;
} ct_nodes;

struct ct_node {
    ct_node_kind kind;
    int line, col;
    int op;
    const char *name; /* NUL-terminated */
    size_t name_len;
    const char *attr;
    ct_value value;
    ct_node *a, *b, *c;
    ct_nodes args, kwargs, body, orelse;
    bool unknown; /* CT_N_FILTER / CT_N_TEST: no such filter or test (an error if it runs) */
};

/* Parses tokens into a statement list (the template body). */
int ct_parse_tokens(ct_arena *a, const ct_tokens *toks, ct_nodes *out, char *err, size_t errlen);
/* Jinja2's compile-time check of filter and test names (ct_check.c): an unknown one is an error
 * unless it is inside an if statement or a conditional expression (not behind a for body, macro,
 * call, filter, set or generation block in between), where it fails only when evaluated. 0, or -1
 * with err naming the first offender. */
int ct_check_unknown(const ct_nodes *body, char *err, size_t errlen);

#endif
