"""The real-model sweep (issue 9): ~60 architectures from transformers, diffusers and peft, one training step
each, gradviz's verdicts checked against plain torch on a deep copy. Run it alone with ``pytest -m zoo``.
"""
