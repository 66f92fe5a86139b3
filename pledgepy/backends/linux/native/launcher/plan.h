/* plan.c: promises, the seccomp plan, the opening filter and the loader's verdicts.
 *
 * The plans are seccomp/plan.build()'s, refused as exec/refuse.refuse() does, from the
 * tables native/plan_tables.py generates at build time (policy_tables.h): plan.c only
 * combines their rows for a promise set and a child's ids, then feeds native/bpf.c the
 * serialisation seccomp/filter.encode() would. x86_64 only: elsewhere PL_FALLBACK.
 */
#ifndef PL_PLAN_H
#define PL_PLAN_H

#include "launch.h"

/* Promises whose handling by the command is more than the filter: asked, the Python
 * command runs (pl_parse_promises answers PL_FALLBACK). Each with why. */
#define PL_FALLBACK_PROMISES(X)                                                              \
    X("exec", "kept for the whole run: discover and loader.keeps/executes decide the job "   \
              "and unveil list differently; the program starts others")                      \
    X("tmppath", "the supervisor serves creates under /tmp (tmpcreate) or says why not "     \
                 "(supervisor.tmppath's note)")                                              \
    X("proc", "supervisor.gaps says a note (refuse.OUTLIVING); -P's note as root")           \
    X("id", "supervisor.gaps says a note (refuse.OUTLIVING)")                                \
    X("chown", "cli._needs_caps: a note on a non-zero exit as root without capabilities")    \
    X("fattr", "cli._needs_caps: a note on a non-zero exit as root without capabilities")

/* The bits of PL_FALLBACK_PROMISES (all ones if a name is not in the vocabulary). */
pl_promises pl_fallback_promises(void);
/* The bit of vocabulary word *name*, 0 if none. */
pl_promises pl_promise_bit(const char *name);

#endif
