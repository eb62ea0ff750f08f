"""Tests of CITATION.cff, the citation formats generated from it, and the version's agreement across files."""

from __future__ import annotations

import datetime
import json
import re
import tomllib

import pytest
import yaml
from pybtex.database import parse_string

from ccs_transfer import __version__
from ccs_transfer.citation import (
    CITATION_FILE,
    CitationError,
    Person,
    Work,
    citation_key,
    edition_work,
    format_work,
    load_citation_metadata,
    load_schema,
    main,
    reference_works,
    to_bibtex,
    to_csl_json,
    to_ris,
    to_text,
    validation_errors,
)
from ccs_transfer.settings import REPOSITORY_ROOT

THREAD_URL = "http://wg20.criticalcodestudies.com/index.php?p=/discussion/72/code-critique-possibility-and-injustice-bias-in-ai-transfer-learning"
TUTORIAL_URL = "https://www.tensorflow.org/tutorials/images/transfer_learning_with_hub"
BUILD_DATE = datetime.date(2027, 3, 9)
# CSL 1.0.2 item types that the formats here may produce.
CSL_TYPES = {"software", "webpage", "post-weblog", "article-journal", "book", "report", "thesis", "paper-conference", "dataset", "document"}
RIS_LINE = re.compile(r"^[A-Z][A-Z0-9]  - .*$")


@pytest.fixture(scope="module")
def metadata() -> dict:
    return load_citation_metadata()


@pytest.fixture
def write_cff(tmp_path):
    def write(data: dict | str):
        path = tmp_path / "CITATION.cff"
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write


# ---------------------------------------------------------------------------
# The file itself


def test_citation_file_is_valid_cff(metadata):
    assert validation_errors(metadata) == []
    assert metadata["cff-version"] == "1.2.0"


