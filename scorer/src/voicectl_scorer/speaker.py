"""Resemblyzer's speaker encoder (a 3-layer LSTM and a linear layer on 40-band mel frames) in numpy.

The weights are the `pretrained.pt` shipped in the PyPI `resemblyzer` 0.1.4 wheel, installed without its
torch dependency and read by `torchfile`. The frontend follows Resemblyzer's audio.py and voice_encoder.py:
16 kHz, volume raised to -30 dBFS, long silences trimmed, a 40-band Slaney mel power spectrogram with a
25 ms window and 10 ms step, partial utterances of 160 frames at 1.3 per second whose embeddings are
averaged and L2-normalised. Silences are trimmed with webrtcvad as in Resemblyzer (from the
`webrtcvad-wheels` build of the same extension, which installs without a compiler).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import webrtcvad
from scipy.ndimage import binary_dilation

from .torchfile import load_checkpoint

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160
PARTIAL_RATE = 1.3
MIN_COVERAGE = 0.75
NORM_TARGET_DBFS = -30.0
VAD_WINDOW = 480  # 30 ms
VAD_AVERAGE_WIDTH = 8
VAD_MAX_SILENCE = 6
INT16_MAX = 2**15 - 1


def resemblyzer_weights() -> Path:
    """pretrained.pt inside the installed resemblyzer package, found without importing it (it imports torch)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the resemblyzer package is not installed (pip install --no-deps resemblyzer==0.1.4)")
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the resemblyzer package")
    return path


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_t = f >= min_log_hz
    mels = np.where(log_t, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mels)
    return mels


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_filters(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-normalised triangular filters, as librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)."""
    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def power_stft(wav: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT|^2 with a periodic Hann window, centred frames padded with zeros (librosa's defaults)."""
    padded = np.pad(wav.astype(np.float32), n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    spec = np.fft.rfft(frames * window, axis=1)
    return (spec.real**2 + spec.imag**2).astype(np.float32)


_MEL = mel_filters()


def mel_spectrogram(wav: np.ndarray) -> np.ndarray:
    """(frames, 40) mel power spectrogram, as Resemblyzer's wav_to_mel_spectrogram."""
    return (power_stft(wav, N_FFT, HOP) @ _MEL.T).astype(np.float32)


def normalize_volume(wav: np.ndarray, target_dbfs: float = NORM_TARGET_DBFS) -> np.ndarray:
    rms = np.sqrt(np.mean((wav.astype(np.float64) * INT16_MAX) ** 2))
    change = target_dbfs - 20 * np.log10(max(rms, 1e-10) / INT16_MAX)
    if change < 0:  # increase only, as Resemblyzer
        return wav
    return (wav * 10 ** (change / 20)).astype(np.float32)


def trim_long_silences(wav: np.ndarray) -> np.ndarray:
    """Keep voiced 30 ms windows and at most ~6 windows of silence around them (Resemblyzer's audio.py)."""
    wav = wav[: len(wav) - len(wav) % VAD_WINDOW]
    n = len(wav) // VAD_WINDOW
    if n == 0:
        return wav
    pcm = np.round(wav * INT16_MAX).astype("<i2").tobytes()
    vad = webrtcvad.Vad(3)
    step = VAD_WINDOW * 2
    flags = np.array(
        [vad.is_speech(pcm[k * step : (k + 1) * step], sample_rate=SAMPLE_RATE) for k in range(n)], np.float64
    )
    width = VAD_AVERAGE_WIDTH
    padded = np.concatenate((np.zeros((width - 1) // 2), flags, np.zeros(width // 2)))
    ret = np.cumsum(padded)
    ret[width:] = ret[width:] - ret[:-width]
    mask = np.round(ret[width - 1 :] / width).astype(bool)
    mask = binary_dilation(mask, np.ones(VAD_MAX_SILENCE + 1))
    return wav[np.repeat(mask, VAD_WINDOW)]


def preprocess(wav: np.ndarray) -> np.ndarray:
    return trim_long_silences(normalize_volume(wav))


def partial_slices(n_samples: int) -> list[slice]:
    """Mel-frame ranges of the partial utterances (Resemblyzer's compute_partial_slices)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    frame_step = int(np.round((SAMPLE_RATE / PARTIAL_RATE) / HOP))
    steps = max(1, n_frames - PARTIAL_FRAMES + frame_step + 1)
    slices = [slice(i, i + PARTIAL_FRAMES) for i in range(0, steps, frame_step)]
    last = slices[-1]
    coverage = (n_samples - last.start * HOP) / ((last.stop - last.start) * HOP)
    if coverage < MIN_COVERAGE and len(slices) > 1:
        slices = slices[:-1]
    return slices


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # tanh form: no overflow warnings for large |x|


class SpeakerEncoder:
    """Embeds a 16 kHz clip as a 256-d unit vector; cosine of two embeddings is their dot product."""

    def __init__(self, weights: str | Path | None = None):
        state = load_checkpoint(weights or resemblyzer_weights())["model_state"]
        self.layers = []
        for k in range(3):
            w_ih = state[f"lstm.weight_ih_l{k}"].astype(np.float32)
            w_hh = state[f"lstm.weight_hh_l{k}"].astype(np.float32)
            bias = (state[f"lstm.bias_ih_l{k}"] + state[f"lstm.bias_hh_l{k}"]).astype(np.float32)
            self.layers.append((np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T), bias))
        self.linear_w = np.ascontiguousarray(state["linear.weight"].T.astype(np.float32))
        self.linear_b = state["linear.bias"].astype(np.float32)
        self.hidden = self.layers[0][1].shape[0]

    def forward(self, mels: np.ndarray) -> np.ndarray:
        """(batch, frames, 40) mel frames -> (batch, 256) L2-normalised partial embeddings (torch.nn.LSTM)."""
        x = mels.astype(np.float32)
        b, t, _ = x.shape
        H = self.hidden
        for w_ih, w_hh, bias in self.layers:
            gates_x = (x.reshape(b * t, -1) @ w_ih + bias).reshape(b, t, 4 * H)
            h = np.zeros((b, H), np.float32)
            c = np.zeros((b, H), np.float32)
            out = np.empty((b, t, H), np.float32)
            for step in range(t):
                g = gates_x[:, step] + h @ w_hh
                # torch's gate order: input, forget, cell, output
                i = _sigmoid(g[:, :H])
                f = _sigmoid(g[:, H : 2 * H])
                cell = np.tanh(g[:, 2 * H : 3 * H])
                o = _sigmoid(g[:, 3 * H :])
                c = f * c + i * cell
                h = o * np.tanh(c)
                out[:, step] = h
            x = out
        raw = np.maximum(h @ self.linear_w + self.linear_b, 0.0)
        return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)

    def embed(self, wav: np.ndarray, preprocessed: bool = False) -> np.ndarray:
        """Embedding of one clip (float32, 16 kHz): the normalised mean of its partial embeddings."""
        if not preprocessed:
            wav = preprocess(wav)
        slices = partial_slices(len(wav))
        need = slices[-1].stop * HOP
        if need >= len(wav):
            wav = np.pad(wav, (0, need - len(wav)))
        mel = mel_spectrogram(wav)
        mels = np.stack([mel[s] for s in slices])
        partials = self.forward(mels)
        raw = partials.mean(axis=0)
        return (raw / np.linalg.norm(raw)).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@lru_cache(maxsize=1)
def default_encoder() -> SpeakerEncoder:
    return SpeakerEncoder()
