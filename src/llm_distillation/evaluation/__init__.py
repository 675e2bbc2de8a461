"""Evaluation of trained students (see ``docs/evaluation.md``).

- :mod:`~llm_distillation.evaluation.generate`: the seam to the generation engine (a student
  folder opened, prompts completed greedily, the model released);
- :mod:`~llm_distillation.evaluation.plan`: which views a condition's students answer, and
  every prompt, rendered by the code that builds the training views;
- :mod:`~llm_distillation.evaluation.predictions`: answers parsed into options, per-example
  prediction rows, bootstrap accuracy, the teacher's stated-answer accuracy;
- :mod:`~llm_distillation.evaluation.metrics`, :mod:`~llm_distillation.evaluation.embeddings`,
  :mod:`~llm_distillation.evaluation.simulatability`: automatic explanation metrics;
- :mod:`~llm_distillation.evaluation.ratings`: the blinded human-rating sheet and its ingest.

Heavy imports (torch, transformers, rouge-score) happen inside functions.
"""
