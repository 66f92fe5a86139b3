"""pledgepy in one minute: a program does its job, then breaks its promises and is caught.

Each step runs in its own child process, because a pledge cannot be undone.
Run: python examples/demo.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap

LOGS = {
    "app.log": "GET / 200\nGET /login 200\nPOST /login 403\nGET /admin 403\n",
    "api.log": "GET /api/v1 200\nGET /api/v2 404\n",
}

SUMMARIZE = """
import collections, os, sys, pledgepy

logs = sys.argv[1]
pledgepy.unveil(logs, "r")           # only the log directory exists from now on
pledgepy.pledge("stdio rpath")       # read files, write to stdout: nothing else
print("  promises:", " ".join(sorted(pledgepy.status().promises)),
      "| unveiled:", pledgepy.status().unveil.rules[0][0])

codes = collections.Counter()
for name in sorted(os.listdir(logs)):
    with open(os.path.join(logs, name)) as f:
        codes.update(line.split()[-1] for line in f)
print("  status codes:", dict(sorted(codes.items())))

try:
    open("/etc/passwd")
except PermissionError as e:
    print("  reading /etc/passwd:", e.strerror, "(outside the unveiled directory)")

pledgepy.pledge("stdio")             # done reading: narrow to stdio
print("  narrowed to:", " ".join(sorted(pledgepy.status().promises)))
print("  now a bug tries to write a report file...", flush=True)
with open(os.path.join(logs, "report.txt"), "w") as f:   # breaks the promise
    f.write(str(codes))
print("  never printed")
"""

ERROR_MODE = """
import os, pledgepy
pledgepy.pledge("stdio error")       # "error": refused calls fail with ENOSYS instead
pledgepy.set_violation_messages(False)
try:
    os.listdir("/")
except OSError as e:
    print("  os.listdir('/'):", e.strerror, "- the program goes on")
"""


def run(title: str, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    print(f"\n== {title}")
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                            capture_output=True, text=True)
    sys.stdout.write(result.stdout)
    for line in result.stderr.splitlines():
        print("  stderr |", line)
    how = (f"killed by signal {-result.returncode} (SIGABRT, exit 134 from a shell)"
           if result.returncode < 0 else f"exit status {result.returncode}")
    print(f"  -> {how}")
    return result


def main() -> int:
    import pledgepy

    with tempfile.TemporaryDirectory(prefix="pledgepy-demo-") as logs:
        for name, text in LOGS.items():
            with open(os.path.join(logs, name), "w") as f:
                f.write(text)
        first = run("a log summarizer under unveil + pledge('stdio rpath'), then pledge('stdio')",
                    SUMMARIZE, logs)
        wrote = os.path.exists(os.path.join(logs, "report.txt"))
        second = run("the same kind of mistake under pledge('stdio error')", ERROR_MODE)
    caught = first.returncode == -6 and "pledge: " in first.stderr and not wrote
    print("\nviolation caught:", "yes" if caught else "NO",
          f"| platform: {pledgepy.status().platform}, mechanism: {pledgepy.status().mechanism}")
    return 0 if caught and second.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
