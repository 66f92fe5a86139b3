/* The job: PROG found, its loader and libraries, the default unveil (discover.h).
 *
 * Each step mirrors its Python reference line for line where the result depends on
 * it (command/elf.py, discover.py, loader.py, cli.py, run.py, exec/shim.py); where C
 * cannot be sure to answer as Python would, the job is PL_FALLBACK. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "discover.h"

#ifndef PL_CACHE_TAG
#error "PL_CACHE_TAG: the build gives the interpreter's cache tag"
#endif

enum { P_RPATH = 1, P_TMPPATH = 5, P_INET = 6, P_DNS = 12, P_GETPW = 13, P_TTY = 17,
       P_PROC = 18, P_EXEC = 19, P_PROT_EXEC = 20, P_ID = 24 };
#define BIT(i) ((pl_promises)1 << (i))
#define EM_X86_64 62

struct elf {
    char *path;   /* as looked up (Resolver.seen's key) */
    int none;     /* elf.read answered None */
    int machine;
    char *interp; /* NULL: no PT_INTERP */
    struct pl_strs needed, rpath, runpath;
};

struct ctx {
    int fallback; /* set by any step that cannot answer as Python would */
    int failed;   /* an allocation failed (errno ENOMEM) */
    const char *library_path;
    struct elf **elves;
    size_t nelves, capelves;
    /* the loader cache (elf.Cache) */
    int cache_read;
    unsigned char *cdata;
    size_t clen, cstart;
    struct centry { uint32_t key, value; size_t order; } *centries;
    size_t ncentries;
};

/* ---- small helpers ---- */

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Python's strict UTF-8 decoding accepts exactly this (no surrogates, no overlongs). */
static int utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) { i++; continue; }
        else if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else
            return 0;
        if (i + len > n)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return 0;
        i += len;
    }
    return 1;
}

static char *dupn(struct ctx *c, const char *s, size_t n)
{
    char *out = strndup(s, n);
    if (out == NULL)
        c->failed = 1;
    return out;
}

/* os.path.join(a, b) for a b without a leading slash. */
static char *join(struct ctx *c, const char *a, const char *b)
{
    char *out;
    size_t n = strlen(a);
    const char *sep = (n == 0 || a[n - 1] == '/') ? "" : "/";
    if (asprintf(&out, "%s%s%s", a, sep, b) < 0) {
        c->failed = 1;
        return NULL;
    }
    return out;
}

/* os.path.dirname */
static char *dirname_of(struct ctx *c, const char *p)
{
    const char *slash = strrchr(p, '/');
    if (slash == NULL)
        return dupn(c, "", 0);
    size_t n = (size_t)(slash - p) + 1;
    size_t k = n;
    while (k > 0 && p[k - 1] == '/')
        k--;
    return dupn(c, p, k ? k : n);
}

/* os.path.basename */
static const char *basename_of(const char *p)
{
    const char *slash = strrchr(p, '/');
    return slash ? slash + 1 : p;
}

/* os.path.abspath: lexical, as Python normalizes before it resolves ("x/../y" is "y"
 * even when x is a link) */
static char *abspath(struct ctx *c, const char *p)
{
    char cwd[PATH_MAX] = "";
    if (p[0] != '/' && getcwd(cwd, sizeof cwd) == NULL) {
        c->fallback = 1;
        return NULL;
    }
    size_t n = strlen(cwd) + strlen(p) + 3;
    char *buf = malloc(n), *out = malloc(n);
    if (buf == NULL || out == NULL) {
        free(buf);
        free(out);
        c->failed = 1;
        return NULL;
    }
    snprintf(buf, n, "%s/%s", cwd, p);
    const char *src = p[0] == '/' ? p : buf;
    /* posixpath.normpath: exactly two leading slashes stay */
    size_t lead = (src[0] == '/' && src[1] == '/' && src[2] != '/') ? 2 : 1;
    size_t w = lead;
    memset(out, '/', lead);
    for (const char *s = src; *s;) {
        while (*s == '/')
            s++;
        size_t k = strcspn(s, "/");
        if (k == 0)
            break;
        if (k == 1 && s[0] == '.') {
        } else if (k == 2 && s[0] == '.' && s[1] == '.') {
            while (w > lead && out[w - 1] != '/')
                w--;
            if (w > lead)
                w--;
        } else {
            if (w > lead)
                out[w++] = '/';
            memcpy(out + w, s, k);
            w += k;
        }
        s += k;
    }
    out[w] = 0;
    free(buf);
    return out;
}

/* elf.realpath of an existing path: os.path.realpath of its abspath (NULL when it
 * cannot be resolved: the caller falls back, Python's would name a missing path) */
static char *real_of(struct ctx *c, const char *p)
{
    char *full = abspath(c, p);
    if (full == NULL)
        return NULL;
    char *out = realpath(full, NULL);
    if (out == NULL && errno == ENOMEM)
        c->failed = 1;
    free(full);
    return out;
}

static int strs_has(const struct pl_strs *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return 1;
    return 0;
}

static void strs_add(struct ctx *c, struct pl_strs *s, const char *x)
{
    if (pl_strs_add(s, x) != PL_OK)
        c->failed = 1;
}

/* ---- elf.open_regular and elf.read ---- */

