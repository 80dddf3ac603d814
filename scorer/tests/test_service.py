"""The online scorer over real HTTP on loopback, with real models and flite speech."""

from __future__ import annotations

import http.client
import json
import logging
import random
import shutil
import threading
import uuid
from collections import Counter as Tally

import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from conftest import TEXTS, read16k, wav_bytes
from voicectl_scorer import SCORER_ID
from voicectl_scorer.engine import References
from voicectl_scorer.mos import WINDOW
from voicectl_scorer.service import AdmissionQueue, Metrics, MosGroups, Sample, Scorer, serve

LIMIT = 2 << 20


def multipart(fields: dict[str, str], audio: bytes | None) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    if audio is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n'
            f"Content-Type: audio/wav\r\n\r\n".encode() + audio + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def labels(version: str, voice_id: str, **more: str) -> dict[str, str]:
    return {"version": version, "voice_id": voice_id, "language": "en", "product": "voice-studio",
            "tenant": "acme", **more}


class Client:
    def __init__(self, port: int):
        self.port = port

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def post(self, fields: dict[str, str], audio: bytes | None):
        ctype, body = multipart(fields, audio)
        status, data = self.request("POST", "/v1/samples", body, {"Content-Type": ctype})
        return status, json.loads(data)

    def metrics(self) -> dict[str, dict[tuple, float]]:
        """samples by name, keyed by sorted label items"""
        status, data = self.request("GET", "/metrics")
        assert status == 200
        out: dict[str, dict[tuple, float]] = {}
        for family in text_string_to_metric_families(data.decode()):
            for s in family.samples:
                out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
        return out


def series(m, name: str, **want: str) -> dict[tuple, float]:
    return {k: v for k, v in m.get(name, {}).items() if all((lk, lv) in k for lk, lv in want.items())}


def value(m, name: str, **want: str) -> float:
    return sum(series(m, name, **want).values())


@pytest.fixture(scope="module")
def refs_dir(tmp_path_factory, speech):
    folder = tmp_path_factory.mktemp("refs")
    shutil.copy(speech[("kal", 0)], folder / "alice.wav")
    shutil.copy(speech[("slt", 0)], folder / "bob.wav")
    (folder / "broken.wav").write_bytes(b"not audio")
    return folder


@pytest.fixture()
def running(engine, refs_dir):
    scorer = Scorer(References(refs_dir, engine.encoder), [engine], queue_capacity=16)
    scorer.start()
    server = serve(scorer, "127.0.0.1", 0, LIMIT)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield scorer, Client(server.server_port)
    server.shutdown()
    server.server_close()
    scorer.stop()


def audio_of(speech, voice: str, i: int) -> bytes:
    return speech[(voice, i)].read_bytes()


