"""HTTP server: OpenAI-compatible embeddings / completions / chat, plus plmkit's own verbs."""
