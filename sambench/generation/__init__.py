"""Core mask generation: the automatic mask generator (``amg``), edge maps from masks (``sam_edges``) and classical edge maps (``edge_maps``)."""
