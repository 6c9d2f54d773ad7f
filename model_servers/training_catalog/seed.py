"""The reference catalog's seed: customers, modules, learners and field performance, made
deterministically (fixed random seed) from `taxonomies.json` and `vocabulary.py`.

Modules. 2,000-3,000 per customer, each with 1-3 true tags and a title and description
written from those tags' vocabulary in one of five styles: `plain` (most), `alias` (the
first tag is named only through one of its aliases), `short` (a title of 1-3 words, one tag),
`foreign` (German, French or Spanish) and `mixed` (a foreign title and an English text, or
the reverse). They start untagged in the catalog, except `TAGGED_SHARE` already carrying their
true tags. The true tags go to `seed_truth` and the style to `seed_styles`, which the server
never serves.

Field performance. One metric per customer (`METRICS`), monthly over `MONTHS`, per learner:
a baseline (the learner's level and the region's), a month shock shared by the customer's
learners, noise, and the KNOWN EFFECT: for each tag t, `KNOWN_EFFECTS[customer][t]` is added
in every month that starts after the learner's first completion of a module whose TRUE tags
include t (once per tag, not per module). Completions fall in 2026-01..2026-10, so most
learners have months before and after; about one learner in eight completes nothing.
An impact analysis that regresses the metric on "has completed tag t" with learner and
month fixed effects should recover `KNOWN_EFFECTS`, if its tags are the true ones.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from model_servers.training_catalog.store import (
    CatalogStore,
    TagRecord,
    content_hash,
    rfc3339,
    taxonomy_version,
)
from model_servers.training_catalog.vocabulary import (
    CONTEXT,
    FOREIGN_LABELS,
    WORDS,
    CustomerContext,
    TagWords,
)

SEED = 20260901
SEED_VERSION = "1"
TAXONOMIES_PATH = Path(__file__).with_name("taxonomies.json")

MODULES_PER_CUSTOMER = (2_000, 3_000)
TAGGED_SHARE = 0.04  # modules a customer had tagged by hand before the tagger existed
STYLE_WEIGHTS = {"plain": 0.68, "alias": 0.08, "short": 0.08, "foreign": 0.07, "mixed": 0.09}
LEARNERS_PER_CUSTOMER = (250, 400)
NO_TRAINING_SHARE = 0.12  # learners who complete nothing: the untrained comparison group
COMPLETIONS_FIRST_DAY = dt.date(2026, 1, 1)
COMPLETIONS_LAST_DAY = dt.date(2026, 10, 31)
MONTHS: tuple[dt.date, ...] = tuple(dt.date(2026, month, 1) for month in range(1, 13))

# The one field-performance metric of each customer, its learners' mean and spread, bounds.
METRICS: dict[str, str] = {
    "acme-pharma": "quota_attainment",
    "northwind-software": "win_rate",
    "globex-insurance": "quota_attainment",
    "initech-retail": "csat",
}
METRIC_LEVELS: dict[str, tuple[float, float]] = {
    "quota_attainment": (92.0, 12.0),  # percent of quota
    "win_rate": (24.0, 5.0),  # percent of opportunities won
    "csat": (78.0, 6.0),  # store customer-satisfaction score, 0-100
}
METRIC_BOUNDS: dict[str, tuple[float, float]] = {
    "quota_attainment": (0.0, 300.0),
    "win_rate": (0.0, 100.0),
    "csat": (0.0, 100.0),
}
MONTHLY_NOISE_SD = 3.0
MONTH_SHOCK_SD = 1.0

# Points added to the customer's metric after a learner completes a module carrying the tag
# (module docstring). Some positive, some zero, one negative per customer.
KNOWN_EFFECTS: dict[str, dict[str, float]] = {
    "acme-pharma": {
        "communication": 3.0,
        "product-knowledge": 5.0,
        "negotiation": 4.0,
        "compliance": 0.0,
        "adverse-event-reporting": 0.0,
        "clinical-data": 2.5,
        "objection-handling": 4.5,
        "account-planning": 3.0,
        "leadership": 0.0,
        "data-privacy": 0.0,
        "digital-engagement": -2.5,
        "onboarding": 0.0,
    },
    "northwind-software": {
        "discovery": 4.0,
        "demo-skills": 3.0,
        "product-knowledge": 2.0,
        "negotiation": 2.5,
        "communication": 1.0,
        "prospecting": 0.0,
        "customer-success": 0.0,
        "security-compliance": 1.5,
        "forecasting": -2.0,
        "leadership": 0.0,
        "onboarding": 0.0,
    },
    "globex-insurance": {
        "product-knowledge": 4.0,
        "compliance": 0.0,
        "communication": 3.0,
        "claims-handling": 0.0,
        "underwriting-basics": 1.5,
        "objection-handling": 5.0,
        "cross-selling": 6.0,
        "onboarding": 0.0,
        "data-privacy": -1.5,
    },
    "initech-retail": {
        "customer-service": 4.0,
        "product-knowledge": 2.0,
        "visual-merchandising": 0.0,
        "loss-prevention": 0.0,
        "health-safety": 0.0,
        "communication": 2.5,
        "leadership": 1.0,
        "upselling": -2.0,
        "inventory": 0.0,
        "onboarding": 1.5,
    },
}

REGIONS: dict[str, tuple[str, ...]] = {
    "acme-pharma": ("DACH", "France", "UK & Ireland", "Nordics", "Iberia", "Benelux"),
    "northwind-software": ("NA East", "NA West", "EMEA", "APAC"),
    "globex-insurance": ("North", "South", "East", "West", "Central"),
    "initech-retail": ("London", "Midlands", "North West", "Scotland", "South East", "Wales"),
}
ROLES: dict[str, tuple[tuple[str, int], ...]] = {  # (role, weight)
    "acme-pharma": (
        ("Medical Sales Representative", 6),
        ("Key Account Manager", 3),
        ("Hospital Specialist", 2),
        ("Regional Sales Manager", 1),
    ),
    "northwind-software": (
        ("SDR", 4),
        ("Account Executive", 5),
        ("Solution Engineer", 2),
        ("Customer Success Manager", 2),
        ("Sales Manager", 1),
    ),
    "globex-insurance": (
        ("Agent", 6),
        ("Senior Agent", 3),
        ("Branch Adviser", 3),
        ("Claims Adviser", 2),
        ("Branch Manager", 1),
    ),
    "initech-retail": (
        ("Store Associate", 8),
        ("Stockroom Associate", 3),
        ("Shift Lead", 2),
        ("Store Manager", 1),
    ),
}

# --- text templates -----------------------------------------------------------------------
# Fields: {t} {t2} {t3} topics of the first tag, {u} a topic of another tag, {a} {a2} actions,
# {label} the tag's label, {alias}, {audience}, {product}, {programme}, {setting}, {format},
# {method}, {year}, {n}, {k}, {minutes}. {T}/{U}/{Label}/{Alias}/{Audience}: capitalised.

TITLES_ONE = (
    "{T}",
    "{T}: {t2}",
    "Introduction to {t}",
    "{T} essentials",
    "Advanced {t}",
    "Mastering {t}",
    "{T} in practice",
    "{T} for {audience}",
    "Workshop: {t}",
    "Quick guide to {t}",
    "{T} refresher ({year})",
    "{programme} {n}: {t}",
    "How to {a}",
    "{T}, part {k}",
    "Case study: {t} in {setting}",
    "{Label}: {t}",
    "Lesson {n} - {t}",
    "Getting {t} right",
    "{T} (live session)",
    "{label} | {t}",
)
TITLES_MORE = (
    "{T} and {u}",
    "From {t} to {u}",
    "{T}, {u} and more",
    "{Label}: {t} and {u}",
    "{programme}: {t} with {u}",
    "{T} meets {u}",
)
TITLES_ALIAS = (
    "{Alias} in practice",
    "{Alias} 101",
    "{Alias}: a refresher",
    "All about {alias}",
    "{Alias} for {audience}",
    "{programme} {n}: {alias}",
    "{Alias} - the essentials",
)
SENTENCES = (
    "This module covers {t} and {t2}.",
    "Learn how to {a}.",
    "You will practise how to {a} and {a2}.",
    "We look at {t}, {t2} and {t3}.",
    "A {format} for {audience} on {t}.",
    "{Audience} practise how to {a} through {method}.",
    "By the end you will be able to {a}.",
    "Focus: {t}.",
    "{T}: why it matters, with examples from {setting}.",
    "Topics include {t} and {t2}.",
    "How do you {a}? This {format} walks through {t} step by step.",
    "Includes a section on {t}.",
    "Built around {setting}: {t}, then {t2}.",
)
ALIAS_SENTENCES = (
    "A {format} about {alias} for {audience}.",
    "Everything {audience} need to know about {alias}.",
    "A practical look at {alias}, with examples from {setting}.",
)
FILLER = (
    "Includes a short quiz at the end.",
    "Estimated time: {minutes} minutes.",
    "Available on mobile and desktop.",
    "Part of the {programme} curriculum.",
    "Recommended for {audience}.",
    "Updated for {year}.",
    "Counts towards your annual learning hours.",
    "With downloadable job aids.",
    "Facilitated by a senior trainer.",
    "Complete the pre-work before the live session.",
    "Certificate on completion.",
    "Contains video, reading and a knowledge check.",
)
FORMATS = (
    "20-minute e-learning",
    "half-day workshop",
    "video series",
    "micro-lesson",
    "live webinar",
    "self-paced course",
    "classroom session",
    "podcast episode",
)
METHODS = (
    "role-play",
    "short videos",
    "case studies",
    "quizzes",
    "peer practice",
    "a simulation",
    "worked examples",
)
FOREIGN_TITLES = {
    "de": ("Grundlagen: {L}", "{L} kompakt", "{L} für Fortgeschrittene", "Workshop {L}",
           "{L} – Auffrischung {year}", "{L}"),
    "fr": ("{L} : les fondamentaux", "Formation {L}", "Atelier : {L}", "{L} – niveau avancé",
           "Les bases : {L}", "{L}"),
    "es": ("Curso: {L}", "{L}: fundamentos", "Taller: {L}", "{L} avanzado",
           "Introducción: {L}", "{L}"),
}  # fmt: skip
FOREIGN_SENTENCES = {
    "de": ("Dieses Modul behandelt das Thema {L}.", "Praxisorientierte Schulung zum Thema {L}."),
    "fr": ("Ce module traite du thème « {L} ».", "Formation pratique sur le thème « {L} »."),
    "es": ("Este módulo trata sobre {L}.", "Formación práctica sobre {L}."),
}
FOREIGN_FILLER = {
    "de": ("Mit Übungen und einem kurzen Test am Ende.", "Dauer: {minutes} Minuten."),
    "fr": ("Avec des exercices et un court quiz à la fin.", "Durée : {minutes} minutes."),
    "es": ("Incluye ejercicios y un breve cuestionario.", "Duración: {minutes} minutos."),
}
FOREIGN_AND = {"de": "und", "fr": "et", "es": "y"}
LANGUAGE_MARKS = {"de": "(DE)", "fr": "(version française)", "es": "(ES)"}
ACRONYMS = {
    "bant": "BANT",
    "meddic": "MEDDIC",
    "soc 2": "SOC 2",
    "gdpr": "GDPR",
    "hipaa": "HIPAA",
    "fnol": "FNOL",
    "aml": "AML",
    "crm": "CRM",
}


@dataclass
class CustomerSeed:
    """Everything the seed writes for one customer, as rows for the store's tables."""

    customer: tuple
    tags: list[tuple] = field(default_factory=list)
    modules: list[tuple] = field(default_factory=list)
    module_tags: list[tuple] = field(default_factory=list)
    truth: list[tuple] = field(default_factory=list)
    styles: list[tuple] = field(default_factory=list)
    learners: list[tuple] = field(default_factory=list)
    completions: list[tuple] = field(default_factory=list)
    performance: list[tuple] = field(default_factory=list)


