"""cffi build script for the SIGSYS handler (``pledgepy.backends.linux.native._sigsys``).

Built at install time by setup.py. The C source sits beside this file; the
tables it uses to explain violations are generated here from policy.py for
both architectures, and the module carries a digest of the sources they came
from (``digest.py``), so a policy edited without a rebuild is refused at load.
"""

import sys
import time
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))  # the project root, for pledgepy's own modules

from pledgepy.backends.linux import prepared  # noqa: E402
from pledgepy.backends.linux.native import digest, tables  # noqa: E402

#: The policy flattened for the loader (prepared.py), embedded as data: same digest.
PLAN = prepared.serialized()

GENERATED = (
    "#if defined(__x86_64__)\n" + tables.c_source("x86_64")
    + "#elif defined(__aarch64__)\n" + tables.c_source("aarch64")
    + "#endif\n"
    + f'static const char T_DIGEST[] = "{digest.compute(str(HERE.parents[2]))}";\n'
    # the loader trusts this stamp instead of hashing while the files still carry it
    + f'static const char T_STAMP[] = "{digest.stamp(str(HERE.parents[2]), time.time_ns())}";\n'
    + "const char *pp_tables_stamp(void) { return T_STAMP; }\n"
    + "static const unsigned char T_PLAN[] = {" + ",".join(map(str, PLAN)) + "};\n"
    + "const unsigned char *pp_plan_data(size_t *n) { *n = sizeof T_PLAN; return T_PLAN; }\n"
)

ffibuilder = FFI()
ffibuilder.cdef("""
void pp_set_program(const char *name);
void pp_set_held(uint64_t held);
void pp_set_importing(const char *name);
void pp_set_trap_data(uint32_t mask);
void pp_set_quiet(int quiet);
void pp_set_foreign(int foreign);
void pp_set_resolve(int on);
int pp_is_python(int pid);
void pp_set_localtime_fd(int fd, int lfd);
void pp_set_devnull_fd(int fd);
void pp_set_paths(int on, int root_fd, const char *dirs, size_t len);
void pp_set_paths_off(const char *why, size_t len);
void pp_set_import_dirs(const char *dirs, size_t len);
void pp_set_cert_dirs(const char *dirs, size_t len);
uint64_t pp_blessed_ip(void);
int pp_install_handler(void);
int pp_handler_installed(void);
const char *pp_tables_digest(void);
const char *pp_tables_stamp(void);
const unsigned char *pp_plan_data(size_t *n);
long pp_install_filter(const unsigned char *code, size_t nbytes, unsigned int flags);
size_t pp_describe(int nr, const uint64_t *args, uint64_t held, int error_mode,
                   long pid, const char *prog, char *out, size_t size);
long pp_notif_recv(int fd, int32_t *nr, uint64_t *args, uint64_t *id, uint32_t *pid);
long pp_notif_send(int fd, uint64_t id, int32_t error);
long pp_pidfd_getfd(int pidfd, int fd);
long pp_ll_create_ruleset(uint64_t handled_fs, uint64_t scoped, size_t size, uint32_t flags);
long pp_ll_add_path_beneath(int ruleset_fd, uint64_t access, int parent_fd);
long pp_ll_restrict_self(int ruleset_fd, uint32_t flags);
long pp_set_no_new_privs(void);
long pp_prctl(int option, unsigned long arg2, unsigned long arg3);
long pp_capget(uint32_t *data);
long pp_capset(const uint32_t *data);
long pp_cloexec_from(unsigned int first);
long pp_vm_copy(int pid, unsigned char *local, uint64_t remote, size_t n, int write);
long pp_stat_path(const char *path, unsigned char *out, int flags);
long pp_statx_path(const char *path, int flags, unsigned int mask, unsigned char *out);
long pp_landlock_probe(uint64_t handled_fs, uint64_t scoped, size_t size, long max, int pin);
long pp_notif_continue(int fd, uint64_t id);
long pp_notif_id_valid(int fd, uint64_t id);
long pp_notif_sync_wakeup(int fd);
long pp_learn_loop(int fd, const int16_t *cfg, int ncfg, int start_pid, int exec_nr,
                   int execat_nr, int cache_cwd, int magic_nr);
long pp_learn_take(uint64_t *out, long max, char *arena, size_t arena_size);
void pp_learn_counts(uint64_t *out, uint64_t n);
long pp_learn_batch(int fd, const unsigned char *hold, int nhold, uint64_t *out, long max,
                    uint64_t *held_id, int *held);
long pp_spawner_start(int sock, int err);
long pp_stand_in(int status);
long pp_bpf_compile(const unsigned char *in, size_t len, unsigned char *out, size_t cap);
long pp_sources_digest(const char *root, const char *names, size_t len, char *hex);
""")
ffibuilder.set_source(
    "pledgepy.backends.linux.native._sigsys",
    (HERE / "sigsys.c").read_text().replace('#include "pp_tables.h"\n', GENERATED)
    + (HERE / "learn.c").read_text()  # learn mode's receiving loop
    + (HERE / "spawner.c").read_text()  # exec'd programs under execpromises alone
    + (HERE / "bpf.c").read_text()  # the seccomp-BPF compiler (seccomp/filter.py's)
    + (HERE / "digest.c").read_text(),  # the loader's check of this build (digest.py)
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-pthread"],
    extra_link_args=["-pthread"],  # the Landlock probe's helper thread
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
