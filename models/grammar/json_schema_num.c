/* JSON Schema -> GBNF for numbers: integers in exact digit-range grammars (as llguidance and
 * XGrammar build them), bounded numbers as an integer part in range plus a constrained fraction. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/grammar/json_schema_int.h"

#define NO_BOUND LLONG_MIN
#include <limits.h>

/* Digits a..b (equal length, a <= b) as a GBNF sequence with one derivation per number. */
static void same_len(js_buf *b, const char *lo, const char *hi, size_t n)
{
    if (n == 0) return;
    if (lo[0] == hi[0]) {
        js_buf_printf(b, "\"%c\" ", lo[0]);
        same_len(b, lo + 1, hi + 1, n - 1);
        return;
    }
    bool lo_zeros = strspn(lo + 1, "0") >= n - 1, hi_nines = strspn(hi + 1, "9") >= n - 1;
    js_buf_puts(b, "(");
    int alts = 0;
    char lo0 = lo[0], hi0 = hi[0];
    if (!lo_zeros) {
        js_buf_printf(b, "\"%c\" (", lo[0]);
        char nines[32];
        memset(nines, '9', n - 1);
        nines[n - 1] = '\0';
        same_len(b, lo + 1, nines, n - 1);
        js_buf_puts(b, ")");
        lo0++;
        alts++;
    }
    char mid_hi = hi_nines ? hi0 : (char)(hi0 - 1);
    if (lo0 <= mid_hi) {
        if (alts++) js_buf_puts(b, " | ");
        js_buf_printf(b, "[%c-%c]", lo0, mid_hi);
        if (n > 1) js_buf_printf(b, " [0-9]{%zu}", n - 1);
    }
    if (!hi_nines) {
        if (alts++) js_buf_puts(b, " | ");
        js_buf_printf(b, "\"%c\" (", hi[0]);
        char zeros[32];
        memset(zeros, '0', n - 1);
        zeros[n - 1] = '\0';
        same_len(b, zeros, hi + 1, n - 1);
        js_buf_puts(b, ")");
    }
    js_buf_puts(b, ")");
}

/* Non-negative integers in [lo, hi] (hi NO_BOUND: unbounded) without leading zeros. */
static void uint_range(js_buf *b, long long lo, long long hi)
{
    char los[32], his[32];
    int ll = snprintf(los, sizeof los, "%lld", lo);
    int hl = hi == NO_BOUND ? ll : snprintf(his, sizeof his, "%lld", hi);
    js_buf_puts(b, "(");
    int alts = 0;
    for (int d = ll; d <= hl; d++) {
        long long p = 1;
        for (int i = 1; i < d; i++)
            p *= 10;
        long long a = d == 1 ? 0 : p, z = d >= 19 ? LLONG_MAX : p * 10 - 1;
        if (a < lo) a = lo;
        if (hi != NO_BOUND && z > hi) z = hi;
        if (a > z) continue;
        char as[32], zs[32];
        snprintf(as, sizeof as, "%lld", a);
        snprintf(zs, sizeof zs, "%lld", z);
        if (strlen(zs) != (size_t)d) memset(zs, '9', (size_t)d), zs[d] = '\0';
        if (alts++) js_buf_puts(b, " | ");
        same_len(b, as, zs, (size_t)d);
    }
    if (hi == NO_BOUND) {
        if (alts++) js_buf_puts(b, " | ");
        js_buf_printf(b, "[1-9] [0-9]{%d,}", ll);
    }
    js_buf_puts(b, ")");
}

/* A bound read as the integer it implies; *present false when absent. lower: the bound is a
 * minimum (rounded up), else a maximum (rounded down). Bounds beyond 2^53 are first moved one ulp
 * inward, so that the double cJSON read can only have tightened them. */
