"""``python -m pledgepy PROG ...`` runs the ``pledge`` command;
``python -m pledgepy learn script.py ...`` learns a Python program's policy."""

import os
import sys

# python -m puts the working directory first on sys.path: what lies there is not the
# command's, and its own later imports (subprocess, contextlib...) must not come from it.
# Not when pledgepy itself was found there (a checkout).
_first = os.path.abspath(sys.path[0] or ".") if sys.path else None
if _first == os.getcwd() and _first != os.path.dirname(os.path.dirname(os.path.abspath(__file__))):
    del sys.path[0]

if sys.argv[1:2] == ["learn"]:
    from .learn.python import main as learn

    sys.exit(learn(sys.argv[2:]))

import gc  # noqa: E402

gc.disable()  # until the fork (pledgepy.cli.main says why)
from .cli import leave, main  # noqa: E402

leave(main())  # sys.exit without the interpreter's teardown (cli.leave says why)
