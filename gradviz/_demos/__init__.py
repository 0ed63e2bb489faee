"""The demos behind :mod:`gradviz.demos`, one module per topic; every demo is seeded, tiny and CPU-only.

- ``_base``: the :class:`Demo` object, the ``@demo`` registry and the small shared models.
- ``graph``: the two-layer MLP of notebook 02, healthy and cut.
- ``myths``: popular explanations of a None gradient that are wrong (every parameter learns).
- ``raises``: cases that raise an error instead of giving None.
- ``cuts``: what really leaves a gradient None, or a parameter untrained.
- ``values``: gradients that exist but are zero or NaN.
- ``training``: short runs under ``gradviz.watch`` (notebook 03).
- ``gpt``: a small transformer with a realistic hidden bug, and the same model fixed (notebook 04).
"""
