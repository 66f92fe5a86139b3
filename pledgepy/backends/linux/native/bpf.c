/*
 * The seccomp-BPF compiler: seccomp/filter.py's layout and bpf.py's assembler, in C.
 *
 * Python (filter.py, encode()) flattens a plan into one byte string; this file
 * lays it out exactly as filter.compile_python() does (the runs of syscall
 * numbers, the weighted search, the argument checks in place or out of line,
 * far jumps through trampolines) and writes the same sock_filter bytes. The
 * Python compiler is the reference: tests compare both on random plans.
 *
 * The encoding is read bounds-checked, and every count in it must match what
 * follows: anything else is PPB_E_INPUT and no filter. Little-endian throughout:
 *   header  "PPB1" mode(u8: 0 full, 1 sparse, 2 delta on a base) trap_joins(u8)
 *           n_tail(u8) n_inline(u8) max_known(u16) max_insns(u16) audit_arch(u32)
 *           ret allow, trap, enosys, kill, errno (u32 each) hot_default(u32) n_hot(u8)
 *           inline levels (i8 each)  hot: (nr u16, weight u32) each
 *           tail runs: (first nr u32, kind u8) each
 *   kinds   max_known + 2 bytes, the plan's action per number (0: not listed)
 *   base    the same for the base plan (mode 2 only)
 *   blocks  for each number whose kind is "args", ascending:
 *           nr(u16) n_rules(u16), each rule: errno(u32) n_args(u8), each test:
 *           index(i8) flags(u8: 1 negate, 2 wide) mask(u64) n_values(u16) values(u64 each)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PPB_E_INPUT (-1)    /* malformed encoding */
#define PPB_E_OVERFLOW (-2) /* more than max_insns instructions */
#define PPB_E_JUMP (-3)     /* a backward or out-of-range jump */
#define PPB_E_NOMEM (-4)
#define PPB_E_SPACE (-5)    /* the output buffer is too small */

enum { PPB_ABSENT = 0, PPB_ALLOW = 1, PPB_TRAP = 2, PPB_ENOSYS = 3, PPB_KILL = 4, PPB_ARGS = 5,
       PPB_NKINDS = 6 };

#define PPB_LD_W_ABS 0x20
#define PPB_ALU_AND_K 0x54
#define PPB_JMP_JA 0x05
#define PPB_JMP_JEQ_K 0x15
#define PPB_JMP_JGE_K 0x35
#define PPB_RET_K 0x06
#define PPB_NONE (-1)

struct ppb_rd { const unsigned char *p, *end; int bad; };

static const unsigned char *ppb_take(struct ppb_rd *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *at = r->p;
    r->p += n;
    return at;
}

static uint64_t ppb_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t ppb_get(struct ppb_rd *r, int n)
{
    const unsigned char *p = ppb_take(r, (size_t)n);
    return p ? ppb_le(p, n) : 0;
}

struct ppb_arg { int index; int negate, wide; uint64_t mask; uint32_t nvalues;
                 const unsigned char *values; };
struct ppb_rule { uint32_t errno_; uint32_t nargs; struct ppb_arg *args; };
struct ppb_block { uint32_t nrules; struct ppb_rule *rules; };
struct ppb_run { uint32_t start; int kind; int block; int64_t weight; };
struct ppb_insn { uint16_t code; uint32_t k; int32_t jt, jf; };

struct ppb {
    /* the header */
    int mode, trap_joins, n_inline, n_tail, n_hot;
    uint32_t max_known, max_insns, audit, rets[PPB_NKINDS], ret_errno, hot_default;
    const unsigned char *inline_, *hot, *tail, *kinds, *base;
    /* the argument checks, by number (block_of[nr] >= 0 for the "args" ones) */
    int32_t *block_of;
    struct ppb_block *blocks;
    /* the runs of the search */
    struct ppb_run *runs;
    uint32_t nruns;
    int64_t *sums;
    /* the program being built */
    struct ppb_insn *code;
    uint32_t ncode;
    int32_t *at; /* label -> index of the instruction it precedes (-1: not placed) */
    uint32_t codecap;
    uint32_t nlabels, labcap, atcap; /* labcap: the most labels; atcap: room for them now */
    int32_t *pending_label, *pending_block; /* out-of-line argument checks */
    uint32_t npending;
    int err;
};

static uint32_t ppb_arg_value(const struct ppb_arg *a, uint32_t i)
{
    return (uint32_t)ppb_le(a->values + 8 * (size_t)i, 8);
}

