"""Placeholder until the dbt project is wired in."""


def build_dbt_resource():
    return None
