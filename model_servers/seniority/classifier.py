"""The reference seniority model: an ordered table of title rules.

A posting's seniority is read from its title the way a recruiter would: explicit
executive ranks first, then entry and junior markers, then manager and senior markers,
then the plain individual-contributor default. Rules are tried in table order and the
first that matches wins, so an exception ("assistant manager", "chief of staff",
"product owner") sits above the general rule it overrides.

The classifier tokenizes for itself (unicode folding, lowercase, abbreviations written
with periods or spaces joined, punctuation to spaces), so it gives the same answer for a
raw title and for the pipeline's normalized one, and for `S.V.P.`, `s v p` and `SVP`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from protos.contract import SENIORITY_LEVELS

# Part of every cache key (resources/seniority_cache.py): any change to RULES or to the
# tokenizer must bump it, or the cache keeps serving the old rules' answers. The test
# `test_model_version_follows_the_rules` holds a fingerprint of both for each version.
MODEL_VERSION = "rules-2026.11.2"

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
    Rule(
        "executive-assistant",
        3,
        0.85,
        r"executive (?:assistant|secretary)|assistant(?:e)? de direction|asistente de direccion"
        r"|assistente (?:de diretoria|di direzione)|assistenz der geschaftsfuhrung",
    ),
    Rule("chief-of-staff", 5, 0.85, r"chief of staff"),
    Rule("product-owner", 3, 0.75, r"(?:product|process|service|data) owner"),
    Rule(
        "assistant-vp",
        4,
        0.8,
        r"(?:assistant|asst|associate|assoc) (?:vice president|vp)|avp",
    ),
    # A journal's editorial board is a scholar's service, not a company's board.
    Rule("editorial-board", 4, 0.6, r"editorial (?:advisory )?board"),
    # An advisory board advises and has no authority over the executives, unlike the board
    # of directors (7 below): its members rank with the executives (6), not above them.
    Rule("advisory-board", 6, 0.7, r"advisory (?:board|council)|beirat(?:smitglied)?"),
    # An academic chair heads a department (5); a chair without such a noun chairs a board.
    Rule(
        "academic-chair",
        5,
        0.8,
        r"(?:department|program|programme|division|section) chair(?:man|woman|person)?"
        r"|chair (?:of )?(?:the )?(?:department|school|division|program|faculty)",
    ),
    Rule("business-partner", 4, 0.8, r"business partner|hrbp"),
    Rule(
        "store-general-manager",
        4,
        0.8,
        r"(?:restaurant|store|shop|branch|hotel|(?<!business )unit) general manager",
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
    Rule(
        "shift-lead",
        3,
        0.75,
        r"shift (?:supervisor|lead|leader|manager)|schichtleiter(?:in)?|jef[ea] de turno",
    ),
    Rule("assistant-manager", 3, 0.8, r"(?:assistant|asst) (?:\w+ )?(?:manager|mgr)"),
    Rule("physician-assistant", 3, 0.8, r"physician assistant"),
    Rule("low-staff", 1, 0.75, r"(?:wait|kitchen|cleaning|event|support) staff"),
    Rule("staff-professional", 3, 0.75, r"staff (?:nurse|pharmacist|attorney|writer|physician)"),
    Rule("lead-noun", 3, 0.6, r"lead generation"),
    # The lead of an hourly crew is one step above the crew (2), not a senior professional.
    Rule(
        "lead-hourly",
        2,
        0.7,
        r"lead (?:cashier|barista|teller|server|host|hostess|dishwasher|housekeeper|janitor"
        r"|custodian|cleaner|crew member|team member|sales associate|stocker|picker|packer"
        r"|lifeguard|valet|porter|bagger|attendant|security guard|line worker|assembler)",
    ),
    Rule("cabin-crew", 3, 0.75, r"flight attendant|cabin crew(?: member)?"),
    # Product, project and program managers are individual contributors: "senior" makes
    # them senior ICs (4); a group one manages other managers (5).
    Rule("senior-ic-manager", 4, 0.75, r"(?:senior|sr|snr) (?:product|project|program) manager"),
    Rule("group-ic-manager", 5, 0.7, r"group (?:product|project|program) manager"),
    # --- entry: interns, trainees, apprentices, graduates ---------------------------
    Rule(
        "intern",
        1,
        0.95,
        r"intern|internship|trainee|apprentice|apprenticeship|praktikant(?:in)?|stagiaire"
        r"|werkstudent(?:in)?|auszubildende[r]?|azubi|becari[oa]|estagiari[oa]|pasante"
        r"|stagiair|stagista|tirocinante|practicante|alternant(?:e)?|aprendiz|apprendista"
        r"|leerling|working student|co op student",
    ),
    Rule("entry-level", 1, 0.9, r"entry level|new grad|new graduate|graduate"),
    # --- 7 Senior Executive: C-level, founders, presidents, owners, the board -------
    Rule("chief", 7, 0.95, r"chief"),
    # The board appoints and oversees the chief executive, so its chair and its members,
    # executive or not, rank with the C-level (7). A non-executive director holds the same
    # seat as an executive one; what he lacks is a line job, not rank. Checked before the
    # director, executive-director and lead rules that would read "Non-Executive Director"
    # or "Lead Independent Director" as a department director.
    Rule(
        "board-chair",
        7,
        0.9,
        r"(?:(?:executive|non executive|deputy|vice|co) )?(?:chair(?:man|woman|person)?"
        r"|chair person)(?! (?:massage|yoga|lift|car))|vice ?chair(?:man|woman|person)?"
        r"|voorzitter|vorsitzende[r]?"
        r"|(?:vorstands|aufsichtsrats|verwaltungsrats)vorsitzende[r]?",
    ),
    Rule(
        "board-member",
        7,
        0.9,
        r"board (?:member|director|of directors|of trustees|trustee)|member of the board"
        r"|non executive director|non exec director|ned|independent director"
        r"|(?:supervisory|executive|management) board(?: member)?"
        r"|(?:vorstands|aufsichtsrats|verwaltungsrats)mitglied|aufsichtsrat(?:s)?"
        r"|verwaltungsrat|raad van (?:bestuur|commissarissen|toezicht)"
        r"|conseil d administration|consejo de administracion|conselho de administracao"
        r"|consiglio di amministrazione|administrateur independant|miembro del consejo"
        r"|consejer[oa] (?:independiente|dominical|ejecutiv[oa])|membro do conselho"
        r"|conselheir[oa] (?:independente|de administracao)|consiglier[ea] di amministrazione",
    ),
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
        r"|direct(?:or|eur|ora|rice) (?:general|generale|ejecutiv[oa])"
        r"|diret(?:or|ora) (?:geral|executiv[oa]|presidente)|dirett(?:ore|rice) generale"
        r"|algemeen directeur|directeur generaal|hoofddirecteur|amministratore delegat[oa]"
        r"|consejer[oa] delegad[oa]|administrat(?:eur|rice) delegu(?:e|ee)",
    ),
    # --- 6 Executive: vice presidents, general managers, partners -------------------
    Rule("vice-president", 6, 0.9, r"vice ?president[ea]?|vp|svp|evp"),
    Rule(
        "general-manager",
        6,
        0.8,
        r"general manager|gerente general|gerente geral"
        r"|gm(?! (?:certified|master|service|parts|technician|tech|dealer))",
    ),
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
    Rule(
        "director",
        5,
        0.9,
        r"(?:sub|vice|co)?direct(?:or|ora|eur|rice)|(?:sub|vice)?diretor[a]?|direktor(?:in)?"
        r"|(?:vice)?dirett(?:ore|rice)|dir",
    ),
    Rule("head-of", 5, 0.85, r"head|hoofd|afdelingshoofd|capo dipartimento"),
    Rule(
        "multi-site-manager",
        5,
        0.8,
        r"(?:district|regional|area|division|divisional|country) (?:manager|mgr)",
    ),
    Rule("controller", 5, 0.8, r"controller|comptroller"),
    # German "-leiter" compounds: a team, project, group, branch or store lead manages
    # people (4); any other unit's "Leiter" (Abteilung, Bereich, Vertrieb, Werk) heads it (5).
    Rule(
        "german-lead",
        4,
        0.8,
        r"(?:team|projekt|gruppen|filial|markt|lager|kuchen|bau|schul|objekt)leiter(?:in)?",
    ),
    Rule("german-head", 5, 0.8, r"(?!\w*begleiter)\w*leiter(?:in)?"),
    Rule("distinguished", 5, 0.7, r"distinguished|fellow"),
    # --- 2 Junior (checked before the manager rules: "junior project manager") ------
    Rule("junior", 2, 0.9, r"junior|jr|jnr|junior"),
    Rule("associate-manager", 2, 0.65, r"associate (?:product|project|program|brand) manager"),
    Rule("level-one", 2, 0.8, r"(?<=[a-z] )(?:i|1)$"),
    Rule(
        "assistant",
        2,
        0.8,
        r"assistant(?:e)?|asst|asistente|assistente|assistent(?:in)?|aide|nursing assistant|cna",
    ),
    Rule(
        "junior-roles",
        2,
        0.7,
        r"coordinator|coordinador[a]?|coordinat(?:eur|rice|ore)|staff accountant"
        r"|auxiliar(?! de (?:limpeza|limpieza|cozinha|cocina|almacen|armazem))"
        r"|line cook|bartender|forklift|substitute teacher"
        r"|(?:sales|business) development representative|sdr|bdr|inside sales"
        r"|help ?desk|service desk|desktop support|pharmacy (?:technician|tech)"
        r"|(?:investment banking|ib) analyst|(?:tax|audit|assurance) associate"
        r"|associate (?:\w+ ){0,2}(?:engineer|developer|programmer|data scientist)",
    ),
    # --- 4 Manager: managers, supervisors, senior / lead / staff / principal ICs ----
    Rule("level-three-plus", 4, 0.8, r"(?<=[a-z] )(?:iii|iv|v|vi|3|4|5|6)$"),
    Rule("ic-manager", 3, 0.7, r"(?:account|case|care) manager"),
    Rule(
        "manager",
        4,
        0.85,
        r"manager|mgr|gerente|responsable|responsabile|gestionnaire|supervisor|supervisora"
        r"|superviseur|superintendent|fore(?:man|woman|person)|jef[ea]|encargad[oa]"
        r"|chef (?:de|d) (?:projet|service|equipe|produit|rayon|chantier|bureau|cuisine)"
        r"|capo|capoturno|coordenador[a]?|\w*leider|leidinggevende|managing",
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
        r"|camarer[oa]|meser[oa]|dependient[ea]|lifeguard|usher|attendant|bagger"
        r"|security guard|(?:line|production|factory|assembly|farm|general) worker"
        r"|assembler|farmworker|sorter|(?:truck|ramp) loader|package handler"
        r"|kassierer(?:in)?|caissier(?:e)?|operador[a]? de caixa|cassier[ea]|kellner(?:in)?"
        r"|serveu(?:r|se)|camerier[ea]|vendeu(?:r|se)|verkaufer(?:in)?|commess[oa]"
        r"|lagerarbeiter(?:in)?|lagerist(?:in)?|magazijnmedewerker|magazziniere|reponedor[a]?"
        r"|addett[oa] (?:alle )?vendite|reinigungskraft"
        r"|auxiliar de (?:limpeza|limpieza|cozinha|cocina|almacen|armazem)",
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
        r"|enfermer[oa]|infirmier(?:e)?|tecnico|contador[a]?|comptable|rn|lpn|lvn"
        r"|engenheir[oa]|ingegnere|ingenieur(?:in)?|desenvolvedor[a]?|sviluppat(?:ore|rice)"
        r"|ontwikkelaar|programmeur|programador[a]?|developpeu(?:r|se)|\w*entwickler(?:in)?"
        r"|consulente|consultor[a]?|infermier[ea]|enfermeir[oa]|verpleegkundige"
        r"|krankenpfleger(?:in)?|pflegefachkraft|technicien(?:ne)?|techniker(?:in)?"
        r"|buchhalter(?:in)?|contabile|sachbearbeiter(?:in)?|charge(?:e)? d(?:e)?|pleno",
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

# A run of two or more single letters separated only by periods and/or blanks is one
# abbreviation: "s.v.p.", "S. V. P.", "s v p", "P.-D.G." read as "svp", "pdg". A run stops
# at any other punctuation, so "V.P. & G.M." stays two abbreviations and "A/B" is not
# joined. A single letter alone ("Engineer I", "Class A") is never joined to a word, and
# a run never starts or ends inside a word. The false merges left are runs of one-letter
# words that are not an abbreviation ("A B Testing", Portuguese "vendas e a equipe"):
# rare in titles, and the word they make ("ab", "ea") matches no rule, so the level is
# the one the separate letters would get.
_LETTER_RUN = re.compile(r"(?<![a-z0-9])[a-z](?:(?:\.[ \t-]*|[ \t]+)[a-z](?![a-z0-9]))+")
_RUN_SEPARATORS = re.compile(r"[^a-z]+")


def _join_abbreviation(run: re.Match[str]) -> str:
    return _RUN_SEPARATORS.sub("", run.group())


def tokenize(title: str) -> str:
    """Fold unicode and accents, lowercase, join dotted or spaced abbreviations, and turn
    punctuation into single spaces."""
    folded = title.lower()
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFKD", title.casefold())
        folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = _LETTER_RUN.sub(_join_abbreviation, folded)
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