static uint64_t ppb_arg_value64(const struct ppb_arg *a, uint32_t i)
{
    return ppb_le(a->values + 8 * (size_t)i, 8);
}

/* ---- the program: bpf.Program's emit methods ---- */

/* Room for one more item in *arr (of *cap, at most max): doubled as needed, so a
 * typical filter's scratch stays small (freeing ~100 KB each compile made glibc hand
 * the heap's top back to the kernel: three brk() calls a compile). */
static int ppb_grow(struct ppb *c, void **arr, uint32_t *cap, uint32_t used, uint32_t max,
                    size_t size)
{
    if (used < *cap)
        return 0;
    if (used >= max) {
        c->err = c->err ? c->err : PPB_E_OVERFLOW;
        return -1;
    }
    uint32_t want = *cap * 2 > max ? max : *cap * 2;
    void *bigger = realloc(*arr, (size_t)want * size);
    if (bigger == NULL) {
        c->err = c->err ? c->err : PPB_E_NOMEM;
        return -1;
    }
    *arr = bigger;
    *cap = want;
    return 0;
}

static int32_t ppb_label(struct ppb *c)
{
    void *at = c->at;
    int rc = ppb_grow(c, &at, &c->atcap, c->nlabels, c->labcap, sizeof *c->at);
    c->at = at;
    if (rc != 0)
        return 0;
    c->at[c->nlabels] = -1;
    return (int32_t)c->nlabels++;
}

static void ppb_place(struct ppb *c, int32_t label)
{
    if (!c->err)
        c->at[label] = (int32_t)c->ncode;
}

static void ppb_emit(struct ppb *c, uint16_t code, uint32_t k, int32_t jt, int32_t jf)
{
    if (c->err)
        return;
    void *code_ = c->code; /* bpf.py refuses more than MAX_INSNS at assembly */
    int rc = ppb_grow(c, &code_, &c->codecap, c->ncode, c->max_insns, sizeof *c->code);
    c->code = code_;
    if (rc != 0)
        return;
    struct ppb_insn *i = &c->code[c->ncode++];
    i->code = code;
    i->k = k;
    i->jt = jt;
    i->jf = jf;
}

/* ---- the plan's layout: filter.py ---- */

static uint32_t ppb_arg_offset(int index, int high)
{
    return (uint32_t)(16 + 8 * index + (high ? 4 : 0));
}

static void ppb_emit_test(struct ppb *c, const struct ppb_arg *a, int32_t fail)
{
    if (a->wide) {
        ppb_emit(c, PPB_LD_W_ABS, ppb_arg_offset(a->index, 1), PPB_NONE, PPB_NONE);
        if ((a->mask >> 32) != 0xFFFFFFFFu)
            ppb_emit(c, PPB_ALU_AND_K, (uint32_t)(a->mask >> 32), PPB_NONE, PPB_NONE);
        ppb_emit(c, PPB_JMP_JEQ_K, (uint32_t)(ppb_arg_value64(a, 0) >> 32), PPB_NONE, fail);
    }
    ppb_emit(c, PPB_LD_W_ABS, ppb_arg_offset(a->index, 0), PPB_NONE, PPB_NONE);
    if ((a->mask & 0xFFFFFFFFu) != 0xFFFFFFFFu)
        ppb_emit(c, PPB_ALU_AND_K, (uint32_t)a->mask, PPB_NONE, PPB_NONE);
    if (a->negate) {
        for (uint32_t i = 0; i < a->nvalues; i++)
            ppb_emit(c, PPB_JMP_JEQ_K, ppb_arg_value(a, i), fail, PPB_NONE);
        return;
    }
    int32_t ok = ppb_label(c);
    for (uint32_t i = 0; i + 1 < a->nvalues; i++)
        ppb_emit(c, PPB_JMP_JEQ_K, ppb_arg_value(a, i), ok, PPB_NONE);
    ppb_emit(c, PPB_JMP_JEQ_K, ppb_arg_value(a, a->nvalues - 1), PPB_NONE, fail);
    ppb_place(c, ok);
}

static int ppb_in(const struct ppb_arg *a, uint32_t v)
{
    for (uint32_t i = 0; i < a->nvalues; i++)
        if (ppb_arg_value(a, i) == v)
            return 1;
    return 0;
}

