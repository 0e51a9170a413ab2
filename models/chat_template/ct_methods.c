/* Python str/dict/list methods and the template globals. Case mapping is per code point
 * (utf8proc's simple mappings), so the few characters whose Python mapping changes length
 * ('ß'.upper() == 'SS') differ; models/chat_template/README.md lists this. */
#include "models/chat_template/ct_methods.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utf8proc.h>

#include "models/chat_template/ct_ops.h"

static ct_value fn_value(ct_ctx *c, const char *name, ct_value self) {
    ct_func *fn = ct_alloc(c->arena, sizeof *fn);
    if (!fn) return ct_undef("template used too much memory");
    *fn = (ct_func){.name = name, .self = self};
    return (ct_value){.kind = CT_FUNC, .u.fn = fn};
}

static const char *find_name(const char *const *names, const char *name, size_t n) {
    for (size_t k = 0; names[k]; k++)
        if (strlen(names[k]) == n && memcmp(names[k], name, n) == 0) return names[k];
    return NULL;
}

static const char *const str_methods[] = {
    "startswith", "endswith", "split", "rsplit", "strip", "lstrip", "rstrip", "upper", "lower", "title",
    "capitalize", "replace", "format", "find", "rfind", "count", "join", "isdigit", "isalpha", "isalnum",
    "isspace", "islower", "isupper", NULL};
/* The sandbox refuses to call the mutating ones; they still exist as attributes. */
static const char *const dict_methods[] = {"get", "items", "keys", "values", "copy", "clear", "pop", "popitem",
                                           "setdefault", "update", "fromkeys", NULL};
static const char *const list_methods[] = {"count", "index", "copy", "append", "clear", "extend", "insert",
                                           "pop", "remove", "reverse", "sort", NULL};
static const ct_func globals[] = {{.name = "range"}, {.name = "namespace"}, {.name = "dict"},
                                  {.name = "raise_exception"}, {.name = "strftime_now"}};

bool ct_method_lookup(ct_ctx *c, ct_value obj, const char *name, size_t n, ct_value *out) {
    const char *const *table = obj.kind == CT_STR ? str_methods : obj.kind == CT_DICT ? dict_methods
                               : obj.kind == CT_LIST && obj.u.l->view <= CT_VIEW_TUPLE ? list_methods : NULL;
    const char *m = table ? find_name(table, name, n) : NULL;
    if (!m) return false;
    *out = fn_value(c, m, obj);
    return true;
}

bool ct_global_lookup(const char *name, size_t n, ct_value *out) {
    for (size_t k = 0; k < sizeof globals / sizeof *globals; k++)
        if (strlen(globals[k].name) == n && memcmp(globals[k].name, name, n) == 0) {
            /* shared read-only objects: nothing writes through a builtin's ct_func */
            *out = (ct_value){.kind = CT_FUNC, .u.fn = (ct_func *)&globals[k]};
            return true;
        }
    return false;
}

/* ---- string helpers --------------------------------------------------------------------------- */

static bool in_chars(int32_t cp, const ct_value *chars) {
    if (!chars) return ct_is_pyspace(cp);
    for (size_t i = 0; i < chars->u.s.n;) {
        int32_t x;
        i += ct_utf8_decode(chars->u.s.p + i, chars->u.s.n - i, &x);
        if (x == cp) return true;
    }
    return false;
}

int ct_str_strip(ct_ctx *c, const ct_node *at, ct_value s, const ct_value *chars, bool left, bool right,
                 ct_value *out) {
    if (chars && chars->kind == CT_NONE) chars = NULL;
    if (chars && chars->kind != CT_STR) return ct_fail(c, at, "strip arg must be None or str");
    size_t start = 0, end = 0, i = 0;
    bool leading = left;
    while (i < s.u.s.n) {
        int32_t cp;
        size_t k = ct_utf8_decode(s.u.s.p + i, s.u.s.n - i, &cp);
        bool strip = in_chars(cp, chars);
        if (leading && strip) start = i + k;
        else leading = false;
        i += k;
        if (!strip) end = i;
    }
    if (!right) end = s.u.s.n;
    if (end < start) end = start;
    *out = ct_str(s.u.s.p + start, end - start);
    return 0;
}

