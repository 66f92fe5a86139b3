"""Builds the Linux SIGSYS handler (cffi API mode), Landlock's pre-parsed declarations,
the pledge command's start-up shim (a plain shared object, preloaded into programs) and
its native launcher (the ``pledge`` script: launcher/launch.h)."""

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup

try:
    from setuptools.command.build_scripts import build_scripts
except ImportError:  # setuptools < 70.1: distutils' (setuptools provides it on 3.12+)
    from distutils.command.build_scripts import build_scripts

HERE = Path(__file__).resolve().parent
NATIVE = Path("pledgepy/backends/linux/native")
LAUNCHER = NATIVE / "launcher"
#: The module that writes the launcher's policy tables (plan.c's), once it exists.
PLAN_TABLES = "pledgepy.backends.linux.native.plan_tables"

#: What the shim's digest covers: its source and the Python half of its protocol
#: (pledgepy.backends.linux.exec.shim recomputes it and refuses a stale build).
SHIM_SOURCES = ("pledgepy/backends/linux/native/shim.c", "pledgepy/backends/linux/exec/shim.py")


def _shim_digest() -> str:
    """BLAKE2b-256 over each file's name (relative to the package), length and bytes, as
    pledgepy.backends.linux.native.digest.compute() (and the native module) compute it."""
    h = hashlib.blake2b(digest_size=32)
    for name in SHIM_SOURCES:
        data = (HERE / name).read_bytes()
        h.update(f"{name.removeprefix('pledgepy/')}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _say(text: str) -> None:
    print(f"pledgepy: {text}", file=sys.stderr, flush=True)


class BuildLauncher(build_scripts):
    """The ``pledge`` script: the native launcher, compiled beside ``pledge-python`` (the
    Python command, copied as any script). Without a compiler, or if the build fails, the
    Python command is installed as ``pledge`` as well (said in the build's output): never
    a missing or broken binary."""

    editable_mode = False  # set by setuptools' editable_wheel (PEP 660 installs)

    def run(self) -> None:
        super().run()
        out = Path(self.build_dir, "pledge")
        out.unlink(missing_ok=True)
        if not sys.platform.startswith("linux"):
            self._python_as_pledge(out, "the native launcher is Linux's")
            return
        why = self._compile(out)
        if why is not None:
            out.unlink(missing_ok=True)
            self._python_as_pledge(out, why)

    def _python_as_pledge(self, out: Path, why: str) -> None:
        shutil.copy2(Path(self.build_dir, "pledge-python"), out)
        _say(f"{why}: installing the Python command as pledge (slower start-up, same "
             "enforcement)")

    def _macros(self) -> list[str]:
        paths = sysconfig.get_paths()  # this interpreter's default install scheme
        rel = os.path.relpath(os.path.join(paths["platlib"], "pledgepy"), paths["scripts"])
        macros = [f'-DPL_PACKAGE_REL="{rel}"',
                  f'-DPL_CACHE_TAG="{sys.implementation.cache_tag}"']
        if self.editable_mode:  # the package stays in the checkout, wherever the scripts go
            macros.append(f'-DPL_PACKAGE_DIR="{HERE / "pledgepy"}"')
        return macros

    def _compile(self, out: Path) -> str | None:
        """Build the launcher into *out*; why not, or None."""
        cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
        if not cc or shutil.which(cc[0]) is None:
            return f"no C compiler ({cc[0] if cc else 'CC'}) to build the native launcher"
        gen = Path(self.get_finalized_command("build").build_temp, "pledge-launcher")
        gen.mkdir(parents=True, exist_ok=True)
        if (HERE / (PLAN_TABLES.replace(".", "/") + ".py")).exists():
            env = dict(os.environ, PYTHONPATH=str(HERE))
            got = subprocess.run([sys.executable, "-m", PLAN_TABLES, str(gen / "policy_tables.h")],
                                 cwd=HERE, env=env, capture_output=True, text=True)
            if got.returncode != 0:
                return f"the launcher's policy tables were not generated ({got.stderr.strip()})"
        # bpf.c and digest.c are written to be pasted into the cffi module's source,
        # after its headers (native/build.py): here, after the same headers
        parts = gen / "native_parts.c"
        parts.write_text("#define _GNU_SOURCE\n" + "".join(
            f"#include <{h}>\n" for h in ("errno.h", "fcntl.h", "stddef.h", "stdint.h", "stdio.h",
                                           "stdlib.h", "string.h", "sys/stat.h", "unistd.h"))
            + '#include "bpf.c"\n#include "digest.c"\n')
        sources = [*sorted(str(p) for p in (HERE / LAUNCHER).glob("*.c")), str(parts)]
        cmd = [*cc, "-std=gnu11", "-O2", "-Wall", "-Wextra", f"-I{gen}", f"-I{HERE / LAUNCHER}",
               f"-I{HERE / NATIVE}", *self._macros(), *sources, "-o", str(out)]
        _say("building the native launcher: " + " ".join(shlex.quote(c) for c in cmd))
        try:
            got = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as exc:
            return f"the native launcher did not build ({exc})"
        if got.returncode != 0:
            return f"the native launcher did not build:\n{got.stderr.strip()}"
        with open(out, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return "the native launcher's build made no ELF executable"
        os.chmod(out, 0o755)
        return None


cffi_modules = []
ext_modules = []
if sys.platform.startswith("linux"):
    cffi_modules.append("pledgepy/backends/linux/native/build.py:ffibuilder")
    cffi_modules.append("pledgepy/backends/linux/landlock/decls_build.py:ffibuilder")
    # Not a Python module (nothing imports it): an extension only so that setuptools
    # compiles it with the same compiler, beside the handler, into the package.
    ext_modules.append(Extension(
        "pledgepy.backends.linux.native._shim", [SHIM_SOURCES[0]],
        # its digest macro covers shim.py too: rebuild when either is newer than a
        # build/ left by an earlier install (pip builds in the tree), never keep it stale
        depends=[SHIM_SOURCES[1]],
        libraries=["dl"],  # dlopen: in libc since glibc 2.34, libdl before
        define_macros=[("PP_SHIM_DIGEST", f'"{_shim_digest()}"')],
        extra_compile_args=["-O2", "-Wall", "-Wextra", "-fvisibility=hidden"]))

setup(cffi_modules=cffi_modules, ext_modules=ext_modules,
      cmdclass={"build_scripts": BuildLauncher})
