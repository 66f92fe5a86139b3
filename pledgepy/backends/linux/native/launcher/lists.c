/* pl_rules and pl_strs: growable arrays of owned strings (launch.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "launch.h"

int pl_rules_add(struct pl_rules *rules, const char *path, const char *perms)
{
    if (strlen(perms) >= sizeof rules->v[0].perms) {
        errno = EINVAL;
        return PL_ERROR;
    }
    if (rules->n == rules->cap) {
        size_t cap = rules->cap ? 2 * rules->cap : 32;
        struct pl_rule *grown = realloc(rules->v, cap * sizeof *grown);
        if (grown == NULL)
            return PL_ERROR;
        rules->v = grown;
        rules->cap = cap;
    }
    char *copy = strdup(path);
    if (copy == NULL)
        return PL_ERROR;
    rules->v[rules->n].path = copy;
    strcpy(rules->v[rules->n].perms, perms);
    rules->n++;
    return PL_OK;
}

int pl_rules_has(const struct pl_rules *rules, const char *path)
{
    for (size_t i = 0; i < rules->n; i++)
        if (strcmp(rules->v[i].path, path) == 0)
            return 1;
    return 0;
}

void pl_rules_free(struct pl_rules *rules)
{
    for (size_t i = 0; i < rules->n; i++)
        free(rules->v[i].path);
    free(rules->v);
    rules->v = NULL;
    rules->n = rules->cap = 0;
}

int pl_strs_add(struct pl_strs *strs, const char *s)
{
    if (strs->n == strs->cap) {
        size_t cap = strs->cap ? 2 * strs->cap : 16;
        char **grown = realloc(strs->v, cap * sizeof *grown);
        if (grown == NULL)
            return PL_ERROR;
        strs->v = grown;
        strs->cap = cap;
    }
    char *copy = strdup(s);
    if (copy == NULL)
        return PL_ERROR;
    strs->v[strs->n++] = copy;
    return PL_OK;
}

void pl_strs_free(struct pl_strs *strs)
{
    for (size_t i = 0; i < strs->n; i++)
        free(strs->v[i]);
    free(strs->v);
    strs->v = NULL;
    strs->n = strs->cap = 0;
}
