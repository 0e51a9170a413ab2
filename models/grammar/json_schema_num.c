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
    if (!integer && !js_num_integral(v)) {
        /* a fractional bound on a number is tightened to the next integer inward (a subset: the
         * values between are never produced), then inclusive */
        *out = (long long)(lower ? ceil(v) : floor(v));
        *exclusive = false;
        return GR_OK;
    }
    double r = lower ? ceil(v) : floor(v);
    if (integer && *exclusive && r == v) r += lower ? 1 : -1;
    if (integer) *exclusive = false; /* folded into r */
    *out = (long long)r;
    return GR_OK;
}

enum { F_ANY, F_ZERO, F_NONZERO };

typedef struct piece {
    long long lo, hi; /* integer part; hi NO_BOUND = unbounded */
    int frac;
} piece;

/* Pieces for y = I.F >= 0 with a lower and an upper bound on y. */
static int pieces(piece *out, bool has_lo, long long L, bool lo_exc, bool has_hi, long long U,
                  bool hi_exc)
{
    piece lows[2], highs[2];
    int nl = 0, nh = 0;
    if (!has_lo || L < 0 || (L == 0 && !lo_exc)) {
        lows[nl++] = (piece){0, NO_BOUND, F_ANY};
    } else if (!lo_exc) {
        lows[nl++] = (piece){L, NO_BOUND, F_ANY};
    } else {
        lows[nl++] = (piece){L + 1, NO_BOUND, F_ANY};
        lows[nl++] = (piece){L, L, F_NONZERO};
    }
    if (!has_hi) {
        highs[nh++] = (piece){0, NO_BOUND, F_ANY};
    } else if (!hi_exc) {
        if (U >= 1) highs[nh++] = (piece){0, U - 1, F_ANY};
        if (U >= 0) highs[nh++] = (piece){U, U, F_ZERO};
    } else if (U >= 1) {
        highs[nh++] = (piece){0, U - 1, F_ANY};
    }
    int n = 0;
    for (int i = 0; i < nl; i++)
        for (int j = 0; j < nh; j++) {
            piece p = lows[i];
            const piece *q = &highs[j];
            if (q->lo > p.lo) p.lo = q->lo;
            if (q->hi != NO_BOUND && (p.hi == NO_BOUND || q->hi < p.hi)) p.hi = q->hi;
            if (p.hi != NO_BOUND && p.lo > p.hi) continue;
            if (p.frac == F_ANY)
                p.frac = q->frac;
            else if (q->frac != F_ANY && q->frac != p.frac)
                continue;
            out[n++] = p;
        }
    return n;
}

static void emit_piece(js_buf *b, const char *sign, const piece *p, int *alts)
{
    if ((*alts)++) js_buf_puts(b, " | ");
    js_buf_printf(b, "%s", sign);
    uint_range(b, p->lo, p->hi);
    if (p->frac == F_ANY) js_buf_puts(b, " (\".\" [0-9]+)?");
    if (p->frac == F_ZERO) js_buf_puts(b, " (\".\" \"0\"+)?");
    if (p->frac == F_NONZERO) js_buf_puts(b, " \".\" \"0\"* [1-9] [0-9]*");
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
            piece p = {has_lo && L > 0 ? L : 0, has_hi ? U : NO_BOUND, F_ZERO};
            if ((alts)++) js_buf_puts(&b, " | ");
            uint_range(&b, p.lo, p.hi);
        }
        if (!has_lo || L < 0) {
            long long nlo = has_hi && U < 0 ? -U : 1;
            if (alts++) js_buf_puts(&b, " | ");
            js_buf_puts(&b, "\"-\" ");
            uint_range(&b, nlo, has_lo ? -L : NO_BOUND);
        }
    } else {
        piece ps[4];
        /* x >= 0 */
        int n = pieces(ps, has_lo, L, lo_exc, has_hi, U, hi_exc);
        for (int i = 0; i < n; i++)
            emit_piece(&b, "", &ps[i], &alts);
        /* x < 0: y = -x > 0, bounds mirrored */
        bool yl = has_hi, yh = has_lo;
        long long YL = -U, YH = -L;
        bool yle = hi_exc, yhe = lo_exc;
        if (!yl || YL < 0 || (YL == 0 && !yle)) {
            yl = true;
            YL = 0;
            yle = true; /* y > 0 */
        }
        n = pieces(ps, yl, YL, yle, yh, YH, yhe);
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
}
