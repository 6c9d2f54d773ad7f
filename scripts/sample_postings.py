"""A realistic generated day of raw job postings, the local stand-in for the job boards' feed.

Demo and test data, not part of the platform: `make demo` writes a day with it before it
materializes the postings assets, tests and the benchmark generate their days with it, and

    python -m scripts.sample_postings --date 2026-07-15 --lines 200000

writes one into the configured storage (the local `data/` folder by default).

Companies and titles are drawn from Zipf distributions, as on real job boards: a few
employers and titles dominate and a long tail repeats rarely. A share of lines spell
the same pair differently (case, spacing, punctuation, accents), which normalization
must fold together.
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from assets.postings.augment import raw_prefix
from resources.object_storage import ObjectStorage

_COMPANY_STEMS = [
    "Acme",
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Soylent",
    "Cyberdyne",
    "Vandelay",
    "Wonka",
    "Blue Ridge",
    "Summit",
    "Pioneer",
    "Harbor",
    "Evergreen",
    "Silver Lake",
    "Redwood",
    "Keystone",
    "Atlas",
    "Beacon",
    "Cascade",
    "Meridian",
    "Riverside",
    "Lakeshore",
    "Granite",
    "Crescent",
    "Frontier",
    "Sterling",
    "Bluebird",
    "Ironwood",
    "Oakmont",
    "Prairie",
    "Sunrise",
    "Tidewater",
    "Société Générale",
    "Nestlé",
    "Müller",
    "Zürich",
    "Crédit Mutuel",
    "São Paulo",
]
_COMPANY_KINDS = [
    "Inc.",
    "LLC",
    "Corp",
    "Group",
    "Health",
    "Logistics",
    "Foods",
    "Bank",
    "Labs",
    "Systems",
    "Retail",
    "Energy",
    "Partners",
    "Solutions",
    "Manufacturing",
    "Hospital",
    "Insurance",
    "Motors",
    "Hotels",
    "Consulting",
]
_REGIONS = ["", "of Texas", "of Ohio", "Europe", "North America", "Pacific", "UK", "Canada"]

_ROLES = [
    "Software Engineer",
    "Data Analyst",
    "Data Engineer",
    "Registered Nurse",
    "Sales Representative",
    "Account Executive",
    "Product Manager",
    "Store Manager",
    "Warehouse Associate",
    "Accountant",
    "Financial Analyst",
    "Marketing Specialist",
    "Customer Service Representative",
    "Project Manager",
    "Mechanical Engineer",
    "Electrician",
    "Pharmacist",
    "Teacher",
    "HR Generalist",
    "Recruiter",
    "Business Analyst",
    "Graphic Designer",
    "Operations Coordinator",
    "Truck Driver",
    "Cashier",
    "Barista",
    "Line Cook",
    "Security Officer",
    "Paralegal",
    "Auditor",
    "DevOps Engineer",
    "QA Engineer",
    "Research Scientist",
    "Civil Engineer",
    "Physical Therapist",
    "Medical Assistant",
    "Loan Officer",
    "Buyer",
    "Copywriter",
    "Network Administrator",
]
_ROLE_TITLES = [
    "{r}",
    "Senior {r}",
    "Junior {r}",
    "Lead {r}",
    "Principal {r}",
    "Sr. {r}",
    "{r} Intern",
    "Associate {r}",
    "{r} II",
    "{r} III",
    "Staff {r}",
    "Entry Level {r}",
]
_LEADER_TITLES = [
    "Engineering Manager",
    "Sales Manager",
    "Director of Engineering",
    "Director of Sales",
    "Head of People",
    "Head of Data",
    "VP of Engineering",
    "VP, Sales",
    "Vice President of Operations",
    "Chief Executive Officer",
    "Chief Technology Officer",
    "CFO",
    "Co-Founder & CEO",
    "General Manager",
    "Senior Director of Marketing",
    "Managing Director",
    "President",
    "Shift Supervisor",
    "Assistant Store Manager",
    "Nurse Manager",
]
_CITIES = [
    "Austin, TX",
    "New York, NY",
    "Chicago, IL",
    "Seattle, WA",
    "Denver, CO",
    "Boston, MA",
    "Atlanta, GA",
    "Columbus, OH",
    "Toronto, ON",
    "London, UK",
    "Berlin, DE",
    "Remote",
]
_BLURBS = [
    "Join a fast-growing team. Competitive pay, health benefits, flexible hours.",
    "Support daily operations and serve our community. Training provided.",
    "A collaborative, inclusive workplace with clear growth paths and hybrid work.",
]


def company_names() -> list[str]:
    return [
        " ".join(part for part in (stem, kind, region) if part)
        for stem in _COMPANY_STEMS
        for kind in _COMPANY_KINDS
        for region in _REGIONS
    ]


def job_titles() -> list[str]:
    return [t.format(r=role) for role in _ROLES for t in _ROLE_TITLES] + _LEADER_TITLES


@dataclass
class SampleDay:
    partition_date: str
    keys: list[str]
    lines: int
    bytes: int


def _zipf_indices(rng: np.random.Generator, n: int, universe: int, exponent: float) -> np.ndarray:
    """Zipf-ranked indices into a shuffled universe, so rank 1 is not always the first name."""
    ranks = rng.zipf(exponent, n)
    ranks = np.where(ranks > universe, rng.integers(1, universe + 1, n), ranks) - 1
    return rng.permutation(universe)[ranks]


def _spelling_variants(column: str, variant: pl.Expr) -> pl.Expr:
    """Same pair, other spellings: upper case, lower case, doubled spaces, stray punctuation."""
    col = pl.col(column)
    return (
        pl.when(variant == 1)
        .then(col.str.to_uppercase())
        .when(variant == 2)
        .then(col.str.to_lowercase())
        .when(variant == 3)
        .then(pl.concat_str([pl.lit("  "), col.str.replace_all(" ", "  "), pl.lit(" ")]))
        .when(variant == 4)
        .then(pl.concat_str([col, pl.lit(",")]))
        .otherwise(col)
    )


def sample_postings(
    partition_date: str, lines: int, seed: int = 7, *, exponent: float = 1.4
) -> pl.DataFrame:
    """`lines` postings for one day as a frame, one row per line."""
    rng = np.random.default_rng(seed)
    companies, titles = company_names(), job_titles()
    second = rng.integers(0, 86_400, lines)
    salary = rng.integers(28, 260, lines) * 1000
    frame = pl.DataFrame(
        {
            "n": np.arange(lines, dtype=np.int64),
            "company": pl.Series(companies).gather(
                _zipf_indices(rng, lines, len(companies), exponent)
            ),
            "title": pl.Series(titles).gather(_zipf_indices(rng, lines, len(titles), exponent)),
            "company_variant": rng.choice(5, lines, p=[0.88, 0.03, 0.03, 0.03, 0.03]),
            "title_variant": rng.choice(5, lines, p=[0.88, 0.03, 0.03, 0.03, 0.03]),
            "location": pl.Series(_CITIES).gather(rng.integers(0, len(_CITIES), lines)),
            "second": second,
            "salary_min": salary,
            "salary_max": salary + 15_000,
            "remote": rng.random(lines) < 0.3,
            "description": pl.Series(_BLURBS).gather(rng.integers(0, len(_BLURBS), lines)),
        }
    )
    return frame.select(
        posting_id=pl.format(
            "{}-{}", pl.lit(partition_date), pl.col("n").cast(pl.String).str.zfill(8)
        ),
        company=_spelling_variants("company", pl.col("company_variant")),
        title=_spelling_variants("title", pl.col("title_variant")),
        location="location",
        posted_at=(
            pl.lit(partition_date).str.to_datetime("%Y-%m-%d")
            + pl.duration(seconds=pl.col("second"))
        ).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        salary_min="salary_min",
        salary_max="salary_max",
        remote="remote",
        description="description",
    )


def write_sample_day(
    storage: ObjectStorage,
    partition_date: str,
    lines: int = 200_000,
    files: int = 4,
    seed: int = 7,
) -> SampleDay:
    """Write a day of postings as `files` JSONL files under the raw prefix."""
    frame = sample_postings(partition_date, lines, seed)
    keys, size = [], 0
    per_file = -(-lines // files) if lines else 0
    for i in range(files):
        key = f"{raw_prefix(partition_date)}part-{i:03d}.jsonl"
        with storage.staging_file(key) as tmp:
            frame.slice(i * per_file, per_file).write_ndjson(tmp)
            size += tmp.stat().st_size
            storage.upload_file(tmp, key)
        keys.append(key)
    return SampleDay(partition_date, keys, lines, size)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="the day (YYYY-MM-DD)")
    parser.add_argument("--lines", type=int, default=200_000, help="default 200,000; full scale 8M")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from resources import build_storage

    storage = build_storage()
    sample = write_sample_day(storage, args.date, args.lines, args.files, args.seed)
    print(
        f"{sample.lines:,} postings ({sample.bytes / 1e6:.0f} MB) in {len(sample.keys)} files "
        f"under {storage.uri(raw_prefix(sample.partition_date))}"
    )


if __name__ == "__main__":
    main()
