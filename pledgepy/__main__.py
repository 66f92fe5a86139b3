"""``python -m pledgepy PROG ...`` runs the ``pledge`` command;
``python -m pledgepy learn script.py ...`` learns a Python program's policy."""

import sys

if sys.argv[1:2] == ["learn"]:
    from .learn.python import main as learn

    sys.exit(learn(sys.argv[2:]))

import gc  # noqa: E402

gc.disable()  # until the fork (pledgepy.cli.main says why)
from .cli import leave, main  # noqa: E402

leave(main())  # sys.exit without the interpreter's teardown (cli.leave says why)
