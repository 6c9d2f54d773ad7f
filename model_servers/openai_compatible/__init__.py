"""A local OpenAI-compatible chat-completions server (`python -m model_servers.openai_compatible`)
for the tagger's chat backend: structured outputs answered by the repository's TF-IDF model,
with faults on request. Tests start it on loopback; nothing in production uses it."""
