"""The tagger's default model, shipped in the repository: TF-IDF similarity between a module's
text and each tag of the customer's taxonomy, plus a per-customer classifier once the
customer has approved enough modules.

Each request is fitted on its own: the vocabulary and IDF come from the customer's tag
documents (label, aliases, description) and the module texts of the request (and of its
approvals), so words every module of this customer uses ("module", "training") weigh
little. Word 1-2 grams catch shared wording; character 3-5 grams (within words, accents
folded) catch inflections and cognates ("negociación", "Kommunikation").

A module's confidence in a tag is its cosine similarity scaled to [0, 1]; with enough
approvals it is blended with a one-vs-rest logistic regression trained on them. The model
abstains (no tags, the reason in the rationale) when the best tag is weak, or when a
middling best tag barely leads the runner-up.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from protos.contract import MAX_TAGS_PER_MODULE

# scikit-learn is imported on first use (about 5 s), by one thread at a time: two threads
# importing parts of it at once hit CPython 3.11's "AST constructor recursion depth
# mismatch" (seen in CI with a warm-up thread and a request's thread).
_LIBRARIES = threading.Lock()


def load_libraries() -> None:
    """Import everything the model uses, once, under a lock; later imports are lookups."""
    with _LIBRARIES:
        import scipy.sparse  # noqa: F401
        import sklearn.feature_extraction.text  # noqa: F401
        import sklearn.linear_model  # noqa: F401
        import sklearn.preprocessing  # noqa: F401


if TYPE_CHECKING:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

# scikit-learn (with the scipy and pandas it loads) takes about 5 s to import on these
# machines, so it is imported where it is used: the server prints LISTENING at once and
# imports it while it waits for the first request (model_servers/tagging/__main__.py).

# Part of every suggestion's cache key: any change to the features, the weights or the
# thresholds below must bump it, or the cache keeps serving the old model's answers.
MODEL_VERSION = "tfidf-2026.11.1"

# A description's first characters say what the module is about; the rest only costs time
# (character n-grams are counted in Python).
DESCRIPTION_CHARS = 2000

# Approved modules (with text) a customer needs before its own classifier is trained: with
# fewer, most tags have a handful of positives and the classifier mostly learns noise.
MIN_APPROVED_MODULES = 50

# Function words of the languages module titles are written in; a full stop list would also
# drop words that carry meaning here (scikit-learn's English list holds "fire" and "call").
STOP_WORDS = frozenset(
    """a an and are as at be by can do for from how in into is it its of on or our so that the
    their them they this to too up we what when where which who why will with without you your
    vs via per not no
    der die das und mit im ein eine einen zu zum zur von den des bei für fur auf wie
    le la les et des du un une pour avec au aux en d l sur
    el los las y del para con una por al lo""".split()
)


@dataclass(frozen=True)
class TaxonomyTag:
    tag_id: str
    label: str
    description: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModuleText:
    module_id: str
    title: str
    description: str = ""


@dataclass(frozen=True)
class ApprovedModule:
    """A module whose tags the customer approved: a label the platform earned."""

    module_id: str
    tag_ids: tuple[str, ...]
    title: str = ""
    description: str = ""


@dataclass(frozen=True)
class Suggestion:
    module_id: str
    tags: tuple[tuple[str, float], ...]  # (tag_id, confidence in [0, 1]), best first
    rationale: str
    abstained: bool
    model_version: str


@dataclass(frozen=True)
class Settings:
    """Every number the model's answers depend on (MODEL_VERSION names one set of them).

    Chosen on the tune half of tests/training/data/labelled_modules.csv only; the test
    reports precision and recall on the other half.
    """

    title_weight: float = 2.0  # a title says what a module is about; a description adds detail
    description_weight: float = 1.0
    name_weight: float = 1.0  # a tag's label and aliases, against its description
    word_weight: float = 0.3  # word n-gram cosine, against character n-gram cosine
    full_confidence_score: float = 0.3  # the similarity that maps to confidence 1.0
    min_confidence: float = 0.2  # the best tag needs this much, or the model abstains
    sure_confidence: float = 0.7  # from here up, a close runner-up does not make it abstain
    min_lead: float = 0.05  # below sure_confidence, the best must lead by this much
    relative_cutoff: float = 0.8  # other tags need this share of the best tag's confidence
    classifier_weight: float = 0.5  # share of the classifier in the blended confidence
    classifier_c: float = 4.0  # inverse regularisation of each tag's logistic regression


DEFAULT_SETTINGS = Settings()


class TaxonomyError(ValueError):
    """The taxonomy cannot be used: no tags, an empty or repeated tag id."""


def suggest_tags(
    taxonomy: Sequence[TaxonomyTag],
    modules: Sequence[ModuleText],
    approved: Sequence[ApprovedModule] = (),
    *,
    max_tags: int = MAX_TAGS_PER_MODULE,
    min_approved: int = MIN_APPROVED_MODULES,
    settings: Settings = DEFAULT_SETTINGS,
) -> Iterator[Suggestion]:
    """One suggestion per module, in input order, each yielded as soon as it is decided."""
    fitted = CustomerModel(
        taxonomy, modules, approved, min_approved=min_approved, settings=settings
    )
    yield from fitted.suggestions(max_tags)


class CustomerModel:
    """The model fitted for one request: one customer's taxonomy, modules and approvals."""

    def __init__(
        self,
        taxonomy: Sequence[TaxonomyTag],
        modules: Sequence[ModuleText],
        approved: Sequence[ApprovedModule] = (),
        *,
        min_approved: int = MIN_APPROVED_MODULES,
        settings: Settings = DEFAULT_SETTINGS,
    ) -> None:
        load_libraries()
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import TfidfVectorizer

        _check_taxonomy(taxonomy)
        self.taxonomy = tuple(taxonomy)
        self.modules = tuple(modules)
        self.settings = settings
        self.tag_ids = [tag.tag_id for tag in taxonomy]
        learnable = _learnable_approvals(approved, set(self.tag_ids))
        self.trained_on = len(learnable) if len(learnable) >= max(1, min_approved) else 0
        self.model_version = (
            f"{MODEL_VERSION}+cust-{_approvals_fingerprint(learnable)}"
            if self.trained_on
            else MODEL_VERSION
        )

        names = [" ".join([tag.label, *tag.aliases]) for tag in taxonomy]
        details = [tag.description for tag in taxonomy]
        titles = [module.title for module in modules]
        descriptions = [module.description[:DESCRIPTION_CHARS] for module in modules]
        if self.trained_on:
            titles += [module.title for module in learnable]
            descriptions += [module.description[:DESCRIPTION_CHARS] for module in learnable]
        corpus = [*names, *details, *titles, *descriptions]
        n_tags, n_texts = len(names), len(titles)

        self._word = TfidfVectorizer(
            analyzer="word",
            ngram_range=(1, 2),
            strip_accents="unicode",
            stop_words=sorted(STOP_WORDS),
            sublinear_tf=True,
            dtype=np.float32,
        )
        self._char = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(3, 5),
            strip_accents="unicode",
            sublinear_tf=True,
            dtype=np.float32,
        )
        blocks = []
        for vectorizer in (self._word, self._char):
            matrix = _fit_transform(vectorizer, corpus)
            tag_rows = _weighted_rows(
                matrix[:n_tags], matrix[n_tags : 2 * n_tags], settings.name_weight, 1.0
            )
            text_rows = _weighted_rows(
                matrix[2 * n_tags : 2 * n_tags + n_texts],
                matrix[2 * n_tags + n_texts :],
                settings.title_weight,
                settings.description_weight,
            )
            blocks.append((tag_rows, text_rows))
        (self._word_tags, word_texts), (self._char_tags, char_texts) = blocks
        n_modules = len(modules)
        self._word_modules = word_texts[:n_modules]
        self._char_modules = char_texts[:n_modules]

        w = settings.word_weight
        similarity = (
            w * (self._word_modules @ self._word_tags.T).toarray()
            + (1 - w) * (self._char_modules @ self._char_tags.T).toarray()
        )
        self.similarity = similarity.astype(np.float64)
        confidence = np.clip(self.similarity / settings.full_confidence_score, 0.0, 1.0)
        if self.trained_on:
            features = sp.hstack([w * word_texts, (1 - w) * char_texts]).tocsr()
            labels = [set(module.tag_ids) for module in learnable]
            learnt = _classifier_probabilities(
                features[n_modules:], labels, features[:n_modules], self.tag_ids, settings
            )
            has_classifier = ~np.isnan(learnt).all(axis=0)
            a = settings.classifier_weight
            blended = (1 - a) * confidence + a * np.nan_to_num(learnt)
            confidence = np.where(has_classifier, blended, confidence)
        self.confidence = confidence
        self._word_terms = self._word.get_feature_names_out()

    def shortlist(self, index: int, k: int) -> list[str]:
        """The `k` tag ids the model finds likeliest for module `index`, best first."""
        order = _ranked(self.confidence[index])
        return [self.tag_ids[j] for j in order[:k]]

    def suggestions(self, max_tags: int = MAX_TAGS_PER_MODULE) -> Iterator[Suggestion]:
        if max_tags < 1:
            raise ValueError(f"max_tags must be at least 1, got {max_tags}")
        for index, module in enumerate(self.modules):
            yield self.suggest(index, module, max_tags)

    def suggest(self, index: int, module: ModuleText, max_tags: int) -> Suggestion:
        s = self.settings
        row = self.confidence[index]
        order = _ranked(row)
        best = row[order[0]]
        runner_up = row[order[1]] if len(order) > 1 else 0.0
        reason = None
        if not (module.title.strip() or module.description.strip()):
            reason = "abstained: the module has neither title nor description"
        elif best < s.min_confidence:
            reason = (
                f"abstained: the best match, {self.tag_ids[order[0]]}, scores {best:.2f}, "
                f"below {s.min_confidence:.2f}"
            )
        elif best < s.sure_confidence and best - runner_up < s.min_lead:
            reason = (
                f"abstained: {self.tag_ids[order[0]]} ({best:.2f}) and "
                f"{self.tag_ids[order[1]]} ({runner_up:.2f}) are too close to choose"
            )
        if reason is not None:
            return Suggestion(module.module_id, (), reason, True, self.model_version)
        chosen = [
            j
            for j in order[:max_tags]
            if row[j] >= s.min_confidence and row[j] >= s.relative_cutoff * best
        ]
        tags = tuple((self.tag_ids[j], round(float(row[j]), 4)) for j in chosen)
        return Suggestion(
            module.module_id, tags, self._rationale(index, chosen), False, self.model_version
        )

    def _rationale(self, index: int, chosen: list[int]) -> str:
        """The words module and tag share, strongest first; or that the spelling is close."""
        parts = []
        for j in chosen[:3]:
            words = _shared_terms(self._word_modules, index, self._word_tags, j, self._word_terms)
            evidence = ", ".join(f"'{w}'" for w in words) if words else "similar word forms"
            parts.append(f"{self.tag_ids[j]}: {evidence}")
        if self.trained_on:
            parts.append(f"blended with {self.trained_on} approved modules")
        return "; ".join(parts)