def test_scores_are_exported_under_each_samples_own_labels(running, speech, caplog):
    scorer, client = running
    caplog.set_level(logging.DEBUG)
    posts = [
        # stable: alice speaks with her own (kal) voice; canary: alice's clone drifted to awb's speaker
        (labels("v1", "alice"), "kal", [1, 2, 3]),
        (labels("v2", "alice"), "awb", [1, 2, 3]),
        (labels("v1", "bob", tenant="globex"), "slt", [1]),
        (labels("v2", "bob", tenant="globex"), "slt", [2]),
    ]
    for fields, voice, texts in posts:
        for i in texts:
            status, body = client.post({**fields, "text": TEXTS[i]}, audio_of(speech, voice, i))
            assert (status, body["status"], body["scorer"]) == (202, "queued", SCORER_ID)
    assert scorer.drain(120)
    m = client.metrics()

    def count(name, **want):
        return value(m, f"{name}_count", scorer=SCORER_ID, **want)

    def mean(name, **want):
        return value(m, f"{name}_sum", **want) / count(name, **want)

    assert count("voice_speaker_similarity", version="v1", voice_id="alice") == 3
    assert count("voice_speaker_similarity", version="v2", voice_id="alice") == 3
    assert mean("voice_speaker_similarity", version="v1", voice_id="alice") >= 0.85
    assert mean("voice_speaker_similarity", version="v2", voice_id="alice") <= 0.76
    assert mean("voice_speaker_similarity", version="v1", voice_id="bob", tenant="globex") >= 0.85
    assert mean("voice_speaker_similarity", version="v2", voice_id="bob", tenant="globex") >= 0.85
    assert count("voice_speaker_similarity", tenant="acme", voice_id="bob") == 0  # never under another tenant
    assert count("voice_wer_ratio") == 8
    assert mean("voice_wer_ratio", version="v1", voice_id="bob") <= 0.4
    # A series' clips are scored for MOS once they fill a DNSMOS window; bob's single clips are still waiting.
    for version, voice in (("v1", "kal"), ("v2", "awb")):
        lengths = np.cumsum([len(read16k(speech[(voice, i)])) for i in (1, 2, 3)])
        expected = int(np.searchsorted(lengths, WINDOW) + 1)  # clips up to the first that fills the window
        assert expected in (2, 3)
        assert count("voice_predicted_mos", version=version, voice_id="alice") == expected
    assert count("voice_predicted_mos", voice_id="bob") == 0
    assert 1 <= mean("voice_predicted_mos", version="v1", voice_id="alice") <= 5
    # Every label of the contract, and buckets at 0.005 steps where similarity budgets are decided.
    key = next(iter(series(m, "voice_speaker_similarity_count", version="v1", voice_id="alice")))
    assert {k for k, _ in key} == {"version", "voice_id", "language", "product", "tenant", "scorer"}
    bounds = {dict(k)["le"] for k in series(m, "voice_speaker_similarity_bucket", version="v1", voice_id="alice")}
    assert {"0.8", "0.805", "0.81", "0.6", "0.995", "+Inf"} <= bounds
    assert value(m, "voice_scorer_samples_total", version="v2") == 4
    # No text and no audio in logs.
    assert caplog.records, "the server logs its requests"
    for i in range(4):
        assert TEXTS[i] not in caplog.text and TEXTS[i].split()[2] not in caplog.text


def test_bad_uploads_get_a_4xx_and_a_counted_reason(running, speech):
    scorer, client = running
    good = audio_of(speech, "slt", 1)
    text = {"text": TEXTS[1]}
    cases = [
        ({**labels("v1", "bob"), **text}, b"RIFF....not really a wav", 422, "not_audio"),
        ({**labels("v1", "bob"), **text}, wav_bytes(np.zeros(16000, np.float32)), 422, "silence"),
        ({**labels("v1", "bob"), **text}, wav_bytes(np.full(800, 0.1, np.float32)), 422, "too_short"),
        ({**labels("v1", "bob"), **text}, wav_bytes(np.full(96000, 0.1, np.float32), 96000), 422, "sample_rate"),
        ({**labels("v1", "bob"), **text}, None, 400, "no_audio"),
        ({**labels("v1", "bob")}, good, 400, "bad_text"),
        ({**labels("v1", "bob"), "version": "v 1", **text}, good, 400, "bad_labels"),
        ({k: v for k, v in labels("v1", "bob").items() if k != "tenant"} | text, good, 400, "bad_labels"),
    ]
    for fields, audio, status, reason in cases:
        got, body = client.post(fields, audio)
        assert (got, body["reason"]) == (status, reason), body
        assert body["error"]
    # Not a form at all.
    got, body = client.request("POST", "/v1/samples", b"{}", {"Content-Type": "application/json"})
    assert (got, json.loads(body)["reason"]) == (400, "bad_form")
    # Too large: refused on its Content-Length, before the body is read.
    conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=10)
    conn.putrequest("POST", "/v1/samples")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(LIMIT + 1))
    conn.endheaders()
    resp = conn.getresponse()
    assert (resp.status, json.loads(resp.read())["reason"]) == (413, "too_large")
    conn.close()

    assert scorer.drain(30)
    m = client.metrics()
    for reason in ("not_audio", "silence", "too_short", "sample_rate", "no_audio", "bad_text", "bad_form", "too_large"):
        assert value(m, "voice_scorer_rejected_total", reason=reason) == 1, reason
    assert value(m, "voice_scorer_rejected_total", reason="bad_labels") == 2
    # Nothing refused was scored or counted as a sample.
    assert value(m, "voice_wer_ratio_count") == 0
    assert value(m, "voice_scorer_samples_total") == 0