static bool is_cased(int32_t cp) {
    utf8proc_category_t cat = utf8proc_category(cp);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

int ct_str_case(ct_ctx *c, const ct_node *at, ct_value s, int mode, ct_value *out) {
    char *o = ct_alloc(c->arena, s.u.s.n * 2 + 1);
    if (!o) return ct_oom(c, at);
    size_t n = 0;
    bool prev_cased = false, word_start = true, first = true;
    for (size_t i = 0; i < s.u.s.n;) {
        int32_t cp, m;
        size_t k = ct_utf8_decode(s.u.s.p + i, s.u.s.n - i, &cp);
        if (cp < 0) {
            o[n++] = s.u.s.p[i++];
            continue;
        }
        switch (mode) {
        case 'u': m = utf8proc_toupper(cp); break;
        case 'l': m = utf8proc_tolower(cp); break;
        case 'c': m = first ? utf8proc_totitle(cp) : utf8proc_tolower(cp); break;
        case 't': /* str.title(): a letter after a cased letter is lowered, else titled */
            m = prev_cased ? utf8proc_tolower(cp) : utf8proc_totitle(cp);
            prev_cased = is_cased(cp);
            break;
        default: { /* Jinja's title filter: words start after runs of [-\s({\[<] */
            bool sep = ct_is_pyspace(cp) || (cp < 0x80 && strchr("-({[<", (char)cp) && cp != 0);
            m = sep ? cp : word_start ? utf8proc_toupper(cp) : utf8proc_tolower(cp);
            word_start = sep;
            break;
        }
        }
        first = false;
        char enc[4];
        size_t len = ct_utf8_encode(m, enc);
        memcpy(o + n, enc, len);
        n += len;
        i += k;
    }
    *out = ct_str(o, n);
    return 0;
}

static const char *find_sub(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0) return h;
    return memmem(h, hn, nd, nn);
}

int ct_str_replace(ct_ctx *c, const ct_node *at, ct_value s, ct_value old, ct_value new_, int64_t count,
                   ct_value *out) {
    if (old.kind != CT_STR || new_.kind != CT_STR) return ct_fail(c, at, "replace() arguments must be str");
    ct_buf b = {.limit = 64u << 20};
    const char *p = s.u.s.p, *end = s.u.s.p + s.u.s.n;
    int64_t done = 0;
    if (old.u.s.n == 0) {
        /* Python inserts the replacement between code points and at both ends */
        for (size_t i = 0; i <= s.u.s.n && (count < 0 || done < count);) {
            ct_buf_put(&b, new_.u.s.p, new_.u.s.n);
            done++;
            if (i == s.u.s.n) {
                i++;
                p = end;
                break;
            }
            int32_t cp;
            size_t k = ct_utf8_decode(s.u.s.p + i, s.u.s.n - i, &cp);
            ct_buf_put(&b, s.u.s.p + i, k);
            i += k;
            p = s.u.s.p + i;
        }
    } else {
        const char *q;
        while ((count < 0 || done < count) && (q = find_sub(p, (size_t)(end - p), old.u.s.p, old.u.s.n))) {
            ct_buf_put(&b, p, (size_t)(q - p));
            ct_buf_put(&b, new_.u.s.p, new_.u.s.n);
            p = q + old.u.s.n;
            done++;
        }
    }
    ct_buf_put(&b, p, (size_t)(end - p));
    char *r = ct_strndup(c->arena, b.p ? b.p : "", b.n);
    size_t n = b.n;
    bool oom = b.oom;
    ct_buf_free(&b);
    if (!r || oom) return ct_oom(c, at);
    *out = ct_str(r, n);
    return 0;
}

/* ---- str methods ------------------------------------------------------------------------------ */

static ct_value list_value(ct_list *l) { return (ct_value){.kind = CT_LIST, .u.l = l}; }