def _check_taxonomy(taxonomy: Sequence[TaxonomyTag]) -> None:
    if not taxonomy:
        raise TaxonomyError("the taxonomy has no tags")
    seen: set[str] = set()
    for position, tag in enumerate(taxonomy):
        if not tag.tag_id.strip():
            raise TaxonomyError(f"taxonomy tag {position} has an empty tag_id")
        if tag.tag_id in seen:
            raise TaxonomyError(f"taxonomy tag id {tag.tag_id!r} appears more than once")
        seen.add(tag.tag_id)


def _learnable_approvals(
    approved: Sequence[ApprovedModule], tag_ids: set[str]
) -> list[ApprovedModule]:
    """Approvals with text, restricted to tags the taxonomy still has (a retired tag cannot
    be suggested again); the last approval of a module wins."""
    latest: dict[str, ApprovedModule] = {}
    for module in approved:
        if module.title.strip() or module.description.strip():
            kept = tuple(sorted({t for t in module.tag_ids if t in tag_ids}))
            latest[module.module_id] = ApprovedModule(
                module.module_id, kept, module.title, module.description
            )
    return [latest[key] for key in sorted(latest)]


def _approvals_fingerprint(approved: Sequence[ApprovedModule]) -> str:
    """12 hex digits naming exactly the approvals the classifier learnt from."""
    canonical = json.dumps(
        [[m.module_id, list(m.tag_ids), m.title, m.description] for m in approved],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _fit_transform(vectorizer: TfidfVectorizer, corpus: list[str]) -> sp.csr_matrix:
    import scipy.sparse as sp

    try:
        return vectorizer.fit_transform(corpus).tocsr()
    except ValueError:  # every text empty or only stop words: no vocabulary at all
        vectorizer.fit(["placeholder"])
        return sp.csr_matrix((len(corpus), 1), dtype=np.float32)


def _weighted_rows(
    main: sp.csr_matrix, detail: sp.csr_matrix, main_weight: float, detail_weight: float
) -> sp.csr_matrix:
    """Unit rows of `main_weight * main + detail_weight * detail` (each part unit first)."""
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    combined = main_weight * normalize(main) + detail_weight * normalize(detail)
    return normalize(sp.csr_matrix(combined, dtype=np.float32))


def _ranked(row: np.ndarray) -> list[int]:
    """Indices by descending value; ties broken by taxonomy order, so answers never vary."""
    return sorted(range(len(row)), key=lambda j: (-row[j], j))


def _classifier_probabilities(
    train: sp.csr_matrix,
    labels: list[set[str]],
    predict: sp.csr_matrix,
    tag_ids: list[str],
    settings: Settings,
) -> np.ndarray:
    """P(tag | module) from one logistic regression per tag; NaN for tags the approvals
    never (or always) used, which have nothing to learn from."""
    from sklearn.linear_model import LogisticRegression

    result = np.full((predict.shape[0], len(tag_ids)), np.nan)
    if predict.shape[0] == 0:
        return result
    for j, tag_id in enumerate(tag_ids):
        y = np.array([tag_id in tags for tags in labels], dtype=np.int8)
        if y.min() == y.max():
            continue
        model = LogisticRegression(
            C=settings.classifier_c, class_weight="balanced", solver="liblinear", random_state=0
        )
        model.fit(train, y)
        result[:, j] = model.predict_proba(predict)[:, 1]
    return result


_PHRASE = re.compile(r"\s+")


def _shared_terms(
    modules: sp.csr_matrix, i: int, tags: sp.csr_matrix, j: int, terms: np.ndarray, limit: int = 3
) -> list[str]:
    """The word features module `i` and tag `j` share, by their product's weight."""
    m_start, m_end = modules.indptr[i], modules.indptr[i + 1]
    t_start, t_end = tags.indptr[j], tags.indptr[j + 1]
    m_idx, m_val = modules.indices[m_start:m_end], modules.data[m_start:m_end]
    t_idx, t_val = tags.indices[t_start:t_end], tags.data[t_start:t_end]
    common, m_pos, t_pos = np.intersect1d(m_idx, t_idx, assume_unique=True, return_indices=True)
    if len(common) == 0:
        return []
    weight = m_val[m_pos] * t_val[t_pos]
    order = np.argsort(-weight, kind="stable")[:limit]
    return [_PHRASE.sub(" ", str(terms[common[k]])) for k in order]
