"""Teacher generation framework: prompts, backends, post-processing, sharded resumable output."""