def load_taxonomies(path: Path = TAXONOMIES_PATH) -> list[dict]:
    """The reference customers with their tags, as taxonomies.json lists them."""
    return json.loads(path.read_text(encoding="utf-8"))["customers"]


def ensure_seeded(store: CatalogStore, taxonomies: list[dict] | None = None) -> bool:
    """Seed the store if it holds no customer; True when this call seeded it.

    One write transaction: a second process opening the same new file waits for it
    (busy_timeout), then finds the customers and seeds nothing.
    """
    with store.transaction() as conn:
        if conn.execute("select count(*) from customers").fetchone()[0]:
            return False
        for seed in generate(taxonomies or load_taxonomies()):
            _write(conn, seed)
        conn.execute(
            "insert or replace into store_meta values ('seed_version', ?)", (SEED_VERSION,)
        )
    return True


def generate(taxonomies: list[dict]) -> list[CustomerSeed]:
    """Every customer's rows; the same taxonomies always give the same rows."""
    return [
        _customer_seed(customer, random.Random(f"{SEED}:{customer['customer_id']}"))
        for customer in taxonomies
    ]


def _customer_seed(customer: dict, rng: random.Random) -> CustomerSeed:
    customer_id = customer["customer_id"]
    tags = [
        TagRecord(t["tag_id"], t["label"], t["description"], tuple(t["aliases"]))
        for t in customer["tags"]
    ]
    _require_words(customer_id, [tag.tag_id for tag in tags])
    seed = CustomerSeed(
        customer=(
            customer_id,
            customer["name"],
            customer["tier"],
            json.dumps(customer["feature_flags"]),
            taxonomy_version(tags),
        )
    )
    seed.tags = [
        (customer_id, tag.tag_id, i, tag.label, tag.description, json.dumps(list(tag.aliases)))
        for i, tag in enumerate(tags)
    ]
    truth = _modules(seed, customer_id, tags, rng)
    _learners_and_performance(seed, customer_id, truth, rng)
    return seed


