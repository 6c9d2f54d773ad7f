"""Placeholder: the seniority cache (being written)."""

import dagster as dg


class SeniorityCache(dg.ConfigurableResource):
    redis_url: str | None = None

    @classmethod
    def from_environment(cls) -> "SeniorityCache":
        return cls()