static int read_bound(js_ctx *c, const cJSON *s, bool lower, bool integer, long long *out,
                      bool *present, bool *exclusive)
{
    const char *inc = lower ? "minimum" : "maximum";
    const char *exc = lower ? "exclusiveMinimum" : "exclusiveMaximum";
    const cJSON *vi = cJSON_GetObjectItemCaseSensitive(s, inc);
    const cJSON *ve = cJSON_GetObjectItemCaseSensitive(s, exc);
    *present = false;
    *exclusive = false;
    double v = 0;
    if (vi && !cJSON_IsNumber(vi)) return js_fail(c, "json schema: \"%s\" must be a number", inc);
    if (cJSON_IsBool(ve)) { /* draft 4: a flag on minimum/maximum */
        if (cJSON_IsTrue(ve) && vi) *exclusive = true;
    } else if (ve && !cJSON_IsNumber(ve)) {
        return js_fail(c, "json schema: \"%s\" must be a number", exc);
    }
    if (vi) {
        v = vi->valuedouble;
        *present = true;
    }
    if (cJSON_IsNumber(ve)) {
        double e = ve->valuedouble;
        if (!*present || (lower ? e >= v : e <= v)) {
            v = e;
            *exclusive = true;
        }
        *present = true;
    }
    if (!*present) return GR_OK;
    if (!isfinite(v) || fabs(v) >= 9.2e18)
        return js_fail(c, "json schema: \"%s\" beyond +-9.2e18 is not supported",
                       *exclusive ? exc : inc);
    if (fabs(v) > 9007199254740992.0) v = nextafter(v, lower ? INFINITY : -INFINITY);
    double r = lower ? ceil(v) : floor(v);
    if (integer && *exclusive && r == v) r += lower ? 1 : -1;
    if (integer) *exclusive = false; /* folded into r */
    *out = (long long)r;
    return GR_OK;
}

/* ---- numbers with bounds ----
 * A number x = ±I.F (no exponent) is split by sign; on each side y = |x| >= 0 the bounds become
 * "pieces": a range of integer parts I and a condition on the fraction digits F. A bound b is
 * compared as the double it is: a digit string s with s >= b (as decimals) reads as a double >= b,
 * so inclusive bounds are exact; an exclusive bound becomes the inclusive bound nextafter(b). */

enum { F_ANY, F_LE, F_GE, F_POS };

typedef struct piece {
    long long lo, hi; /* integer part; hi NO_BOUND = unbounded */
    int frac; /* F_ANY, F_LE/F_GE (0.F <= / >= 0.fd; F_LE "" = only zeros), F_POS (0.F > 0) */
    char fd[40];
} piece;

/* The shortest fixed-point decimal of v >= 0 that reads back as v: integer part and fraction
 * digits (no trailing zeros). false if it needs more than 30 fraction digits. */
static bool decimal_of(double v, long long *ip, char fd[40])
{
    char tmp[64];
    int k;
    for (k = 0; k <= 30; k++) {
        snprintf(tmp, sizeof tmp, "%.*f", k, v);
        if (strtod(tmp, NULL) == v) break;
    }
    if (k > 30) return false;
    char *dot = strchr(tmp, '.');
    *ip = strtoll(tmp, NULL, 10);
    fd[0] = '\0';
    if (dot) {
        snprintf(fd, 40, "%s", dot + 1);
        size_t n = strlen(fd);
        while (n && fd[n - 1] == '0')
            fd[--n] = '\0';
    }
    return true;
}

/* A bound as an inclusive double (exclusive ones moved to the next double inward). */
static int read_dbound(js_ctx *c, const cJSON *s, bool lower, bool *present, double *out)
{
    const char *inc = lower ? "minimum" : "maximum";
    const char *exc = lower ? "exclusiveMinimum" : "exclusiveMaximum";
    const cJSON *vi = cJSON_GetObjectItemCaseSensitive(s, inc);
    const cJSON *ve = cJSON_GetObjectItemCaseSensitive(s, exc);
    *present = false;
    if (vi && !cJSON_IsNumber(vi)) return js_fail(c, "json schema: \"%s\" must be a number", inc);
    if (ve && !cJSON_IsNumber(ve) && !cJSON_IsBool(ve))
        return js_fail(c, "json schema: \"%s\" must be a number", exc);
    double v = 0;
    if (vi) {
        v = vi->valuedouble;
        if (cJSON_IsTrue(ve)) v = nextafter(v, lower ? INFINITY : -INFINITY); /* draft 4 */
        *present = true;
    }
    if (cJSON_IsNumber(ve)) {
        double e = nextafter(ve->valuedouble, lower ? INFINITY : -INFINITY);
        if (!*present || (lower ? e > v : e < v)) v = e;
        *present = true;
    }
    if (*present && (!isfinite(v) || fabs(v) >= 9.2e18))
        return js_fail(c, "json schema: \"%s\" beyond +-9.2e18 is not supported", inc);
    *out = v;
    return GR_OK;
}

/* The lower bound y >= v on y = |x| (v > 0), or y > 0 (positive_only): F_POS for y > 0 and for
 * bounds below every decimal F_POS writes (1e-291), else F_GE. */
