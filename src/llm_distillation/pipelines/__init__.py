"""One sub-package per pipeline, each with ``nodes.py`` and ``pipeline.py``."""
