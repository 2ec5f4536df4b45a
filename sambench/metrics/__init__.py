"""Core metrics: the BSDS boundary benchmark (``bsds``) and the COCO/LVIS evaluator glue (``coco_eval``)."""
