"""Decode and check one uploaded clip: every way a clip can be refused has a reason, counted by the service."""

from __future__ import annotations

import io
from dataclasses import dataclass
from math import gcd

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SAMPLE_RATE = 16000

#: Rates resampled to 16 kHz; anything else is more likely a mislabelled header than real speech audio.
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 48000


class AudioRejected(ValueError):
    """A clip that is not scored; `reason` is the counter label, the message is for the caller."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    min_seconds: float = 0.5
    max_seconds: float = 60.0
    #: A clip whose loudest 30 ms window is below this is silence (or a near-silent broken render).
    silence_dbfs: float = -60.0


def dbfs(x: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    return 20 * np.log10(max(rms, 1e-10))


def resample(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return x
    g = gcd(rate, SAMPLE_RATE)
    return resample_poly(x, SAMPLE_RATE // g, rate // g).astype(np.float32)


def decode(data: bytes, limits: Limits = Limits()) -> np.ndarray:
    """Return the clip as float32 mono at 16 kHz, or raise AudioRejected with the reason."""
    try:
        info = sf.info(io.BytesIO(data))
    except Exception:  # libsndfile's errors are RuntimeError/TypeError/LibsndfileError depending on input
        raise AudioRejected("not_audio", "the upload is not an audio file (expected WAV)") from None
    if not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE:
        raise AudioRejected(
            "sample_rate",
            f"sample rate {info.samplerate} Hz: expected {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz "
            f"(resampled to {SAMPLE_RATE})",
        )
    seconds = info.frames / info.samplerate
    # Checked on the header before decoding, so a long clip costs no memory.
    if seconds > limits.max_seconds:
        raise AudioRejected("too_long", f"clip is {seconds:.1f} s: at most {limits.max_seconds:g} s is scored")
    if seconds < limits.min_seconds:
        raise AudioRejected("too_short", f"clip is {seconds:.2f} s: at least {limits.min_seconds:g} s is needed")
    try:
        x, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception:
        raise AudioRejected("not_audio", "the audio data could not be decoded") from None
    x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    if not np.all(np.isfinite(x)):
        raise AudioRejected("not_audio", "the audio holds non-finite samples")
    x = np.clip(x, -1.0, 1.0)
    x = resample(np.ascontiguousarray(x), rate)
    if loudest_window_dbfs(x) < limits.silence_dbfs:
        raise AudioRejected("silence", f"clip is silent (below {limits.silence_dbfs:g} dBFS throughout)")
    return x


def loudest_window_dbfs(x: np.ndarray, window: int = 480) -> float:
    n = len(x) // window
    if n == 0:
        return dbfs(x)
    frames = x[: n * window].reshape(n, window).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return 20 * float(np.log10(max(float(rms.max()), 1e-10)))
