/* Promises, the seccomp plan, the opening filter and the loader's verdicts (plan.h). */
#define _GNU_SOURCE
#include "plan.h"

#include <errno.h>
#include <linux/filter.h>
#include <stdlib.h>
#include <string.h>

#include "policy_tables.h"

/* native/bpf.c, linked in */
long pp_bpf_compile(const unsigned char *in, size_t len, unsigned char *out, size_t cap);
/* native/digest.c, linked in */
long pp_sources_digest(const char *root, const char *names, size_t len, char *hex);

enum { K_ABSENT = 0, K_ALLOW = 1, K_TRAP = 2, K_ENOSYS = 3, K_ARGS = 5 }; /* filter._CODE */

pl_promises pl_promise_bit(const char *name)
{
    for (int i = 0; i < PLT_NVOCAB; i++)
        if (strcmp(PLT_VOCAB[i], name) == 0)
            return (pl_promises)1 << i;
    return 0;
}

pl_promises pl_fallback_promises(void)
{
    pl_promises out = 0;
#define PL_FB_BIT(name, why) \
    do { \
        pl_promises b = pl_promise_bit(name); \
        out |= b ? b : ~(pl_promises)0; /* a renamed word: fail closed */ \
    } while (0);
    PL_FALLBACK_PROMISES(PL_FB_BIT)
#undef PL_FB_BIT
    return out;
}

int pl_parse_promises(const char *text, pl_promises *out)
{
    pl_promises got = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ') /* promises.parse: split(" "), empty words dropped */
            p++;
        if (*p == '\0')
            break;
        const char *end = strchrnul(p, ' ');
        size_t len = (size_t)(end - p);
        pl_promises bit = 0;
        for (int i = 0; i < PLT_NVOCAB && !bit; i++)
            if (strlen(PLT_VOCAB[i]) == len && memcmp(PLT_VOCAB[i], p, len) == 0)
                bit = (pl_promises)1 << i;
        if (!bit)
            return PL_FALLBACK; /* unknown word: the command names it */
        got |= bit;
        p = end;
    }
    if (!(got & pl_promise_bit("stdio")) || (got & pl_fallback_promises()))
        return PL_FALLBACK;
    *out = got;
    return PL_OK;
}

int pl_tables_check(const char *package_dir)
{
    const char *slash = strrchr(package_dir, '/');
    if (slash == NULL || strcmp(slash + 1, PLT_TOP) != 0)
        return PL_FALLBACK; /* the digest names the files as PLT_TOP/... */
    size_t rootlen = slash == package_dir ? 1 : (size_t)(slash - package_dir);
    char *root = strndup(package_dir, rootlen);
    if (root == NULL)
        return PL_FALLBACK;
    char hex[65];
    long rc = pp_sources_digest(root, PLT_SOURCES, PLT_SOURCES_LEN, hex);
    free(root);
    if (rc != 0 || strcmp(hex, PLT_DIGEST) != 0)
        return PL_FALLBACK; /* unreadable or changed: the Python command says */
    return PL_OK;
}

/* One syscall's action in a plan after refuse(): its kind and, for K_ARGS, the held
 * rules in the filter's order (every allowing one, then the refusals), each followed by
 * the test *extra* (-1: none); *lone*: the rule is *extra* alone (an allowed call
 * refuse() narrowed). */
struct pl_act {
    int kind;
    int lone;
    int32_t extra;
    size_t n;
    const struct plt_rule *rules[PLT_MAX_RULES];
};

static int pl_known(int nr)
{
    return nr >= 0 && nr <= PLT_MAX_KNOWN && (PLT_SYS[nr].flags & PLT_KNOWN);
}

/* seccomp/plan.py: _action() (build() without a number the arch lacks: K_ABSENT) */
static void pl_base_action(pl_promises held, int nr, struct pl_act *a)
{
    a->lone = 0;
    a->extra = -1;
    a->n = 0;
    if (!pl_known(nr)) {
        a->kind = K_ABSENT;
        return;
    }
    const struct plt_sys *s = &PLT_SYS[nr];
    if (s->flags & PLT_ENOSYS) {
        a->kind = K_ENOSYS;
        return;
    }
    int any = 0;
    for (uint16_t i = 0; i < s->n; i++) {
        const struct plt_rule *r = &PLT_RULES[s->first + i];
        if ((r->needs & ~held) != 0)
            continue;
        any = 1;
        if (r->n == 0 && r->errno_ == 0) {
            a->kind = K_ALLOW;
            return;
        }
    }
    if (!any) {
        a->kind = K_TRAP;
        return;
    }
    a->kind = K_ARGS;
    for (int refusals = 0; refusals < 2; refusals++) /* a stable sort on errno != 0 */
        for (uint16_t i = 0; i < s->n; i++) {
            const struct plt_rule *r = &PLT_RULES[s->first + i];
            if ((r->needs & ~held) == 0 && (r->errno_ != 0) == refusals)
                a->rules[a->n++] = r;
        }
}

