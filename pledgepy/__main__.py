"""``python -m pledgepy PROG ...`` runs the ``pledge`` command."""

import sys

from .cli import main

sys.exit(main())