/* Every (32-bit) value of a is one of b's. */
static int ppb_subset(const struct ppb_arg *a, const struct ppb_arg *b)
{
    for (uint32_t i = 0; i < a->nvalues; i++)
        if (!ppb_in(b, ppb_arg_value(a, i)))
            return 0;
    return 1;
}

static int ppb_disjoint(const struct ppb_arg *a, const struct ppb_arg *b)
{
    for (uint32_t i = 0; i < a->nvalues; i++)
        if (ppb_in(b, ppb_arg_value(a, i)))
            return 0;
    return 1;
}

/* filter._implies_failure: a call failing test a fails test b too. */
static int ppb_implies_failure(const struct ppb_arg *a, const struct ppb_arg *b)
{
    if (a->index == b->index && a->mask == b->mask && a->negate == b->negate
            && a->wide == b->wide && a->nvalues == b->nvalues
            && memcmp(a->values, b->values, 8 * (size_t)a->nvalues) == 0)
        return 1;
    if (a->index != b->index || a->mask != b->mask || a->wide || b->wide)
        return 0;
    if (a->negate) /* failing: the value is one of a's */
        return b->negate ? ppb_subset(a, b) : ppb_disjoint(a, b);
    return !b->negate && ppb_subset(b, a); /* failing: the value is none of a's */
}

static void ppb_emit_rules(struct ppb *c, const struct ppb_block *blk)
{
    int32_t first = (int32_t)c->nlabels; /* the rules' labels: first .. first + n - 1 */
    for (uint32_t i = 0; i < blk->nrules; i++)
        ppb_label(c);
    int32_t trap = ppb_label(c);
    if (c->err)
        return;
    for (uint32_t i = 0; i < blk->nrules; i++) {
        const struct ppb_rule *rule = &blk->rules[i];
        ppb_place(c, first + (int32_t)i);
        for (uint32_t t = 0; t < rule->nargs; t++) {
            const struct ppb_arg *arg = &rule->args[t];
            int32_t fail = trap;
            for (uint32_t j = i + 1; j < blk->nrules; j++) {
                const struct ppb_rule *later = &blk->rules[j];
                int refuted = 0;
                for (uint32_t u = 0; u < later->nargs && !refuted; u++)
                    refuted = ppb_implies_failure(arg, &later->args[u]);
                if (!refuted) {
                    fail = first + (int32_t)j;
                    break;
                }
            }
            ppb_emit_test(c, arg, fail);
        }
        ppb_emit(c, PPB_RET_K, rule->errno_ ? c->ret_errno | rule->errno_ : c->rets[PPB_ALLOW],
                 PPB_NONE, PPB_NONE);
    }
    ppb_place(c, trap);
    ppb_emit(c, PPB_RET_K, c->rets[PPB_TRAP], PPB_NONE, PPB_NONE);
}

/* filter._split: the index in (lo, hi) that halves the weight of runs[lo:hi] best
 * (in integers: twice the prefix sums against the sum of both ends). */
static uint32_t ppb_split(const struct ppb *c, uint32_t lo, uint32_t hi)
{
    const int64_t *s = c->sums;
    int64_t twice_half = s[lo] + s[hi];
    uint32_t a = lo + 1, b = hi - 1;
    while (a < b) { /* bisect_left over [lo + 1, hi - 1) */
        uint32_t mid = a + (b - a) / 2;
        if (2 * s[mid] < twice_half)
            a = mid + 1;
        else
            b = mid;
    }
    uint32_t k = a;
    if (k > lo + 1 && twice_half - 2 * s[k - 1] <= 2 * s[k] - twice_half)
        return k - 1;
    return k;
}

static void ppb_emit_tree(struct ppb *c, uint32_t lo, uint32_t hi, int inline_)
{
    if (c->err)
        return;
    if (hi - lo == 1) {
        const struct ppb_run *run = &c->runs[lo];
        if (run->kind != PPB_ARGS) {
            ppb_emit(c, PPB_RET_K, c->rets[run->kind], PPB_NONE, PPB_NONE);
        } else if (inline_ > 0) {
            ppb_emit_rules(c, &c->blocks[run->block]);
        } else {
            int32_t label = ppb_label(c);
            if (c->err)
                return;
            c->pending_label[c->npending] = label;
            c->pending_block[c->npending++] = run->block;
            ppb_emit(c, PPB_JMP_JA, 0, label, PPB_NONE);
        }
        return;
    }
    uint32_t mid = ppb_split(c, lo, hi);
    int32_t right = ppb_label(c);
    ppb_emit(c, PPB_JMP_JGE_K, c->runs[mid].start, right, PPB_NONE);
    ppb_emit_tree(c, lo, mid, inline_ - 1);
    ppb_place(c, right);
    ppb_emit_tree(c, mid, hi, inline_ - 1);
}