/* exec/refuse.py: refuse() for one number */
static void pl_action(pl_promises held, int nr, struct pl_act *a)
{
    pl_base_action(held, nr, a);
    int base = a->kind;
    if (held & pl_promise_bit("stdio"))
        for (int i = 0; i < PLT_NFREED; i++)
            if (PLT_FREED[i] == nr)
                a->kind = K_ALLOW, a->n = 0;
    for (int i = 0; i < PLT_NUNSUPPORTED; i++)
        if (PLT_UNSUPPORTED[i] == nr)
            a->kind = K_ENOSYS, a->n = 0;
    for (int i = 0; i < PLT_NREFUSED; i++) {
        if (PLT_REFUSED[i].nr != nr)
            continue;
        if (base == K_ALLOW) { /* refuse() reads the plan before its own changes */
            a->kind = K_ARGS;
            a->lone = 1;
            a->n = 1;
        } else if (base == K_ARGS) {
            if (a->kind != K_ARGS) /* FREED/UNSUPPORTED overruled: rebuild the rules */
                pl_base_action(held, nr, a);
        } else {
            continue;
        }
        a->extra = (int32_t)PLT_REFUSED[i].arg;
    }
}

/* ---- the filter's serialisation (filter.encode) ---- */

struct pl_buf {
    unsigned char *p;
    size_t n, cap;
    int bad;
};

static void pl_put(struct pl_buf *b, const void *data, size_t len)
{
    if (b->bad)
        return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->n + len)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->bad = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
}

static void pl_le(struct pl_buf *b, uint64_t v, int bytes)
{
    unsigned char t[8];
    for (int i = 0; i < bytes; i++)
        t[i] = (unsigned char)(v >> (8 * i));
    pl_put(b, t, (size_t)bytes);
}

/* rules.Identity.expand() of one value into out[] (its placeholders made *ids*'s) */
static size_t pl_expand1(int64_t v, const struct pl_ids *ids, uint64_t *out)
{
    switch (v) {
    case PLT_SELF:
        out[0] = (uint64_t)(int64_t)ids->pid;
        return 1;
    case PLT_OWN_UID:
        out[0] = ids->uid;
        return 1;
    case PLT_OWN_GIDS:
        for (size_t i = 0; i < ids->ngids; i++)
            out[i] = ids->gids[i];
        return ids->ngids;
    case PLT_HANDLER_IP:
        out[0] = ids->ip;
        return 1;
    default:
        out[0] = (uint64_t)v;
        return 1;
    }
}

/* One test's values: as the table has them, or (a placeholder rule) made concrete and
 * deduplicated in order as Identity.expand() does. */
static size_t pl_values(const struct plt_arg *t, int concrete, const struct pl_ids *ids,
                        uint64_t *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        uint64_t got[PL_MAX_GIDS + 1];
        size_t k = concrete ? pl_expand1(PLT_VALS[t->first + i], ids, got)
                            : (got[0] = (uint64_t)PLT_VALS[t->first + i], 1);
        for (size_t j = 0; j < k; j++) {
            int seen = 0;
            for (size_t m = 0; concrete && m < n && !seen; m++)
                seen = out[m] == got[j];
            if (!seen && n < cap)
                out[n++] = got[j];
            else if (!seen)
                return (size_t)-1;
        }
    }
    return n;
}

/* each placeholder adds at most PL_MAX_GIDS values beyond its own place */
#define PL_MAX_VALUES (PLT_MAX_VALS * PL_MAX_GIDS)

static int pl_put_test(struct pl_buf *b, const struct plt_arg *t, int concrete,
                       const struct pl_ids *ids)
{
    uint64_t vals[PL_MAX_VALUES];
    size_t n = pl_values(t, concrete, ids, vals, PL_MAX_VALUES);
    if (n == (size_t)-1 || n > 0xFFFF)
        return -1;
    pl_le(b, (uint64_t)(uint8_t)t->index, 1);
    pl_le(b, t->flags & (PLT_NEGATE | PLT_WIDE), 1);
    pl_le(b, t->mask, 8);
    pl_le(b, n, 2);
    for (size_t i = 0; i < n; i++)
        pl_le(b, vals[i], 8);
    return 0;
}

static int pl_put_block(struct pl_buf *b, int nr, const struct pl_act *a,
                        const struct pl_ids *ids)
{
    pl_le(b, (uint64_t)nr, 2);
    pl_le(b, a->n, 2);
    const struct plt_arg *extra = a->extra >= 0 ? &PLT_ARGS[a->extra] : NULL;
    if (a->lone) {
        pl_le(b, 0, 4);
        pl_le(b, 1, 1);
        return pl_put_test(b, extra, 0, ids);
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct plt_rule *r = a->rules[i];
        size_t nargs = r->n + (extra ? 1 : 0);
        if (nargs > 255)
            return -1;
        pl_le(b, r->errno_, 4);
        pl_le(b, nargs, 1);
        for (uint32_t t = 0; t < r->n; t++)
            if (pl_put_test(b, &PLT_ARGS[r->first + t], r->placeholder, ids) != 0)
                return -1;
        if (extra && pl_put_test(b, extra, 0, ids) != 0)
            return -1;
    }
    return 0;
}