static int lower_spec(js_ctx *c, double v, bool positive_only, piece *p)
{
    if (positive_only || v < 1e-290) {
        p->lo = 0;
        p->frac = F_POS;
        return GR_OK;
    }
    if (!decimal_of(v, &p->lo, p->fd))
        return js_fail(c, "json schema: a number bound needs more than 30 decimals");
    p->frac = p->fd[0] ? F_GE : F_ANY;
    return GR_OK;
}

/* Pieces for y >= 0 with an optional lower bound (lo, as from lower_spec) and upper bound u. */
static int pieces(js_ctx *c, piece *out, const piece *lo, bool has_hi, double u, int *n)
{
    piece lows[2], highs[2];
    int nl = 0, nh = 0;
    if (!lo) {
        lows[nl++] = (piece){0, NO_BOUND, F_ANY, ""};
    } else if (lo->frac == F_POS) {
        lows[nl++] = (piece){1, NO_BOUND, F_ANY, ""};
        lows[nl++] = (piece){0, 0, F_POS, ""};
    } else if (lo->frac == F_ANY) {
        lows[nl++] = (piece){lo->lo, NO_BOUND, F_ANY, ""};
    } else {
        lows[nl++] = (piece){lo->lo + 1, NO_BOUND, F_ANY, ""};
        lows[nl] = (piece){lo->lo, lo->lo, F_GE, ""};
        memcpy(lows[nl++].fd, lo->fd, sizeof lo->fd);
    }
    if (!has_hi) {
        highs[nh++] = (piece){0, NO_BOUND, F_ANY, ""};
    } else {
        long long ui;
        char ud[40];
        if (u < 1e-290) u = 0; /* a bound below every decimal written: 0 (a subset) */
        if (!decimal_of(u, &ui, ud))
            return js_fail(c, "json schema: a number bound needs more than 30 decimals");
        if (ui >= 1) highs[nh++] = (piece){0, ui - 1, F_ANY, ""};
        highs[nh] = (piece){ui, ui, F_LE, ""};
        memcpy(highs[nh++].fd, ud, sizeof ud);
    }
    *n = 0;
    for (int i = 0; i < nl; i++)
        for (int j = 0; j < nh; j++) {
            piece p = lows[i];
            const piece *q = &highs[j];
            if (q->lo > p.lo) p.lo = q->lo;
            if (q->hi != NO_BOUND && (p.hi == NO_BOUND || q->hi < p.hi)) p.hi = q->hi;
            if (p.hi != NO_BOUND && p.lo > p.hi) continue;
            if (p.frac == F_ANY) {
                p.frac = q->frac;
                memcpy(p.fd, q->fd, sizeof p.fd);
            } else if (q->frac != F_ANY) {
                /* both bounds on one integer part: only the empty intersections are handled */
                if (q->frac == F_LE && !q->fd[0]) continue;              /* fraction must be 0 */
                if (p.frac == F_GE && strcmp(p.fd, q->fd) > 0) continue; /* above the top */
                return js_fail(c, "json schema: number bounds within one integer (with fractions "
                                  "on both) are not supported");
            }
            out[(*n)++] = p;
        }
    return GR_OK;
}

/* Fraction digits F (possibly empty below the top) with 0.F >= 0.d. */
static void frac_ge(js_buf *b, const char *d)
{
    if (!*d) {
        js_buf_puts(b, "[0-9]*");
        return;
    }
    js_buf_puts(b, "(");
    if (*d < '9') js_buf_printf(b, "[%c-9] [0-9]* | ", *d + 1);
    js_buf_printf(b, "\"%c\" ", *d);
    frac_ge(b, d + 1);
    js_buf_puts(b, ")");
}

/* Fraction digits F with 0.F <= 0.d; top: F is not empty. */
static void frac_le(js_buf *b, const char *d, bool top)
{
    if (!*d) {
        js_buf_puts(b, "\"0\"*");
        return;
    }
    js_buf_puts(b, "(");
    if (!top) js_buf_puts(b, "\"\" | ");
    if (*d > '0') js_buf_printf(b, "[0-%c] [0-9]* | ", *d - 1);
    js_buf_printf(b, "\"%c\" ", *d);
    frac_le(b, d + 1, false);
    js_buf_puts(b, ")");
}