static int str_split(ct_ctx *c, const ct_node *at, ct_value s, const ct_args *a, bool from_right, ct_value *out) {
    static const char *const names[] = {"sep", "maxsplit", NULL};
    ct_value sep = ct_none(), maxv = ct_int(-1);
    if (ct_args_check(c, at, "split", a, 2, names) != 0) return -1;
    ct_arg(a, 0, "sep", &sep);
    ct_arg(a, 1, "maxsplit", &maxv);
    if (maxv.kind != CT_INT) return ct_fail(c, at, "split(): maxsplit must be an int");
    if (sep.kind != CT_NONE && sep.kind != CT_STR) return ct_fail(c, at, "split(): sep must be str or None");
    if (sep.kind == CT_STR && sep.u.s.n == 0) return ct_fail(c, at, "empty separator");
    int64_t maxsplit = maxv.u.i;
    /* collect [start, end) pieces; at most one more piece than separators */
    size_t cap = s.u.s.n + 2, np = 0;
    size_t *starts = ct_alloc(c->arena, cap * sizeof *starts), *ends = ct_alloc(c->arena, cap * sizeof *ends);
    if (!starts || !ends) return ct_oom(c, at);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    if (sep.kind == CT_STR) {
        const char *sp = sep.u.s.p;
        size_t sn = sep.u.s.n;
        if (!from_right) {
            size_t pos = 0;
            const char *q;
            while ((maxsplit < 0 || (int64_t)np < maxsplit) && (q = memmem(p + pos, n - pos, sp, sn))) {
                starts[np] = pos;
                ends[np++] = (size_t)(q - p);
                pos = (size_t)(q - p) + sn;
            }
            starts[np] = pos;
            ends[np++] = n;
        } else {
            size_t end = n;
            while (maxsplit < 0 || (int64_t)np < maxsplit) {
                size_t found = (size_t)-1;
                for (size_t i = end >= sn ? end - sn + 1 : 0; i-- > 0;)
                    if (memcmp(p + i, sp, sn) == 0) {
                        found = i;
                        break;
                    }
                if (found == (size_t)-1) break;
                starts[np] = found + sn;
                ends[np++] = end;
                end = found;
            }
            starts[np] = 0;
            ends[np++] = end;
            for (size_t i = 0; i < np / 2; i++) {
                size_t t = starts[i];
                starts[i] = starts[np - 1 - i];
                starts[np - 1 - i] = t;
                t = ends[i];
                ends[i] = ends[np - 1 - i];
                ends[np - 1 - i] = t;
            }
        }
    } else {
        /* whitespace split: runs of str.isspace() characters, no empty pieces */
        size_t i = 0;
        if (from_right && maxsplit >= 0) {
            /* rsplit with a limit keeps the leftmost remainder whole */
            size_t end = n;
            while (end > 0) {
                size_t j = end;
                while (j > 0) { /* skip trailing spaces */
                    size_t b = j - 1;
                    while (b > 0 && ((unsigned char)p[b] & 0xc0) == 0x80) b--;
                    int32_t cp;
                    ct_utf8_decode(p + b, n - b, &cp);
                    if (!ct_is_pyspace(cp)) break;
                    j = b;
                }
                end = j;
                if (end == 0) break;
                size_t w = end;
                if ((int64_t)np == maxsplit) {
                    starts[np] = 0;
                    ends[np++] = end;
                    break;
                }
                while (w > 0) {
                    size_t b = w - 1;
                    while (b > 0 && ((unsigned char)p[b] & 0xc0) == 0x80) b--;
                    int32_t cp;
                    ct_utf8_decode(p + b, n - b, &cp);
                    if (ct_is_pyspace(cp)) break;
                    w = b;
                }
                starts[np] = w;
                ends[np++] = end;
                end = w;
            }
            for (size_t k = 0; k < np / 2; k++) {
                size_t t = starts[k];
                starts[k] = starts[np - 1 - k];
                starts[np - 1 - k] = t;
                t = ends[k];
                ends[k] = ends[np - 1 - k];
                ends[np - 1 - k] = t;
            }
        } else {
            while (i < n) {
                int32_t cp;
                size_t k = ct_utf8_decode(p + i, n - i, &cp);
                if (ct_is_pyspace(cp)) {
                    i += k;
                    continue;
                }
                if (maxsplit >= 0 && (int64_t)np == maxsplit) {
                    /* the remainder, with its trailing whitespace stripped */
                    ct_value rest;
                    ct_str_strip(c, at, ct_str(p + i, n - i), NULL, false, true, &rest);
                    starts[np] = i;
                    ends[np++] = i + rest.u.s.n;
                    break;
                }
                size_t j = i;
                while (j < n) {
                    size_t kk = ct_utf8_decode(p + j, n - j, &cp);
                    if (ct_is_pyspace(cp)) break;
                    j += kk;
                }
                starts[np] = i;
                ends[np++] = j;
                i = j;
            }
        }
    }
    ct_list *l = ct_list_new(c->arena, np, CT_VIEW_LIST);
    if (!l) return ct_oom(c, at);
    for (size_t k = 0; k < np; k++) l->items[k] = ct_str(p + starts[k], ends[k] - starts[k]);
    *out = list_value(l);
    return 0;
}

