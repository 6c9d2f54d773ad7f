"""The reference seniority model service: title rules behind the `SeniorityModel` gRPC API.

Run it with `python -m model_servers.seniority --host 127.0.0.1 --port 0`; the client
resource (`resources.seniority_model.SeniorityModel`) starts it by itself when no
endpoint is configured.
"""

from model_servers.seniority.classifier import LEVELS, MODEL_VERSION, classify

__all__ = ["LEVELS", "MODEL_VERSION", "classify"]