def test_an_unknown_voice_is_counted_and_reported_not_scored_for_similarity(running, speech):
    scorer, client = running
    status, body = client.post({**labels("v1", "carol"), "text": TEXTS[2]}, audio_of(speech, "rms", 2))
    assert status == 202 and "no reference audio" in body["similarity"]
    assert scorer.drain(60)
    m = client.metrics()
    assert value(m, "voice_scorer_unknown_voice_total", version="v1", voice_id="carol") == 1
    assert value(m, "voice_speaker_similarity_count", voice_id="carol") == 0
    assert value(m, "voice_wer_ratio_count", voice_id="carol") == 1
    status, data = client.request("GET", "/v1/voices")
    voices = json.loads(data)
    assert voices["registered"] == ["alice", "bob"]
    assert voices["unknown_seen"] == {"carol": 1}
    assert "broken.wav" in voices["refused_files"]


def test_the_queue_is_bounded_and_drops_are_counted_per_version(engine, refs_dir, speech):
    metrics = Metrics()
    scorer = Scorer(References(refs_dir, engine.encoder), [engine], metrics, queue_capacity=4, rng=random.Random(1))
    data = audio_of(speech, "slt", 1)
    kept = Tally()
    for n in range(40):  # no worker yet: scoring has fallen behind
        version = "v1" if n % 2 else "v2"
        status, body = scorer.admit({**labels(version, "bob")}, TEXTS[1], data)
        assert status == 202
        kept[body["status"]] += 1
    assert len(scorer.queue) == 4
    dropped = {v: metrics.dropped.labels(v)._value.get() for v in ("v1", "v2")}
    assert sum(dropped.values()) == 36 and min(dropped.values()) >= 14
    assert metrics.admitted.labels("v1")._value.get() == 20
    scorer.start()
    assert scorer.drain(120)
    scorer.stop()
    # Exactly the four samples left in the queue were scored.
    text = generate_latest(metrics.registry).decode()
    [wer] = [f for f in text_string_to_metric_families(text) if f.name == "voice_wer_ratio"]
    assert sum(s.value for s in wer.samples if s.name == "voice_wer_ratio_count") == 4