static int str_affix(ct_ctx *c, const ct_node *at, ct_value s, const ct_args *a, bool end, ct_value *out) {
    ct_value x;
    if (ct_args_check(c, at, end ? "endswith" : "startswith", a, 1, NULL) != 0) return -1;
    if (!ct_arg(a, 0, NULL, &x)) return ct_fail(c, at, "%s() takes at least 1 argument", end ? "endswith" : "startswith");
    size_t count = x.kind == CT_LIST && x.u.l->view == CT_VIEW_TUPLE ? x.u.l->n : 1;
    for (size_t k = 0; k < count; k++) {
        ct_value p = x.kind == CT_LIST ? x.u.l->items[k] : x;
        if (p.kind != CT_STR)
            return ct_fail(c, at, "%s first arg must be str or a tuple of str, not %s", end ? "endswith" : "startswith",
                           ct_type_name(p));
        if (p.u.s.n <= s.u.s.n &&
            memcmp(end ? s.u.s.p + s.u.s.n - p.u.s.n : s.u.s.p, p.u.s.p, p.u.s.n) == 0) {
            *out = ct_bool(true);
            return 0;
        }
    }
    *out = ct_bool(false);
    return 0;
}

/* str.format with {} / {0} / {name} fields and no format specs or conversions. */
static int str_format(ct_ctx *c, const ct_node *at, ct_value s, const ct_args *a, ct_value *out) {
    ct_buf b = {.limit = 64u << 20};
    size_t auto_idx = 0;
    int r = 0;
    for (size_t i = 0; i < s.u.s.n && r == 0; i++) {
        char ch = s.u.s.p[i];
        if ((ch == '{' || ch == '}') && i + 1 < s.u.s.n && s.u.s.p[i + 1] == ch) {
            ct_buf_put(&b, &ch, 1);
            i++;
            continue;
        }
        if (ch == '}') {
            r = ct_fail(c, at, "Single '}' encountered in format string");
            break;
        }
        if (ch != '{') {
            ct_buf_put(&b, &ch, 1);
            continue;
        }
        const char *close = memchr(s.u.s.p + i, '}', s.u.s.n - i);
        if (!close) {
            r = ct_fail(c, at, "Single '{' encountered in format string");
            break;
        }
        const char *field = s.u.s.p + i + 1;
        size_t fn = (size_t)(close - field);
        if (memchr(field, ':', fn) || memchr(field, '!', fn) || memchr(field, '.', fn) || memchr(field, '[', fn)) {
            r = ct_fail(c, at, "format(): format specs, conversions and field access are not supported");
            break;
        }
        ct_value v;
        bool found;
        if (fn == 0) {
            found = ct_arg(a, auto_idx++, NULL, &v);
        } else if (field[0] >= '0' && field[0] <= '9') {
            found = ct_arg(a, (size_t)strtoul(field, NULL, 10), NULL, &v);
        } else {
            char *name = ct_strndup(c->arena, field, fn);
            found = name && ct_arg(a, (size_t)-1, name, &v);
        }
        if (!found) {
            r = ct_fail(c, at, "format(): replacement field {%.*s} has no argument", (int)fn, field);
            break;
        }
        char msg[160];
        if (ct_write_str(&b, v, msg, sizeof msg) != 0) r = ct_fail(c, at, "%s", msg);
        i = (size_t)(close - s.u.s.p);
    }
    if (r == 0) {
        char *p = ct_strndup(c->arena, b.p ? b.p : "", b.n);
        if (!p || b.oom) r = ct_oom(c, at);
        else *out = ct_str(p, b.n);
    }
    ct_buf_free(&b);
    return r;
}

