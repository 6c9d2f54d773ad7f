"""The reference training catalog: customers, taxonomies, modules, learners and field
performance in a local SQLite store, behind the `TrainingCatalog` gRPC API.

Run it with `python -m model_servers.training_catalog --db PATH --port 0`; the client
resource (`resources.training_catalog.TrainingCatalog`) starts it by itself when no endpoint
is configured. `seed.KNOWN_EFFECTS` is the training impact hidden in its field performance.
"""