static void emit_piece(js_buf *b, const char *sign, const piece *p, int *alts)
{
    if ((*alts)++) js_buf_puts(b, " | ");
    js_buf_printf(b, "%s", sign);
    uint_range(b, p->lo, p->hi);
    switch (p->frac) {
    case F_ANY:
        js_buf_puts(b, " (\".\" [0-9]+)?");
        break;
    case F_POS:
        js_buf_puts(b, " \".\" \"0\"{0,290} [1-9] [0-9]*");
        break;
    case F_GE:
        js_buf_puts(b, " \".\" ");
        frac_ge(b, p->fd);
        break;
    case F_LE:
        if (!p->fd[0]) {
            js_buf_puts(b, " (\".\" \"0\"+)?");
        } else {
            js_buf_puts(b, " (\".\" ");
            frac_le(b, p->fd, true);
            js_buf_puts(b, ")?");
        }
        break;
    }
}

static char *number_pieces(js_ctx *c, const cJSON *s)
{
    bool has_lo, has_hi;
    double lo, hi;
    if (read_dbound(c, s, true, &has_lo, &lo) || read_dbound(c, s, false, &has_hi, &hi))
        return NULL;
    if (!has_lo && !has_hi) return strdup(js_builtin(c, JS_B_NUMBER));
    js_buf b = {0};
    int alts = 0, n;
    piece ps[4], lp;
    /* x >= 0 */
    if (!has_hi || hi >= 0) {
        bool lower = has_lo && lo > 0;
        if (lower && lower_spec(c, lo, false, &lp)) goto fail;
        if (pieces(c, ps, lower ? &lp : NULL, has_hi, hi, &n)) goto fail;
        for (int i = 0; i < n; i++)
            emit_piece(&b, "", &ps[i], &alts);
    }
    /* x < 0: y = -x > 0 with the bounds mirrored */
    if (!has_lo || lo < 0) {
        if (lower_spec(c, has_hi && hi < 0 ? -hi : 0, !(has_hi && hi < 0), &lp)) goto fail;
        if (pieces(c, ps, &lp, has_lo, -lo, &n)) goto fail;
        for (int i = 0; i < n; i++)
            emit_piece(&b, "\"-\" ", &ps[i], &alts);
    }
    if (alts == 0) {
        free(b.p);
        js_fail(c, "json schema: no number satisfies the bounds: the schema matches nothing");
        return NULL;
    }
    if (b.oom) {
        free(b.p);
        js_fail(c, "json schema: out of memory");
        return NULL;
    }
    return b.p;
fail:
    free(b.p);
    return NULL;
}

char *js_gen_number(js_ctx *c, const cJSON *s, bool integer)
{
    const cJSON *mult = cJSON_GetObjectItemCaseSensitive(s, "multipleOf");
    if (mult) {
        if (!cJSON_IsNumber(mult) || mult->valuedouble <= 0) {
            js_fail(c, "json schema: \"multipleOf\" must be a positive number");
            return NULL;
        }
        if (mult->valuedouble != 1) {
            js_fail(c, "json schema: \"multipleOf\" other than 1 is not supported");
            return NULL;
        }
        integer = true; /* multiples of 1 are the integers */
    }
    if (!integer) return number_pieces(c, s);
    long long L = 0, U = 0;
    bool has_lo, has_hi, lo_exc, hi_exc;
    if (read_bound(c, s, true, integer, &L, &has_lo, &lo_exc) ||
        read_bound(c, s, false, integer, &U, &has_hi, &hi_exc))
        return NULL;
    if (!has_lo && !has_hi) return strdup(js_builtin(c, integer ? JS_B_INTEGER : JS_B_NUMBER));
    js_buf b = {0};
    int alts = 0;
    if (integer) {
        if (has_lo && has_hi && L > U) {
            js_fail(c, "json schema: minimum above maximum: the schema matches nothing");
            return NULL;
        }
        if (!has_hi || U >= 0) {
            if (alts++) js_buf_puts(&b, " | ");
            uint_range(&b, has_lo && L > 0 ? L : 0, has_hi ? U : NO_BOUND);
        }
        if (!has_lo || L < 0) {
            long long nlo = has_hi && U < 0 ? -U : 1;
            if (alts++) js_buf_puts(&b, " | ");
            js_buf_puts(&b, "\"-\" ");
            uint_range(&b, nlo, has_lo ? -L : NO_BOUND);
        }
    }
    if (alts == 0) {
        free(b.p);
        js_fail(c, "json schema: no number satisfies the bounds: the schema matches nothing");
        return NULL;
    }
    if (b.oom) {
        free(b.p);
        js_fail(c, "json schema: out of memory");
        return NULL;
    }
    return b.p;
}
