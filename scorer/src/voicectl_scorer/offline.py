"""score-dirs: score the baseline's and the candidate's audio of one evaluation set into the CSVs the gate reads.

The manifest (CSV) has a row per utterance: `utterance_id`, `voice_id`, `language`, `text`, and optionally
`product` and `tenant`. Each folder holds `<utterance_id>.wav` for every row. The output folder gets
`baseline.csv` and `canary.csv` (the two files `voicectl gate -b ... -c ... --pair-by utterance_id` takes)
with the manifest's label columns and `speaker_similarity`, `mos`, `wer` (percent, as the shipped policies
read it) and `scorer`. A clip that is missing or refused leaves its cells empty (a missing value, which the
gate never promotes on) and is reported on stderr with its file and reason.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from . import SCORER_ID, audio
from .engine import LABEL_VALUE, Engine, References

REQUIRED = ("utterance_id", "voice_id", "language", "text")
OPTIONAL_LABELS = ("product", "tenant")
EX_DATAERR = 65
EX_NOINPUT = 66


class ManifestError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Row:
    line: int
    fields: dict[str, str]


def read_manifest(path: Path) -> tuple[list[str], list[Row]]:
    """Label columns to write, and the rows. Every problem is collected before raising."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ManifestError([f"{path}: missing column(s) {', '.join(missing)}; found: {', '.join(header)}"])
        rows: list[Row] = []
        problems: list[str] = []
        seen: set[str] = set()
        for i, fields in enumerate(reader, start=2):
            for col in ("utterance_id", "voice_id", "language", *(c for c in OPTIONAL_LABELS if c in header)):
                value = fields.get(col) or ""
                if not LABEL_VALUE.match(value):
                    problems.append(f"{path}:{i}: {col}: expected a value matching {LABEL_VALUE.pattern}, found {value[:40]!r}")
            if not (fields.get("text") or "").strip():
                problems.append(f"{path}:{i}: text: expected the input text, found nothing")
            uid = fields.get("utterance_id") or ""
            if uid in seen:
                problems.append(f"{path}:{i}: utterance_id: {uid!r} appears twice")
            seen.add(uid)
            rows.append(Row(i, {k: v or "" for k, v in fields.items() if k is not None}))
    if problems:
        raise ManifestError(problems[:20] + ([f"and {len(problems) - 20} more"] if len(problems) > 20 else []))
    if not rows:
        raise ManifestError([f"{path}: no rows"])
    labels = ["utterance_id", "voice_id", "language", *(c for c in OPTIONAL_LABELS if c in header)]
    return labels, rows


def score_folder(
    engine: Engine, refs: References, rows: list[Row], folder: Path, limits: audio.Limits, err: TextIO
) -> list[dict[str, str]]:
    clips: dict[str, np.ndarray] = {}
    out: dict[str, dict[str, str]] = {}
    for row in rows:
        uid = row.fields["utterance_id"]
        result = {"speaker_similarity": "", "mos": "", "wer": ""}
        out[uid] = result
        path = folder / f"{uid}.wav"
        try:
            wav = audio.decode(path.read_bytes(), limits)
        except FileNotFoundError:
            print(f"{path}: missing (utterance {uid}); its scores are left empty", file=err)
            continue
        except audio.AudioRejected as e:
            print(f"{path}: refused ({e.reason}: {e}); its scores are left empty", file=err)
            continue
        clips[uid] = wav
        reference = refs.get(row.fields["voice_id"])
        if reference is not None:
            result["speaker_similarity"] = f"{engine.similarity(wav, reference):.5f}"
        result["wer"] = f"{100 * engine.wer(wav, row.fields['text']):.3f}"
    # DNSMOS: clips of one voice (and its labels) concatenated in manifest order, never across voices.
    groups: dict[tuple[str, ...], list[str]] = {}
    for row in rows:
        uid = row.fields["utterance_id"]
        if uid in clips:
            key = tuple(row.fields.get(c, "") for c in ("voice_id", "language", *OPTIONAL_LABELS))
            groups.setdefault(key, []).append(uid)
    for uids in groups.values():
        for uid, value in zip(uids, engine.mos([clips[u] for u in uids])):
            out[uid]["mos"] = f"{value:.4f}"
    return [out[row.fields["utterance_id"]] for row in rows]


def write_csv(path: Path, labels: list[str], rows: list[Row], scores: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([*labels, "speaker_similarity", "mos", "wer", "scorer"])
        for row, s in zip(rows, scores):
            w.writerow([*(row.fields[c] for c in labels), s["speaker_similarity"], s["mos"], s["wer"], SCORER_ID])


def score_dirs(
    manifest: Path, baseline: Path, candidate: Path, out: Path, references: Path | None,
    max_seconds: float = 60.0, err: TextIO = sys.stderr,
) -> int:
    problems = [f"{p}: not a folder" for p in (baseline, candidate) if not p.is_dir()]
    if references is not None and not references.is_dir():
        problems.append(f"{references}: not a folder")
    if not manifest.is_file():
        problems.append(f"{manifest}: no such file")
    if problems:
        for p in problems:
            print(p, file=err)
        return EX_NOINPUT
    try:
        labels, rows = read_manifest(manifest)
    except ManifestError as e:
        for p in e.problems:
            print(p, file=err)
        return EX_DATAERR
    except (UnicodeDecodeError, csv.Error) as e:
        print(f"{manifest}: not a readable CSV manifest ({e})", file=err)
        return EX_DATAERR
    engine = Engine()
    refs = References(references, engine.encoder)
    for name, why in refs.errors.items():
        print(f"{references / name}: reference refused ({why})", file=err)
    voices = {r.fields["voice_id"] for r in rows}
    for v in sorted(voices - set(refs.ids())):
        print(f"voice_id {v!r}: no reference audio registered; its speaker_similarity is left empty", file=err)
    limits = audio.Limits(max_seconds=max_seconds)
    out.mkdir(parents=True, exist_ok=True)
    for folder, name in ((baseline, "baseline.csv"), (candidate, "canary.csv")):
        write_csv(out / name, labels, rows, score_folder(engine, refs, rows, folder, limits, err))
    print(f"wrote {out / 'baseline.csv'} and {out / 'canary.csv'} ({len(rows)} utterances, scorer {SCORER_ID})", file=err)
    return 0
