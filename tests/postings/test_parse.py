"""Reading a raw file's lines: the fast decoder never takes a non-string company or title for
a string, and never refuses a string that merely reads like a number."""

import json

from assets.postings.parse import parse_postings_file


def test_company_and_title_must_be_written_as_strings(tmp_path):
    good = {"company": "Acme", "title": "Data Engineer", "location": "Oslo"}
    lines = [json.dumps(good)] * 500
    cases = {
        # line number -> (the line, its reason, or the fields of a valid line)
        10: ('{"company": 42, "title": "Cook"}', "company is not a string (got int)"),
        20: ('{"company": "Acme", "title": 1.5e3}', "title is not a string (got float)"),
        30: ('{"company": true, "title": "Cook"}', "company is not a string (got bool)"),
        40: ('{"company": "Acme", "title": false}', "title is not a string (got bool)"),
        60: ('{"company": "42", "title": "Cook"}', ("42", "Cook")),
        70: ('{"company": "true", "title": "1.5e3"}', ("true", "1.5e3")),
        80: ('{"company" :  "Acme",  "title":"NaN"}', ("Acme", "NaN")),
    }
    for number, (line, _) in cases.items():
        lines[number - 1] = line
    path = tmp_path / "part-0.jsonl"
    path.write_text("\n".join(lines) + "\n")

    parsed = parse_postings_file(path, "part-0.jsonl")

    reasons = dict(zip(parsed.quarantine["line_number"], parsed.quarantine["reason"], strict=True))
    assert reasons == {n: why for n, (_, why) in cases.items() if isinstance(why, str)}
    fields = {
        n: (c, t) for n, c, t in parsed.valid.select("line_number", "company", "title").rows()
    }
    for number, (_, expected) in cases.items():
        if not isinstance(expected, str):
            assert fields[number] == expected
    assert len(fields) + len(reasons) == 500


def test_a_line_the_fast_decoder_refuses_spoils_no_other_line(tmp_path):
    good = '{"company": "Acme", "title": "Cook"}'
    lines = [good] * 5000
    lines[4321] = '{"company": {"name": "Acme"}, "title": "Cook"}'
    path = tmp_path / "part-0.jsonl"
    path.write_text("\n".join(lines) + "\n")

    parsed = parse_postings_file(path, "part-0.jsonl")

    assert parsed.quarantine.select("line_number", "reason").rows() == [
        (4322, "company is not a string (got dict)")
    ]
    assert parsed.valid.height == 4999
