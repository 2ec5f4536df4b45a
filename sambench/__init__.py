"""sambench: zero-shot evaluation of promptable segmentation models (SAM and its family).

The data flow of one run (see README and docs/design.md):
dataset adapter -> Sample -> task (prompts) -> model adapter -> records -> summary, tables, plots.
"""

__version__ = "0.1.0"
