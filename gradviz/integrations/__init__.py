"""gradviz inside the training frameworks people use, as callbacks (each imports its framework lazily).

- ``gradviz.integrations.transformers.GradvizCallback``: Hugging Face ``transformers.Trainer``
- ``gradviz.integrations.lightning.GradvizCallback``: Lightning 2 (``lightning.pytorch``)
- ``gradviz.integrations.pytorch_lightning.GradvizCallback``: the same for ``pytorch_lightning``
- ``gradviz.integrations.tensorboard.write_history``: a watched run as TensorBoard scalars
  (also ``mon.history.to_tensorboard(dir)``)

Every callback watches gradient health at every optimizer step (``callback.monitor``, the widget in a
notebook), traces the first training step (``callback.trace``) and logs, on the ``gradviz`` logger, what
will not learn, and writes a crash-safe run directory that ``gradviz.open`` reads.
"""
