"""`training_replay`: re-send one customer's dead letters, apply first, then suggest.

Apply letters go to the catalog with their own idempotency keys (a tag is never applied
twice); suggest letters go to the tagging model once more, and their valid answers to the
suggestion cache, where the next tag_suggestions run finds them. A letter that fails again
stays dead with its new reason; with no dead letters, a replay sends and writes nothing.
"""

import dagster as dg
from pydantic import Field

from assets.training.apply import replay_applications
from assets.training.partitions import customer_of, customers
from assets.training.requests import KINDS, RequestLog
from assets.training.review import read_published_approval
from assets.training.snapshot import SnapshotMissing, read_catalog_snapshot
from assets.training.tagging import (
    MIN_APPROVALS_TO_SEND,
    SuggestJob,
    approvals_to_send,
    model_version_for,
    replay_suggestions,
)
from resources.object_storage import ObjectStorage
from resources.suggestion_cache import SuggestionCache
from resources.tagging_model import TaggingModel
from resources.training_catalog import TrainingCatalog


class ReplayConfig(dg.Config):
    kinds: list[str] = Field(
        default=list(KINDS), description="Which dead letters to replay: apply, suggest or both."
    )
    min_approvals_to_send: int = Field(
        default=MIN_APPROVALS_TO_SEND,
        description="As tag_suggestions' setting: the model a suggest letter was asked of.",
    )


@dg.op(
    description=(
        "Re-sends the customer's dead letters (apply, then suggest) and reports what was "
        "replayed, what is still dead, and what a newer approval or text superseded."
    )
)
def replay_training_dead_letters(
    context: dg.OpExecutionContext,
    config: ReplayConfig,
    storage: ObjectStorage,
    training_catalog: TrainingCatalog,
    tagging_model: TaggingModel,
    suggestion_cache: SuggestionCache,
) -> dg.Output[None]:
    unknown = sorted(set(config.kinds) - set(KINDS))
    if unknown:
        raise dg.Failure(description=f"kinds {unknown} are not among {list(KINDS)}")
    customer_id = customer_of(context)
    log = RequestLog(storage)
    approval = read_published_approval(storage, customer_id)
    figures: dict[str, object] = {}
    if "apply" in config.kinds and log.dead_letters.list(customer_id, "apply"):
        with training_catalog.connect() as catalog:
            applied = replay_applications(customer_id, approval, catalog, log)
        figures |= {
            "apply_replayed": len(applied.replayed),
            "apply_still_dead": len(applied.still_dead),
            "apply_superseded": len(applied.superseded),
            "apply_cleared": len(applied.cleared),
        }
    if "suggest" in config.kinds and log.dead_letters.list(customer_id, "suggest"):
        try:
            snapshot = read_catalog_snapshot(storage, customer_id)
        except SnapshotMissing as error:
            raise dg.Failure(description=str(error)) from error
        approvals = approvals_to_send(approval, snapshot.modules, config.min_approvals_to_send)
        with tagging_model.connect() as tagger, suggestion_cache.connect() as cache:
            job = SuggestJob(
                customer_id=customer_id,
                taxonomy=snapshot.taxonomy,
                modules=snapshot.modules.select(
                    "module_id", "content_hash", "title", "description"
                ),
                model_version=model_version_for(tagger.describe().model_version, approvals),
                approvals=tuple(approvals),
                max_tags_per_module=tagging_model.max_tags_per_module,
            )
            suggested = replay_suggestions(job, tagger, cache, log, storage)
            figures["cache_status"] = cache.status
        figures |= {
            "suggest_replayed": len(suggested.replayed),
            "suggest_still_dead": len(suggested.still_dead),
            "suggest_superseded": len(suggested.superseded),
            "suggest_cleared": len(suggested.cleared),
            "suggestions_valid": suggested.modules_valid,
        }
    left = len(log.dead_letters.list(customer_id))
    figures["dead_letters_left"] = left
    context.log.info(f"{customer_id} replay: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    if left:
        context.log.warning(
            f"{left} dead letter(s) of {customer_id} failed again; their reasons are in "
            f"{storage.uri('training-dead-letters/' + customer_id + '/')}"
        )
    return dg.Output(None, metadata=figures)


@dg.job(
    name="training_replay",
    partitions_def=customers,
    description=(
        "Replays one customer's dead letters: failed tag applications to the catalog, failed "
        "suggestion requests to the model. A second replay changes nothing."
    ),
)
def training_replay() -> None:
    replay_training_dead_letters()