static int pl_usable_ids(const struct pl_ids *ids)
{
    return ids->ngids <= PL_MAX_GIDS;
}

int pl_opening_filter(const struct pl_job *job, const struct pl_ids *ids,
                      struct sock_filter **out, size_t *n)
{
#if !defined(__x86_64__)
    (void)job, (void)ids, (void)out, (void)n;
    return PL_FALLBACK;
#else
    pl_promises all = ((pl_promises)1 << PLT_NVOCAB) - 1;
    if ((job->after & ~all) != 0 || !pl_usable_ids(ids))
        return PL_FALLBACK;
    struct pl_act *acts = calloc(PLT_MAX_KNOWN + 1, sizeof *acts);
    if (acts == NULL)
        return PL_ERROR;
    unsigned char kinds[PLT_MAX_KNOWN + 2];
    for (int nr = 0; nr <= PLT_MAX_KNOWN; nr++) {
        pl_action(job->after, nr, &acts[nr]);
        kinds[nr] = (unsigned char)acts[nr].kind;
    }
    kinds[PLT_MAX_KNOWN + 1] = K_ABSENT;
    struct pl_buf b = {0};
    pl_put(&b, PLT_HEAD, sizeof PLT_HEAD);
    pl_put(&b, kinds, sizeof kinds);
    int bad = 0;
    for (int nr = 0; nr <= PLT_MAX_KNOWN && !bad; nr++)
        if (acts[nr].kind == K_ARGS)
            bad = pl_put_block(&b, nr, &acts[nr], ids) != 0;
    free(acts);
    if (b.bad || bad) {
        free(b.p);
        errno = b.bad ? ENOMEM : EOVERFLOW;
        return PL_ERROR;
    }
    size_t cap = (size_t)PLT_MAX_INSNS * sizeof(struct sock_filter);
    unsigned char *code = malloc(cap);
    if (code == NULL) {
        free(b.p);
        errno = ENOMEM;
        return PL_ERROR;
    }
    long got = pp_bpf_compile(b.p, b.n, code, cap);
    free(b.p);
    if (got < 0 || got % (long)sizeof(struct sock_filter) != 0) {
        free(code);
        errno = got == -4 ? ENOMEM : EINVAL;
        return PL_ERROR;
    }
    *out = (struct sock_filter *)code;
    *n = (size_t)got / sizeof(struct sock_filter);
    return PL_OK;
#endif
}

/* rules.Arg.matches() of a test against a call's registers (an ip test never matches:
 * the supervisor is not told the in-process handler's calls) */
static int pl_matches(const struct plt_arg *t, int concrete, const struct pl_ids *ids,
                      const uint64_t args[6])
{
    if (t->index == PLT_IP_INDEX || t->index < 0 || t->index > 5)
        return 0;
    uint64_t width = (t->flags & PLT_WIDE) ? ~(uint64_t)0 : 0xFFFFFFFFu;
    uint64_t got = args[t->index] & width & t->mask;
    int in = 0;
    for (uint32_t i = 0; i < t->n && !in; i++) {
        uint64_t vals[PL_MAX_GIDS + 1];
        size_t k = concrete ? pl_expand1(PLT_VALS[t->first + i], ids, vals)
                            : (vals[0] = (uint64_t)PLT_VALS[t->first + i], 1);
        for (size_t j = 0; j < k && !in; j++)
            in = vals[j] == got;
    }
    return (t->flags & PLT_NEGATE) ? !in : in;
}

int pl_loader_verdict(pl_promises loader, const struct pl_ids *ids, int nr,
                      const uint64_t args[6])
{
#if !defined(__x86_64__)
    (void)loader, (void)ids, (void)nr, (void)args;
    return -1;
#else
    if ((loader & ~(((pl_promises)1 << PLT_NVOCAB) - 1)) != 0)
        return -1; /* not a promise set: nothing is let through */
    struct pl_act a;
    pl_action(loader & ~pl_promise_bit("exec"), nr, &a);
    switch (a.kind) {
    case K_ALLOW:
        return 0;
    case K_ABSENT: /* plan.action(): an unlisted number answers ENOSYS */
    case K_ENOSYS:
        return ENOSYS;
    case K_ARGS:
        break;
    default:
        return -1;
    }
    const struct plt_arg *extra = a.extra >= 0 ? &PLT_ARGS[a.extra] : NULL;
    if (a.lone)
        return pl_matches(extra, 0, ids, args) ? 0 : -1;
    for (size_t i = 0; i < a.n; i++) {
        const struct plt_rule *r = a.rules[i];
        int ok = 1;
        for (uint32_t t = 0; t < r->n && ok; t++)
            ok = pl_matches(&PLT_ARGS[r->first + t], r->placeholder, ids, args);
        if (ok && extra)
            ok = pl_matches(extra, 0, ids, args);
        if (ok)
            return (int)r->errno_;
    }
    return -1;
#endif
}
