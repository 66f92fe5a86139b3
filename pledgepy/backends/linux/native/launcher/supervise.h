/* The opening phase (exec/shim.py _Opening over exec/supervise.py serve), in the parent. */
#ifndef PL_SUPERVISE_H
#define PL_SUPERVISE_H

#include <stdint.h>
#include <sys/types.h>

#include "launch.h"

/* What the phase hands on: PROG's clean end, or the takeover (with or without a notification). */
enum pl_end { PL_END_CLEAN, PL_END_TAKEOVER, PL_END_FAILED };

struct pl_notif {
    uint64_t id;
    uint32_t tid;
    int32_t nr;
    uint64_t args[6];
};

struct pl_opening {
    pid_t pid;
    int listener;
    const struct pl_job *job;
    const struct pl_ids *ids; /* identity_of(pid): what the loader's calls are judged for */
    int execed, opening, seen;
    int64_t deadline_ns;      /* CLOCK_MONOTONIC; INT64_MAX without a shim */
    int killable;             /* the filter's callers wait killably once read: stopped at
                               * a hand-over (without, SIGSTOP would restart the call) */
    int has_notif;
    struct pl_notif notif;    /* read and not answered (PL_END_TAKEOVER) */
    int status;               /* wait status (PL_END_CLEAN, or TAKEOVER without notif) */
    int reaped;
    int64_t cpu_us;
    char why[256];            /* PL_END_FAILED: the supervisor's own failure */
};

/* Serve the listener until PROG's clean end, or until Python is needed. */
enum pl_end pl_supervise(struct pl_opening *o);

/* shim.DEADLINE, TICK_MS */
#define PL_DEADLINE_MS 10000
#define PL_TICK_MS 2

int64_t pl_now_ns(void);
/* /proc/PID/status real uid and groups (answer.status_ids, REAL_IDS); 0 or -1. */
int pl_status_ids(pid_t pid, struct pl_ids *ids);

#endif
