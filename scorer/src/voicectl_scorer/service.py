"""The online scorer: model servers POST samples of their audio; /metrics exports the score histograms.

Requests are checked and decoded in the HTTP thread, so a bad upload gets its 4xx at once; scoring runs in
worker threads fed by a bounded queue. When the workers fall behind, the queue drops samples at admission
instead of growing (see AdmissionQueue).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from . import SCORER_ID, audio
from .engine import LABEL_VALUE, LABELS, Engine, References
from .mos import WINDOW

log = logging.getLogger("voicectl_scorer")

MAX_TEXT_CHARS = 20000


def _steps(lo: float, hi: float, step: float) -> list[float]:
    n = int(round((hi - lo) / step))
    return [round(lo + k * step, 6) for k in range(n + 1)]


# Bucket bounds fine enough for the policies' budgets (docs/metrics.md): a mean is exact from _sum/_count;
# the buckets size its spread, so they are finest where values sit.
SIMILARITY_BUCKETS = [0.0, 0.1, 0.2, 0.3] + _steps(0.4, 1.0, 0.005)
MOS_BUCKETS = _steps(1.0, 5.0, 0.05)
WER_BUCKETS = _steps(0.0, 0.3, 0.01) + _steps(0.32, 1.0, 0.02) + [1.25, 1.5, 2.0, 3.0]

#: Distinct unknown voice_ids given their own label value; past this they are counted as "_other".
MAX_UNKNOWN_VOICES = 100


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        labels = [*LABELS, "scorer"]
        r = self.registry
        self.similarity = Histogram(
            "voice_speaker_similarity",
            "Cosine of speaker embeddings, generated audio vs the voice's reference audio.",
            labels, buckets=SIMILARITY_BUCKETS, registry=r,
        )
        self.mos = Histogram(
            "voice_predicted_mos", "Predicted MOS, 1 to 5 (DNSMOS P.835 overall).",
            labels, buckets=MOS_BUCKETS, registry=r,
        )
        self.wer = Histogram(
            "voice_wer_ratio", "Per-utterance word error rate by ASR round trip (a ratio).",
            labels, buckets=WER_BUCKETS, registry=r,
        )
        self.rejected = Counter(
            "voice_scorer_rejected", "Uploads refused, by reason (nothing of them is scored).", ["reason"], registry=r
        )
        self.admitted = Counter("voice_scorer_samples", "Valid samples offered to the queue.", ["version"], registry=r)
        self.dropped = Counter(
            "voice_scorer_dropped", "Valid samples dropped because scoring fell behind.", ["version"], registry=r
        )
        self.unknown_voice = Counter(
            "voice_scorer_unknown_voice",
            "Samples of a voice with no registered reference audio (no similarity; MOS and WER still scored).",
            ["version", "voice_id"], registry=r,
        )
        self.mos_discarded = Counter(
            "voice_scorer_mos_discarded",
            "Clips whose MOS was never scored: their voice's group did not fill a DNSMOS window in time.",
            ["version"], registry=r,
        )
        self.errors = Counter(
            "voice_scorer_errors", "Scoring failures (a bug or a model error; the sample is skipped).",
            ["stage"], registry=r,
        )
        self.queue_length = Gauge("voice_scorer_queue_length", "Samples waiting to be scored.", registry=r)
        self.queue_capacity = Gauge("voice_scorer_queue_capacity", "Most samples the queue holds.", registry=r)
        self.references = Gauge("voice_scorer_reference_voices", "Voices with registered reference audio.", registry=r)
        self.audio_seconds = Counter(
            "voice_scorer_audio_seconds", "Seconds of audio scored.", ["version"], registry=r
        )


@dataclass
class Sample:
    labels: dict[str, str]
    text: str
    wav: np.ndarray
    arrived: float = field(default_factory=time.monotonic)

    def label_values(self) -> tuple[str, ...]:
        return tuple(self.labels[k] for k in LABELS)


class AdmissionQueue:
    """A bounded queue that drops at admission, uniformly at random, when full.

    When a sample arrives at a full queue, one of the capacity + 1 samples (those waiting and the new one)
    is dropped, each with the same probability. A sample's chance of being scored then depends only on how
    loaded the scorer was while it waited, never on its labels: stable and canary samples that arrive in the
    same period lose the same fraction, whatever their order or burstiness. Dropping only the newest would
    instead penalise whichever version arrives in bursts; dropping the oldest would favour it.
    """

    def __init__(self, capacity: int, on_drop: Callable[[Sample], None], rng: random.Random | None = None):
        if capacity < 1:
            raise ValueError("queue capacity must be at least 1")
        self.capacity = capacity
        self.on_drop = on_drop
        self.rng = rng or random.Random()
        self.items: list[Sample] = []
        self.cond = threading.Condition()
        self.closed = False

    def put(self, sample: Sample) -> bool:
        """Returns False when the new sample itself was the one dropped."""
        with self.cond:
            if len(self.items) < self.capacity:
                self.items.append(sample)
                self.cond.notify()
                return True
            victim = self.rng.randrange(self.capacity + 1)
            if victim == self.capacity:
                dropped, kept = sample, False
            else:
                dropped, kept = self.items[victim], True
                self.items[victim] = sample
        self.on_drop(dropped)
        return kept

    def get(self, timeout: float | None = None) -> Sample | None:
        with self.cond:
            end = None if timeout is None else time.monotonic() + timeout
            while not self.items and not self.closed:
                remaining = None if end is None else end - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self.cond.wait(remaining)
            return self.items.pop(0) if self.items else None

    def __len__(self) -> int:
        with self.cond:
            return len(self.items)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


@dataclass
class _Group:
    clips: list[np.ndarray] = field(default_factory=list)
    samples: int = 0
    started: float = field(default_factory=time.monotonic)


class MosGroups:
    """Clips waiting for their DNSMOS window, grouped by all their labels (never across voices or versions).

    A group is scored once it holds a full window (9.01 s). Groups older than `max_age` seconds, and random
    groups when more than `max_pending_seconds` of audio wait in all, are discarded (counted): low-traffic
    label sets get no MOS rather than a score of repeated audio that other sets do not get.
    """

    def __init__(self, max_age: float = 900.0, max_pending_seconds: float = 1800.0, rng: random.Random | None = None):
        self.max_age = max_age
        self.max_pending = int(max_pending_seconds * audio.SAMPLE_RATE)
        self.groups: dict[tuple[str, ...], _Group] = {}
        self.pending = 0
        self.rng = rng or random.Random()

    def add(self, key: tuple[str, ...], wav: np.ndarray) -> list[np.ndarray] | None:
        """Add a clip; returns the group's clips when it fills a window (and forgets the group)."""
        group = self.groups.setdefault(key, _Group())
        group.clips.append(wav)
        group.samples += len(wav)
        self.pending += len(wav)
        if group.samples >= WINDOW:
            del self.groups[key]
            self.pending -= group.samples
            return group.clips
        return None

    def expire(self, now: float | None = None) -> list[tuple[tuple[str, ...], int]]:
        """Discard stale groups, then random ones while over the memory bound; returns (key, clips) dropped."""
        now = time.monotonic() if now is None else now
        gone = [k for k, g in self.groups.items() if now - g.started > self.max_age]
        while self.pending > self.max_pending and len(gone) < len(self.groups):
            rest = [k for k in self.groups if k not in gone]
            gone.append(self.rng.choice(rest))
        dropped = []
        for key in gone:
            group = self.groups.pop(key)
            self.pending -= group.samples
            dropped.append((key, len(group.clips)))
        return dropped


