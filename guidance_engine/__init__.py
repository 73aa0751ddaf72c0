"""guidance_engine: Handlebars-style templates for LLM programs."""
