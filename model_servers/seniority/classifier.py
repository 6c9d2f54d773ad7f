"""The reference seniority model: an ordered table of title rules.

A posting's seniority is read from its title the way a recruiter would: explicit
executive ranks first, then entry and junior markers, then manager and senior markers,
then the plain individual-contributor default. Rules are tried in table order and the
first that matches wins, so an exception ("assistant manager", "chief of staff",
"product owner") sits above the general rule it overrides.

The classifier tokenizes for itself (unicode folding, lowercase, punctuation to spaces),
so it gives the same answer for a raw title and for the pipeline's normalized one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from protos.contract import SENIORITY_LEVELS

MODEL_VERSION = "rules-2026.11.1"

LEVELS: dict[int, str] = SENIORITY_LEVELS  # level -> name, from the service contract

DEFAULT_LEVEL = 3
DEFAULT_CONFIDENCE = 0.4  # no rule matched: an individual contributor, probably


@dataclass(frozen=True)
class Rule:
    """One line of the table: `pattern` is matched on whole words of the tokenized title."""

    name: str
    level: int
    confidence: float
    pattern: str


# Ordered: the first matching rule decides. Patterns run on tokenized text (lowercase
# a-z0-9 words separated by single spaces, accents folded), wrapped in word boundaries.
RULES: tuple[Rule, ...] = (
    # --- exceptions: a high-rank word used in a lower-rank title --------------------
    Rule("assistant-to", 2, 0.85, r"(?:assistant|assistente|asistente) (?:to|of) (?:the )?\w+"),
    Rule("executive-assistant", 3, 0.85, r"executive (?:assistant|secretary)"),
    Rule("chief-of-staff", 5, 0.85, r"chief of staff"),
    Rule("product-owner", 3, 0.75, r"(?:product|process|service|data) owner"),
    Rule("assistant-vp", 4, 0.8, r"(?:assistant|associate) vice president|avp"),
    Rule("business-partner", 4, 0.8, r"business partner|hrbp"),
    Rule(
        "store-general-manager",
        4,
        0.8,
        r"(?:restaurant|store|shop|branch|hotel|unit) general manager",
    ),
    Rule("school-principal", 5, 0.75, r"^(?:(?:elementary |middle |high )?school )?principal$"),
    Rule("assistant-principal", 4, 0.8, r"(?:assistant|vice|deputy) principal"),
    Rule(
        "kitchen-head",
        4,
        0.8,
        r"head (?:chef|cook|cashier|teller|coach|bartender|nurse|lifeguard|custodian)"
        r"|executive chef|sous chef",
    ),
    Rule("air-traffic-controller", 3, 0.8, r"air traffic controller"),
    Rule("shift-lead", 3, 0.75, r"shift (?:supervisor|lead|leader|manager)"),
    Rule("assistant-manager", 3, 0.8, r"(?:assistant|asst) (?:\w+ )?(?:manager|mgr)"),
    Rule("physician-assistant", 3, 0.8, r"physician assistant"),
    Rule("low-staff", 1, 0.75, r"(?:wait|kitchen|cleaning|event|support) staff"),
    Rule("staff-professional", 3, 0.75, r"staff (?:nurse|pharmacist|attorney|writer|physician)"),
    Rule("lead-noun", 3, 0.6, r"lead generation"),
    # --- entry: interns, trainees, apprentices, graduates ---------------------------
    Rule(
        "intern",
        1,
        0.95,
        r"intern|internship|trainee|apprentice|apprenticeship|praktikant(?:in)?|stagiaire"
        r"|werkstudent(?:in)?|auszubildende[r]?|azubi|becari[oa]|estagiari[oa]|pasante",
    ),
    Rule("entry-level", 1, 0.9, r"entry level|new grad|new graduate|graduate"),
    # --- 7 Senior Executive: C-level, founders, presidents, owners ------------------
    Rule("chief", 7, 0.95, r"chief"),
    Rule(
        "c-acronym",
        7,
        0.95,
        r"ceo|cto|cfo|coo|cmo|cio|ciso|cpo|cro|cdo|cso|cco|chro|cxo|caio|cao|cno|c level|c suite",
    ),
    Rule("founder", 7, 0.95, r"(?:co )?founder|cofounder|fundador[a]?|fondat(?:eur|rice)|grunder"),
    Rule("president", 7, 0.9, r"(?<!vice )president[ea]?|pdg"),
    Rule("owner", 7, 0.85, r"owner|proprietor|propietari[oa]|inhaber(?:in)?"),
    Rule(
        "managing-director",
        7,
        0.9,
        r"managing (?:director|partner)|geschaftsfuhrer(?:in)?|vorstand"
        r"|direct(?:or|eur|ora|rice) (?:general|generale|ejecutiv[oa])",
    ),
    # --- 6 Executive: vice presidents, general managers, partners -------------------
    Rule("vice-president", 6, 0.9, r"vice ?president[ea]?|vp|svp|evp"),
    Rule("general-manager", 6, 0.8, r"general manager|gerente general"),
    Rule(
        "partner",
        6,
        0.8,
        r"partner(?! (?:manager|marketing|success|account|engineer|solutions|relations"
        r"|development|program|operations|sales))",
    ),
    Rule("executive-officer", 6, 0.8, r"general counsel|executive director|dean"),
    # --- 5 Director: directors, heads, senior managers ------------------------------
    Rule("senior-manager", 5, 0.8, r"(?:senior|sr|snr) (?:\w+ ){0,2}(?:manager|mgr)"),
    Rule("director", 5, 0.9, r"director[a]?|directeur|directrice|diretor[a]?|direktor(?:in)?|dir"),
    Rule("head-of", 5, 0.85, r"head|department chair"),
    Rule(
        "multi-site-manager",
        5,
        0.8,
        r"(?:district|regional|area|division|divisional|country) (?:manager|mgr)",
    ),
    Rule("controller", 5, 0.8, r"controller|comptroller"),
    Rule("german-head", 5, 0.8, r"abteilungsleiter(?:in)?|bereichsleiter(?:in)?|leiter(?:in)?"),
    Rule("distinguished", 5, 0.7, r"distinguished|fellow"),
    # --- 2 Junior (checked before the manager rules: "junior project manager") ------
    Rule("junior", 2, 0.9, r"junior|jr|jnr|junior"),
    Rule("associate-manager", 2, 0.65, r"associate (?:product|project|program|brand) manager"),
    Rule("level-one", 2, 0.8, r"(?<=[a-z] )(?:i|1)$"),
    Rule(
        "assistant",
        2,
        0.8,
        r"assistant|asst|asistente|assistente|assistent(?:in)?|aide|nursing assistant|cna",
    ),
    Rule(
        "junior-roles",
        2,
        0.7,
        r"coordinator|coordinador[a]?|coordinat(?:eur|rice)|staff accountant"
        r"|line cook|bartender|forklift|substitute teacher"
        r"|(?:sales|business) development representative|sdr|bdr|inside sales"
        r"|help ?desk|service desk|desktop support|pharmacy (?:technician|tech)"
        r"|(?:investment banking|ib) analyst|(?:tax|audit|assurance) associate",
    ),
    # --- 4 Manager: managers, supervisors, senior / lead / staff / principal ICs ----
    Rule("level-three-plus", 4, 0.8, r"(?<=[a-z] )(?:iii|iv|v|vi|3|4|5|6)$"),
    Rule("ic-manager", 3, 0.7, r"(?:account|case|care) manager"),
    Rule(
        "manager",
        4,
        0.85,
        r"manager|mgr|gerente|responsable|gestionnaire|supervisor|superintendent"
        r"|fore(?:man|woman|person)|jef[ea]|chef de (?:projet|service|equipe)"
        r"|\w*(?:team|projekt|gruppen|schicht)leiter(?:in)?|managing",
    ),
    Rule("senior", 4, 0.85, r"senior|sr|snr|lead|leader|principal|staff|architect"),
    Rule(
        "senior-roles",
        4,
        0.75,
        r"master (?:electrician|plumber|carpenter|technician|mechanic)|charge nurse"
        r"|professor|sergeant|lieutenant|captain|expert",
    ),
    # --- 1 Entry: hourly, no-experience roles ---------------------------------------
    Rule(
        "entry-roles",
        1,
        0.75,
        r"crew member|team member|barista|cashier|cajer[oa]|dishwasher|busser|busboy"
        r"|^(?:restaurant |banquet |cocktail |food )?server$|host|hostess|prep cook"
        r"|(?:retail |store |sales |stock |warehouse )associate|stocker|picker|packer"
        r"|laborer|labourer|housekeeper|janitor|custodian|cleaner|porter|valet"
        r"|front desk (?:agent|clerk|associate)|delivery driver|courier|teller"
        r"|customer service (?:representative|rep|agent|associate)|csr"
        r"|call cent(?:er|re) agent|receptionist|brand ambassador|helper|clerk"
        r"|camarer[oa]|meser[oa]|dependient[ea]|lifeguard|usher",
    ),
    # --- 3 Associate: named individual-contributor roles ----------------------------
    Rule("level-two", 3, 0.8, r"(?<=[a-z] )(?:ii|2)$"),
    Rule(
        "professional",
        3,
        0.7,
        r"associate|engineer|developer|programmer|analyst|specialist|consultant|scientist"
        r"|designer|accountant|auditor|attorney|lawyer|paralegal|nurse|therapist|technician"
        r"|technologist|teacher|lecturer|officer|representative|administrator|advisor"
        r"|adviser|recruiter|generalist|writer|mechanic|electrician|plumber|carpenter"
        r"|welder|machinist|driver|pharmacist|paramedic|worker|underwriter|actuary"
        r"|ingenier[oa]|ingenieur|desarrollador[a]?|developpeur|entwickler|analista"
        r"|enfermer[oa]|infirmier(?:e)?|tecnico|contador[a]?|comptable",
    ),
)


def _compile(rules: Sequence[Rule]) -> re.Pattern[str]:
    """One regex for the whole table, each rule a named branch inside a lookahead.

    The lookahead consumes nothing, so `finditer` reports, at every word start, the
    first rule (in table order) that matches there; the lowest rule index over all
    word starts is exactly what trying the rules one by one would return.
    """
    branches = "|".join(f"(?P<r{i}>(?:{rule.pattern})(?![a-z0-9]))" for i, rule in enumerate(rules))
    return re.compile(f"(?<![a-z0-9])(?=(?:{branches}))")


_TABLE = _compile(RULES)
_NON_WORD = re.compile(r"[^a-z0-9]+")


def tokenize(title: str) -> str:
    """Fold unicode and accents, lowercase, and turn punctuation into single spaces."""
    folded = title.lower()
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFKD", title.casefold())
        folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", folded).strip()


def match_rule(title: str) -> Rule | None:
    """The rule that decides `title`, or None when the default applies."""
    best: int | None = None
    for m in _TABLE.finditer(tokenize(title)):
        index = int(m.lastgroup[1:])  # type: ignore[index]
        if best is None or index < best:
            best = index
    return None if best is None else RULES[best]


@lru_cache(maxsize=1 << 20)
def classify_one(title: str) -> tuple[int, float]:
    """(level, confidence) for one title; cached because postings repeat titles a lot."""
    rule = match_rule(title)
    if rule is None:
        return DEFAULT_LEVEL, DEFAULT_CONFIDENCE
    return rule.level, rule.confidence


def classify(titles: Sequence[str]) -> tuple[list[int], list[float]]:
    """Levels (1-7) and confidences (0-1) for a batch of titles, in input order."""
    levels: list[int] = []
    confidences: list[float] = []
    seen: dict[str, tuple[int, float]] = {}
    for title in titles:
        answer = seen.get(title)
        if answer is None:
            answer = seen[title] = classify_one(title)
        levels.append(answer[0])
        confidences.append(answer[1])
    return levels, confidences


def classify_sequential(title: str) -> Rule | None:
    """Reference: try each rule alone, in order (slow; the tests compare against it)."""
    text = tokenize(title)
    for rule in RULES:
        if re.search(f"(?<![a-z0-9])(?:{rule.pattern})(?![a-z0-9])", text):
            return rule
    return None
