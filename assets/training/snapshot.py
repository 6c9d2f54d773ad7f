"""The customer's catalog as `training_modules` last loaded it: modules and taxonomy, kept in
object storage so the later steps (suggestions, review, approval) read the same snapshot."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import polars as pl

from assets.training.layout import modules_key, taxonomy_key
from resources.object_storage import ObjectStorage
from resources.training_catalog import MODULE_SCHEMA, Tag, Taxonomy


class SnapshotMissing(FileNotFoundError):
    """No snapshot of the customer's catalog yet: `training_modules` has not run for them."""


@dataclass(frozen=True)
class CatalogSnapshot:
    taxonomy: Taxonomy
    modules: pl.DataFrame  # resources.training_catalog.MODULE_SCHEMA

    @property
    def customer_id(self) -> str:
        return self.taxonomy.customer_id


def frame_bytes(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_parquet(out)
    return out.getvalue()


def taxonomy_document(taxonomy: Taxonomy) -> bytes:
    return json.dumps(
        {
            "customer_id": taxonomy.customer_id,
            "version": taxonomy.version,
            "tags": [
                {
                    "tag_id": tag.tag_id,
                    "label": tag.label,
                    "description": tag.description,
                    "aliases": list(tag.aliases),
                }
                for tag in taxonomy.tags
            ],
        },
        indent=1,
        ensure_ascii=False,
    ).encode()


def write_catalog_snapshot(
    storage: ObjectStorage, taxonomy: Taxonomy, modules: pl.DataFrame
) -> None:
    """Modules first: a reader that finds the taxonomy finds modules at least as new."""
    customer_id = taxonomy.customer_id
    storage.write_bytes(modules_key(customer_id), frame_bytes(modules.select(list(MODULE_SCHEMA))))
    storage.write_bytes(taxonomy_key(customer_id), taxonomy_document(taxonomy))


def read_taxonomy(storage: ObjectStorage, customer_id: str) -> Taxonomy:
    key = taxonomy_key(customer_id)
    if not storage.exists(key):
        raise SnapshotMissing(
            f"no catalog snapshot of {customer_id} at {storage.uri(key)}: materialize "
            f"training_modules for {customer_id} first"
        )
    document = json.loads(storage.read_bytes(key))
    tags = tuple(
        Tag(t["tag_id"], t["label"], t["description"], tuple(t["aliases"]))
        for t in document["tags"]
    )
    return Taxonomy(document["customer_id"], document["version"], tags)


def read_catalog_snapshot(storage: ObjectStorage, customer_id: str) -> CatalogSnapshot:
    taxonomy = read_taxonomy(storage, customer_id)
    modules = pl.read_parquet(io.BytesIO(storage.read_bytes(modules_key(customer_id))))
    return CatalogSnapshot(taxonomy, modules.cast(MODULE_SCHEMA))  # type: ignore[arg-type]
