"""sambench: zero-shot evaluation of promptable segmentation models (SAM and its family).

The data flow of one run (see README and docs/architecture.md):
dataset adapter -> Sample -> task (prompts) -> model adapter -> records -> summary, tables, plots.
Layers: core (this package's modules) <- ``sambench.tasks``, ``sambench.datasets`` <- ``sambench.app``.
"""

__version__ = "0.1.0"
