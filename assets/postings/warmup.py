"""Cache warm-up: precompute the seniority of the most frequent pairs of past days.

Run it after a model upgrade (new version, empty cache) or before a backfill, so that
the daily runs find their popular pairs cached.
"""

import datetime as dt
from dataclasses import dataclass

import dagster as dg
from pydantic import Field

from assets.metadata import PLATFORM_OWNERS
from assets.postings.assets import WAREHOUSE_TABLE
from assets.postings.pairs import seniority_levels
from resources.seniority_cache import SeniorityCache, SeniorityCacheClient
from resources.seniority_model import SeniorityModel
from resources.warehouse import Warehouse


class WarmupConfig(dg.Config):
    days: int = Field(default=30, description="How many past days of postings to count pairs over.")
    top_pairs: int = Field(
        default=100_000, description="How many of the most frequent pairs to warm."
    )
    as_of: str | None = Field(
        default=None, description="Last day counted (YYYY-MM-DD); default today."
    )


@dataclass
class WarmupReport:
    pairs_considered: int = 0
    already_cached: int = 0
    computed: int = 0
    model_calls: int = 0
    cache_status: str = ""


def popular_pairs_sql(as_of: dt.date, days: int, top_pairs: int) -> str:
    first = as_of - dt.timedelta(days=days - 1)
    # Plain SQL that DuckDB and Snowflake read alike; inputs are dates and integers only.
    return f"""
        select company_normalized, title_normalized, count(*) as postings
        from {WAREHOUSE_TABLE}
        where posting_date between '{first.isoformat()}' and '{as_of.isoformat()}'
          and company_normalized <> '' and title_normalized <> ''
        group by company_normalized, title_normalized
        order by postings desc, company_normalized, title_normalized
        limit {int(top_pairs)}
    """


def warm_cache(
    companies: list[str], titles: list[str], cache: SeniorityCacheClient, model
) -> WarmupReport:
    """Ask the model about the pairs the cache does not hold yet, and remember the answers."""
    found = seniority_levels(companies, titles, cache, model)
    return WarmupReport(
        pairs_considered=len(companies),
        already_cached=found.cache_hits,
        computed=found.cache_misses,
        model_calls=found.model_calls,
        cache_status=cache.status,
    )


@dg.asset(
    group_name="postings",
    deps=["augmented_job_postings"],
    kinds={"redis"},
    owners=PLATFORM_OWNERS,
    description="The seniority cache, warmed with the most frequent pairs of the last N days.",
)
def seniority_cache(
    context: dg.AssetExecutionContext,
    config: WarmupConfig,
    warehouse: Warehouse,
    seniority_cache: SeniorityCache,
    seniority_model: SeniorityModel,
) -> dg.MaterializeResult:
    as_of = dt.date.fromisoformat(config.as_of) if config.as_of else dt.date.today()
    try:
        popular = warehouse.query(popular_pairs_sql(as_of, config.days, config.top_pairs))
    except Exception as error:
        raise dg.Failure(
            description=f"cannot read posting history from {WAREHOUSE_TABLE}: {error}. "
            "Materialize augmented_job_postings for a few days first."
        ) from error
    with seniority_model.connect() as model, seniority_cache.connect() as cache:
        report = warm_cache(
            popular["company_normalized"].to_list(),
            popular["title_normalized"].to_list(),
            cache,
            model,
        )
    context.log.info(f"warm-up: {report}")
    return dg.MaterializeResult(
        metadata={
            "pairs_considered": report.pairs_considered,
            "already_cached": report.already_cached,
            "computed": report.computed,
            "model_calls": report.model_calls,
            "cache_status": report.cache_status,
            "days": config.days,
            "as_of": as_of.isoformat(),
        }
    )


seniority_cache_warmup_job = dg.define_asset_job(
    "seniority_cache_warmup",
    selection=dg.AssetSelection.assets("seniority_cache"),
    description="Precompute the most frequent (company, title) pairs of past days into the cache.",
)
