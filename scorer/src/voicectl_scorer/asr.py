"""WER by ASR round trip: pocketsphinx 5.1.1 with the en-US model its wheel ships, and jiwer 4.0.0.

Texts and transcripts are lower-cased and stripped of punctuation before comparing; numbers are not spelled
out, so an input text with digits counts an error where the speech said the number right.
"""

from __future__ import annotations

import numpy as np
import jiwer
from pocketsphinx import Decoder

SAMPLE_RATE = 16000

_NORMALISE = jiwer.Compose(
    [
        jiwer.ToLowerCase(),
        jiwer.SubstituteRegexes({r"[^\w\s']": " "}),
        jiwer.RemoveMultipleSpaces(),
        jiwer.Strip(),
        jiwer.ReduceToListOfListOfWords(),
    ]
)


def normalise(text: str) -> str:
    words = _NORMALISE(text)
    return " ".join(words[0]) if words else ""


class Recognizer:
    """One decoder, reused for every clip (loading the model costs about a second)."""

    def __init__(self) -> None:
        # The second (flat lexicon) pass is skipped and active HMMs per frame capped: on TTS audio this costs
        # ~0.03 in WER against the full search and halves the CPU time. The settings are part of the scorer
        # id's meaning: changing them moves every WER value.
        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", fwdflat=False, maxhmmpf=3000)

    def transcribe(self, wav: np.ndarray) -> str:
        pcm = (np.clip(wav, -1, 1) * 32767).astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    def wer(self, wav: np.ndarray, text: str) -> float:
        """Word error rate of the transcript against the input text (a ratio: 0.05 is 5%)."""
        reference = normalise(text)
        if not reference:
            raise ValueError("the text has no words to compare against")
        hypothesis = normalise(self.transcribe(wav))
        if not hypothesis:
            return 1.0  # every word deleted
        return float(jiwer.wer(reference, hypothesis))
