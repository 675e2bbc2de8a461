"""The one generation engine shared by teachers (chat prompts) and students (plain-text
prompts): tokenisation, batch planning, KV caches and decoding for decoder-only and
encoder-decoder models. Heavy imports (torch, transformers) happen inside functions."""
