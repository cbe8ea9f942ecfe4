"""The lab's own helpers, for `make demo` (deploy/lab/demo.py) and the tier-3 tests
(tests/e2e): drive the lab Asterisk (``lab``), place and answer SIP calls with sipp
(``sipp_scenarios``), run `switchboard run` as a process (``daemon``) and catch its
mail (``smtp``).

Importable as ``labkit`` with deploy/lab on the path: the demo runs from this
directory, pytest adds it (``pythonpath`` in pyproject.toml). Nothing here imports
the tests.
"""