class Scorer:
    """The queue, the workers and the metrics; independent of HTTP so tests can drive it directly."""

    def __init__(
        self,
        references: References,
        engines: list[Engine],
        metrics: Metrics | None = None,
        queue_capacity: int = 64,
        limits: audio.Limits | None = None,
        mos_groups: MosGroups | None = None,
        rng: random.Random | None = None,
        refresh_every: float = 30.0,
    ):
        self.references = references
        self.engines = engines
        self.metrics = metrics or Metrics()
        self.limits = limits or audio.Limits()
        self.queue = AdmissionQueue(queue_capacity, self._dropped, rng)
        self.mos_groups = mos_groups or MosGroups(rng=rng)
        self.mos_lock = threading.Lock()
        self.unknown_seen: dict[str, int] = {}
        self.refresh_every = refresh_every
        self._last_refresh = time.monotonic()
        self.metrics.queue_capacity.set(queue_capacity)
        self.metrics.references.set(len(references.ids()))
        self.threads: list[threading.Thread] = []
        self.idle = threading.Condition()
        self.busy = 0

    # -- admission (HTTP threads) --------------------------------------------------------------------------

    def reject(self, reason: str) -> None:
        self.metrics.rejected.labels(reason).inc()

    def admit(self, labels: dict[str, str], text: str, data: bytes) -> tuple[int, dict]:
        """Check and queue one upload; returns the HTTP status and the JSON body for the caller."""
        problems = [
            f"{k}: expected a value matching {LABEL_VALUE.pattern}"
            for k in LABELS
            if not LABEL_VALUE.match(labels.get(k, ""))
        ]
        if problems:
            self.reject("bad_labels")
            return 400, {"error": "invalid labels", "reason": "bad_labels", "details": problems}
        if not text.strip() or len(text) > MAX_TEXT_CHARS:
            self.reject("bad_text")
            return 400, {"error": f"text: expected 1 to {MAX_TEXT_CHARS} characters", "reason": "bad_text"}
        try:
            wav = audio.decode(data, self.limits)
        except audio.AudioRejected as e:
            self.reject(e.reason)
            return 422, {"error": str(e), "reason": e.reason}
        sample = Sample(dict(labels), text, wav)
        self.metrics.admitted.labels(labels["version"]).inc()
        known = self.references.get(labels["voice_id"]) is not None
        if not known:
            self._count_unknown(labels["version"], labels["voice_id"])
        kept = self.queue.put(sample)
        self.metrics.queue_length.set(len(self.queue))
        body = {"status": "queued" if kept else "dropped", "scorer": SCORER_ID}
        if not known:
            body["similarity"] = f"not scored: voice_id {labels['voice_id']!r} has no reference audio registered"
        return 202, body

    def _count_unknown(self, version: str, voice_id: str) -> None:
        with self.mos_lock:
            if voice_id in self.unknown_seen or len(self.unknown_seen) < MAX_UNKNOWN_VOICES:
                self.unknown_seen[voice_id] = self.unknown_seen.get(voice_id, 0) + 1
                label = voice_id
            else:
                label = "_other"
        self.metrics.unknown_voice.labels(version, label).inc()

    def _dropped(self, sample: Sample) -> None:
        self.metrics.dropped.labels(sample.labels["version"]).inc()

    # -- scoring (worker threads) --------------------------------------------------------------------------

    def score(self, engine: Engine, sample: Sample) -> None:
        values = (*sample.label_values(), SCORER_ID)
        m = self.metrics
        reference = self.references.get(sample.labels["voice_id"])
        if reference is not None:
            try:
                m.similarity.labels(*values).observe(engine.similarity(sample.wav, reference))
            except Exception:
                log.exception("speaker similarity failed")
                m.errors.labels("similarity").inc()
        try:
            m.wer.labels(*values).observe(engine.wer(sample.wav, sample.text))
        except Exception:
            log.exception("ASR failed")
            m.errors.labels("wer").inc()
        m.audio_seconds.labels(sample.labels["version"]).inc(len(sample.wav) / audio.SAMPLE_RATE)
        with self.mos_lock:
            full = self.mos_groups.add(sample.label_values(), sample.wav)
            for key, n in self.mos_groups.expire():
                m.mos_discarded.labels(key[0]).inc(n)
        if full is not None:
            try:
                for value in engine.mos(full):
                    m.mos.labels(*values).observe(value)
            except Exception:
                log.exception("DNSMOS failed")
                m.errors.labels("mos").inc()

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if now - self._last_refresh < self.refresh_every:
            return
        self._last_refresh = now
        try:
            if self.references.refresh():
                self.metrics.references.set(len(self.references.ids()))
        except Exception:
            log.exception("re-reading the reference voices failed; keeping the ones registered")

    def _work(self, engine: Engine) -> None:
        while True:
            sample = self.queue.get(timeout=1.0)
            if sample is None:
                if self.queue.closed:
                    return
                self._maybe_refresh()
                continue
            with self.idle:
                self.busy += 1
            self.metrics.queue_length.set(len(self.queue))
            try:
                self.score(engine, sample)
            except Exception:  # never let one sample stop the worker
                log.exception("scoring a sample failed")
                self.metrics.errors.labels("sample").inc()
            finally:
                with self.idle:
                    self.busy -= 1
                    self.idle.notify_all()
            self._maybe_refresh()

    def start(self) -> None:
        for i, engine in enumerate(self.engines):
            t = threading.Thread(target=self._work, args=(engine,), name=f"scorer-{i}", daemon=True)
            t.start()
            self.threads.append(t)

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until the queue is empty and no worker is scoring (for tests and shutdown)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.idle:
                if not len(self.queue) and self.busy == 0:
                    return True
                self.idle.wait(0.05)
        return False

    def stop(self) -> None:
        self.queue.close()
        for t in self.threads:
            t.join(timeout=30)


