"""CPU cost of each score per audio second, peak memory, and samples one core sustains; printed as Markdown.

Run: python bench/bench.py [--clips N]   (from scorer/, in the scorer's venv; needs flite)

CPU time is process CPU time (time.process_time), so the figures hold on a busy machine where wall time
does not. Each score is measured on flite speech after one warm-up call, and against a baseline run in
the same process: speechmos' own DNSMOS (each clip repeated to fill its window, plus the P.808 model it
always runs) and pocketsphinx with its default search.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from voicectl_scorer import SCORER_ID, audio  # noqa: E402
from voicectl_scorer.engine import Engine, References  # noqa: E402
from voicectl_scorer.service import Metrics, Scorer  # noqa: E402

VOICES = ("awb", "slt", "rms", "kal")
TEXTS = (
    "The quick brown fox jumps over the lazy dog while the band plays on the village green.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "A large size in stockings is hard to sell, but the shop keeps them in the back room.",
    "We will meet again at the station after lunch and walk down to the river together.",
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother.",
    "The birch canoe slid on the smooth planks, and the boy was there when the sun rose.",
)


def cpu(fn):
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queue-samples", type=int, default=48, help="samples pushed through the service worker")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="scorer-bench-"))
    corpus = []  # (voice, text, wav)
    for v in VOICES:
        for i, text in enumerate(TEXTS):
            path = tmp / f"{v}-{i}.wav"
            subprocess.run(["flite", "-voice", v, "-t", text, "-o", str(path)], check=True)
            corpus.append((v, text, path.read_bytes()))
    load_cpu, engine = cpu(Engine)
    decode_cpu, wavs = cpu(lambda: [audio.decode(d) for _, _, d in corpus])
    seconds = sum(len(w) for w in wavs) / audio.SAMPLE_RATE
    refs = {v: engine.encoder.embed(wavs[k * len(TEXTS)]) for k, v in enumerate(VOICES)}

    # Warm-up: first calls allocate and (onnxruntime) plan.
    engine.encoder.embed(wavs[1]); engine.wer(wavs[1], TEXTS[1]); engine.mos(wavs[:2])

    spk_cpu, _ = cpu(lambda: [engine.encoder.embed(w) for w in wavs])
    asr_cpu, wers = cpu(lambda: [engine.wer(w, t) for w, (_, t, _) in zip(wavs, corpus)])
    groups = [wavs[k * len(TEXTS) : (k + 1) * len(TEXTS)] for k in range(len(VOICES))]
    mos_cpu, _ = cpu(lambda: [engine.mos(g) for g in groups])

    # The service: one worker thread scoring samples admitted through the bounded queue.
    ref_dir = tmp / "refs"
    ref_dir.mkdir()
    for k, v in enumerate(VOICES):
        (ref_dir / f"{v}.wav").write_bytes(corpus[k * len(TEXTS)][2])
    scorer = Scorer(References(ref_dir, engine.encoder), [engine], Metrics(), queue_capacity=args.queue_samples)
    rng = random.Random(0)
    picks = [corpus[rng.randrange(len(corpus))] for _ in range(args.queue_samples)]
    labels = {"language": "en", "product": "bench", "tenant": "bench"}
    admit_cpu, _ = cpu(
        lambda: [scorer.admit({**labels, "version": "v1", "voice_id": v}, t, d) for v, t, d in picks]
    )
    service_seconds = sum(len(s.wav) for s in scorer.queue.items) / audio.SAMPLE_RATE
    t0, c0 = time.monotonic(), time.process_time()
    scorer.start()
    scorer.drain(3600)
    wall, work_cpu = time.monotonic() - t0, time.process_time() - c0
    scorer.stop()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the scorer alone, before the baselines

    # Baselines, same process, same audio.
    from pocketsphinx import Decoder

    from voicectl_scorer.asr import Recognizer

    default_asr = Recognizer()
    default_asr.decoder = Decoder(samprate=16000, loglevel="FATAL")
    default_asr.wer(wavs[1], TEXTS[1])
    asr0_cpu, wers0 = cpu(lambda: [default_asr.wer(w, t) for w, (_, t, _) in zip(wavs, corpus)])
    import speechmos.dnsmos as reference_dnsmos

    reference_dnsmos.run(wavs[0], 16000)  # warm-up (librosa's first call compiles)
    mos0_cpu, _ = cpu(lambda: [reference_dnsmos.run(w, 16000) for w in wavs])


    total = spk_cpu + asr_cpu + mos_cpu
    per = lambda c: c / seconds  # noqa: E731
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"## scorer, {now}\n")
    print(
        f"Machine: {os.cpu_count()} cores (nproc), {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}; load average (1 min) {os.getloadavg()[0]:.2f} at the end. "
        f"Scorer `{SCORER_ID}`, run by `python bench/bench.py` in scorer/.\n"
    )
    print(
        f"Audio: {len(wavs)} flite clips ({', '.join(VOICES)} x {len(TEXTS)} texts), {seconds:.1f} s in all. "
        f"CPU time is process CPU time after one warm-up call; one BLAS thread, one onnxruntime thread.\n"
    )
    print("| score | CPU s per audio s | baseline (same process) | baseline CPU s per audio s | ratio |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| speaker similarity (numpy Resemblyzer encoder) | {per(spk_cpu):.4f} | none (torch not installable) | | |")
    print(
        f"| predicted MOS (DNSMOS OVRL, clips concatenated per voice) | {per(mos_cpu):.4f} | speechmos.dnsmos.run per clip "
        f"| {per(mos0_cpu):.4f} | {mos0_cpu / mos_cpu:.1f}x less CPU |"
    )
    print(
        f"| WER (pocketsphinx, no flat pass, maxhmmpf 3000; mean WER {np.mean(wers):.3f}) | {per(asr_cpu):.4f} "
        f"| pocketsphinx default search (mean WER {np.mean(wers0):.3f}) | {per(asr0_cpu):.4f} | {asr0_cpu / asr_cpu:.2f}x less CPU |"
    )
    print(f"| **all three** | **{per(total):.4f}** | | | |")
    print(f"| decoding and resampling the upload | {per(decode_cpu):.4f} | | | |\n")
    print(
        f"Service: {args.queue_samples} samples ({service_seconds:.0f} s of audio) through the queue and one "
        f"worker: {work_cpu:.1f} CPU s, {wall:.1f} s wall -> **{args.queue_samples / work_cpu:.2f} samples per "
        f"CPU second** ({service_seconds / work_cpu:.1f} audio s per CPU s) one core sustains; admission "
        f"(decode, checks) {1000 * admit_cpu / args.queue_samples:.1f} ms CPU per sample. Model loading "
        f"{load_cpu:.1f} CPU s. Peak RSS of the scorer {peak_mb:.0f} MB (measured before the baselines load).\n"
    )


if __name__ == "__main__":
    main()