static int64_t ppb_hot(const struct ppb *c, uint32_t nr)
{
    for (int i = 0; i < c->n_hot; i++)
        if (ppb_le(c->hot + 6 * i, 2) == nr)
            return (int64_t)ppb_le(c->hot + 6 * i + 2, 4);
    return c->hot_default;
}

static void ppb_append(struct ppb *c, uint32_t start, int kind, int block, int64_t weight)
{
    struct ppb_run *r = &c->runs[c->nruns++];
    r->start = start;
    r->kind = kind;
    r->block = block;
    r->weight = weight;
}

/* filter._full_runs: actions are equal exactly when their kinds are, "args" excepted. */
static void ppb_full_runs(struct ppb *c)
{
    int last = PPB_ABSENT;
    for (uint32_t nr = 0; nr <= c->max_known; nr++) {
        int kind = c->kinds[nr] == PPB_ABSENT ? PPB_ENOSYS : c->kinds[nr];
        if (kind != PPB_ARGS && kind == last)
            continue;
        ppb_append(c, nr, kind, c->block_of[nr], kind == PPB_ARGS ? ppb_hot(c, nr) : 1);
        last = kind;
    }
    if (last != PPB_ENOSYS)
        ppb_append(c, c->max_known + 1, PPB_ENOSYS, -1, 1); /* the unknown tail */
}

/* filter._delta_runs: the changed numbers (segments of their own) and the classes of
 * the others (their base actions), joined as the Python joins them. */
#define PPB_CHANGED (-1)

struct ppb_delta { int cur; uint32_t free_n; int free_kind, free_mixed; uint32_t free_at; };

static int ppb_joins(const struct ppb *c, int kind)
{
    return kind == PPB_ENOSYS || (c->trap_joins && kind == PPB_TRAP);
}

static int ppb_fits(const struct ppb *c, const struct ppb_delta *d, int kind)
{
    return kind == PPB_ALLOW || d->free_n == 0
        || (!d->free_mixed && d->free_kind == kind && ppb_joins(c, kind));
}

static void ppb_push(struct ppb *c, struct ppb_delta *d, uint32_t start, int kind, int block,
                     int64_t weight)
{
    if (c->nruns && kind != PPB_ARGS && d->cur != PPB_ARGS && d->cur == kind) {
        c->runs[c->nruns - 1].weight += weight;
        return;
    }
    ppb_append(c, start, kind, block, weight);
    d->cur = kind;
}

static void ppb_add(struct ppb *c, struct ppb_delta *d, uint32_t nr, int kind, int block,
                    int64_t weight)
{
    uint32_t start = nr;
    if (d->free_n) { /* they could not join the run before: join this one, or an ALLOW run */
        start = d->free_at;
        int ok = ppb_fits(c, d, kind);
        d->free_n = 0;
        if (!ok) {
            ppb_push(c, d, start, PPB_ALLOW, -1, 1);
            start = nr;
        }
    }
    ppb_push(c, d, start, kind, block, weight);
}

static int ppb_key(const struct ppb *c, uint32_t nr)
{
    if (c->kinds[nr] != PPB_ABSENT)
        return PPB_CHANGED;
    if (c->base == NULL)
        return PPB_ALLOW;
    if (nr == c->max_known + 1)
        return PPB_ENOSYS; /* the unknown tail */
    switch (c->base[nr]) {
    case PPB_ALLOW: case PPB_ARGS: return PPB_ALLOW;
    case PPB_TRAP: return PPB_TRAP;
    default: return PPB_ENOSYS; /* absent or ENOSYS (KILL is refused at decoding) */
    }
}

