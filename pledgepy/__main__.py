"""``python -m pledgepy PROG ...`` runs the ``pledge`` command;
``python -m pledgepy learn script.py ...`` learns a Python program's policy."""

import sys

if sys.argv[1:2] == ["learn"]:
    from .learn.python import main as learn

    sys.exit(learn(sys.argv[2:]))

from .cli import main  # noqa: E402

sys.exit(main())