/* open_regular: the file looked up once (O_PATH), checked regular, reopened through it */
static int open_regular(const char *path)
{
    int ref = open(path, O_PATH | O_CLOEXEC);
    if (ref < 0)
        return -1;
    struct stat st;
    int fd = -1;
    if (fstat(ref, &st) == 0 && S_ISREG(st.st_mode)) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", ref);
        fd = open(proc, O_RDONLY | O_CLOEXEC);
    }
    close(ref);
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* f.seek(off); f.read(n): what lies there, short at the file's end */
static unsigned char *read_at(struct ctx *c, int fd, uint64_t off, uint64_t n, size_t *got,
                              off_t size)
{
    *got = 0;
    if (off >= (uint64_t)size)
        n = 0;
    else if (n > (uint64_t)size - off)
        n = (uint64_t)size - off;
    unsigned char *buf = malloc(n + 1);
    if (buf == NULL) {
        c->failed = 1;
        return NULL;
    }
    while (*got < n) {
        ssize_t r = pread(fd, buf + *got, n - *got, (off_t)(off + *got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        *got += (size_t)r;
    }
    buf[*got] = 0;
    return buf;
}

static uint16_t u16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t u64(const unsigned char *p) { return u32(p) | (uint64_t)u32(p + 4) << 32; }

/* a string of the dynamic string table (read's string()) into *out*, split at ':' when
 * *split* (read's split(), empty parts dropped) */
static void dyn_string(struct ctx *c, int fd, off_t size, uint64_t at, struct pl_strs *out,
                       int split)
{
    size_t got;
    unsigned char *s = read_at(c, fd, at, 4096, &got, size);
    if (s == NULL)
        return;
    size_t n = strnlen((char *)s, got);
    if (!utf8_ok(s, n))
        c->fallback = 1; /* decoded with replacement characters by Python */
    if (!split)
        strs_add(c, out, (char *)s);
    else {
        char *save, *part;
        for (part = strtok_r((char *)s, ":", &save); part; part = strtok_r(NULL, ":", &save))
            strs_add(c, out, part);
    }
    free(s);
}

static void read_elf(struct ctx *c, struct elf *e, const char *path)
{
    e->none = 1;
    int fd = open_regular(path);
    if (fd < 0)
        return;
    struct stat st;
    unsigned char *table = NULL, *raw = NULL;
    if (fstat(fd, &st) != 0)
        goto out;
    size_t got;
    unsigned char head[64];
    {
        unsigned char *h = read_at(c, fd, 0, 64, &got, st.st_size);
        if (h == NULL)
            goto out;
        memcpy(head, h, got);
        free(h);
    }
    if (got < 4 || memcmp(head, "\x7f" "ELF", 4) != 0)
        goto out;
    if (got < 6) { /* Python's data[4] raises IndexError here */
        c->fallback = 1;
        goto out;
    }
    if (head[4] != 2 || head[5] != 1 || got < 58)
        goto out;
    int machine = u16(head + 18);
    uint64_t phoff = u64(head + 32);
    unsigned phentsize = u16(head + 54), phnum = u16(head + 56);
    size_t tlen;
    table = read_at(c, fd, phoff, (uint64_t)phentsize * phnum, &tlen, st.st_size);
    if (table == NULL)
        goto out;
    struct { uint64_t vaddr, off, filesz; } loads[64];
    size_t nloads = 0;
    int have_dyn = 0;
    uint64_t dyn_off = 0, dyn_size = 0;
    char *interp = NULL;
    int seen_interp = 0; /* the kernel reads the first PT_INTERP only (elf.py) */
    for (unsigned i = 0; i < phnum; i++) {
        size_t at = (size_t)i * phentsize;
        if (at + 40 > tlen) /* struct.error */
            goto bad;
        const unsigned char *ph = table + at;
        uint32_t kind = u32(ph);
        uint64_t off = u64(ph + 8), vaddr = u64(ph + 16), filesz = u64(ph + 32);
        if (kind == 3 && !seen_interp) {
            seen_interp = 1;
            size_t n;
            unsigned char *s = read_at(c, fd, off, filesz, &n, st.st_size);
            if (s == NULL)
                goto bad;
            while (n > 0 && s[n - 1] == 0)
                n--;
            if (!utf8_ok(s, n)) { /* UnicodeDecodeError: None */
                free(s);
                goto bad;
            }
            if (memchr(s, 0, n) != NULL || n == 0) /* a NUL inside, or "" (falsy) */
                c->fallback = 1;
            s[n] = 0;
            free(interp);
            interp = (char *)s;
        } else if (kind == 2) {
            have_dyn = 1;
            dyn_off = off;
            dyn_size = filesz;
        } else if (kind == 1) {
            if (nloads == sizeof loads / sizeof loads[0]) {
                c->fallback = 1;
                goto bad;
            }
            loads[nloads].vaddr = vaddr;
            loads[nloads].off = off;
            loads[nloads].filesz = filesz;
            nloads++;
        }
    }
    e->none = 0;
    e->machine = machine;
    e->interp = interp;
    interp = NULL;
    if (!have_dyn)
        goto out;
    size_t rlen;
    raw = read_at(c, fd, dyn_off, dyn_size, &rlen, st.st_size);
    if (raw == NULL)
        goto out;
    size_t nent = rlen >= 16 ? (rlen - 16) / 16 + 1 : 0;
    /* as ld.so reads them (elf.py): up to DT_NULL, the last DT_STRTAB, DT_RPATH and
     * DT_RUNPATH; the last PT_LOAD that holds the string table (mapped over earlier) */
    for (size_t i = 0; i < nent; i++)
        if ((int64_t)u64(raw + 16 * i) == 0) {
            nent = i;
            break;
        }
    int have_strtab = 0;
    uint64_t strtab = 0;
    for (size_t i = nent; i-- > 0 && !have_strtab;)
        if ((int64_t)u64(raw + 16 * i) == 5) {
            have_strtab = 1;
            strtab = u64(raw + 16 * i + 8);
        }
    if (!have_strtab)
        goto out;
    int have_base = 0;
    uint64_t base = 0;
    for (size_t i = nloads; i-- > 0;)
        if (loads[i].vaddr <= strtab && strtab - loads[i].vaddr < loads[i].filesz) {
            have_base = 1;
            base = loads[i].off + strtab - loads[i].vaddr;
            break;
        }
    if (!have_base)
        goto out;
    static const struct { int64_t tag; int split; size_t field; } wanted[] = {
        {1, 0, offsetof(struct elf, needed)},
        {15, 1, offsetof(struct elf, rpath)},
        {29, 1, offsetof(struct elf, runpath)},
    };
    for (size_t w = 0; w < 3; w++) {
        size_t last = nent; /* DT_RPATH, DT_RUNPATH: only the last counts */
        for (size_t i = 0; i < nent; i++)
            if ((int64_t)u64(raw + 16 * i) == wanted[w].tag)
                last = i;
        for (size_t i = 0; i < nent; i++)
            if ((int64_t)u64(raw + 16 * i) == wanted[w].tag && (!wanted[w].split || i == last))
                dyn_string(c, fd, st.st_size, base + u64(raw + 16 * i + 8),
                           (struct pl_strs *)((char *)e + wanted[w].field), wanted[w].split);
    }
    goto out;
bad:
    free(interp);
out:
    free(table);
    free(raw);
    close(fd);
}

/* Resolver.elf / elf.read: kept by path */
static struct elf *elf_of(struct ctx *c, const char *path)
{
    for (size_t i = 0; i < c->nelves; i++)
        if (strcmp(c->elves[i]->path, path) == 0)
            return c->elves[i]->none ? NULL : c->elves[i];
    if (c->nelves == c->capelves) {
        size_t cap = c->capelves ? 2 * c->capelves : 32;
        struct elf **grown = realloc(c->elves, cap * sizeof *grown);
        if (grown == NULL) {
            c->failed = 1;
            return NULL;
        }
        c->elves = grown;
        c->capelves = cap;
    }
    struct elf *e = calloc(1, sizeof *e);
    if (e == NULL || (e->path = strdup(path)) == NULL) {
        free(e);
        c->failed = 1;
        return NULL;
    }
    read_elf(c, e, path);
    c->elves[c->nelves++] = e;
    return e->none ? NULL : e;
}

static void elves_free(struct ctx *c)
{
    for (size_t i = 0; i < c->nelves; i++) {
        struct elf *e = c->elves[i];
        free(e->path);
        free(e->interp);
        pl_strs_free(&e->needed);
        pl_strs_free(&e->rpath);
        pl_strs_free(&e->runpath);
        free(e);
    }
    free(c->elves);
    free(c->cdata);
    free(c->centries);
}

/* ---- elf.Cache ---- */

static int centry_cmp(const void *a, const void *b)
{
    const struct centry *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void cache_read(struct ctx *c)
{
    c->cache_read = 1;
    int fd = open("/etc/ld.so.cache", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return;
    }
    size_t got;
    unsigned char *data = read_at(c, fd, 0, (uint64_t)st.st_size, &got, st.st_size);
    close(fd);
    if (data == NULL)
        return;
    static const char magic[] = "glibc-ld.so.cache1.1";
    unsigned char *m = memmem(data, got, magic, sizeof magic - 1);
    if (m == NULL || (size_t)(m - data) + 24 > got) {
        free(data);
        return;
    }
    size_t start = (size_t)(m - data);
    uint64_t nlibs = u32(data + start + 20);
    size_t avail = got > start + 48 ? got - start - 48 : 0;
    size_t tlen = 24 * nlibs < avail ? 24 * nlibs : avail;
    if (tlen % 24) { /* struct.iter_unpack refuses the table */
        free(data);
        return;
    }
    c->ncentries = tlen / 24;
    c->centries = malloc((c->ncentries + 1) * sizeof *c->centries);
    if (c->centries == NULL) {
        c->failed = 1;
        free(data);
        return;
    }
    for (size_t i = 0; i < c->ncentries; i++) {
        const unsigned char *e = data + start + 48 + 24 * i;
        c->centries[i].key = u32(e + 4);
        c->centries[i].value = u32(e + 8);
        c->centries[i].order = i;
    }
    qsort(c->centries, c->ncentries, sizeof *c->centries, centry_cmp);
    c->cdata = data;
    c->clen = got;
    c->cstart = start;
}

/* Cache.get(name): every path the cache names for *name*, in Python's order */
static void cache_get(struct ctx *c, const char *name, struct pl_strs *out)
{
    if (!c->cache_read)
        cache_read(c);
    if (c->cdata == NULL)
        return;
    size_t nlen = strlen(name) + 1; /* with its NUL */
    size_t from = c->cstart;
    for (;;) {
        unsigned char *hit = from < c->clen ? memmem(c->cdata + from, c->clen - from, name, nlen)
                                            : NULL;
        if (hit == NULL)
            break;
        size_t at = (size_t)(hit - c->cdata);
        uint64_t key = at - c->cstart;
        size_t lo = 0, hi = c->ncentries;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (c->centries[mid].key < key)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo; i < c->ncentries && c->centries[i].key == key; i++) {
            size_t begin = c->cstart + c->centries[i].value;
            if (begin >= c->clen)
                continue; /* data[begin:index(...)] raises: skipped */
            unsigned char *end = memchr(c->cdata + begin, 0, c->clen - begin);
            if (end == NULL)
                continue;
            size_t n = (size_t)(end - (c->cdata + begin));
            if (!utf8_ok(c->cdata + begin, n))
                c->fallback = 1;
            strs_add(c, out, (char *)c->cdata + begin);
        }
        from = at + 1;
    }
}

/* ---- elf.Resolver.find and closure ---- */

/* $ORIGIN and ${ORIGIN} replaced by *origin* */
static char *expand(struct ctx *c, const char *entry, const char *origin)
{
    char *cur = dupn(c, entry, strlen(entry));
    static const char *tokens[] = {"$ORIGIN", "${ORIGIN}"};
    for (size_t t = 0; t < 2 && cur; t++) {
        size_t tl = strlen(tokens[t]), ol = strlen(origin), n = 0;
        for (const char *p = cur; (p = strstr(p, tokens[t])) != NULL; p += tl)
            n++;
        if (n == 0)
            continue;
        char *out = malloc(strlen(cur) + n * ol + 1);
        if (out == NULL) {
            c->failed = 1;
            free(cur);
            return NULL;
        }
        char *w = out;
        const char *p = cur, *q;
        while ((q = strstr(p, tokens[t])) != NULL) {
            memcpy(w, p, (size_t)(q - p));
            w += q - p;
            memcpy(w, origin, ol);
            w += ol;
            p = q + tl;
        }
        strcpy(w, p);
        free(cur);
        cur = out;
    }
    return cur;
}

static void find(struct ctx *c, const char *name, const char *needer, const struct elf *info,
                 const struct pl_strs *rpath, struct pl_strs *out)
{
    struct pl_strs found = {0};
    if (strchr(name, '/') != NULL) {
        if (exists(name))
            strs_add(c, &found, name);
    } else {
        char *origin = dirname_of(c, needer);
        if (origin == NULL)
            return;
        struct pl_strs dirs = {0};
        if (info->runpath.n == 0)
            for (size_t i = 0; i < rpath->n; i++)
                strs_add(c, &dirs, rpath->v[i]);
        const char *lp = c->library_path;
        while (*lp) {
            size_t n = strcspn(lp, ":");
            if (n) {
                char *d = dupn(c, lp, n);
                if (d)
                    strs_add(c, &dirs, d);
                free(d);
            }
            lp += n + (lp[n] == ':');
        }
        for (size_t i = 0; i < info->runpath.n; i++)
            strs_add(c, &dirs, info->runpath.v[i]);
        for (size_t i = 0; i < dirs.n && found.n == 0 && !c->failed; i++) {
            char *d = expand(c, dirs.v[i], origin);
            char *p = d ? join(c, d, name) : NULL;
            if (p && exists(p))
                strs_add(c, &found, p);
            free(d);
            free(p);
        }
        pl_strs_free(&dirs);
        free(origin);
        struct pl_strs cached = {0};
        cache_get(c, name, &cached);
        for (size_t i = 0; i < cached.n; i++)
            if (exists(cached.v[i]))
                strs_add(c, &found, cached.v[i]);
        pl_strs_free(&cached);
        if (found.n == 0) {
            static const char *defaults[] = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                                             "/lib64", "/usr/lib64", "/lib", "/usr/lib"};
            static const char *arm[] = {"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                                        "/lib64", "/usr/lib64", "/lib", "/usr/lib"};
            const char **list = info->machine == 62 ? defaults : info->machine == 183 ? arm
                                                                                    : defaults + 2;
            size_t n = info->machine == 62 || info->machine == 183 ? 6 : 4;
            for (size_t i = 0; i < n && found.n == 0; i++) {
                char *p = join(c, list[i], name);
                if (p && exists(p))
                    strs_add(c, &found, p);
                free(p);
            }
        }
    }
    for (size_t i = 0; i < found.n; i++) {
        struct elf *e = elf_of(c, found.v[i]);
        if (e != NULL && e->machine == info->machine)
            strs_add(c, out, found.v[i]);
    }
    pl_strs_free(&found);
}

struct todo {
    char *path;
    struct pl_strs inherited;
};

/* Resolver.closure(roots) in its own order of discovery (Python's is a set: the caller
 * sorts, as discover.plan does) */
static void closure(struct ctx *c, const struct pl_strs *roots, struct pl_strs *out)
{
    struct todo *todo = NULL;
    size_t n = 0, cap = 0;
    struct pl_strs done = {0};
#define PUSH(p, inh)                                                          \
    do {                                                                      \
        if (n == cap) {                                                       \
            size_t nc = cap ? 2 * cap : 64;                                   \
            struct todo *g = realloc(todo, nc * sizeof *g);                   \
            if (g == NULL) { c->failed = 1; free(p); goto end; }              \
            todo = g;                                                         \
            cap = nc;                                                         \
        }                                                                     \
        todo[n].path = (p);                                                   \
        todo[n].inherited = (inh);                                            \
        n++;                                                                  \
    } while (0)
    for (size_t i = 0; i < roots->n; i++) {
        char *r = real_of(c, roots->v[i]);
        if (r == NULL)
            continue; /* missing: Python's real() of it reads as no ELF */
        struct pl_strs none = {0};
        PUSH(r, none);
    }
    while (n > 0 && !c->failed) {
        struct todo t = todo[--n];
        if (strs_has(&done, t.path)) {
            free(t.path);
            pl_strs_free(&t.inherited);
            continue;
        }
        strs_add(c, &done, t.path);
        struct elf *info = elf_of(c, t.path);
        if (info != NULL) {
            char *origin = dirname_of(c, t.path);
            struct pl_strs rpath = {0};
            for (size_t i = 0; origin && i < info->rpath.n; i++) {
                char *x = expand(c, info->rpath.v[i], origin);
                if (x)
                    strs_add(c, &rpath, x);
                free(x);
            }
            for (size_t i = 0; i < t.inherited.n; i++)
                strs_add(c, &rpath, t.inherited.v[i]);
            free(origin);
            for (size_t k = 0; k < info->needed.n && !c->failed; k++) {
                struct pl_strs libs = {0};
                find(c, info->needed.v[k], t.path, info, &rpath, &libs);
                for (size_t j = 0; j < libs.n; j++) {
                    char *real = real_of(c, libs.v[j]);
                    if (real == NULL) {
                        c->fallback = 1;
                        continue;
                    }
                    if (!strs_has(out, real))
                        strs_add(c, out, real);
                    struct pl_strs inh = {0};
                    for (size_t i = 0; i < rpath.n; i++)
                        strs_add(c, &inh, rpath.v[i]);
                    PUSH(real, inh);
                }
                pl_strs_free(&libs);
            }
            pl_strs_free(&rpath);
        }
        free(t.path);
        pl_strs_free(&t.inherited);
    }
end:
    while (n > 0) {
        n--;
        free(todo[n].path);
        pl_strs_free(&todo[n].inherited);
    }
    free(todo);
    pl_strs_free(&done);
#undef PUSH
}

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- discover.plan ---- */

/* plan's add(): the real path, permissions merged in "rwxc" order, first place kept */
static void add(struct ctx *c, struct pl_rules *rules, const char *where, const char *perms)
{
    if (!exists(where))
        return;
    char *real = real_of(c, where);
    if (real == NULL) {
        c->fallback = 1;
        return;
    }
    struct pl_rule *r = NULL;
    for (size_t i = 0; i < rules->n; i++)
        if (strcmp(rules->v[i].path, real) == 0)
            r = &rules->v[i];
    char merged[5] = "";
    size_t m = 0;
    for (const char *k = "rwxc"; *k; k++)
        if (strchr(perms, *k) || (r && strchr(r->perms, *k)))
            merged[m++] = *k;
    merged[m] = 0;
    if (r)
        strcpy(r->perms, merged);
    else if (pl_rules_add(rules, real, merged) != PL_OK)
        c->failed = 1;
    free(real);
}

struct paths { const char *where, *perms; };
static const struct paths ANY[] = {
    {"/etc/localtime", "r"}, {"/usr/share/zoneinfo", "r"}, {"/dev/null", "rw"},
    {"/usr/lib/locale", "r"}, {"/usr/share/locale", "r"}, {"/etc/ld.so.cache", "r"},
    {"/proc/sys/vm/overcommit_memory", "r"}, {NULL, NULL}};
static const struct paths DNS[] = {
    {"/etc/resolv.conf", "r"}, {"/etc/hosts", "r"}, {"/etc/services", "r"},
    {"/etc/protocols", "r"}, {"/etc/nsswitch.conf", "r"}, {"/etc/gai.conf", "r"},
    {"/etc/host.conf", "r"}, {NULL, NULL}};
static const struct paths INET[] = {
    {"/etc/ssl", "r"}, {"/usr/lib/ssl", "r"}, {"/etc/services", "r"}, {NULL, NULL}};
static const struct paths GETPW[] = {
    {"/etc/passwd", "r"}, {"/etc/group", "r"}, {"/etc/nsswitch.conf", "r"}, {NULL, NULL}};
static const struct paths TTY[] = {
    {"/dev/tty", "rw"}, {"/usr/share/terminfo", "r"}, {"/lib/terminfo", "r"},
    {"/etc/terminfo", "r"}, {NULL, NULL}};
static const char *ANY_LIBS[] = {"libgcc_s.so.1", NULL};
static const char *DNS_LIBS[] = {"libnss_files.so.2", "libnss_dns.so.2", "libresolv.so.2", NULL};
static const char *GETPW_LIBS[] = {"libnss_files.so.2", "libnss_systemd.so.2", NULL};
/* PROMISE_PATHS/PROMISE_LIBS in sorted(promises) order, after ""; tmppath falls back */
static const struct { int bit; const struct paths *paths; const char **libs; } PROMISE[] = {
    {-1, ANY, ANY_LIBS}, {P_DNS, DNS, DNS_LIBS}, {P_GETPW, GETPW, GETPW_LIBS},
    {P_INET, INET, NULL}, {P_TTY, TTY, NULL}};

/* Names the Python command treats apart (loader.DLOPENS, loader.EXECUTES, hosts._NAMES,
 * discover.PROGRAM_FILES' node): any of them is the Python command's job. */
static int apart(const char *name)
{
    static const char *exact[] = {"env", "nice", "nohup", "timeout", "stdbuf", "xargs", "setsid",
                                  "taskset", "ionice", "chrt", "flock", "chroot", "unshare",
                                  "time", "sudo", "doas", NULL};
    static const char *stripped[] = {"python", "lua", "luajit", "node", "nodejs", "perl",
                                     "ruby", "php", "tclsh", "wish", NULL};
    for (size_t i = 0; exact[i]; i++)
        if (strcmp(name, exact[i]) == 0)
            return 1;
    size_t n = strlen(name);
    while (n > 0 && (strchr("0123456789.", name[n - 1]) != NULL))
        n--;
    for (size_t i = 0; stripped[i]; i++)
        if ((strlen(stripped[i]) == n && strncmp(name, stripped[i], n) == 0) ||
            strcmp(name, stripped[i]) == 0)
            return 1;
    return 0;
}

/* discover.pyenv_shim(path) is not None: its note is the Python command's */
static int pyenv_shim(struct ctx *c, const char *path)
{
    char *real = real_of(c, path);
    if (real == NULL)
        return 1;
    char *shims = dirname_of(c, real);
    char *top = shims ? dirname_of(c, shims) : NULL;
    char *pyenv = top ? join(c, top, "libexec/pyenv") : NULL;
    struct stat st;
    int is = shims && strcmp(basename_of(shims), "shims") == 0 && pyenv &&
             stat(pyenv, &st) == 0 && S_ISREG(st.st_mode);
    free(real);
    free(shims);
    free(top);
    free(pyenv);
    return is;
}

static void plan(struct ctx *c, const char *path, pl_promises promises, struct pl_rules *rules)
{
    struct pl_strs roots = {0}, libs = {0};
    add(c, rules, path, "rx");
    char *real = real_of(c, path);
    if (real == NULL) {
        c->fallback = 1;
        return;
    }
    const char *name = basename_of(real);
    if (strcmp(name, "wget") == 0)
        add(c, rules, "/etc/wgetrc", "r");
    else if (strcmp(name, "node") == 0 || strcmp(name, "nodejs") == 0)
        c->fallback = 1;
    struct elf *info = elf_of(c, real);
    free(real);
    if (info == NULL) {
        c->fallback = 1;
        return;
    }
    strs_add(c, &roots, path);
    if (info->interp != NULL) {
        /* unveiled only when it is an ELF file, as the kernel's loader must be (a
         * PT_INTERP naming "/" or a secret's directory grants nothing: discover.py) */
        char *ri = real_of(c, info->interp);
        int is_elf = ri != NULL && elf_of(c, ri) != NULL;
        free(ri);
        if (is_elf)
            add(c, rules, info->interp, "rx");
    }
    for (size_t p = 0; p < sizeof PROMISE / sizeof PROMISE[0]; p++) {
        if (PROMISE[p].bit >= 0 && !(promises & BIT(PROMISE[p].bit)))
            continue;
        for (const struct paths *w = PROMISE[p].paths; w->where; w++)
            add(c, rules, w->where, w->perms);
        for (const char **lib = PROMISE[p].libs; lib && *lib; lib++) {
            struct pl_strs cached = {0};
            cache_get(c, *lib, &cached);
            for (size_t i = 0; i < cached.n; i++) {
                strs_add(c, &roots, cached.v[i]);
                add(c, rules, cached.v[i], "r");
            }
            pl_strs_free(&cached);
        }
    }
    if (promises & BIT(P_EXEC)) {
        const char *search = getenv("PATH");
        char *copy = strdup(search ? search : "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                              "/usr/bin:/sbin:/bin");
        if (copy == NULL)
            c->failed = 1;
        for (char *d = copy, *next; d; d = next) {
            next = strchr(d, ':');
            if (next)
                *next++ = 0;
            if (d[0] == '/')
                add(c, rules, d, "rx");
        }
        free(copy);
        static const char *dirs[] = {"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"};
        for (size_t i = 0; i < 5; i++)
            add(c, rules, dirs[i], "r");
    }
    closure(c, &roots, &libs);
    qsort(libs.v, libs.n, sizeof *libs.v, strp_cmp);
    for (size_t i = 0; i < libs.n; i++)
        add(c, rules, libs.v[i], "r");
    pl_strs_free(&roots);
    pl_strs_free(&libs);
    if (pyenv_shim(c, path))
        c->fallback = 1;
}

/* ---- loader.nss_modules ---- */

static void nss_modules(struct ctx *c, struct pl_strs *out)
{
    int fd = open("/etc/nsswitch.conf", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    size_t got = 0;
    unsigned char *text = fstat(fd, &st) == 0 ? read_at(c, fd, 0, (uint64_t)st.st_size, &got,
                                                        st.st_size) : NULL;
    close(fd);
    if (text == NULL) {
        c->fallback = 1;
        return;
    }
    struct pl_strs services = {0};
    for (size_t i = 0; i < got; i++)
        if (text[i] >= 0x80 || text[i] == 0) /* splitlines' and split()'s other separators */
            c->fallback = 1;
    for (char *line = (char *)text, *next; line && !c->fallback; line = next) {
        next = line + strcspn(line, "\n\r\v\f\x1c\x1d\x1e");
        if (*next)
            *next++ = 0;
        else
            next = NULL;
        line[strcspn(line, "#")] = 0;
        char *rest = strchr(line, ':');
        if (rest == NULL)
            continue;
        rest++;
        int depth = 0;
        for (char *ch = rest; *ch; ch++) {
            char was = *ch;
            depth += was == '[';
            if (depth)
                *ch = ' ';
            depth -= was == ']' && depth > 0;
        }
        char *save, *svc;
        for (svc = strtok_r(rest, " \t\n\r\v\f\x1c\x1d\x1e\x1f", &save); svc;
             svc = strtok_r(NULL, " \t\n\r\v\f\x1c\x1d\x1e\x1f", &save))
            if (!strs_has(&services, svc))
                strs_add(c, &services, svc);
    }
    free(text);
    struct pl_strs roots = {0}, libs = {0};
    for (size_t i = 0; i < services.n; i++) {
        char *name;
        if (asprintf(&name, "libnss_%s.so.2", services.v[i]) < 0) {
            c->failed = 1;
            break;
        }
        struct pl_strs cached = {0};
        cache_get(c, name, &cached);
        for (size_t k = 0; k < cached.n; k++)
            if (exists(cached.v[k]))
                strs_add(c, &roots, cached.v[k]);
        pl_strs_free(&cached);
        free(name);
    }
    pl_strs_free(&services);
    const char *saved = c->library_path;
    c->library_path = ""; /* elf.Resolver(): no LD_LIBRARY_PATH */
    closure(c, &roots, &libs);
    c->library_path = saved;
    struct pl_strs all = {0};
    for (size_t pass = 0; pass < 2; pass++) {
        const struct pl_strs *from = pass ? &libs : &roots;
        for (size_t i = 0; i < from->n; i++) {
            char *real = real_of(c, from->v[i]);
            if (real == NULL)
                c->fallback = 1;
            else if (!strs_has(&all, real))
                strs_add(c, &all, real);
            free(real);
        }
    }
    qsort(all.v, all.n, sizeof *all.v, strp_cmp);
    for (size_t i = 0; i < all.n; i++)
        strs_add(c, out, all.v[i]);
    pl_strs_free(&all);
    pl_strs_free(&roots);
    pl_strs_free(&libs);
}

/* ---- exec/shim.py: _library ---- */

static int shim_library(struct ctx *c, char *out, size_t outlen)
{
    const char *pkg = pl_package_dir();
    if (pkg == NULL)
        return PL_FALLBACK;
    char *native = join(c, pkg, "backends/linux/native");
    if (native == NULL)
        return PL_ERROR;
    DIR *d = opendir(native);
    char *pick = NULL;
    int picked_tagged = 0;
    if (d != NULL) {
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            size_t n = strlen(ent->d_name);
            if (strncmp(ent->d_name, "_shim.", 6) != 0 || n < 3 ||
                strcmp(ent->d_name + n - 3, ".so") != 0)
                continue;
            int tagged = strstr(ent->d_name, PL_CACHE_TAG) != NULL;
            if (pick == NULL || (tagged && !picked_tagged)) {
                free(pick);
                pick = join(c, native, ent->d_name);
                picked_tagged = tagged;
            }
        }
        closedir(d);
    }
    free(native);
    int rc = PL_FALLBACK; /* missing, unreadable or stale: the Python command says so */
    int fd = pick ? open(pick, O_RDONLY | O_CLOEXEC) : -1;
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        size_t got;
        unsigned char *data = read_at(c, fd, 0, (uint64_t)st.st_size, &got, st.st_size);
        static const char mark[] = "PLEDGEPY-SHIM-DIGEST:";
        unsigned char *at = data ? memmem(data, got, mark, sizeof mark - 1) : NULL;
        char want[65];
        if (at != NULL && pl_digest(PL_SHIM_SOURCES, sizeof PL_SHIM_SOURCES - 1, want) == 0) {
            unsigned char *built = at + sizeof mark - 1;
            unsigned char *end = memchr(at, ';', got - (size_t)(at - data));
            if (end != NULL && (size_t)(end - built) == 64 && memcmp(built, want, 64) == 0) {
                char *real = real_of(c, pick);
                if (real != NULL && strlen(real) < outlen) {
                    strcpy(out, real);
                    rc = PL_OK;
                }
                free(real);
            }
        }
        free(data);
    }
    if (fd >= 0)
        close(fd);
    free(pick);
    return rc;
}

/* ---- cli._which, cli._find ---- */

static int find_prog(const char *prog, char *out, size_t outlen)
{
    if (strchr(prog, '/') != NULL) {
        if (strlen(prog) >= outlen || !exists(prog))
            return PL_FALLBACK;
        strcpy(out, prog);
        return PL_OK;
    }
    const char *search = getenv("PATH");
    if (search == NULL)
        search = "/bin:/usr/bin";
    for (const char *d = search;;) {
        size_t n = strcspn(d, ":");
        const char *dir = n ? d : ".";
        size_t dn = n ? n : 1;
        const char *sep = dir[dn - 1] == '/' ? "" : "/";
        if (dn + 1 + strlen(prog) < outlen) {
            snprintf(out, outlen, "%.*s%s%s", (int)dn, dir, sep, prog);
            struct stat st;
            if (access(out, X_OK) == 0 && !(stat(out, &st) == 0 && S_ISDIR(st.st_mode)))
                return exists(out) ? PL_OK : PL_FALLBACK;
        } else
            return PL_FALLBACK; /* a name Python would join and look up */
        if (d[n] == 0)
            break;
        d += n + 1;
    }
    return PL_FALLBACK; /* "command not found": the Python command says it */
}

/* #! or not an x86_64 ELF with PT_INTERP: not this launcher's job */
static int plain_elf(struct ctx *c, const char *path, int *dynamic)
{
    int fd = open_regular(path);
    if (fd < 0)
        return 0;
    char head[2];
    ssize_t n = pread(fd, head, 2, 0);
    close(fd);
    if (n == 2 && head[0] == '#' && head[1] == '!')
        return 0;
    struct elf *e = elf_of(c, path);
    if (e == NULL || e->machine != EM_X86_64)
        return 0;
    *dynamic = e->interp != NULL;
    return 1;
}

int pl_discover(struct pl_job *job, char *err, size_t errlen)
{
    struct ctx c = {0};
    const char *lp = getenv("LD_LIBRARY_PATH");
    c.library_path = lp ? lp : "";
    if (errlen)
        err[0] = 0;
    int rc = PL_FALLBACK;
    pl_promises asked = job->asked;
    struct pl_rules rules = {0};
    struct pl_strs load = {0};
    char shim[sizeof job->shim] = "";
    int dynamic = 0;
    if (job->prog == NULL || job->prog[0] == 0 || !(asked & 1))
        goto out;
    if ((rc = find_prog(job->prog, job->path, sizeof job->path)) != PL_OK)
        goto out;
    rc = PL_FALLBACK;
    if (!plain_elf(&c, job->path, &dynamic) || !dynamic)
        goto out;
    {
        char *real = real_of(&c, job->path);
        int off = real == NULL || apart(basename_of(real));
        free(real);
        if (off)
            goto out;
    }
    pl_promises loader = BIT(P_RPATH) | BIT(P_PROT_EXEC);
    pl_promises promises = asked | BIT(P_EXEC);
    if ((asked & loader) != loader)
        promises |= loader;
    pl_promises loaders = promises & ~asked & ~BIT(P_EXEC);
    pl_promises after;
    if (loaders) {
        if (asked & BIT(P_EXEC))
            goto out; /* loader.keeps: its loader's promises kept, a note */
        after = asked;
        if ((rc = shim_library(&c, shim, sizeof shim)) != PL_OK)
            goto out;
        rc = PL_FALLBACK;
        if ((asked & (BIT(P_RPATH) | BIT(P_DNS) | BIT(P_GETPW))) && !(asked & BIT(P_PROT_EXEC)))
            nss_modules(&c, &load);
    } else
        after = promises & ~(BIT(P_EXEC) & ~asked);
    if (promises & (BIT(P_PROC) | BIT(P_ID)))
        goto out; /* ExecSupervisor.gaps: notes */
    if (after & BIT(P_TMPPATH))
        goto out; /* supervisor.tmppath: a note, or /tmp's creates served */
    pl_promises held = (after & BIT(P_EXEC)) ? promises : promises & ~BIT(P_EXEC);
    plan(&c, job->path, held, &rules);
    if (c.failed || c.fallback)
        goto out;
    if (shim[0]) {
        const char *extra[1 + load.n];
        extra[0] = shim;
        for (size_t i = 0; i < load.n; i++)
            extra[1 + i] = load.v[i];
        size_t planned = rules.n;
        for (size_t i = 0; i < 1 + load.n; i++) {
            int ruled = pl_rules_has(&job->unveils, extra[i]);
            for (size_t k = 0; k < planned && !ruled; k++)
                ruled = strcmp(rules.v[k].path, extra[i]) == 0;
            if (!ruled && pl_rules_add(&rules, extra[i], "r") != PL_OK)
                c.failed = 1;
        }
    }
    if (c.failed)
        goto out;
    job->dynamic = dynamic;
    job->promises = promises;
    job->after = after;
    strcpy(job->shim, shim);
    pl_rules_free(&job->rules);
    job->rules = rules;
    rules = (struct pl_rules){0};
    pl_strs_free(&job->load);
    job->load = load;
    load = (struct pl_strs){0};
    rc = PL_OK;
out:
    if (c.failed) {
        rc = PL_ERROR;
        errno = ENOMEM;
        if (errlen)
            snprintf(err, errlen, "pledge: out of memory while planning %s", job->prog);
    }
    pl_rules_free(&rules);
    pl_strs_free(&load);
    elves_free(&c);
    return rc;
}