static void ppb_delta_runs(struct ppb *c)
{
    struct ppb_delta d = { PPB_ABSENT, 0, 0, 0, 0 };
    uint32_t n = c->max_known + 2, nr = 0;
    while (nr < n) {
        int key = ppb_key(c, nr);
        uint32_t start = nr++;
        if (key == PPB_CHANGED) {
            int kind = c->kinds[start];
            ppb_add(c, &d, start, kind, c->block_of[start],
                    kind == PPB_ARGS ? ppb_hot(c, start) : 1);
            continue;
        }
        while (nr < n && ppb_key(c, nr) == key)
            nr++;
        if (key == PPB_ALLOW) {
            if (d.cur == PPB_ABSENT || d.cur != PPB_ALLOW || d.free_n)
                ppb_add(c, &d, start, PPB_ALLOW, -1, 1);
        } else if (d.cur != PPB_ABSENT && !d.free_n
                   && (d.cur == PPB_ALLOW || (d.cur == key && ppb_joins(c, key)))) {
            continue; /* a free segment joins the current run */
        } else {
            if (!d.free_n) {
                d.free_at = start;
                d.free_kind = key;
                d.free_mixed = 0;
            } else if (key != d.free_kind) {
                d.free_mixed = 1;
            }
            d.free_n++;
        }
    }
    if (d.free_n && (!c->nruns || !ppb_fits(c, &d, c->runs[c->nruns - 1].kind)))
        ppb_append(c, d.free_at, PPB_ALLOW, -1, 1);
    if (c->base != NULL) { /* the calls checked below run this filter too: they weigh */
        for (uint32_t b = 0; b < n; b++) {
            if (c->base[b] != PPB_ARGS || c->kinds[b] != PPB_ABSENT)
                continue;
            uint32_t lo = 0, hi = c->nruns; /* bisect_right over the runs' starts */
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (b < c->runs[mid].start)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            uint32_t i = lo == 0 ? c->nruns - 1 : lo - 1; /* Python's runs[-1] */
            c->runs[i].weight += ppb_hot(c, b);
        }
    }
}

/* ---- assembly: bpf.Program.assemble_near and assemble ---- */

static int ppb_is_cond(uint16_t code)
{
    return (code & 0x07) == 0x05 && code != PPB_JMP_JA;
}

static void ppb_put(unsigned char *out, uint16_t code, uint32_t jt, uint32_t jf, uint32_t k)
{
    out[0] = (unsigned char)code;
    out[1] = (unsigned char)(code >> 8);
    out[2] = (unsigned char)jt;
    out[3] = (unsigned char)jf;
    for (int i = 0; i < 4; i++)
        out[4 + i] = (unsigned char)(k >> (8 * i));
}

/* One layout pass: the bytes, 0 when some conditional jump is far, or an error. */
static long ppb_assemble_near(struct ppb *c, unsigned char *out, size_t cap)
{
    if ((size_t)c->ncode * 8 > cap)
        return PPB_E_SPACE;
    for (uint32_t pc = 0; pc < c->ncode; pc++) {
        const struct ppb_insn *i = &c->code[pc];
        int64_t t = 0, f = 0;
        if (i->code == PPB_JMP_JA) {
            int64_t k = (int64_t)c->at[i->jt] - pc - 1;
            if (c->at[i->jt] < 0 || k < 0)
                return PPB_E_JUMP;
            ppb_put(out + 8 * (size_t)pc, i->code, 0, 0, (uint32_t)k);
            continue;
        }
        if ((i->code & 0x07) == 0x05) {
            if (i->jt != PPB_NONE)
                t = c->at[i->jt] < 0 ? -1 : (int64_t)c->at[i->jt] - pc - 1;
            if (i->jf != PPB_NONE)
                f = c->at[i->jf] < 0 ? -1 : (int64_t)c->at[i->jf] - pc - 1;
            if (t > 255 || f > 255)
                return 0;
            if (t < 0 || f < 0)
                return PPB_E_JUMP;
        }
        ppb_put(out + 8 * (size_t)pc, i->code, (uint32_t)t, (uint32_t)f, i->k);
    }
    return (long)c->ncode * 8;
}

/* Far conditional jumps become jcond +0/+1 and unconditional jumps, laid out again
 * until every one that needs it is far (bpf.Program.assemble). */
