"""`kbrun kb import`: what a knowledge engineer types and reads."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kbrun.cli.main import app
from tests.conftest import DATA, validated

SAMPLE = DATA / "free-exercise-db" / "exercises.json"


@pytest.fixture()
def runner():
    return CliRunner()


def test_import_then_validate_then_advise(runner, tmp_path):
    out = tmp_path / "fedb"
    result = runner.invoke(app, ["kb", "import", "free-exercise-db", str(SAMPLE),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "9 new exercises" in result.output
    assert "2 linked to exercises kbrun already has" in result.output
    assert "3 skipped" in result.output
    assert f"The folder validates. Use it with: kbrun advise --kb {out}" in result.output

    result = runner.invoke(app, ["kb", "validate", "--kb", str(out)])
    assert result.exit_code == 0, result.output
    assert "Knowledge base is valid" in result.output

    result = runner.invoke(app, ["kb", "show", "fedb-thigh-abductor", "--kb", str(out),
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    shown = validated("kb-show", result.stdout)
    assert shown["category"] == "strength" and shown["equipment"] == ["machine"]
    assert {"id": "free-exercise-db", "quote": "Thigh_Abductor"}.items() <= \
        shown["sources"][0].items()
    targets = {e["to"]: e["role"] for e in shown["edges"] if e["relation"] == "targets"}
    assert targets == {"gluteus-medius": "primary", "gluteus-minimus": "primary",
                       "gluteus-maximus": "secondary"}


def test_json_report(runner, tmp_path):
    result = runner.invoke(app, ["kb", "import", "free-exercise-db", str(SAMPLE),
                                 "--out", str(tmp_path / "fedb"), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = validated("kb-import", result.stdout)
    assert report["counts"] == {"imported": 9, "linked": 2, "skipped": 3}
    assert report["valid"] is True
    assert {"record": "Single_Leg_Glute_Bridge", "exercise": "single-leg-glute-bridge"} in \
        report["linked"]
    assert report["commit"] == "acd61f751fe15d618862ee3084f27e839222a28f"


def test_markdown_report(runner, tmp_path):
    result = runner.invoke(app, ["kb", "import", "free-exercise-db", str(SAMPLE),
                                 "--out", str(tmp_path / "fedb"), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# Imported free-exercise-db (14 records")


@pytest.mark.parametrize("args, message", [
    (["wger", str(SAMPLE), "--out", "x"], "'wger' is not"),
    (["free-exercise-db", "missing.json", "--out", "x"], "does not exist"),
    (["free-exercise-db", str(SAMPLE)], "Missing option '--out'"),
], ids=["unknown-dataset", "missing-file", "no-out"])
def test_bad_input_is_one_error_line_and_exit_2(runner, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["kb", "import", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_out_folder_holding_other_knowledge_is_refused(runner, tmp_path):
    (tmp_path / "mine.yaml").write_text("exercises: []\n", encoding="utf-8")
    result = runner.invoke(app, ["kb", "import", "free-exercise-db", str(SAMPLE),
                                 "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "Error: " in result.output and "pass a new or empty folder" in result.output


# -- hostile datasets (issue 11) -----------------------------------------------------------------

HOSTILE_DATASETS = {
    "not-utf8": (b'[\n  {"id": "Cafe", "name": "Caf\xe9 squat"}\n]\n',
                 "{path}:2: the dataset is not UTF-8 text: byte 0xe9 cannot be read; save the "
                 "file with the UTF-8 encoding (free-exercise-db's dist/exercises.json is UTF-8)"),
    "5,000 digits": (b'[\n  {"id": "Big", "name": "Big"},\n  {"id": "Huge", "level": '
                     + b"7" * 5000 + b"}\n]\n",
                     "{path}:3: record 1 holds the number 777777777777..., 5,000 digits long "
                     "(at most 100); a dataset's numbers are small; check the file is the "
                     "dataset's own, unedited"),
    "deep": (b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]",
             "{path}:1: record 0 is nested too deeply to be an exercise; a record is one object "
             "of fields; check the file is the dataset's own, unedited"),
}


@pytest.mark.parametrize("name", HOSTILE_DATASETS)
def test_a_hostile_dataset_is_one_error_line_naming_it_and_the_fix(runner, tmp_path, name):
    content, message = HOSTILE_DATASETS[name]
    path = tmp_path / "exercises.json"
    path.write_bytes(content)
    result = runner.invoke(app, ["kb", "import", "free-exercise-db", str(path),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.stderr == "Error: " + message.format(path=path) + "\n"
    assert not (tmp_path / "out").exists()


def test_a_dataset_over_the_size_limit_is_refused_before_it_is_decoded(runner, tmp_path,
                                                                         monkeypatch):
    from kbrun.engine import importer

    monkeypatch.setattr(importer, "MAX_DATASET_BYTES", 1000)
    result = runner.invoke(app, ["kb", "import", "free-exercise-db", str(SAMPLE),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {SAMPLE}: the dataset is over the 1,000 bytes an import "
                             "reads; is this free-exercise-db's dist/exercises.json (about 1 "
                             "MB)?\n")
