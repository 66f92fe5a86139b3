"""``python -m pledgepy learn [--json] [-o FILE] [--save NAME] (script.py | -m module) ARGS...``

Learn mode for Python programs: the interpreter runs under the recorder with
every call recorded (nothing granted, so checkpoint advice sees every call),
and :mod:`.pyboot` adds where in the user's code each promise was first needed,
and the program's own pledge()/unveil() calls as checkpoints.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import api
from ..errors import NativeBuildError
from . import checkpoints as advice
from . import pyboot, report, run

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import NoReturn


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # the pledge command's usage status (64), not argparse's 2 (a program's own status)
        self.print_usage(sys.stderr)
        self.exit(run.EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m pledgepy learn",
                                description="Learn the promises and unveil rules a Python "
                                            "program needs, with where in its code.")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.add_argument("-o", dest="output", metavar="FILE", help="write the report to FILE")
    p.add_argument("--save", metavar="NAME", help="save the policy as profile NAME")
    p.add_argument("-q", dest="quiet", action="store_true", help="no notes on stderr")
    p.add_argument("-m", dest="module", metavar="MODULE", help="run a module, as python -m")
    p.add_argument("target", nargs=argparse.REMAINDER, help="script.py ARGS... (or ARGS with -m)")
    return p


def main(argv: list[str] | None = None) -> int:
    opts = _parser().parse_args(argv)
    if opts.module is None and not opts.target:
        print("python -m pledgepy learn: give script.py or -m MODULE", file=sys.stderr)
        return run.EXIT_USAGE
    target = ["-m", opts.module, *opts.target] if opts.module else list(opts.target)
    interpreter = sys.executable
    libs = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # pledgepy itself
    env = {**os.environ, pyboot.LIBS_ENV: libs, pyboot.LEARN_ENV: "1"}
    try:
        recorder = api.backend().exec_recorder()
        # its loader's calls before main are the loader's, as under the pledge command
        preload = run.shim_env(recorder, interpreter, env) if recorder is not None else None
    except NativeBuildError as exc:
        print(f"pledge: {exc}", file=sys.stderr)
        return run.EXIT_SANDBOX
    if recorder is None:
        print("pledge: learn needs seccomp user notification and the native module",
              file=sys.stderr)
        return run.EXIT_SANDBOX
    bad = run.prepare_save(opts)
    if bad is None:
        bad = run.prepare_output(opts)
    if bad is not None:
        return bad
    if opts.module is None and not os.path.exists(target[0]):
        # as python itself says it, before anything runs (no report of a run that never was)
        print(f"{interpreter}: can't open file {os.path.abspath(target[0])!r}: "
              "[Errno 2] No such file or directory", file=sys.stderr)
        return 2
    library = None
    if preload is not None:
        env, library = preload
    shown = [interpreter, *target]
    try:
        run.ask_hosts_first(interpreter, shown)
        try:
            observations, checkpoints, pid, status = run.record(
                recorder, interpreter, [interpreter, "-c", pyboot.BOOT, *target], frozenset(),
                python=True, env=env, shim=preload is not None)
        except run.NeverRan as exc:  # the interpreter's execve failed: said, no report
            return exc.status
        result = report.build(observations, shown, run.given_rules(interpreter, shown, library),
                              phase=recorder.phase, home=env.get("HOME"))
    finally:
        from ..command import hosts

        hosts.forget()
    result["notes"] = [*run.notes(interpreter, shown, frozenset(result["promises"]),
                                  recorder.phase), *result["notes"]]
    result["checkpoints"] = advice.advise(observations, checkpoints)
    result["unveil_calls"] = advice.unveil_calls(checkpoints)
    result["unveil_checkpoints"] = advice.advise_unveil(observations, checkpoints)
    how = (f"exit {os.WEXITSTATUS(status)}" if os.WIFEXITED(status)
           else f"signal {os.WTERMSIG(status)}")
    name = opts.module or target[0]
    heading = f"pledge: learned from one run of {name} (pid {pid}, {how})"
    if opts.json:
        wrote = run.emit(result, heading, True, opts.output_fd, opts.output)
    else:
        body = (report.text(result, heading) + advice.text(result["checkpoints"])
                + advice.unveil_text(result["unveil_checkpoints"]))
        wrote = run.write(body, opts.output_fd, opts.output)
    failed = run.save_if_asked(opts, result)
    if failed is None and not wrote:
        failed = run.EXIT_SANDBOX
    return failed if failed is not None else run.exit_code(status)
