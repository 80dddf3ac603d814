"""score-dirs, run as the CLI a CI job runs, on flite speech: the CSVs that `voicectl gate` reads."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import TEXTS
from voicectl_scorer import SCORER_ID

SRC = Path(__file__).resolve().parents[1] / "src"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "voicectl_scorer", "score-dirs", *args],
        capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory, speech):
    root = tmp_path_factory.mktemp("eval")
    refs, base, cand = root / "refs", root / "baseline", root / "candidate"
    for d in (refs, base, cand):
        d.mkdir()
    shutil.copy(speech[("awb", 0)], refs / "alice.wav")
    shutil.copy(speech[("slt", 0)], refs / "bob.wav")
    rows = []
    for voice_id, speaker in (("alice", "awb"), ("bob", "slt")):
        for i in (1, 2, 3):
            uid = f"{voice_id}-{i}"
            rows.append({"utterance_id": uid, "voice_id": voice_id, "language": "en", "tenant": "acme",
                         "text": TEXTS[i]})
            shutil.copy(speech[(speaker, i)], base / f"{uid}.wav")
            # The candidate's bob drifted to another speaker; one of alice's takes is missing.
            drifted = "rms" if voice_id == "bob" else speaker
            if uid != "alice-3":
                shutil.copy(speech[(drifted, i)], cand / f"{uid}.wav")
    manifest = write_manifest(root / "manifest.csv", rows)
    out = root / "out"
    proc = run("--manifest", str(manifest), "--baseline", str(base), "--candidate", str(cand),
               "--references", str(refs), "-o", str(out))
    return proc, out, cand


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_writes_the_gate_csvs_with_the_manifests_labels(evaluation):
    proc, out, _ = evaluation
    assert proc.returncode == 0, proc.stderr
    base, cand = read(out / "baseline.csv"), read(out / "canary.csv")
    assert list(base[0]) == ["utterance_id", "voice_id", "language", "tenant", "speaker_similarity", "mos", "wer",
                             "scorer"]
    assert [r["utterance_id"] for r in base] == [r["utterance_id"] for r in cand]
    assert {r["scorer"] for r in base + cand} == {SCORER_ID}
    for r in base:
        assert 0.85 <= float(r["speaker_similarity"]) <= 1
        assert 1 <= float(r["mos"]) <= 5
        assert 0 <= float(r["wer"]) <= 50  # percent


def test_a_drifted_voice_loses_similarity_and_only_that_voice(evaluation):
    _, out, _ = evaluation
    base = {r["utterance_id"]: r for r in read(out / "baseline.csv")}
    cand = {r["utterance_id"]: r for r in read(out / "canary.csv")}
    bob = [float(cand[u]["speaker_similarity"]) - float(base[u]["speaker_similarity"]) for u in cand if u.startswith("bob")]
    assert max(bob) <= -0.15, bob
    for u in ("alice-1", "alice-2"):
        assert cand[u]["speaker_similarity"] == base[u]["speaker_similarity"]  # the same audio scores the same


def test_a_missing_clip_leaves_empty_cells_and_is_reported(evaluation):
    proc, out, cand_dir = evaluation
    row = next(r for r in read(out / "canary.csv") if r["utterance_id"] == "alice-3")
    assert (row["speaker_similarity"], row["mos"], row["wer"]) == ("", "", "")
    assert f"{cand_dir / 'alice-3.wav'}: missing" in proc.stderr
    for text in TEXTS:
        assert text not in proc.stderr  # no text in what it prints


def test_manifest_mistakes_name_the_file_line_and_column(tmp_path):
    manifest = write_manifest(
        tmp_path / "m.csv",
        [{"utterance_id": "u1", "voice_id": "alice", "language": "en", "text": "hello"},
         {"utterance_id": "u2", "voice_id": "bad voice", "language": "en", "text": ""}],
    )
    proc = run("--manifest", str(manifest), "--baseline", str(tmp_path), "--candidate", str(tmp_path),
               "-o", str(tmp_path / "out"))
    assert proc.returncode == 65
    assert f"{manifest}:3: voice_id: expected" in proc.stderr
    assert f"{manifest}:3: text: expected the input text" in proc.stderr
    assert "Traceback" not in proc.stderr
    (tmp_path / "n.csv").write_text("utterance_id,voice\nu1,a\n")
    proc = run("--manifest", str(tmp_path / "n.csv"), "--baseline", str(tmp_path), "--candidate", str(tmp_path),
               "-o", str(tmp_path / "out"))
    assert proc.returncode == 65 and "missing column(s) voice_id, language, text" in proc.stderr
    proc = run("--manifest", str(manifest), "--baseline", str(tmp_path / "nope"), "--candidate", str(tmp_path),
               "-o", str(tmp_path / "out"))
    assert proc.returncode == 66 and f"{tmp_path / 'nope'}: not a folder" in proc.stderr
