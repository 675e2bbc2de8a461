"""llm-distillation: knowledge distillation methods vs. accuracy and explainability of small
language models ("Honey, I Shrunk the Language Model"), as a Kedro project.

Importing the package is cheap: torch and transformers are imported inside the functions that
need them.
"""

__version__ = "0.1.0"