def _require_words(customer_id: str, tag_ids: list[str]) -> None:
    """Every tag needs words to be written about and a known effect: say which is missing."""
    for tag_id in tag_ids:
        if tag_id not in WORDS.get(customer_id, {}):
            raise ValueError(f"vocabulary.WORDS has no words for tag {tag_id!r} of {customer_id!r}")
        if tag_id not in KNOWN_EFFECTS.get(customer_id, {}):
            raise ValueError(
                f"seed.KNOWN_EFFECTS has no effect for tag {tag_id!r} of {customer_id!r}"
            )
        if tag_id not in FOREIGN_LABELS:
            raise ValueError(f"vocabulary.FOREIGN_LABELS has no names for tag {tag_id!r}")
    if customer_id not in METRICS or customer_id not in REGIONS or customer_id not in ROLES:
        raise ValueError(f"seed.METRICS, REGIONS and ROLES need an entry for {customer_id!r}")


# --- modules ------------------------------------------------------------------------------


def _modules(
    seed: CustomerSeed, customer_id: str, tags: list[TagRecord], rng: random.Random
) -> dict[str, tuple[str, ...]]:
    """Write the customer's modules into `seed`; returns each module's true tags."""
    by_id = {tag.tag_id: tag for tag in tags}
    # Some tags are a bigger part of a catalogue than others.
    weights = list(itertools.accumulate(rng.uniform(0.5, 1.5) for _ in tags))
    styles, style_weights = zip(*STYLE_WEIGHTS.items(), strict=True)
    first_stamp = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    span_seconds = int((dt.datetime(2026, 7, 1, tzinfo=dt.UTC) - first_stamp).total_seconds())
    truth: dict[str, tuple[str, ...]] = {}
    for n in range(1, rng.randint(*MODULES_PER_CUSTOMER) + 1):
        module_id = f"{customer_id}-m{n:05d}"
        style = rng.choices(styles, style_weights)[0]
        count = _tag_count(style, rng)
        chosen: list[str] = []
        while len(chosen) < count:
            tag_id = rng.choices(tags, cum_weights=weights)[0].tag_id
            if tag_id not in chosen:
                chosen.append(tag_id)
        writer = _Writer(customer_id, [by_id[t] for t in chosen], rng)
        title, description = writer.text(style)
        stamp = rfc3339(first_stamp + dt.timedelta(seconds=rng.randrange(span_seconds)))
        seed.modules.append(
            (module_id, customer_id, title, description, content_hash(title, description), stamp)
        )
        true_tags = tuple(sorted(chosen))
        truth[module_id] = true_tags
        seed.truth.extend((customer_id, module_id, tag_id) for tag_id in true_tags)
        seed.styles.append((module_id, style))
        if rng.random() < TAGGED_SHARE:
            seed.module_tags.extend((module_id, tag_id) for tag_id in true_tags)
    return truth


