"""Predicted MOS: DNSMOS P.835 overall quality (OVRL) from the ONNX model shipped in PyPI `speechmos` 0.0.1.1.

DNSMOS scores 9.01 s windows and repeats a shorter clip until it fills one; a repeated 3 s clip is not what
the model was trained on. So clips of the same voice and version are concatenated, the concatenation is cut
into windows that do not overlap (the last one aligned to the end), and each clip gets the mean of the
window scores weighted by how much of the clip each window covers. Only a group shorter than one window is
repeated, as speechmos does. DNSMOS measures noise and distortion more than naturalness.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import onnxruntime as ort

SAMPLE_RATE = 16000
WINDOW = int(9.01 * SAMPLE_RATE)  # 144160 samples, the model's fixed input
#: speechmos' polynomial mapping the raw OVRL output to the P.835 scale (non-personalised model).
OVRL_POLY = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


def dnsmos_model() -> Path:
    """sig_bak_ovr.onnx in the installed speechmos package, found without importing it (it imports librosa)."""
    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the speechmos package is not installed (pip install speechmos==0.0.1.1)")
    path = Path(next(iter(spec.submodule_search_locations))) / "dnsmos_models" / "sig_bak_ovr.onnx"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the speechmos package")
    return path


class Dnsmos:
    def __init__(self, model: str | Path | None = None, threads: int = 1):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.enable_cpu_mem_arena = False  # return a window's buffers after each run instead of keeping the peak
        self.session = ort.InferenceSession(str(model or dnsmos_model()), opts, providers=["CPUExecutionProvider"])

    def score_windows(self, windows: np.ndarray) -> np.ndarray:
        """OVRL for each row of (n, 144160) float32 audio in [-1, 1].

        One window per run: a batch of three windows took the process from 270 to 700 MB peak, for no CPU saved.
        """
        raw = np.concatenate(
            [self.session.run(None, {"input_1": w[None].astype(np.float32)})[0] for w in windows]
        )
        return OVRL_POLY(raw[:, 2].astype(np.float64))

    def score_clips(self, clips: Sequence[np.ndarray]) -> list[float]:
        """One OVRL per clip, scored in the context of the others (clips of one voice and version)."""
        if not clips:
            return []
        audio = np.concatenate([np.clip(c, -1, 1) for c in clips]).astype(np.float32)
        total = len(audio)
        if total < WINDOW:
            reps = -(-WINDOW // total)
            score = float(self.score_windows(np.tile(audio, reps)[None, :WINDOW])[0])
            return [score] * len(clips)
        starts = list(range(0, total - WINDOW + 1, WINDOW))
        if starts[-1] + WINDOW < total:
            starts.append(total - WINDOW)
        scores = self.score_windows(np.stack([audio[s : s + WINDOW] for s in starts]))
        result = []
        offset = 0
        for clip in clips:
            lo, hi = offset, offset + len(clip)
            offset = hi
            weights = np.array([max(0, min(hi, s + WINDOW) - max(lo, s)) for s in starts], np.float64)
            result.append(float(np.dot(weights, scores) / weights.sum()))
        return result


@lru_cache(maxsize=1)
def default_dnsmos() -> Dnsmos:
    return Dnsmos()
