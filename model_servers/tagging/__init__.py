"""The reference tagging model service: suggested tags for training modules behind the
`TaggingModel` gRPC API, from the TF-IDF model in the repository or a chat endpoint.

Run it with `python -m model_servers.tagging --host 127.0.0.1 --port 0`; the client resource
(`resources.tagging_model.TaggingModel`) starts it by itself when no endpoint is configured.
"""

from model_servers.tagging.model import MODEL_VERSION, suggest_tags

__all__ = ["MODEL_VERSION", "suggest_tags"]