def _tag_count(style: str, rng: random.Random) -> int:
    if style == "short":
        return 1
    if style == "foreign":
        return rng.choices((1, 2), (0.75, 0.25))[0]
    return rng.choices((1, 2, 3), (0.55, 0.35, 0.10))[0]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Fields(dict):
    """A template's fields, each drawn from the rng only when a template first asks for it
    (most templates use three or four of the twenty)."""

    def __init__(
        self,
        rng: random.Random,
        words: dict[str, TagWords],
        context: CustomerContext,
        tag: TagRecord,
        other: TagRecord | None,
    ) -> None:
        super().__init__()
        self.rng, self.words, self.context, self.tag, self.other = rng, words, context, tag, other

    def __missing__(self, key: str) -> str:
        rng, words = self.rng, self.words[self.tag.tag_id]
        if key in ("t", "t2", "t3", "T"):
            topics = rng.sample(words.topics, min(3, len(words.topics)))
            topics += [topics[-1]] * (3 - len(topics))
            self.update(t=topics[0], t2=topics[1], t3=topics[2], T=_cap(topics[0]))
        elif key in ("a", "a2"):
            actions = rng.sample(words.actions, min(2, len(words.actions)))
            self.update(a=actions[0], a2=actions[-1])
        elif key in ("u", "U"):
            topic = rng.choice(self.words[self.other.tag_id].topics) if self.other else ""
            self.update(u=topic, U=_cap(topic))
        elif key in ("alias", "Alias"):
            alias = rng.choice(self.tag.aliases) if self.tag.aliases else ""
            alias = ACRONYMS.get(alias, alias)
            self.update(alias=alias, Alias=_cap(alias))
        elif key in ("audience", "Audience"):
            audience = rng.choice(self.context.audiences)
            self.update(audience=audience, Audience=_cap(audience))
        else:
            self[key] = self._simple(key)
        return self[key]

    def _simple(self, key: str) -> str:
        rng, context = self.rng, self.context
        match key:
            case "label":
                return self.tag.label.lower()
            case "Label":
                return self.tag.label
            case "product":
                return rng.choice(context.products)
            case "programme":
                return rng.choice(context.programmes)
            case "setting":
                return rng.choice(context.settings)
            case "format":
                return rng.choice(FORMATS)
            case "method":
                return rng.choice(METHODS)
            case "year":
                return str(rng.choice((2024, 2025, 2026)))
            case "n":
                return str(rng.randint(1, 12))
            case "k":
                return str(rng.randint(1, 4))
            case "minutes":
                return str(rng.choice((10, 15, 20, 25, 30, 45, 60, 90)))
        raise KeyError(f"no template field {key!r}")


