"""Helpers that the test suite (``tests/``) and the benchmarks (``benchmarks/``)
share: throw-away servers (:mod:`devtools.servers`) and reading runs back
from a store (:mod:`devtools.runs`).

Not part of the shipped package (only ``src/`` is), and nothing here imports
pytest: a failure raises this package's own exception, which the tests turn
into a failed test and the benchmarks into an error (exit status 2). Found
on ``sys.path`` as the repository's root: under pytest through the root's
``conftest.py`` (pytest's default ``prepend`` import mode puts its folder
first), in the benchmarks through ``benchmarks/_common.py``.
"""
