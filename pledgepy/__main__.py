"""``python -m pledgepy PROG ...`` runs the ``pledge`` command;
``python -m pledgepy learn script.py ...`` learns a Python program's policy."""

import sys

if sys.argv[1:2] == ["learn"]:
    from .learn.python import main as learn

    sys.exit(learn(sys.argv[2:]))

import gc  # noqa: E402

gc.disable()  # until the fork (pledgepy.cli.main says why)
from .cli import main  # noqa: E402

sys.exit(main())
