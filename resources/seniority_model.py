"""Placeholder: the seniority model client (being written)."""

import dagster as dg


class SeniorityModel(dg.ConfigurableResource):
    endpoint: str | None = None

    @classmethod
    def from_environment(cls) -> "SeniorityModel":
        return cls()
