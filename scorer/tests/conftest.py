"""Real speech for the tests, synthesised with Debian's flite (four speakers: kal, awb, slt, rms)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

VOICES = ("kal", "awb", "slt", "rms")  # kal speaks at 8 kHz, the others at 16 kHz

TEXTS = (
    "The quick brown fox jumps over the lazy dog while the band plays on the village green.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "A large size in stockings is hard to sell, but the shop keeps them in the back room.",
    "We will meet again at the station after lunch and walk down to the river together.",
)


def flite(voice: str, text: str, out: Path) -> Path:
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True, timeout=60)
    return out


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> dict[tuple[str, int], Path]:
    """WAV files by (voice, text index)."""
    if shutil.which("flite") is None:
        pytest.fail("flite is needed for the scorer's tests: apt-get install -y flite (ci.sh installs it)")
    folder = tmp_path_factory.mktemp("flite")
    return {(v, i): flite(v, t, folder / f"{v}-{i}.wav") for v in VOICES for i, t in enumerate(TEXTS)}


@pytest.fixture(scope="session")
def engine():
    from voicectl_scorer.engine import Engine

    return Engine()


def read16k(path: Path) -> np.ndarray:
    from voicectl_scorer import audio

    return audio.decode(path.read_bytes())


def wav_bytes(x: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def add_noise(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White noise at the given signal-to-noise ratio."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(len(x))
    scale = np.sqrt(np.mean(x.astype(np.float64) ** 2) / (10 ** (snr_db / 10)) / np.mean(noise**2))
    return np.clip(x + scale * noise, -1, 1).astype(np.float32)