static int str_find(ct_ctx *c, const ct_node *at, ct_value s, const ct_args *a, int mode, ct_value *out) {
    ct_value sub;
    if (!ct_arg(a, 0, NULL, &sub) || sub.kind != CT_STR || a->n > 1 || a->nkw)
        return ct_fail(c, at, "find/rfind/count take exactly one str argument here");
    if (mode == 'c') {
        int64_t count = 0;
        if (sub.u.s.n == 0) {
            count = (int64_t)ct_utf8_len(s.u.s.p, s.u.s.n) + 1;
        } else {
            const char *p = s.u.s.p, *end = p + s.u.s.n, *q;
            while ((q = memmem(p, (size_t)(end - p), sub.u.s.p, sub.u.s.n))) {
                count++;
                p = q + sub.u.s.n;
            }
        }
        *out = ct_int(count);
        return 0;
    }
    const char *hit = NULL;
    if (mode == 'f') {
        hit = find_sub(s.u.s.p, s.u.s.n, sub.u.s.p, sub.u.s.n);
    } else {
        for (size_t i = s.u.s.n >= sub.u.s.n ? s.u.s.n - sub.u.s.n + 1 : 0; i-- > 0;)
            if (memcmp(s.u.s.p + i, sub.u.s.p, sub.u.s.n) == 0) {
                hit = s.u.s.p + i;
                break;
            }
    }
    *out = ct_int(hit ? (int64_t)ct_utf8_len(s.u.s.p, (size_t)(hit - s.u.s.p)) : -1);
    return 0;
}

static int str_join(ct_ctx *c, const ct_node *at, ct_value sep, const ct_args *a, ct_value *out) {
    ct_value it;
    ct_list *l;
    if (!ct_arg(a, 0, NULL, &it) || ct_iterate(c, at, it, &l) != 0) return it.kind ? -1 : ct_fail(c, at, "join() takes one argument");
    ct_buf b = {.limit = 64u << 20};
    int r = 0;
    for (size_t k = 0; k < l->n && r == 0; k++) {
        if (l->items[k].kind != CT_STR) {
            r = ct_fail(c, at, "sequence item %zu: expected str instance, %s found", k, ct_type_name(l->items[k]));
            break;
        }
        if (k) ct_buf_put(&b, sep.u.s.p, sep.u.s.n);
        ct_buf_put(&b, l->items[k].u.s.p, l->items[k].u.s.n);
    }
    if (r == 0) {
        char *p = ct_strndup(c->arena, b.p ? b.p : "", b.n);
        if (!p || b.oom) r = ct_oom(c, at);
        else *out = ct_str(p, b.n);
    }
    ct_buf_free(&b);
    return r;
}

