/* The installed package's directory and the digest of its files (launch.h). */
#define _GNU_SOURCE
#include "launch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* native/digest.c, linked in */
long pp_sources_digest(const char *root, const char *names, size_t len, char *hex);

#if !defined(PL_PACKAGE_DIR) && !defined(PL_PACKAGE_REL)
#error "the build defines PL_PACKAGE_DIR (editable installs) or PL_PACKAGE_REL"
#endif

const char *pl_package_dir(void)
{
#ifdef PL_PACKAGE_DIR
    return PL_PACKAGE_DIR;
#else
    static char dir[PATH_MAX];
    static int done;
    if (done)
        return dir[0] ? dir : NULL;
    done = 1;
    char exe[PATH_MAX], joined[PATH_MAX + sizeof PL_PACKAGE_REL + 1];
    if (realpath("/proc/self/exe", exe) == NULL)
        return NULL;
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0'; /* realpath's answer is absolute: "/" leaves "" (the root) */
    if ((size_t)snprintf(joined, sizeof joined, "%s/%s", exe, PL_PACKAGE_REL) >= sizeof joined)
        return NULL;
    if (realpath(joined, dir) == NULL) {
        dir[0] = '\0';
        return NULL;
    }
    return dir;
#endif
}

int pl_digest(const char *names, size_t len, char hex[65])
{
    const char *pkg = pl_package_dir();
    if (pkg == NULL)
        return PL_ERROR; /* errno: realpath's */
    long rc = pp_sources_digest(pkg, names, len, hex);
    if (rc != 0) {
        errno = (int)-rc;
        return PL_ERROR;
    }
    return PL_OK;
}
