"""LLM providers: the only package that imports the openai and anthropic SDKs."""