static int str_predicate(ct_value s, const char *name, ct_value *out) {
    bool all = s.u.s.n > 0, any_cased = false, ok_case = true;
    for (size_t i = 0; i < s.u.s.n;) {
        int32_t cp;
        i += ct_utf8_decode(s.u.s.p + i, s.u.s.n - i, &cp);
        utf8proc_category_t cat = cp < 0 ? UTF8PROC_CATEGORY_CN : utf8proc_category(cp);
        bool alpha = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        bool digit = cat == UTF8PROC_CATEGORY_ND;
        bool numeric = cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO;
        if (!strcmp(name, "isdigit")) all = all && digit;
        else if (!strcmp(name, "isalpha")) all = all && alpha;
        else if (!strcmp(name, "isalnum")) all = all && (alpha || numeric);
        else if (!strcmp(name, "isspace")) all = all && ct_is_pyspace(cp);
        else if (is_cased(cp)) {
            any_cased = true;
            bool lower = cat == UTF8PROC_CATEGORY_LL;
            if (!strcmp(name, "islower") ? !lower : cat != UTF8PROC_CATEGORY_LU) ok_case = false;
        }
    }
    if (!strcmp(name, "islower") || !strcmp(name, "isupper")) all = any_cased && ok_case;
    *out = ct_bool(all);
    return 0;
}

static int call_str_method(ct_ctx *c, const ct_node *at, const char *m, ct_value s, const ct_args *a, ct_value *out) {
    ct_value x, y;
    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) return str_affix(c, at, s, a, m[0] == 'e', out);
    if (!strcmp(m, "split") || !strcmp(m, "rsplit")) return str_split(c, at, s, a, m[0] == 'r', out);
    if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip")) {
        static const char *const names[] = {"chars", NULL};
        if (ct_args_check(c, at, m, a, 1, names) != 0) return -1;
        bool has = ct_arg(a, 0, "chars", &x);
        return ct_str_strip(c, at, s, has ? &x : NULL, m[0] != 'r', m[0] != 'l', out);
    }
    if (!strcmp(m, "upper") || !strcmp(m, "lower") || !strcmp(m, "title") || !strcmp(m, "capitalize")) {
        if (ct_args_check(c, at, m, a, 0, NULL) != 0) return -1;
        return ct_str_case(c, at, s, m[0] == 'u' ? 'u' : m[0] == 'l' ? 'l' : m[0] == 't' ? 't' : 'c', out);
    }
    if (!strcmp(m, "replace")) {
        ct_value count = ct_int(-1);
        static const char *const names[] = {"count", NULL};
        if (ct_args_check(c, at, m, a, 3, names) != 0) return -1;
        if (!ct_arg(a, 0, NULL, &x) || !ct_arg(a, 1, NULL, &y)) return ct_fail(c, at, "replace() takes at least 2 arguments");
        ct_arg(a, 2, "count", &count);
        if (count.kind != CT_INT) return ct_fail(c, at, "replace(): count must be an int");
        return ct_str_replace(c, at, s, x, y, count.u.i, out);
    }
    if (!strcmp(m, "format")) return str_format(c, at, s, a, out);
    if (!strcmp(m, "find")) return str_find(c, at, s, a, 'f', out);
    if (!strcmp(m, "rfind")) return str_find(c, at, s, a, 'r', out);
    if (!strcmp(m, "count")) return str_find(c, at, s, a, 'c', out);
    if (!strcmp(m, "join")) return str_join(c, at, s, a, out);
    if (ct_args_check(c, at, m, a, 0, NULL) != 0) return -1;
    return str_predicate(s, m, out);
}

/* ---- dict and list methods -------------------------------------------------------------------- */