static long ppb_assemble_far(struct ppb *c, unsigned char *out, size_t cap)
{
    uint32_t n = c->ncode;
    unsigned char *far = calloc((size_t)n + 1, 1);
    uint32_t *start = malloc(((size_t)n + 1) * sizeof *start);
    long rc = 0;
    if (far == NULL || start == NULL) {
        rc = PPB_E_NOMEM;
        goto done;
    }
    for (uint32_t l = 0; l < c->nlabels; l++)
        if (c->at[l] < 0) {
            rc = PPB_E_JUMP; /* a label never placed */
            goto done;
        }
    for (;;) {
        uint32_t pos = 0;
        for (uint32_t i = 0; i < n; i++) {
            start[i] = pos;
            const struct ppb_insn *in = &c->code[i];
            pos += far[i] ? 1 + (in->jt != PPB_NONE) + (in->jf != PPB_NONE) : 1;
        }
        start[n] = pos;
        int changed = 0;
        for (uint32_t i = 0; i < n; i++) {
            const struct ppb_insn *in = &c->code[i];
            if (!ppb_is_cond(in->code) || far[i])
                continue;
            if ((in->jt != PPB_NONE && (int64_t)start[c->at[in->jt]] - start[i] - 1 > 255)
                    || (in->jf != PPB_NONE
                        && (int64_t)start[c->at[in->jf]] - start[i] - 1 > 255)) {
                far[i] = 1;
                changed = 1;
            }
        }
        if (!changed)
            break;
    }
    if (start[n] > c->max_insns) {
        rc = PPB_E_OVERFLOW;
        goto done;
    }
    if ((size_t)start[n] * 8 > cap) {
        rc = PPB_E_SPACE;
        goto done;
    }
    unsigned char *o = out;
    for (uint32_t i = 0; i < n; i++) {
        const struct ppb_insn *in = &c->code[i];
        int64_t s = start[i];
        if (in->code == PPB_JMP_JA) {
            int64_t k = (int64_t)start[c->at[in->jt]] - s - 1;
            if (k < 0) {
                rc = PPB_E_JUMP;
                goto done;
            }
            ppb_put(o, PPB_JMP_JA, 0, 0, (uint32_t)k);
            o += 8;
        } else if (ppb_is_cond(in->code) && far[i]) {
            /* jcond: true -> first trampoline (or next), false -> after them */
            uint32_t n_tramp = (in->jt != PPB_NONE) + (in->jf != PPB_NONE);
            uint32_t jt = in->jt != PPB_NONE ? 0 : n_tramp;
            uint32_t jf = in->jf != PPB_NONE ? (in->jt != PPB_NONE ? 1 : 0) : n_tramp;
            ppb_put(o, in->code, jt, jf, in->k);
            o += 8;
            int64_t pos = s + 1;
            int32_t targets[2] = { in->jt, in->jf };
            for (int t = 0; t < 2; t++) {
                if (targets[t] == PPB_NONE)
                    continue;
                int64_t k = (int64_t)start[c->at[targets[t]]] - pos - 1;
                if (k < 0) {
                    rc = PPB_E_JUMP;
                    goto done;
                }
                ppb_put(o, PPB_JMP_JA, 0, 0, (uint32_t)k);
                o += 8;
                pos++;
            }
        } else if (ppb_is_cond(in->code)) {
            int64_t jt = in->jt != PPB_NONE ? (int64_t)start[c->at[in->jt]] - s - 1 : 0;
            int64_t jf = in->jf != PPB_NONE ? (int64_t)start[c->at[in->jf]] - s - 1 : 0;
            if (jt < 0 || jf < 0 || jt > 255 || jf > 255) {
                rc = PPB_E_JUMP;
                goto done;
            }
            ppb_put(o, in->code, (uint32_t)jt, (uint32_t)jf, in->k);
            o += 8;
        } else {
            ppb_put(o, in->code, 0, 0, in->k);
            o += 8;
        }
    }
    rc = (long)(o - out);
done:
    free(far);
    free(start);
    return rc;
}

/* ---- decoding ---- */

static int ppb_decode_arg(struct ppb_rd *r, struct ppb_arg *a)
{
    const unsigned char *p = ppb_take(r, 12);
    if (p == NULL)
        return -1;
    a->index = (int8_t)p[0];
    if (a->index < -1 || a->index > 5 || (p[1] & ~3u))
        return -1; /* the instruction pointer (-1) or one of the six arguments */
    a->negate = p[1] & 1;
    a->wide = (p[1] & 2) != 0;
    a->mask = ppb_le(p + 2, 8);
    a->nvalues = (uint32_t)ppb_le(p + 10, 2);
    a->values = ppb_take(r, 8 * (size_t)a->nvalues);
    if (a->values == NULL)
        return -1;
    if (a->wide && a->nvalues != 1)
        return -1; /* filter._emit_test: a wide test has one value */
    if (!a->negate && a->nvalues == 0)
        return -1; /* nothing could match it */
    return 0;
}

