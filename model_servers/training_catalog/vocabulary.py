"""The words the seed writes modules with: per customer, per tag, what a module about it says.

`topics` are noun phrases (titles and descriptions), `actions` verb phrases ("you will be
able to ..."). They are specific to the tag and the customer's trade, so a module's text is
really about its tags, with the overlaps real catalogues have ("company policies" in an
onboarding module of an insurer whose products are policies). `FOREIGN_LABELS` give the
non-English and mixed titles; `CONTEXT` the customer's audiences, products and programmes,
which every tag shares (and which therefore say nothing about the tags).
"""

from __future__ import annotations

from typing import NamedTuple


class TagWords(NamedTuple):
    topics: tuple[str, ...]
    actions: tuple[str, ...]


class CustomerContext(NamedTuple):
    audiences: tuple[str, ...]  # plural, lower case: "medical reps"
    products: tuple[str, ...]
    programmes: tuple[str, ...]  # curriculum names used in "Part of the ... curriculum"
    settings: tuple[str, ...]  # "with examples from ..."


CONTEXT: dict[str, CustomerContext] = {
    "acme-pharma": CustomerContext(
        audiences=("medical reps", "key account managers", "hospital specialists", "field teams"),
        products=("Cardiovex", "Lumira", "Ostenza XR", "Respiclear", "Glucatrix"),
        programmes=("Field Excellence", "Acme Academy", "Launch Readiness", "Rep Certification"),
        settings=(
            "hospital visits",
            "GP practices",
            "pharmacy calls",
            "the cardiology launch",
            "regional congresses",
        ),
    ),
    "northwind-software": CustomerContext(
        audiences=(
            "account executives",
            "SDRs",
            "solution engineers",
            "customer success managers",
        ),
        products=("Northwind Cloud", "Data Hub", "Northwind Analytics", "Connect API"),
        programmes=("Sales Academy", "Revenue Enablement", "Winning Plays", "Q3 Kickoff"),
        settings=(
            "mid-market deals",
            "enterprise accounts",
            "the fintech vertical",
            "last quarter's wins",
            "public sector bids",
        ),
    ),
    "globex-insurance": CustomerContext(
        audiences=("agents", "branch advisers", "call-centre staff", "new advisers"),
        products=("HomeSecure", "AutoPlus", "LifeGuard Term", "TravelSafe", "FarmCover"),
        programmes=("Agent Pathway", "Globex Learning", "Branch Standards", "Advice Quality"),
        settings=(
            "branch appointments",
            "phone enquiries",
            "renewal season",
            "rural customers",
            "young drivers",
        ),
    ),
    "initech-retail": CustomerContext(
        audiences=("store associates", "shift leads", "store managers", "seasonal staff"),
        products=("the Initech app", "Initech Home range", "the Activewear line", "own brand"),
        programmes=("Store Ready", "Initech Way", "Peak Season Prep", "Retail Foundations"),
        settings=(
            "flagship stores",
            "the Black Friday weekend",
            "small-format stores",
            "the back-to-school season",
            "outlet stores",
        ),
    ),
}


def _w(topics: str, actions: str) -> TagWords:
    """Phrases separated by `|`, so each tag's vocabulary reads as one block below."""
    return TagWords(
        tuple(t.strip() for t in topics.split("|")), tuple(a.strip() for a in actions.split("|"))
    )


