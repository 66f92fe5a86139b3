/* Stand-ins for the launcher's other parts (plan.c, discover.c, confine.c, lists.c,
 * package.c) while they are written: enough for main.c and supervise.c's flow to run
 * a real program. Not a sandbox: the filter only routes execve, mkdir and executable
 * mappings to the listener. LMAIN_STUB_SHOW=1: pl_discover prints the job it was given
 * (one line) and falls back. */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch.h"

static const char *const VOCABULARY[] = {
    "stdio", "rpath", "wpath", "cpath", "dpath", "tmppath", "inet", "mcast", "fattr",
    "chown", "flock", "unix", "dns", "getpw", "sendfd", "recvfd", "tape", "tty", "proc",
    "exec", "prot_exec", "settime", "ps", "vminfo", "id", "pf", "route", "wroute", "audio",
    "video", "bpf", "unveil", "error"};
#define BIT(name) (UINT64_C(1) << bit(name))

static int bit(const char *name)
{
    for (size_t i = 0; i < sizeof VOCABULARY / sizeof *VOCABULARY; i++)
        if (!strcmp(VOCABULARY[i], name))
            return (int)i;
    return -1;
}

int pl_rules_add(struct pl_rules *r, const char *path, const char *perms)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 8;
        struct pl_rule *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return -1;
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n].path = strdup(path);
    snprintf(r->v[r->n].perms, sizeof r->v[r->n].perms, "%s", perms);
    r->n++;
    return 0;
}

int pl_rules_has(const struct pl_rules *r, const char *path)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->v[i].path, path))
            return 1;
    return 0;
}

void pl_rules_free(struct pl_rules *r) { free(r->v); }

int pl_strs_add(struct pl_strs *s, const char *str)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = strdup(str);
    return 0;
}

void pl_strs_free(struct pl_strs *s) { free(s->v); }

const char *pl_package_dir(void) { return PL_PACKAGE_DIR; }

int pl_digest(const char *names, size_t len, char hex[65])
{
    (void)names, (void)len, (void)hex;
    return PL_FALLBACK;
}

static char said[4096];

int pl_parse_promises(const char *text, pl_promises *out)
{
    char copy[4096], *save = NULL;
    snprintf(said, sizeof said, "%s", text);
    snprintf(copy, sizeof copy, "%s", text);
    *out = 0;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (bit(w) < 0)
            return PL_FALLBACK;
        *out |= UINT64_C(1) << bit(w);
    }
    return *out & BIT("stdio") ? PL_OK : PL_FALLBACK;
}

int pl_tables_check(const char *package_dir)
{
    (void)package_dir;
    return PL_OK;
}

static int has_interp(const char *path)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    int fd = open(path, O_RDONLY | O_CLOEXEC), found = -1;
    if (fd < 0)
        return -1;
    if (pread(fd, &eh, sizeof eh, 0) == sizeof eh && !memcmp(eh.e_ident, ELFMAG, SELFMAG)) {
        found = 0;
        for (int i = 0; i < eh.e_phnum; i++)
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (size_t)i * eh.e_phentsize))
                    == sizeof ph && ph.p_type == PT_INTERP)
                found = 1;
    }
    close(fd);
    return found;
}

int pl_discover(struct pl_job *job, char *err, size_t errlen)
{
    if (getenv("LMAIN_STUB_SHOW")) {
        fprintf(stderr, "JOB prog=%s promises=%s quiet=%d strict=%d", job->prog, said,
                job->quiet, job->strict);
        for (size_t i = 0; i < job->rules.n; i++)
            fprintf(stderr, " rule=%s", job->rules.v[i].path);
        for (size_t i = 0; i < job->unveils.n; i++)
            fprintf(stderr, " unveil=%s:%s", job->unveils.v[i].perms, job->unveils.v[i].path);
        for (char *const *a = job->argv; *a; a++)
            fprintf(stderr, " arg=%s", *a);
        fputc('\n', stderr);
        snprintf(err, errlen, "shown");
        return PL_FALLBACK;
    }
    if (strchr(job->prog, '/')) {
        snprintf(job->path, sizeof job->path, "%s", job->prog);
    } else {
        char paths[8192], *save = NULL;
        snprintf(paths, sizeof paths, "%s", getenv("PATH") ? getenv("PATH") : "/bin");
        job->path[0] = 0;
        for (char *d = strtok_r(paths, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            snprintf(job->path, sizeof job->path, "%s/%s", d, job->prog);
            if (access(job->path, X_OK) == 0)
                break;
            job->path[0] = 0;
        }
    }
    int dynamic = job->path[0] ? has_interp(job->path) : -1;
    if (dynamic < 0) {
        snprintf(err, errlen, "%s: not an ELF program found", job->prog);
        return PL_FALLBACK;
    }
    job->dynamic = dynamic;
    job->promises = job->asked | BIT("exec");
    if (dynamic) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/backends/linux/native", PL_PACKAGE_DIR);
        DIR *d = opendir(dir);
        struct dirent *e;
        job->shim[0] = 0;
        while (d && (e = readdir(d)))
            if (!strncmp(e->d_name, "_shim.", 6) && strstr(e->d_name, ".so"))
                if (snprintf(job->shim, sizeof job->shim, "%s/%.255s", dir, e->d_name) < 0)
                    job->shim[0] = 0;
        if (d)
            closedir(d);
        if (!job->shim[0]) {
            snprintf(err, errlen, "no shim built");
            return PL_FALLBACK;
        }
        job->promises |= BIT("rpath") | BIT("prot_exec");
        job->after = job->asked;
    } else {
        job->after = job->promises & ~(BIT("exec") & ~job->asked);
    }
    return PL_OK;
}

int pl_confine(const struct pl_job *job, char *err, size_t errlen)
{
    /* LMAIN_STUB_CONFINE=fallback: a job confine.c finds off the path in the child */
    const char *how = getenv("LMAIN_STUB_CONFINE");
    if (how && !strcmp(how, "fallback"))
        return PL_FALLBACK;
    signal(SIGPIPE, SIG_DFL);
    signal(SIGXFSZ, SIG_DFL);
    if (job->shim[0]) {
        int fd = open(job->shim, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            snprintf(err, errlen, "the start-up shim %s: %s (as %s will run)", job->shim,
                     strerror(errno), job->prog);
            return PL_ERROR;
        }
        close(fd);
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
        return PL_ERROR;
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? PL_OK : PL_ERROR;
}

int pl_opening_filter(const struct pl_job *job, const struct pl_ids *ids,
                      struct sock_filter **out, size_t *n)
{
    (void)job, (void)ids;
    static const struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execve, 5, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execveat, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_lookup_dcookie, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mkdir, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 2, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 4 /* PROT_EXEC */, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    *out = malloc(sizeof code);
    if (!*out)
        return PL_ERROR;
    memcpy(*out, code, sizeof code);
    *n = sizeof code / sizeof *code;
    return PL_OK;
}

int pl_loader_verdict(pl_promises loader, const struct pl_ids *ids, int nr,
                      const uint64_t args[6])
{
    (void)ids, (void)args;
    return nr == SYS_mmap && (loader & BIT("prot_exec")) ? 0 : -1;
}