static long ppb_decode(struct ppb *c, const unsigned char *in, size_t len,
                       struct ppb_rule **rules_out, struct ppb_arg **args_out)
{
    struct ppb_rd r = { in, in + len, 0 };
    const unsigned char *magic = ppb_take(&r, 4);
    if (magic == NULL || memcmp(magic, "PPB1", 4) != 0)
        return PPB_E_INPUT;
    c->mode = (int)ppb_get(&r, 1);
    c->trap_joins = (int)ppb_get(&r, 1);
    c->n_tail = (int)ppb_get(&r, 1);
    c->n_inline = (int)ppb_get(&r, 1);
    c->max_known = (uint32_t)ppb_get(&r, 2);
    c->max_insns = (uint32_t)ppb_get(&r, 2);
    c->audit = (uint32_t)ppb_get(&r, 4);
    c->rets[PPB_ABSENT] = 0;
    c->rets[PPB_ALLOW] = (uint32_t)ppb_get(&r, 4);
    c->rets[PPB_TRAP] = (uint32_t)ppb_get(&r, 4);
    c->rets[PPB_ENOSYS] = (uint32_t)ppb_get(&r, 4);
    c->rets[PPB_KILL] = (uint32_t)ppb_get(&r, 4);
    c->rets[PPB_ARGS] = 0;
    c->ret_errno = (uint32_t)ppb_get(&r, 4);
    c->hot_default = (uint32_t)ppb_get(&r, 4);
    c->n_hot = (int)ppb_get(&r, 1);
    c->inline_ = ppb_take(&r, (size_t)c->n_inline);
    c->hot = ppb_take(&r, 6 * (size_t)c->n_hot);
    c->tail = ppb_take(&r, 5 * (size_t)c->n_tail);
    /* at most the kernel's BPF_MAXINSNS: it also bounds the search's recursion */
    if (r.bad || c->mode > 2 || c->trap_joins > 1 || c->n_inline == 0 || c->max_insns == 0
            || c->max_insns > 4096 || c->max_known > 0xFFFD)
        return PPB_E_INPUT;
    for (int i = 0; i < c->n_tail; i++) {
        int kind = c->tail[5 * i + 4];
        if (kind == PPB_ABSENT || kind == PPB_ARGS || kind >= PPB_NKINDS)
            return PPB_E_INPUT;
    }
    uint32_t n = c->max_known + 2;
    c->kinds = ppb_take(&r, n);
    c->base = c->mode == 2 ? ppb_take(&r, n) : NULL;
    if (r.bad)
        return PPB_E_INPUT;
    for (uint32_t nr = 0; nr < n; nr++) {
        if (c->kinds[nr] >= PPB_NKINDS || (c->base && c->base[nr] >= PPB_NKINDS))
            return PPB_E_INPUT;
        if (c->base && nr <= c->max_known && c->base[nr] == PPB_KILL)
            return PPB_E_INPUT; /* filter._CLASS has no class for it */
    }
    /* each rule takes at least 5 bytes and each test 12: bounds for the arrays */
    size_t rest = (size_t)(r.end - r.p);
    c->block_of = malloc((size_t)n * sizeof *c->block_of);
    c->blocks = malloc(((size_t)n + 1) * sizeof *c->blocks);
    *rules_out = malloc((rest / 5 + 1) * sizeof **rules_out);
    *args_out = malloc((rest / 12 + 1) * sizeof **args_out);
    if (!c->block_of || !c->blocks || !*rules_out || !*args_out)
        return PPB_E_NOMEM;
    struct ppb_rule *rules = *rules_out;
    struct ppb_arg *args = *args_out;
    uint32_t nblocks = 0;
    long last = -1;
    for (uint32_t nr = 0; nr < n; nr++)
        c->block_of[nr] = -1;
    while (r.p < r.end) {
        uint32_t nr = (uint32_t)ppb_get(&r, 2), nrules = (uint32_t)ppb_get(&r, 2);
        if (r.bad || nr >= n || (long)nr <= last || c->kinds[nr] != PPB_ARGS)
            return PPB_E_INPUT; /* blocks ascending, one for each "args" number */
        last = nr;
        struct ppb_block *blk = &c->blocks[nblocks];
        c->block_of[nr] = (int32_t)nblocks++;
        blk->nrules = nrules;
        blk->rules = rules;
        for (uint32_t i = 0; i < nrules; i++) {
            struct ppb_rule *rule = rules++;
            rule->errno_ = (uint32_t)ppb_get(&r, 4);
            rule->nargs = (uint32_t)ppb_get(&r, 1);
            rule->args = args;
            if (r.bad)
                return PPB_E_INPUT;
            for (uint32_t t = 0; t < rule->nargs; t++)
                if (ppb_decode_arg(&r, args++) != 0)
                    return PPB_E_INPUT;
        }
    }
    for (uint32_t nr = 0; nr < n; nr++)
        if (c->kinds[nr] == PPB_ARGS && c->block_of[nr] < 0)
            return PPB_E_INPUT; /* an argument-checked number without its checks */
    return 0;
}

