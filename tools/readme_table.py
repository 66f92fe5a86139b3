"""Write the Linux promise table into README.md between its markers: python tools/readme_table.py"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pledgepy.backends.linux.describe import markdown  # noqa: E402

START, END = "<!-- promise-table:start -->\n", "<!-- promise-table:end -->\n"


def render(readme: str) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + START + markdown() + END + tail


if __name__ == "__main__":
    path = ROOT / "README.md"
    path.write_text(render(path.read_text()))
