"""The ``pledge`` command's parts: options, what to unveil, the program's limits."""
