/* confine.c: the pledge command's child between the fork and its filter
 * (command/run.py _prepare and child, command/limits.py, api.lock_unveil_for,
 * exec/supervise.py confine up to the filter).
 *
 * pl_confine's PL_ERROR: *err* holds what the Python child says after "pledge: ",
 * and the command then exits PL_EXIT_SANDBOX, as run.child does. Every check that
 * can fail before anything changes (rules, -v paths, gaps the command would say)
 * gives PL_FALLBACK instead. */
#ifndef PL_CONFINE_H
#define PL_CONFINE_H

#include <stddef.h>
#include <stdint.h>

#include "launch.h"

#define PL_EXIT_SANDBOX 70 /* command/options.py EXIT_SANDBOX */

/* policy.PATHS["stdio"]: the allowance commit() adds to the rules in the child,
 * whose promises are not yet in force (unveil.allowance_rules(None)). */
struct pl_allowance {
    const char *path, *perms;
};
extern const struct pl_allowance pl_stdio_paths[];
extern const size_t pl_stdio_npaths;

/* landlock/abi.py's row of ABI *abi*: what it handles (fs), its scopes and its
 * landlock_restrict_self flags; the rights follow from it alone. */
struct pl_landlock_row {
    uint64_t fs, scopes;
    unsigned restrict_flags;
};
struct pl_landlock_row pl_landlock_row_of(int abi);

/* The kernel's Landlock ABI (landlock_create_ruleset(NULL, 0, VERSION)), 0 without one. */
int pl_landlock_abi(void);

#endif
