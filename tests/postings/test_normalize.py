from assets.postings.normalize import normalize_values, pair_hash


def test_spellings_of_one_pair_normalize_alike():
    spellings = ["Sr. Software Engineer", "  SR  software-engineer ", "sr software engineer!"]
    assert set(normalize_values(spellings)) == {"sr software engineer"}


def test_accents_and_compatibility_forms_fold():
    assert normalize_values(["Société Générale", "ﬁnance Ⅱ", "Zürich"]) == [
        "societe generale",
        "finance ii",
        "zurich",
    ]


def test_symbols_that_carry_meaning_survive():
    assert normalize_values(["C++ Developer", "C# Engineer"]) == ["c++ developer", "c# engineer"]


def test_pair_hash_is_stable_and_separates_company_from_title():
    # A fixed value: the cache outlives processes, so the hash must not depend on one.
    assert pair_hash("acme", "engineer") == "682dfa325d97aaf3f0146377dbc6df17"
    assert len(pair_hash("acme", "engineer")) == 32
    assert pair_hash("acme eng", "ineer") != pair_hash("acme", "eng ineer")
