"""Student training framework: views -> examples, conditions and losses, students, the loop.

Heavy imports (torch, transformers, accelerate) happen inside functions; importing this
package is cheap. Modules: ``config`` (typed settings), ``conditions`` (the study's conditions
and view weights), ``losses`` (pure loss functions), ``examples`` (tokenised examples and
truncation), ``students`` (build a student), ``validate`` (checks before any model is loaded),
``loop`` (``train_student``).
"""