def _drop_fractions(queue_factory, seed: int) -> dict[str, float]:
    """A stable version arriving steadily and a canary (10%) arriving in bursts, into a scorer that keeps up
    with 80% of the arrivals; the fraction of each version dropped."""
    rng = random.Random(seed)
    offered, dropped = Tally(), Tally()
    queue = queue_factory(lambda s: dropped.update([s.labels["version"]]), rng)
    wav = np.zeros(1, np.float32)
    credit = 0.0
    for tick in range(20000):
        arrivals = ["stable"]
        if tick % 50 == 0:
            arrivals += ["canary"] * (50 * 10 // 90)  # a burst: 10% of the traffic, all at once
        for version in arrivals:
            offered[version] += 1
            queue.put(Sample({"version": version}, "", wav))
        credit += 0.85
        while credit >= 1 and len(queue.items):
            queue.items.pop(0)
            credit -= 1
    return {v: dropped[v] / offered[v] for v in offered}


class _TailDrop(AdmissionQueue):
    def put(self, sample):
        if len(self.items) >= self.capacity:
            self.on_drop(sample)
            return False
        self.items.append(sample)
        return True


def test_random_drops_do_not_bias_a_version_that_arrives_in_bursts():
    fair = _drop_fractions(lambda on_drop, rng: AdmissionQueue(16, on_drop, rng), seed=3)
    assert fair["stable"] > 0.05  # overloaded: samples are dropped
    assert abs(fair["canary"] - fair["stable"]) < 0.03, fair
    # The same check catches the bias of dropping the newest sample (so it could fail).
    tail = _drop_fractions(lambda on_drop, rng: _TailDrop(16, on_drop, rng), seed=3)
    assert tail["canary"] - tail["stable"] > 0.2, tail


def test_mos_groups_never_mix_labels_and_stale_groups_are_discarded():
    groups = MosGroups(max_age=10.0, max_pending_seconds=30.0, rng=random.Random(0))
    clip = np.zeros(WINDOW // 3 + 1, np.float32)
    a, b = ("v1", "alice", "en", "p", "t"), ("v2", "alice", "en", "p", "t")
    assert groups.add(a, clip) is None and groups.add(b, clip) is None and groups.add(a, clip) is None
    full = groups.add(a, clip)
    assert full is not None and len(full) == 3  # a's three clips only, none of b's
    assert groups.expire(now=groups.groups[b].started + 11) == [(b, 1)]
    assert groups.pending == 0
    # Over the memory bound, groups are discarded until under it.
    for k in range(12):
        groups.add(("v1", f"voice{k}", "en", "p", "t"), clip)
    dropped = groups.expire()
    assert groups.pending <= 30 * 16000 and len(dropped) >= 1


def test_references_are_re_read_when_the_folder_changes(engine, refs_dir, speech, tmp_path):
    folder = tmp_path / "refs"
    shutil.copytree(refs_dir, folder)
    refs = References(folder, engine.encoder)
    assert refs.ids() == ["alice", "bob"] and "broken.wav" in refs.errors
    assert not refs.refresh()  # unchanged: not re-read
    shutil.copy(speech[("rms", 0)], folder / "carol.wav")
    (folder / "bad name.wav").write_bytes(b"x")
    assert refs.refresh()
    assert refs.ids() == ["alice", "bob", "carol"] and "bad name.wav" in refs.errors


def test_the_serve_command_starts_scores_and_stops_on_sigterm(refs_dir, speech):
    import os
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src"
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicectl_scorer", "serve", "--port", "0", "--references", str(refs_dir),
         "--queue", "4"],
        env={**os.environ, "PYTHONPATH": str(src)}, stderr=subprocess.PIPE, text=True,
    )
    try:
        port = None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        assert port, lines
        client = Client(port)
        status, body = client.post({**labels("v9", "bob"), "text": TEXTS[1]}, audio_of(speech, "slt", 1))
        assert status == 202, body
        status, data = client.request("GET", "/healthz")
        assert status == 200 and json.loads(data)["scorer"] == SCORER_ID
        proc.send_signal(signal.SIGTERM)  # stops after the queued sample is scored or dropped
        assert proc.wait(timeout=60) == 0
        assert TEXTS[1] not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class _FakeEngine:
    """Unit tests of the wiring only: fixed scores, or a failure for one text."""

    def similarity(self, wav, reference):
        return 0.9

    def wer(self, wav, text):
        if text == "explode":
            raise RuntimeError("decoder failure")
        return 0.1

    def mos(self, clips):
        return [3.0] * len(clips)


def test_a_scoring_failure_is_counted_and_the_worker_goes_on(engine, refs_dir, speech):
    metrics = Metrics()
    refs = References(refs_dir, engine.encoder)
    scorer = Scorer(refs, [_FakeEngine()], metrics, queue_capacity=8,
                    mos_groups=MosGroups(max_age=0.0, rng=random.Random(0)))
    scorer.start()
    data = audio_of(speech, "slt", 1)
    assert scorer.admit(labels("v1", "bob"), "explode", data)[0] == 202
    assert scorer.admit(labels("v2", "bob"), TEXTS[1], data)[0] == 202
    assert scorer.drain(30)
    scorer.stop()
    assert metrics.errors.labels("wer")._value.get() == 1
    assert metrics.wer.labels("v2", "bob", "en", "voice-studio", "acme", SCORER_ID)._sum.get() == pytest.approx(0.1)
    # max_age 0: each group is stale as soon as its clip is added, and discarded for its own version.
    assert metrics.mos_discarded.labels("v1")._value.get() == 1
    assert metrics.mos_discarded.labels("v2")._value.get() == 1
    assert metrics.mos.labels("v2", "bob", "en", "voice-studio", "acme", SCORER_ID)._sum.get() == 0


def test_unknown_voice_ids_beyond_the_cap_share_one_label(engine, refs_dir, speech):
    metrics = Metrics()
    scorer = Scorer(References(refs_dir, engine.encoder), [engine], metrics, queue_capacity=1)
    data = audio_of(speech, "slt", 1)
    for k in range(105):
        assert scorer.admit(labels("v1", f"voice{k}"), TEXTS[1], data)[0] == 202
    assert metrics.unknown_voice.labels("v1", "voice0")._value.get() == 1
    assert metrics.unknown_voice.labels("v1", "_other")._value.get() == 5
    assert len(scorer.unknown_seen) == 100
