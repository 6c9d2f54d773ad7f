"""The postings assets as the catalog and the UI see them: the quarantine is an asset of its
own, and every asset with rows says where they are in its definition metadata."""

from tests.helpers import POSTINGS_DAY, materialization_metadata, materialize_postings

DAY = POSTINGS_DAY


def test_the_quarantine_is_an_asset_and_every_asset_says_where_its_rows_are(resources, storage):
    storage.write_bytes(
        f"job-postings-raw/{DAY}/part-000.jsonl",
        b'{"company": "Acme", "title": "Data Engineer"}\n{"title": "no company"}\n',
    )
    result = materialize_postings(resources)

    quarantine = materialization_metadata(result, "job_postings_quarantine")
    assert quarantine["lines_quarantined"] == 1
    assert str(quarantine["location"]).endswith(f"job-postings-mod/{DAY}/_quarantine.jsonl")

    from assets.postings.definitions import defs

    specs = {
        key.to_user_string(): spec
        for assets_def in defs.assets
        for key, spec in assets_def.specs_by_key.items()
    }
    assert {k: specs[k].group_name for k in specs} == {
        "raw_job_postings": "postings",
        "augmented_job_postings": "postings",
        "job_postings_quarantine": "postings",
        "seniority_cache": "postings",
    }
    metadata = {key: dict(spec.metadata) for key, spec in specs.items()}
    declared = {
        key: [c.name for c in metadata[key].pop("dagster/column_schema").columns]
        for key in ("raw_job_postings", "augmented_job_postings", "job_postings_quarantine")
    }
    assert declared == {
        "raw_job_postings": ["company", "title", "posting_id", "location", "posted_at"],
        "augmented_job_postings": [
            "posting_date",
            "source_key",
            "line_number",
            "posting_id",
            "company",
            "title",
            "company_normalized",
            "title_normalized",
            "location",
            "posted_at",
            "seniority",
        ],
        "job_postings_quarantine": ["source_key", "line_number", "reason", "line", "line_base64"],
    }
    assert metadata["raw_job_postings"] == {
        "fieldwork/storage_prefix": "job-postings-raw/{partition}/",
        "fieldwork/storage_format": "jsonl",
        "fieldwork/partition_column": "posting_date",
    }
    assert metadata["augmented_job_postings"] == {
        "dagster/table_name": "raw.job_postings",
        "fieldwork/partition_column": "posting_date",
        "fieldwork/storage_prefix": "job-postings-mod/{partition}/",
        "fieldwork/storage_format": "jsonl",
        "fieldwork/storage_glob": "[!_]*",
    }
    assert metadata["job_postings_quarantine"] == {
        "fieldwork/storage_prefix": "job-postings-mod/{partition}/_quarantine.jsonl",
        "fieldwork/storage_format": "jsonl",
        "fieldwork/partition_column": "posting_date",
    }
    for name in ("raw_job_postings", "augmented_job_postings", "job_postings_quarantine"):
        assert specs[name].description and "\n" not in specs[name].description
        assert specs[name].kinds
    [augmented] = [a for a in defs.assets if "augmented_job_postings" in a.keys_by_output_name]
    assert {(k.asset_key.to_user_string(), k.name) for k in augmented.check_keys} == {
        ("augmented_job_postings", "every_posting_has_a_level"),
        ("augmented_job_postings", "lines_reconcile"),
        ("augmented_job_postings", "model_calls_are_minimal"),
    }