WORDS: dict[str, dict[str, TagWords]] = {
    "acme-pharma": {
        "communication": _w(
            "active listening with physicians | clear scientific messaging | "
            "presenting to a pharmacy team | the three-minute detail | "
            "asking open questions | structuring a hospital presentation | "
            "voice, pace and body language | writing a follow-up letter to a prescriber",
            "listen for what a physician really asks | present one key message clearly | "
            "summarise a call in two sentences | adapt the message to a pharmacist",
        ),
        "product-knowledge": _w(
            "indications and dosing | mechanism of action | the Cardiovex label | "
            "Lumira dosing schedule | the portfolio's competitive positioning | "
            "Ostenza XR formulation | contraindications and interactions | "
            "the respiratory portfolio | how Glucatrix compares with metformin",
            "explain the mechanism of action in plain words | recall the dosing schedule | "
            "position the portfolio against competitors | answer label questions accurately",
        ),
        "negotiation": _w(
            "formulary access negotiations | hospital contracting | rebate structures | "
            "pricing discussions with payers | tender submissions | "
            "value-based agreements | the walk-away point | concessions and trade-offs",
            "prepare a contracting meeting | trade concessions without giving away value | "
            "negotiate formulary listing | defend the price with health-economic data",
        ),
        "compliance": _w(
            "the code of conduct | anti-bribery rules | promotional review | "
            "the sunshine act | hospitality and gifts limits | off-label promotion rules | "
            "transfers of value | the speaker programme policy",
            "recognise an off-label request | apply the hospitality limits | "
            "document transfers of value | know when materials need promotional review",
        ),
        "adverse-event-reporting": _w(
            "pharmacovigilance basics | side effect reporting | the 24-hour reporting rule | "
            "product complaints | recognising an adverse event in conversation | "
            "safety reporting forms | special situations such as pregnancy exposure",
            "spot an adverse event mentioned in passing | report a side effect within 24 hours | "
            "fill in the safety reporting form | forward a product complaint",
        ),
        "clinical-data": _w(
            "reading trial results | primary and secondary endpoints | p-values and "
            "confidence intervals | study design and randomisation | the phase III "
            "results | real-world evidence | number needed to treat | forest plots",
            "interpret a forest plot | explain an endpoint to a specialist | "
            "discuss study limitations honestly | compare trial populations",
        ),
        "objection-handling": _w(
            "objections about cost | safety concerns from prescribers | "
            "switching from a competitor | the 'I am happy with what I use' objection | "
            "handling pushback from pharmacists | the acknowledge-explore-respond method",
            "answer a cost objection | handle pushback on safety | "
            "turn a switching concern into a trial | respond without arguing",
        ),
        "account-planning": _w(
            "territory planning | key account plans | targeting prescribers | "
            "call planning and frequency | segmenting GP practices | "
            "mapping hospital decision makers | the quarterly account review",
            "build a key account plan | prioritise the territory | "
            "plan a call cycle | map the decision makers in a hospital",
        ),
        "leadership": _w(
            "coaching reps in the field | running field rides | leading a regional team | "
            "giving feedback after a call | performance conversations | "
            "developing first-line managers | motivating a team through a launch",
            "coach a rep after a field ride | give balanced feedback | "
            "run a regional team meeting | set goals with a new manager",
        ),
        "data-privacy": _w(
            "GDPR for field teams | HIPAA essentials | patient data in emails | "
            "prescriber consent records | data subject requests | "
            "secure handling of patient information | privacy incidents",
            "handle patient data safely | record prescriber consent | "
            "respond to a data subject request | report a privacy incident",
        ),
        "digital-engagement": _w(
            "remote detailing | video calls with physicians | email campaigns | "
            "the CRM | omnichannel engagement | approved email templates | "
            "webinars for prescribers | digital call notes",
            "run a remote detail | log a call in the CRM | "
            "send an approved email | plan an omnichannel sequence",
        ),
        "onboarding": _w(
            "your first weeks at Acme | company history and values | tools and systems "
            "for new hires | the sales process at a glance | orientation week | "
            "meeting your manager and buddy | the new hire checklist",
            "find your way around the company | set up your tools | "
            "complete the new hire checklist | understand the sales process",
        ),
    },
    "northwind-software": {
        "discovery": _w(
            "qualifying questions | uncovering pain points | budget and timeline | "
            "the decision process | MEDDIC in the first call | BANT qualification | "
            "mapping the buying committee | discovery call structure",
            "run a discovery call | qualify an opportunity | "
            "uncover the real pain | map the decision process",
        ),
        "demo-skills": _w(
            "tailored product demonstrations | the demo storyline | demo environments | "
            "showing value in the first five minutes | handling questions during a demo | "
            "the technical deep-dive | recorded demos",
            "tailor a demo to the buyer's use case | tell a story with the product | "
            "recover from a broken demo | run a technical deep-dive",
        ),
        "product-knowledge": _w(
            "platform features | integrations with Salesforce and Slack | pricing plans | "
            "the product roadmap | Data Hub connectors | Northwind Analytics dashboards | "
            "the Connect API | release highlights",
            "explain the main features | describe the integrations | "
            "walk through the pricing plans | answer roadmap questions",
        ),
        "negotiation": _w(
            "discount strategy | multi-year terms | working with procurement | "
            "closing the contract | redlines and legal review | the mutual close plan | "
            "price increases at renewal",
            "negotiate a multi-year deal | hold the price under pressure | "
            "work through procurement | build a mutual close plan",
        ),
        "communication": _w(
            "follow-up emails | executive summaries | presenting to a buying committee | "
            "listening to the customer | writing clear proposals | "
            "storytelling for sellers | meeting recaps",
            "write a follow-up email | present to executives | "
            "listen before answering | summarise a meeting",
        ),
        "prospecting": _w(
            "outbound cadences | cold calls | social selling on LinkedIn | "
            "booking first meetings | lead generation | cold email copy | "
            "the ideal prospect list | voicemail scripts",
            "book a first meeting | write a cold email | "
            "build an outbound cadence | open a cold call",
        ),
        "customer-success": _w(
            "implementation plans for new customers | adoption metrics | renewals | "
            "churn risk signals | expansion opportunities | quarterly business reviews | "
            "health scores | "
            "account management",
            "run a quarterly business review | spot churn risk early | "
            "plan a renewal | grow adoption in an account",
        ),
        "security-compliance": _w(
            "SOC 2 reports | security questionnaires | data residency | "
            "GDPR answers for buyers | the security review | penetration test summaries | "
            "the trust centre",
            "answer a security questionnaire | explain data residency options | "
            "handle a security review | share the SOC 2 report",
        ),
        "forecasting": _w(
            "pipeline reviews | deal stages | commit and best-case calls | "
            "CRM hygiene | the weekly forecast call | pipeline management | "
            "close date accuracy",
            "call an accurate commit | keep the pipeline clean | "
            "prepare for a pipeline review | update deal stages",
        ),
        "leadership": _w(
            "coaching account executives | hiring sellers | running the sales team | "
            "one-to-ones that matter | deal coaching | sales management rhythms | "
            "building a team culture",
            "coach a rep on a live deal | run a weekly one-to-one | "
            "interview a sales candidate | lead a team meeting",
        ),
        "onboarding": _w(
            "new hire bootcamp | the ideal customer profile | the sales playbook | "
            "tools and systems for new hires | company history and mission | "
            "your first 30 days | orientation",
            "learn the sales playbook | describe the ideal customer profile | "
            "set up your tools | plan your first 30 days",
        ),
    },
    "globex-insurance": {
        "product-knowledge": _w(
            "policy coverage | riders and add-ons | exclusions | premiums and excess | "
            "HomeSecure cover | AutoPlus options | LifeGuard Term benefits | "
            "TravelSafe policy wording",
            "explain what a policy covers | describe riders and exclusions | "
            "compare cover levels | quote premiums accurately",
        ),
        "compliance": _w(
            "licensing requirements | suitability rules | disclosures | "
            "anti-money-laundering duties | AML red flags | conduct rules | "
            "record keeping for advice",
            "make a suitable recommendation | give the required disclosures | "
            "spot AML red flags | keep advice records",
        ),
        "communication": _w(
            "explaining policies in plain words | phone manner | empathy with clients | "
            "difficult conversations | writing clear letters | "
            "listening to a client's story",
            "explain a policy in plain words | show empathy on the phone | "
            "handle a difficult conversation | write a clear letter",
        ),
        "claims-handling": _w(
            "first notice of loss | documenting a claim | fraud signs | settlement | "
            "FNOL calls | loss adjusting | claims paperwork | storm claims",
            "take a first notice of loss | document a claim | "
            "spot fraud signs | explain the settlement",
        ),
        "underwriting-basics": _w(
            "risk assessment | rating factors | referring to an underwriter | "
            "underwriting questions | declined risks | property risk surveys",
            "assess a risk | know when to refer to an underwriter | "
            "explain rating factors | ask the right underwriting questions",
        ),
        "objection-handling": _w(
            "price concerns | comparisons with other insurers | the 'too expensive' "
            "objection | handling pushback at renewal | objections to excess levels",
            "answer a price concern | handle a comparison with another insurer | "
            "respond to pushback at renewal",
        ),
        "cross-selling": _w(
            "bundling home and auto | needs reviews | life cover conversations | "
            "multi-policy discounts | upselling at renewal | the annual needs review",
            "run a needs review | bundle home and auto | "
            "start a life cover conversation | offer a multi-policy discount",
        ),
        "onboarding": _w(
            "new agent orientation | the quoting tool | company policies | "
            "systems for new hires | your first week in the branch | induction",
            "use the quoting tool | find company policies | "
            "set up your systems | complete induction",
        ),
        "data-privacy": _w(
            "protecting policyholder data | privacy law | personal data requests | "
            "GDPR for agents | secure document handling | data breaches",
            "protect policyholder data | handle a personal data request | report a data breach",
        ),
    },
    "initech-retail": {
        "customer-service": _w(
            "greeting shoppers | returns and exchanges | complaints | service recovery | "
            "helping customers find products | the till queue | click-and-collect service",
            "greet shoppers warmly | process a return | "
            "turn a complaint around | recover a bad experience",
        ),
        "product-knowledge": _w(
            "the assortment | product features | sizing guides | seasonal ranges | "
            "the Initech Home range | the Activewear line | fabrics and care labels",
            "recommend the right size | explain product features | know the seasonal range",
        ),
        "visual-merchandising": _w(
            "planograms | window displays | signage | store layout | "
            "mannequin styling | promotional displays | shelf facing",
            "set up a planogram | build a window display | "
            "place signage | lay out a promotional display",
        ),
        "loss-prevention": _w(
            "shrinkage | shoplifting signs | cash handling | stock counts | "
            "theft prevention | security tags | refund fraud",
            "spot shoplifting signs | handle cash safely | "
            "run a stock count | prevent refund fraud",
        ),
        "health-safety": _w(
            "manual handling | fire drills | first aid | safe use of ladders | "
            "spill procedures | safe use of the baler | accident reporting",
            "lift safely | run a fire drill | give first aid | report an accident",
        ),
        "communication": _w(
            "team briefings | radio etiquette | speaking with customers | "
            "the morning huddle | handover notes | clear instructions",
            "run a team briefing | use the radio properly | write a handover note",
        ),
        "leadership": _w(
            "store management | shift management | scheduling | coaching | "
            "performance reviews | leading a shift | motivating the team",
            "run a shift | build a rota | coach a team member | hold a performance review",
        ),
        "upselling": _w(
            "add-on sales | loyalty sign-ups | warranties | basket size | "
            "suggesting accessories | the loyalty app pitch",
            "suggest an add-on | sign a customer up to loyalty | "
            "offer a warranty | grow the basket",
        ),
        "inventory": _w(
            "receiving deliveries | replenishment | stock rotation | the handheld scanner | "
            "stockroom organisation | delivery checks | gap scans",
            "receive a delivery | replenish the shelves | rotate stock | use the handheld scanner",
        ),
        "onboarding": _w(
            "your first shifts | the till | store policies | uniform and appearance | "
            "the store's routines | induction day | meeting your team",
            "use the till | follow store routines | complete induction day",
        ),
    },
}

