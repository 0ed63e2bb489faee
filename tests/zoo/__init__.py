"""The real-model sweep (issue 9): 131 models from transformers, diffusers and peft built from tiny random
configs, one training step each, every gradviz verdict checked against plain torch on a deep copy.

Run it alone with ``pytest tests/zoo -q``; ``-m zoo`` selects the per-model tests only.
Layout: ``_case.py`` (what a case is, how it trains), ``_truth.py`` (plain-torch truth, bitwise compare),
``_compare.py`` (the rules), ``_run.py`` (one case end to end), one module per family of models,
``_registry.py`` (all of them), ``test_zoo.py`` (one test per model), ``test_judge.py`` (the rules' tests).
"""
