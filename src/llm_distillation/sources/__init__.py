"""Reading benchmark sources (files in their published formats, the Hugging Face Hub, saved
``datasets`` folders) and turning their records into the normalized example schema."""