# German, French and Spanish names of each tag id, for non-English and mixed titles.
FOREIGN_LABELS: dict[str, dict[str, str]] = {
    "communication": {"de": "Kommunikation", "fr": "Communication", "es": "Comunicación"},
    "product-knowledge": {
        "de": "Produktwissen",
        "fr": "Connaissance produit",
        "es": "Conocimiento del producto",
    },
    "negotiation": {"de": "Verhandlungsführung", "fr": "Négociation", "es": "Negociación"},
    "compliance": {"de": "Compliance-Regeln", "fr": "Conformité", "es": "Cumplimiento normativo"},
    "adverse-event-reporting": {
        "de": "Meldung von Nebenwirkungen",
        "fr": "Déclaration des effets indésirables",
        "es": "Notificación de eventos adversos",
    },
    "clinical-data": {"de": "Klinische Daten", "fr": "Données cliniques", "es": "Datos clínicos"},
    "objection-handling": {
        "de": "Einwandbehandlung",
        "fr": "Traitement des objections",
        "es": "Manejo de objeciones",
    },
    "account-planning": {
        "de": "Gebietsplanung",
        "fr": "Planification des comptes",
        "es": "Planificación de cuentas",
    },
    "leadership": {"de": "Führung", "fr": "Leadership managérial", "es": "Liderazgo"},
    "data-privacy": {
        "de": "Datenschutz",
        "fr": "Protection des données",
        "es": "Protección de datos",
    },
    "digital-engagement": {
        "de": "Digitale Kundenansprache",
        "fr": "Engagement digital",
        "es": "Interacción digital",
    },
    "onboarding": {
        "de": "Einarbeitung neuer Mitarbeiter",
        "fr": "Intégration des nouveaux",
        "es": "Incorporación de nuevos empleados",
    },
    "discovery": {
        "de": "Bedarfsanalyse",
        "fr": "Découverte des besoins",
        "es": "Descubrimiento de necesidades",
    },
    "demo-skills": {
        "de": "Produktvorführung",
        "fr": "Démonstration produit",
        "es": "Demostración de producto",
    },
    "prospecting": {"de": "Kaltakquise", "fr": "Prospection", "es": "Prospección"},
    "customer-success": {
        "de": "Kundenerfolg und Verlängerungen",
        "fr": "Succès client",
        "es": "Éxito del cliente",
    },
    "security-compliance": {
        "de": "IT-Sicherheit für Käufer",
        "fr": "Sécurité et conformité",
        "es": "Seguridad y cumplimiento",
    },
    "forecasting": {
        "de": "Umsatzprognose",
        "fr": "Prévisions de ventes",
        "es": "Previsión de ventas",
    },
    "claims-handling": {
        "de": "Schadenbearbeitung",
        "fr": "Gestion des sinistres",
        "es": "Gestión de siniestros",
    },
    "underwriting-basics": {
        "de": "Grundlagen der Risikoprüfung",
        "fr": "Bases de la souscription",
        "es": "Fundamentos de suscripción",
    },
    "cross-selling": {"de": "Cross-Selling", "fr": "Vente croisée", "es": "Venta cruzada"},
    "customer-service": {
        "de": "Kundenservice",
        "fr": "Service client",
        "es": "Atención al cliente",
    },
    "visual-merchandising": {
        "de": "Warenpräsentation",
        "fr": "Merchandising visuel",
        "es": "Escaparatismo",
    },
    "loss-prevention": {
        "de": "Inventurdifferenzen vermeiden",
        "fr": "Prévention des pertes",
        "es": "Prevención de pérdidas",
    },
    "health-safety": {
        "de": "Arbeitssicherheit",
        "fr": "Santé et sécurité",
        "es": "Seguridad y salud laboral",
    },
    "upselling": {"de": "Zusatzverkauf", "fr": "Vente additionnelle", "es": "Venta adicional"},
    "inventory": {
        "de": "Warenwirtschaft",
        "fr": "Gestion des stocks",
        "es": "Gestión de inventario",
    },
}
