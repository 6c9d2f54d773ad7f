"""The customers of the training family as Dagster's dynamic partitions.

The set is the catalog's (`ListCustomers`): `training_customers_sensor` adds and removes
partitions as customers come and go, and materializing `training_customers` does the same
(so the UI works without the daemon). A run's partition key is a customer id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg

CUSTOMERS_PARTITIONS = "customers"
customers = dg.DynamicPartitionsDefinition(name=CUSTOMERS_PARTITIONS)

# A customer id names folders in object storage and a value in SQL: a slug, nothing else.
_CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_customer_id(customer_id: str) -> str:
    if not isinstance(customer_id, str) or not _CUSTOMER_ID.fullmatch(customer_id):
        raise ValueError(
            f"customer id {customer_id!r} is not a slug (letters, digits, '.', '_', '-')"
        )
    return customer_id


def customer_of(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> str:
    """The run's customer, refused in one line if the partition key cannot be one."""
    try:
        return check_customer_id(context.partition_key)
    except ValueError as error:
        raise dg.Failure(description=f"partition {error}") from None


@dataclass(frozen=True)
class PartitionChanges:
    """Customers to add to and remove from the partitions, each sorted; `refused`: catalog
    customer ids that cannot be a partition key (id -> why), kept out and named."""

    added: list[str]
    removed: list[str]
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed)

    def requests(self) -> list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest]:
        """As a sensor returns them."""
        found: list = []
        if self.added:
            found.append(customers.build_add_request(self.added))
        if self.removed:
            found.append(customers.build_delete_request(self.removed))
        return found

    def apply(self, instance: dg.DagsterInstance) -> None:
        """Straight on the instance (an asset, the demo)."""
        if self.added:
            instance.add_dynamic_partitions(CUSTOMERS_PARTITIONS, self.added)
        for customer_id in self.removed:
            instance.delete_dynamic_partition(CUSTOMERS_PARTITIONS, customer_id)


def partition_changes(current: Iterable[str], in_catalog: Iterable[str]) -> PartitionChanges:
    """What makes the partitions equal to the catalog's customers. An id that cannot be a
    partition (nor a storage folder) is refused on its own: one odd customer in the catalog
    must not keep every new customer out."""
    catalog, refused = set(), {}
    for customer_id in in_catalog:
        if isinstance(customer_id, str) and _CUSTOMER_ID.fullmatch(customer_id):
            catalog.add(customer_id)
        else:
            refused[customer_id] = "not a slug (letters, digits, '.', '_', '-')"
    held = set(current)
    return PartitionChanges(sorted(catalog - held), sorted(held - catalog), refused)
