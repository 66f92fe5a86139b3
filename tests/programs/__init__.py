"""Child programs of the enforcement tests, as importable (and so linted) modules.

A test runs one in a fresh process with ``tests.childproc.run_program("module:function")``.
"""
