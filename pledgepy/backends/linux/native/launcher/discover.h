/* discover.c: the job's program, loader, libraries and default unveil (pl_discover in
 * launch.h), checked against cli._find/_job/_after_loader and run._unveil.
 *
 * Handled: a dynamically linked x86_64 ELF PROG that no script host, loader-keeping or
 * executing program name covers. PL_FALLBACK for everything else, before anything is
 * done: a #! script, a non-ELF or static ELF PROG (static: its rare path stays the
 * Python command's), a program whose plan has notes (pyenv shims, hosts), one that keeps
 * its loader's promises or exec, "proc", "id" or "tmppath" held (the supervisor's gaps,
 * tmppath's note), a missing or stale shim, and any file whose strings are not UTF-8
 * (Python decodes them with replacement characters).
 *
 * The build defines PL_CACHE_TAG (sys.implementation.cache_tag of the interpreter
 * the Python command runs with): shim.py's _library prefers that build of the shim. */
#ifndef PL_DISCOVER_H
#define PL_DISCOVER_H

#include "launch.h"

/* What shim.SOURCES names, NUL-separated, for pl_digest. */
#define PL_SHIM_SOURCES "backends/linux/native/shim.c\0backends/linux/exec/shim.py\0"

#endif