class _Writer:
    """Writes one module's title and description about its true tags (first tag leads)."""

    def __init__(self, customer_id: str, tags: list[TagRecord], rng: random.Random) -> None:
        self.customer_id = customer_id
        self.tags = tags
        self.rng = rng
        self.context = CONTEXT[customer_id]

    def text(self, style: str) -> tuple[str, str]:
        if style == "alias":
            return self._alias()
        if style == "short":
            return self._short()
        if style == "foreign":
            language = self.rng.choice(sorted(FOREIGN_TITLES))
            return self._foreign_title(language), self._foreign_description(language)
        if style == "mixed":
            language = self.rng.choice(sorted(FOREIGN_TITLES))
            if self.rng.random() < 0.5:
                return self._foreign_title(language), self._description(self.tags)
            title = f"{self._title()} {LANGUAGE_MARKS[language]}"
            return title, self._foreign_description(language)
        return self._title(), self._description(self.tags)

    # fields -----------------------------------------------------------------------------

    def _fields(self, tag: TagRecord, other: TagRecord | None = None) -> _Fields:
        return _Fields(self.rng, WORDS[self.customer_id], self.context, tag, other)

    def _filler(self, fields: _Fields) -> list[str]:
        count = self.rng.choices((0, 1, 2), (0.3, 0.45, 0.25))[0]
        return [s.format_map(fields) for s in self.rng.sample(FILLER, count)]

    # English ----------------------------------------------------------------------------

    def _title(self) -> str:
        lead = self.tags[0]
        other = self.tags[1] if len(self.tags) > 1 else None
        fields = self._fields(lead, other)
        if other is not None and self.rng.random() < 0.6:
            return self.rng.choice(TITLES_MORE).format_map(fields)
        return self.rng.choice(TITLES_ONE).format_map(fields)

    def _description(self, tags: list[TagRecord]) -> str:
        """Sentences about every tag (or a bullet list of topics), plus neutral filler."""
        rng = self.rng
        fields = [self._fields(tag) for tag in tags]
        if rng.random() < 0.12:
            bullets = [f"- {f[key]}" for f in fields for key in ("t", "t2")[: rng.randint(1, 2)]]
            intro = rng.choice(("Topics:", "In this module:", "What you will cover:"))
            return "\n".join([intro, *bullets, *self._filler(fields[0])])
        sentences: list[str] = []
        for f in fields:
            for template in rng.sample(SENTENCES, rng.choice((1, 1, 2))):
                sentences.append(template.format_map(f))
        rng.shuffle(sentences)
        return " ".join(sentences + self._filler(fields[0]))

    def _alias(self) -> tuple[str, str]:
        """The lead tag only through an alias; any other tags in plain words."""
        lead_fields = self._fields(self.tags[0])
        title = self.rng.choice(TITLES_ALIAS).format_map(lead_fields)
        lead = self.rng.choice(ALIAS_SENTENCES).format_map(lead_fields)
        rest = self._description(self.tags[1:]) if len(self.tags) > 1 else ""
        filler = self._filler(lead_fields)
        return title, " ".join(filter(None, [lead, rest, *filler]))

    def _short(self) -> tuple[str, str]:
        tag = self.tags[0]
        fields = self._fields(tag)
        short_topics = [
            t for t in WORDS[self.customer_id][tag.tag_id].topics if len(t.split()) <= 3
        ]
        options = [tag.label, f"{tag.label} 101"]
        if not tag.label.endswith("basics"):
            options.append(f"{tag.label} basics")
        options += [_cap(t) for t in short_topics]
        if fields["alias"]:
            options.append(fields["Alias"])
        title = self.rng.choice(options)
        kind = self.rng.random()
        if kind < 0.3:
            return title, ""  # authors leave descriptions empty more often than one thinks
        if kind < 0.7:
            return title, self.rng.choice(SENTENCES).format_map(fields)
        return title, self.rng.choice(FILLER).format_map(fields)

    # German, French, Spanish --------------------------------------------------------------

    def _foreign_label(self, language: str) -> str:
        labels = [FOREIGN_LABELS[tag.tag_id][language] for tag in self.tags]
        return f" {FOREIGN_AND[language]} ".join(labels)

    def _foreign_title(self, language: str) -> str:
        template = self.rng.choice(FOREIGN_TITLES[language])
        return template.format(L=self._foreign_label(language), year=self.rng.randint(2024, 2026))

    def _foreign_description(self, language: str) -> str:
        minutes = self.rng.choice((15, 20, 30, 45, 60))
        sentence = self.rng.choice(FOREIGN_SENTENCES[language])
        parts = [sentence.format(L=self._foreign_label(language))]
        if self.rng.random() < 0.6:
            parts.append(self.rng.choice(FOREIGN_FILLER[language]).format(minutes=minutes))
        return " ".join(parts)


