"""Model backends. `Transformers` and `OpenAI` import their heavy dependencies lazily."""
