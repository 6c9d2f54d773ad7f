"""What the gRPC servers and their clients must agree on, defined once for both sides.

Hand-written, next to the generated stubs it reads its names from; `make protos` leaves it
alone.
"""

from __future__ import annotations

from protos import seniority_pb2, tagging_pb2, training_catalog_pb2

# Room for the biggest batch: 10,000 pairs of long strings stays far below 64 MiB. Servers
# and clients set the same send and receive limits, so neither refuses what the other sends.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# From the generated descriptor, so a renamed package or service cannot drift from it.
SENIORITY_SERVICE_NAME: str = seniority_pb2.DESCRIPTOR.services_by_name["SeniorityModel"].full_name
TAGGING_SERVICE_NAME: str = tagging_pb2.DESCRIPTOR.services_by_name["TaggingModel"].full_name
TRAINING_CATALOG_SERVICE_NAME: str = training_catalog_pb2.DESCRIPTOR.services_by_name[
    "TrainingCatalog"
].full_name

# Customer tiers, lowest first (training_catalog.proto's Customer.tier).
CUSTOMER_TIERS: tuple[str, ...] = ("basic", "pro", "enterprise")
# Bounds every tag suggestion must respect (the tagging checks enforce them).
MAX_TAGS_PER_MODULE = 5

# The levels InferSeniorityResponse.levels may hold (seniority.proto), with their names.
SENIORITY_LEVELS: dict[int, str] = {
    1: "Entry",
    2: "Junior",
    3: "Associate",
    4: "Manager",
    5: "Director",
    6: "Executive",
    7: "Senior Executive",
}
MIN_LEVEL = min(SENIORITY_LEVELS)
MAX_LEVEL = max(SENIORITY_LEVELS)
