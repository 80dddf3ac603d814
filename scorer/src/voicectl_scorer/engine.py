"""The three scores of one clip, and the registered reference voices."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from . import audio
from .asr import Recognizer
from .mos import Dnsmos
from .speaker import SpeakerEncoder, cosine

log = logging.getLogger("voicectl_scorer")

#: Label values: what a Prometheus label and a voice file name can both hold, short enough to never be a text.
LABEL_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")
LABELS = ("version", "voice_id", "language", "product", "tenant")
REFERENCE_SUFFIXES = (".wav", ".flac")


def limit_threads() -> None:
    """One BLAS thread per scoring thread (see __init__): for callers that loaded numpy before the package."""
    threadpool_limits(1)


@dataclass(frozen=True)
class Reference:
    voice_id: str
    embedding: np.ndarray


class References:
    """Reference voices from a folder: one audio file per voice, named `<voice_id>.wav`.

    A ConfigMap mounted as a folder works as is: its files are symlinks that Kubernetes swaps on update, and
    `refresh` re-reads the folder when the names, sizes or modification times of its files change.
    """

    def __init__(self, folder: str | Path | None, encoder: SpeakerEncoder, limits: audio.Limits | None = None):
        self.folder = Path(folder) if folder else None
        self.encoder = encoder
        self.limits = limits or audio.Limits(max_seconds=300.0)
        self.voices: dict[str, Reference] = {}
        self.errors: dict[str, str] = {}
        self._signature: tuple | None = None
        self._lock = threading.Lock()
        self.refresh()

    def _files(self) -> list[Path]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted(
            p for p in self.folder.iterdir() if p.suffix.lower() in REFERENCE_SUFFIXES and not p.name.startswith(".")
        )

    def refresh(self) -> bool:
        """Re-read the folder if it changed; returns whether it did."""
        files = self._files()
        signature = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
        if signature == self._signature:
            return False
        voices: dict[str, Reference] = {}
        errors: dict[str, str] = {}
        for path in files:
            voice_id = path.stem
            if not LABEL_VALUE.match(voice_id):
                errors[path.name] = "the file name is not a valid voice_id"
            else:
                try:
                    wav = audio.decode(path.read_bytes(), self.limits)
                    voices[voice_id] = Reference(voice_id, self.encoder.embed(wav))
                except audio.AudioRejected as e:
                    errors[path.name] = str(e)
                except OSError as e:
                    errors[path.name] = f"unreadable: {e.strerror}"
        for name, why in errors.items():
            log.warning("reference audio %s not registered: %s", name, why)
        with self._lock:
            self.voices, self.errors, self._signature = voices, errors, signature
        log.info("reference voices registered: %d (%d files refused)", len(voices), len(errors))
        return True

    def get(self, voice_id: str) -> Reference | None:
        with self._lock:
            return self.voices.get(voice_id)

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self.voices)


class Engine:
    """The models, loaded once; not thread-safe (pocketsphinx's decoder has state): one per worker thread."""

    def __init__(self, encoder: SpeakerEncoder | None = None):
        limit_threads()
        self.encoder = encoder or SpeakerEncoder()
        self.dnsmos = Dnsmos()
        self.recognizer = Recognizer()

    def similarity(self, wav: np.ndarray, reference: Reference) -> float:
        return cosine(self.encoder.embed(wav), reference.embedding)

    def wer(self, wav: np.ndarray, text: str) -> float:
        return self.recognizer.wer(wav, text)

    def mos(self, clips: list[np.ndarray]) -> list[float]:
        return self.dnsmos.score_clips(clips)