def test_schema_hash_is_checked():
    schema = load_schema()

    assert schema["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"


def test_citation_fields_present(metadata):
    assert metadata["title"] == yaml.safe_load((REPOSITORY_ROOT / "_config.yml").read_text())["title"]
    assert metadata["authors"]
    assert set(metadata["license"]) == {"MIT", "CC-BY-4.0"}
    datetime.date.fromisoformat(str(metadata["date-released"]))


def test_no_placeholder_repository(metadata):
    # No public repository exists yet, so the field must be absent rather than invented.
    for field in ("repository-code", "repository", "url"):
        value = str(metadata.get(field, ""))
        assert "example" not in value.lower()
        assert "todo" not in value.lower()
        assert "xxx" not in value.lower()


def test_references_name_both_sources(metadata):
    urls = [reference.get("url") for reference in metadata["references"]]

    assert THREAD_URL in urls
    assert TUTORIAL_URL in urls
    thread = next(reference for reference in metadata["references"] if reference["url"] == THREAD_URL)
    assert thread["authors"][0]["family-names"] == "Bringman"
    assert thread["year"] == 2020
    tutorial = next(reference for reference in metadata["references"] if reference["url"] == TUTORIAL_URL)
    assert tutorial["authors"] == [{"name": "TensorFlow"}]


def test_version_agrees_everywhere(metadata):
    pyproject = tomllib.loads((REPOSITORY_ROOT / "pyproject.toml").read_text())
    changelog = (REPOSITORY_ROOT / "CHANGELOG.md").read_text()
    released = re.search(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", changelog, re.MULTILINE)

    assert str(metadata["version"]) == __version__
    assert pyproject["project"]["version"] == __version__
    assert released is not None, "CHANGELOG.md has no released version heading"
    assert released.group(1) == __version__
    assert released.group(2) == str(metadata["date-released"])


def test_changelog_keeps_unreleased_section():
    changelog = (REPOSITORY_ROOT / "CHANGELOG.md").read_text()

    assert "## [Unreleased]" in changelog
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{__version__}]")


# ---------------------------------------------------------------------------
# Reading errors


def test_missing_file_raises(tmp_path):
    with pytest.raises(CitationError, match="was not found"):
        load_citation_metadata(tmp_path / "CITATION.cff")


def test_yaml_error_names_line(write_cff):
    path = write_cff("cff-version: 1.2.0\ntitle: [unclosed\n")

    with pytest.raises(CitationError, match=r"not valid YAML at line \d+"):
        load_citation_metadata(path)


def test_invalid_cff_names_field(write_cff, metadata):
    broken = dict(metadata)
    broken["date-released"] = "4 December 2026"
    del broken["authors"]
    path = write_cff(broken)

    with pytest.raises(CitationError) as raised:
        load_citation_metadata(path)

    message = str(raised.value)
    assert "date-released" in message
    assert "authors" in message
    assert "Fix:" in message


def test_unknown_reference_type_rejected(metadata):
    broken = json.loads(json.dumps(metadata, default=str))
    broken["references"][0]["type"] = "forum-thread"

    assert any("references/0/type" in error for error in validation_errors(broken))


def test_version_mismatch_detected(metadata):
    from ccs_transfer.citation import check_version_agreement

    with pytest.raises(CitationError, match="version 9.9.9"):
        check_version_agreement({**metadata, "version": "9.9.9"})


# ---------------------------------------------------------------------------
# Formats


def test_edition_bibtex_parses(metadata):
    text = to_bibtex(edition_work(metadata, BUILD_DATE))
    entries = parse_string(text, "bibtex").entries
    (key, entry), = entries.items()

    assert key.endswith(f"-v{__version__}")
    assert entry.type == "misc"
    assert entry.fields["version"] == __version__
    assert "built 2027-03-09" in entry.fields["note"]
    assert entry.fields["title"] == "{Transfer Learning, Read Closely}"
    # An entity author stays one name in braces.
    assert entry.persons["author"][0].last_names == ["{The ccs-transfer edition contributors}"]


def test_source_bibtex_parses(metadata):
    text = format_work(reference_works(metadata), "bibtex")
    entries = parse_string(text, "bibtex").entries

    assert set(entries) == {"bringman2020codecritique", "tensorflowtransferlearning"}
    thread = entries["bringman2020codecritique"]
    assert thread.fields["url"] == THREAD_URL
    assert thread.fields["year"] == "2020"
    assert str(thread.persons["author"][0]) == "Bringman, Gregory"
    assert entries["tensorflowtransferlearning"].fields["url"] == TUTORIAL_URL


def test_bibtex_escapes_specials():
    work = Work(key="k", cff_type="website", title="Bias & 100% {recall} #1_a", authors=(Person(family="O'Neil", given="Cathy"),))
    text = to_bibtex(work)
    entry = parse_string(text, "bibtex").entries["k"]

    assert r"Bias \& 100\% \{recall\} \#1\_a" in entry.fields["title"]


def test_bibtex_rejects_brace_in_url():
    work = Work(key="k", cff_type="website", title="T", authors=(), url="https://host/{x}")

    with pytest.raises(CitationError, match="brace"):
        to_bibtex(work)


def test_ris_lines_are_well_formed(metadata):
    for work in [edition_work(metadata, BUILD_DATE), *reference_works(metadata)]:
        lines = to_ris(work).rstrip("\n").split("\n")

        assert lines[0].startswith("TY  - ")
        assert lines[-1] == "ER  - "
        for line in lines[:-1]:
            assert RIS_LINE.match(line), line


def test_ris_edition_fields(metadata):
    text = to_ris(edition_work(metadata, BUILD_DATE))

    assert "TY  - COMP" in text
    assert f"ET  - {__version__}" in text
    assert "DA  - 2026/12/04" in text
    assert "N1  - Version 0.1.0, built 2027-03-09" in text


def test_ris_sources_have_addresses(metadata):
    text = format_work(reference_works(metadata), "ris")

    assert f"UR  - {THREAD_URL}" in text
    assert f"UR  - {TUTORIAL_URL}" in text
    assert "AU  - Bringman, Gregory" in text
    assert "T2  - Critical Code Studies Working Group 2020" in text


def test_csl_json_items(metadata):
    works = [edition_work(metadata, BUILD_DATE), *reference_works(metadata)]
    items = json.loads(to_csl_json(works))

    assert [item["id"] for item in items] == [work.key for work in works]
    for item in items:
        assert item["type"] in CSL_TYPES
        assert item["title"]
        assert item["author"]
    edition, thread, tutorial = items
    assert edition["version"] == __version__
    assert edition["issued"] == {"date-parts": [[2026, 12, 4]]}
    assert thread["URL"] == THREAD_URL
    assert thread["author"] == [{"family": "Bringman", "given": "Gregory"}]
    assert thread["issued"] == {"date-parts": [[2020]]}
    assert tutorial["author"] == [{"literal": "TensorFlow"}]
    assert "issued" not in tutorial


def test_reading_citations(metadata):
    edition = to_text(edition_work(metadata, BUILD_DATE))
    thread, tutorial = (to_text(work) for work in reference_works(metadata))

    assert edition.startswith("The ccs-transfer edition contributors. 2026. Transfer Learning, Read Closely.")
    assert "Version 0.1.0, built 2027-03-09." in edition
    assert thread.startswith("Bringman, Gregory. 2020. “Code Critique")
    assert f"<{THREAD_URL}>" in thread
    assert "Jeremy Douglass" in thread
    assert tutorial.startswith("TensorFlow. n.d. Transfer learning with TensorFlow Hub.")
    assert f"<{TUTORIAL_URL}>" in tutorial


def test_citation_key_forms():
    assert citation_key((Person(family="Bringman", given="Gregory"),), 2020, "Code Critique: Possibility") == "bringman2020codecritique"
    assert citation_key((Person(entity="The ccs-transfer edition contributors"),), 2026, "A Title") == "ccstransfer2026title"
    assert citation_key((), None, "The Title") == "anonymoustitle"


def test_unknown_format_rejected(metadata):
    with pytest.raises(CitationError, match="Unknown citation format"):
        format_work(edition_work(metadata), "endnote")


# ---------------------------------------------------------------------------
# Command line


def test_cli_prints_all_formats(capsys):
    for citation_format in ("bibtex", "ris", "csl-json", "text"):
        assert main(["--format", citation_format, "--build-date", "2027-03-09"]) == 0
        output = capsys.readouterr().out
        assert "Transfer Learning, Read Closely" in output
        assert "Transfer learning with TensorFlow Hub" in output


def test_cli_build_date_from_environment(capsys, monkeypatch):
    monkeypatch.setenv("EDITION_BUILD_DATE", "2028-01-31")

    assert main(["--format", "text", "--work", "edition"]) == 0
    assert "built 2028-01-31" in capsys.readouterr().out


def test_cli_reports_errors_without_traceback(capsys, tmp_path):
    assert main(["--file", str(tmp_path / "missing.cff")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: The citation file")
    assert "Traceback" not in error


def test_cli_rejects_bad_build_date(capsys):
    assert main(["--build-date", "yesterday"]) == 2
    assert "--build-date='yesterday' is not a date" in capsys.readouterr().err


def test_repository_file_is_the_default():
    assert CITATION_FILE == REPOSITORY_ROOT / "CITATION.cff"


def test_access_date_in_every_format(metadata):
    dated = json.loads(json.dumps(metadata, default=str))
    dated["references"][1]["date-accessed"] = "2026-11-30"
    assert validation_errors(dated) == []
    tutorial = reference_works(dated)[1]

    assert "urldate = {2026-11-30}" in to_bibtex(tutorial)
    assert "Y2  - 2026/11/30" in to_ris(tutorial)
    assert json.loads(to_csl_json(tutorial))[0]["accessed"] == {"date-parts": [[2026, 11, 30]]}
    assert to_text(tutorial).endswith("Accessed 2026-11-30.")
