"""The differential fuzzer: random small training steps, gradviz's verdicts against plain-torch oracles.

Layout: ``_generator.py`` (programs whose structure is known by construction), ``_oracles.py`` (what torch
did, with hooks and modes, no gradviz), ``_compare.py`` (the expected verdicts and the comparison),
``_run.py`` (a sweep, its summary, the disagreeing programs as scripts), ``test_fuzz.py`` (the oracles'
and the judge's own tests, and the slow sweep). ``python benchmarks/fuzz_verdicts.py`` runs a sweep.
"""