/* Compile the encoded plan *in* into *out* (sock_filter bytes): the number of
 * bytes written, or a negative PPB_E_* (then *out* holds no filter). */
long pp_bpf_compile(const unsigned char *in, size_t len, unsigned char *out, size_t cap)
{
    struct ppb c;
    struct ppb_rule *rules = NULL;
    struct ppb_arg *args = NULL;
    long rc;
    memset(&c, 0, sizeof c);
    rc = ppb_decode(&c, in, len, &rules, &args);
    if (rc < 0)
        goto done;
    uint32_t n = c.max_known + 2;
    size_t maxruns = 2 * (size_t)n + (size_t)c.n_tail + 1;
    c.runs = malloc(maxruns * sizeof *c.runs);
    c.sums = malloc((maxruns + 1) * sizeof *c.sums);
    c.codecap = c.atcap = c.max_insns < 1024 ? c.max_insns : 1024;
    c.code = malloc((size_t)c.codecap * sizeof *c.code);
    /* every label comes with an instruction of its own: more labels than this would
     * mean more instructions than max_insns */
    c.labcap = c.max_insns + 2;
    c.at = malloc((size_t)c.atcap * sizeof *c.at);
    c.pending_label = malloc(maxruns * sizeof *c.pending_label);
    c.pending_block = malloc(maxruns * sizeof *c.pending_block);
    if (!c.runs || !c.sums || !c.code || !c.at || !c.pending_label || !c.pending_block) {
        rc = PPB_E_NOMEM;
        goto done;
    }
    if (c.mode == 0)
        ppb_full_runs(&c);
    else
        ppb_delta_runs(&c);
    for (int i = 0; i < c.n_tail; i++) /* the x32 numbers' runs */
        ppb_append(&c, (uint32_t)ppb_le(c.tail + 5 * i, 4), c.tail[5 * i + 4], -1, 1);
    if (c.nruns == 0) {
        rc = PPB_E_INPUT;
        goto done;
    }
    c.sums[0] = 0;
    for (uint32_t i = 0; i < c.nruns; i++)
        c.sums[i + 1] = c.sums[i] + c.runs[i].weight;
    rc = PPB_E_INPUT; /* no layout level 0: filter.py would not assemble either */
    for (int level = 0; level < c.n_inline; level++) {
        int inline_ = (int8_t)c.inline_[level];
        c.ncode = c.nlabels = c.npending = 0;
        c.err = 0;
        if (c.mode != 2) { /* the architecture: a foreign one (i386 int 0x80) is killed */
            int32_t native = ppb_label(&c);
            ppb_emit(&c, PPB_LD_W_ABS, 4, PPB_NONE, PPB_NONE);
            ppb_emit(&c, PPB_JMP_JEQ_K, c.audit, native, PPB_NONE);
            ppb_emit(&c, PPB_RET_K, c.rets[PPB_KILL], PPB_NONE, PPB_NONE);
            ppb_place(&c, native);
        }
        ppb_emit(&c, PPB_LD_W_ABS, 0, PPB_NONE, PPB_NONE);
        ppb_emit_tree(&c, 0, c.nruns, inline_);
        for (uint32_t p = 0; p < c.npending && !c.err; p++) {
            ppb_place(&c, c.pending_label[p]);
            ppb_emit_rules(&c, &c.blocks[c.pending_block[p]]);
        }
        if (c.err) {
            rc = c.err;
            goto done;
        }
        rc = ppb_assemble_near(&c, out, cap);
        if (rc != 0)
            goto done; /* the filter, or an error */
        if (inline_ == 0) {
            rc = ppb_assemble_far(&c, out, cap);
            goto done;
        }
        rc = PPB_E_INPUT;
    }
done:
    free(c.block_of);
    free(c.blocks);
    free(rules);
    free(args);
    free(c.runs);
    free(c.sums);
    free(c.code);
    free(c.at);
    free(c.pending_label);
    free(c.pending_block);
    return rc;
}
