"""Python programs whose unveil() calls ``python -m pledgepy learn`` checks
(``python learn_unveils.py NAME DIR``). Lines the tests look for end in ``# <- name``."""

from __future__ import annotations

import os
import sys

import pledgepy


def too_little(directory: str) -> None:
    pledgepy.unveil(os.path.join(directory, "in.txt"), "r")  # <- rule
    pledgepy.unveil()  # <- lock
    with open(os.path.join(directory, "in.txt"), encoding="utf-8") as f:
        print(f.read(), end="")
    with open(os.path.join(directory, "other.txt"), encoding="utf-8") as f:  # <- denied
        print(f.read(), end="")


def too_much(directory: str) -> None:
    pledgepy.unveil(os.path.join(directory, "data"), "rwc")  # <- wide
    pledgepy.unveil(os.path.join(directory, "unused"), "r")  # <- unused
    pledgepy.unveil()  # <- lock
    with open(os.path.join(directory, "data", "in.txt"), encoding="utf-8") as f:
        print(f.read(), end="")


def by_pledge(directory: str) -> None:
    pledgepy.unveil(os.path.join(directory, "data"), "r")  # <- rule
    pledgepy.pledge("stdio rpath wpath cpath")  # <- pledge
    with open(os.path.join(directory, "out.txt"), "w", encoding="utf-8") as f:  # <- write
        f.write("x")


def no_lock(directory: str) -> None:
    pledgepy.unveil(os.path.join(directory, "data"), "r")  # <- rule
    with open(os.path.join(directory, "in.txt"), encoding="utf-8") as f:  # <- denied
        print(f.read(), end="")


MAIN = {"too_little": too_little, "too_much": too_much, "by_pledge": by_pledge,
        "no_lock": no_lock}

if __name__ == "__main__":
    MAIN[sys.argv[1]](sys.argv[2])