# --- learners, completions, field performance ------------------------------------------


def _learners_and_performance(
    seed: CustomerSeed,
    customer_id: str,
    truth: dict[str, tuple[str, ...]],
    rng: random.Random,
) -> None:
    metric = METRICS[customer_id]
    mean, spread = METRIC_LEVELS[metric]
    low, high = METRIC_BOUNDS[metric]
    effects = KNOWN_EFFECTS[customer_id]
    regions = REGIONS[customer_id]
    region_offset = {region: rng.gauss(0.0, spread / 4) for region in regions}
    month_shock = [rng.gauss(0.0, MONTH_SHOCK_SD) for _ in MONTHS]
    roles, role_weights = zip(*ROLES[customer_id], strict=True)
    module_ids = list(truth)
    # A few modules are taken by many learners, most by a few.
    popularity = list(itertools.accumulate(rng.paretovariate(1.2) for _ in module_ids))
    days = (COMPLETIONS_LAST_DAY - COMPLETIONS_FIRST_DAY).days + 1
    hire_days = (dt.date(2025, 12, 31) - dt.date(2012, 1, 1)).days

    completions: list[tuple[str, str, str, float]] = []  # completed_on, learner, module, score
    for n in range(1, rng.randint(*LEARNERS_PER_CUSTOMER) + 1):
        learner_id = f"{customer_id}-l{n:04d}"
        region = rng.choice(regions)
        hired_on = dt.date(2012, 1, 1) + dt.timedelta(days=rng.randrange(hire_days))
        seed.learners.append(
            (learner_id, customer_id, region, rng.choices(roles, role_weights)[0], str(hired_on))
        )
        taken: dict[str, dt.date] = {}
        if rng.random() >= NO_TRAINING_SHARE:
            target = rng.randint(2, 28)
            while len(taken) < target:
                module_id = rng.choices(module_ids, cum_weights=popularity)[0]
                if module_id not in taken:
                    taken[module_id] = COMPLETIONS_FIRST_DAY + dt.timedelta(
                        days=rng.randrange(days)
                    )
        first_month_index: dict[str, int] = {}  # tag -> month index of its first completion
        for module_id, day in taken.items():
            score = round(min(100.0, max(0.0, rng.gauss(78.0, 12.0))), 1)
            completions.append((str(day), learner_id, module_id, score))
            for tag_id in truth[module_id]:
                index = day.month - 1
                first_month_index[tag_id] = min(first_month_index.get(tag_id, index), index)
        baseline = mean + rng.gauss(0.0, spread) + region_offset[region]
        for i, month in enumerate(MONTHS):
            effect = sum(effects[t] for t, first in first_month_index.items() if first < i)
            value = baseline + month_shock[i] + effect + rng.gauss(0.0, MONTHLY_NOISE_SD)
            value = round(min(high, max(low, value)), 2)
            seed.performance.append((customer_id, learner_id, str(month), metric, value))
    completions.sort()
    seed.completions = [
        (f"{customer_id}-c{i:06d}", customer_id, learner_id, module_id, day, score)
        for i, (day, learner_id, module_id, score) in enumerate(completions, start=1)
    ]


def _write(conn: sqlite3.Connection, seed: CustomerSeed) -> None:
    conn.execute("insert into customers values (?, ?, ?, ?, ?)", seed.customer)
    for table, rows in (
        ("tags", seed.tags),
        ("modules", seed.modules),
        ("module_tags", seed.module_tags),
        ("seed_truth", seed.truth),
        ("seed_styles", seed.styles),
        ("learners", seed.learners),
        ("completions", seed.completions),
        ("field_performance", seed.performance),
    ):
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            conn.executemany(f"insert into {table} values ({marks})", rows)