# -- HTTP ----------------------------------------------------------------------------------------------------


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """Fields of a multipart/form-data body by name (the last of a repeated name wins)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise ValueError("expected a multipart/form-data body")
    fields: dict[str, bytes] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        fields[str(name)] = payload if isinstance(payload, bytes) else b""
    return fields


def make_handler(scorer: Scorer, max_upload_bytes: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "voicectl-scorer"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            # The default logs the request line; only method, path (no query) and status are kept.
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            log.info("%s %s %d", self.command, self.path.split("?", 1)[0], status)

        def _json(self, status: int, obj: dict) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json")

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(scorer.metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._json(200, {"status": "ok", "scorer": SCORER_ID})
            elif path == "/v1/voices":
                with scorer.mos_lock:
                    unknown = dict(scorer.unknown_seen)
                self._json(
                    200,
                    {
                        "scorer": SCORER_ID,
                        "registered": scorer.references.ids(),
                        "refused_files": scorer.references.errors,
                        "unknown_seen": unknown,
                    },
                )
            else:
                self._json(404, {"error": f"no such path: {path}"})

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path != "/v1/samples":
                self.close_connection = True
                self._json(404, {"error": f"no such path: {path}"})
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self.close_connection = True
                scorer.reject("no_length")
                self._json(411, {"error": "a Content-Length header is required", "reason": "no_length"})
                return
            if int(length) > max_upload_bytes:
                # Refused before reading: the body is not read, so the connection is closed after the reply.
                self.close_connection = True
                scorer.reject("too_large")
                self._json(
                    413,
                    {"error": f"upload of {length} bytes: at most {max_upload_bytes} bytes", "reason": "too_large"},
                )
                return
            body = self.rfile.read(int(length))
            try:
                fields = parse_multipart(self.headers.get("Content-Type", ""), body)
            except Exception:
                scorer.reject("bad_form")
                self._json(400, {"error": "expected a multipart/form-data body", "reason": "bad_form"})
                return
            data = fields.get("audio")
            if not data:
                scorer.reject("no_audio")
                self._json(400, {"error": "the form has no 'audio' file", "reason": "no_audio"})
                return
            try:
                labels = {k: fields.get(k, b"").decode("utf-8") for k in LABELS}
                text = fields.get("text", b"").decode("utf-8")
            except UnicodeDecodeError:
                scorer.reject("bad_labels")
                self._json(400, {"error": "labels and text must be UTF-8", "reason": "bad_labels"})
                return
            status, obj = scorer.admit(labels, text, data)
            self._json(status, obj)

    return Handler


def serve(scorer: Scorer, host: str, port: int, max_upload_bytes: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(scorer, max_upload_bytes))
    server.daemon_threads = True
    return server
