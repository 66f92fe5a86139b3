"""Python programs for ``python -m pledgepy learn`` (``python learn_checkpoints.py NAME DIR``).

The lines the tests look for are marked with ``# <- name`` comments.
"""

from __future__ import annotations

import os
import socket
import sys

import pledgepy


def too_much(directory: str) -> None:
    pledgepy.pledge("stdio rpath wpath cpath inet")  # <- pledge
    with open(os.path.join(directory, "in.txt"), encoding="utf-8") as f:  # <- read
        print(f.read(), end="")


def too_little(directory: str) -> None:
    pledgepy.pledge("stdio")  # <- pledge
    with open(os.path.join(directory, "in.txt"), encoding="utf-8") as f:  # <- read
        print(f.read(), end="")
    with open(os.path.join(directory, "out.txt"), "w", encoding="utf-8") as f:  # <- write
        f.write("x")


def narrowing(directory: str) -> None:
    pledgepy.pledge("stdio rpath inet")  # <- first
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # <- socket
    s.close()
    pledgepy.pledge("stdio")  # <- second
    print("done")


MAIN = {"too_much": too_much, "too_little": too_little, "narrowing": narrowing}

if __name__ == "__main__":
    MAIN[sys.argv[1]](sys.argv[2])
