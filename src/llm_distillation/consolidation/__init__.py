"""Consolidation framework: cleaning rules, quality checks, the long-to-wide merge, the study
import, quality statistics and student training views. See ``docs/consolidation.md``."""