static int call_dict_method(ct_ctx *c, const ct_node *at, const char *m, const ct_dict *d, const ct_args *a,
                            ct_value *out) {
    if (!strcmp(m, "get")) {
        ct_value key, def = ct_none();
        if (ct_args_check(c, at, m, a, 2, NULL) != 0 || !ct_arg(a, 0, NULL, &key))
            return ct_fail(c, at, "get() takes a key and an optional default");
        ct_arg(a, 1, NULL, &def);
        const ct_value *v = ct_dict_get(d, key);
        *out = v ? *v : def;
        return 0;
    }
    ct_view view = !strcmp(m, "items") ? CT_VIEW_ITEMS : !strcmp(m, "keys") ? CT_VIEW_KEYS
                   : !strcmp(m, "values") ? CT_VIEW_VALUES : CT_VIEW_LIST;
    if (view == CT_VIEW_LIST) return ct_fail(c, at, "dict.%s() is not allowed in a sandboxed template", m);
    if (ct_args_check(c, at, m, a, 0, NULL) != 0) return -1;
    ct_list *l = ct_list_new(c->arena, d->n, view);
    if (!l) return ct_oom(c, at);
    for (size_t k = 0; k < d->n; k++) {
        if (view == CT_VIEW_ITEMS) {
            ct_list *pair = ct_list_new(c->arena, 2, CT_VIEW_TUPLE);
            if (!pair) return ct_oom(c, at);
            pair->items[0] = d->keys[k];
            pair->items[1] = d->vals[k];
            l->items[k] = list_value(pair);
        } else {
            l->items[k] = view == CT_VIEW_KEYS ? d->keys[k] : d->vals[k];
        }
    }
    *out = list_value(l);
    return 0;
}

static int call_list_method(ct_ctx *c, const ct_node *at, const char *m, const ct_list *l, const ct_args *a,
                            ct_value *out) {
    ct_value x;
    if (strcmp(m, "count") && strcmp(m, "index"))
        return ct_fail(c, at, "list.%s() is not allowed in a sandboxed template", m);
    if (ct_args_check(c, at, m, a, 1, NULL) != 0 || !ct_arg(a, 0, NULL, &x))
        return ct_fail(c, at, "%s() takes exactly one argument", m);
    int64_t count = 0;
    for (size_t k = 0; k < l->n; k++)
        if (ct_equal(l->items[k], x)) {
            if (m[0] == 'i') {
                *out = ct_int((int64_t)k);
                return 0;
            }
            count++;
        }
    if (m[0] == 'i') return ct_fail(c, at, "list.index(x): x not in list");
    *out = ct_int(count);
    return 0;
}

/* ---- globals ---------------------------------------------------------------------------------- */

