"""cffi build script for the SIGSYS handler (``pledgepy.backends.linux._sigsys``).

Built at install time by setup.py; the C source sits beside this file.
"""

from pathlib import Path

from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef("""
struct pp_cond { uint64_t mask; uint32_t arg; uint32_t wide; uint32_t negate; uint32_t nvals; uint32_t first_val; uint32_t pad; };
struct pp_rule { uint64_t needs; uint32_t first_cond; uint32_t nconds; int32_t hint; uint32_t pad; };
struct pp_flag { uint64_t mask; uint64_t value; uint32_t name; uint32_t pad; };
struct pp_sys { int32_t name; int32_t keyarg; uint32_t keyfmt; uint32_t first_rule; uint32_t nrules; uint32_t first_flag; uint32_t nflags; uint32_t pad; };
void pp_configure(const struct pp_sys *sys, uint32_t nsys, const struct pp_rule *rules,
                  const struct pp_cond *conds, const uint64_t *vals,
                  const struct pp_flag *flags, const char *strings,
                  const uint32_t *promise_names, uint64_t stdio_bit);
void pp_set_program(const char *name);
void pp_set_held(uint64_t held);
void pp_set_quiet(int quiet);
int pp_install_handler(void);
int pp_handler_installed(void);
long pp_install_filter(const unsigned char *code, size_t nbytes, unsigned int flags);
""")
ffibuilder.set_source(
    "pledgepy.backends.linux._sigsys",
    (Path(__file__).with_name("sigsys.c")).read_text(),
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