static int g_range(ct_ctx *c, const ct_node *at, const ct_args *a, ct_value *out) {
    int64_t v[3] = {0, 0, 1};
    if (a->n < 1 || a->n > 3 || a->nkw) return ct_fail(c, at, "range() takes 1 to 3 integer arguments");
    for (size_t k = 0; k < a->n; k++) {
        if (a->v[k].kind != CT_INT && a->v[k].kind != CT_BOOL)
            return ct_fail(c, at, "'%s' object cannot be interpreted as an integer", ct_type_name(a->v[k]));
        v[a->n == 1 ? 1 : k] = a->v[k].kind == CT_INT ? a->v[k].u.i : a->v[k].u.b;
    }
    if (v[2] == 0) return ct_fail(c, at, "range() arg 3 must not be zero");
    int64_t n = 0;
    if (v[2] > 0 && v[1] > v[0]) n = (v[1] - v[0] - 1) / v[2] + 1;
    if (v[2] < 0 && v[1] < v[0]) n = (v[0] - v[1] - 1) / (-v[2]) + 1;
    /* jinja2.sandbox.MAX_RANGE */
    if (n > 100000) return ct_fail(c, at, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    ct_list *l = ct_list_new(c->arena, (size_t)n, CT_VIEW_LIST);
    if (!l) return ct_oom(c, at);
    for (int64_t k = 0; k < n; k++) l->items[k] = ct_int(v[0] + k * v[2]);
    *out = list_value(l);
    return 0;
}

/* namespace(...) and dict(...): an optional mapping or list of pairs, then keyword arguments. */
static int g_mapping(ct_ctx *c, const ct_node *at, const ct_args *a, bool ns, ct_value *out) {
    ct_dict *d = ct_dict_new(c->arena, a->nkw + 4);
    if (!d) return ct_oom(c, at);
    if (a->n > 1) return ct_fail(c, at, "%s() takes at most one positional argument", ns ? "namespace" : "dict");
    if (a->n == 1) {
        ct_value src = a->v[0];
        if (src.kind == CT_DICT) {
            for (size_t k = 0; k < src.u.d->n; k++)
                if (ct_dict_set(c->arena, d, src.u.d->keys[k], src.u.d->vals[k]) != 0) return ct_oom(c, at);
        } else {
            ct_list *l;
            if (ct_iterate(c, at, src, &l) != 0) return -1;
            for (size_t k = 0; k < l->n; k++) {
                ct_value p = l->items[k];
                if (p.kind != CT_LIST || p.u.l->n != 2)
                    return ct_fail(c, at, "dictionary update sequence element #%zu has the wrong length", k);
                if (ct_dict_set(c->arena, d, p.u.l->items[0], p.u.l->items[1]) != 0) return ct_oom(c, at);
            }
        }
    }
    for (size_t k = 0; k < a->nkw; k++)
        if (ct_dict_set(c->arena, d, ct_str(a->kwn[k], strlen(a->kwn[k])), a->kwv[k]) != 0) return ct_oom(c, at);
    if (ns)
        for (size_t k = 0; k < d->n; k++)
            if (d->keys[k].kind == CT_STR && d->keys[k].u.s.n && d->keys[k].u.s.p[0] == '_')
                return ct_fail(c, at, "chat templates cannot store underscore-prefixed attributes on a namespace");
    *out = (ct_value){.kind = ns ? CT_NS : CT_DICT, .u.d = d};
    return 0;
}

static int g_strftime_now(ct_ctx *c, const ct_node *at, const ct_args *a, ct_value *out) {
    ct_value f;
    if (a->n != 1 || a->nkw || (f = a->v[0]).kind != CT_STR) return ct_fail(c, at, "strftime_now() takes one str argument");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    /* datetime.strftime handles %f, %z and %Z itself (naive datetime: empty zone fields) */
    ct_buf fmt = {0};
    for (size_t i = 0; i < f.u.s.n; i++) {
        if (f.u.s.p[i] == '%' && i + 1 < f.u.s.n) {
            char d = f.u.s.p[++i];
            if (d == 'f') ct_buf_printf(&fmt, "%06ld", ts.tv_nsec / 1000);
            else if (d != 'z' && d != 'Z') {
                char pair[2] = {'%', d};
                ct_buf_put(&fmt, pair, 2);
            }
        } else {
            ct_buf_put(&fmt, f.u.s.p + i, 1);
        }
    }
    char buf[1024];
    size_t n = fmt.p ? strftime(buf, sizeof buf, fmt.p, &tm) : 0;
    ct_buf_free(&fmt);
    char *s = ct_strndup(c->arena, buf, n);
    if (!s) return ct_oom(c, at);
    *out = ct_str(s, n);
    return 0;
}

int ct_call_builtin(ct_ctx *c, const ct_node *at, const ct_func *fn, const ct_args *a, ct_value *out) {
    const char *m = fn->name;
    switch (fn->self.kind) {
    case CT_STR: return call_str_method(c, at, m, fn->self, a, out);
    case CT_DICT: return call_dict_method(c, at, m, fn->self.u.d, a, out);
    case CT_LIST: return call_list_method(c, at, m, fn->self.u.l, a, out);
    default: break;
    }
    if (!strcmp(m, "range")) return g_range(c, at, a, out);
    if (!strcmp(m, "namespace")) return g_mapping(c, at, a, true, out);
    if (!strcmp(m, "dict")) return g_mapping(c, at, a, false, out);
    if (!strcmp(m, "strftime_now")) return g_strftime_now(c, at, a, out);
    if (!strcmp(m, "raise_exception")) {
        ct_value msg = ct_str("", 0);
        if (a->n >= 1 && ct_to_str(c, at, a->v[0], &msg) != 0) return -1;
        snprintf(c->err, c->errlen, "%.*s (raise_exception at template line %d, column %d)", (int)msg.u.s.n,
                 msg.u.s.p, at->line, at->col);
        return -1;
    }
    return ct_fail(c, at, "'%s' is not callable", m);
}
