import numpy as np
import pytest

from conftest import TEXTS, read16k
from voicectl_scorer.asr import normalise


def test_normalise_ignores_case_and_punctuation():
    assert normalise("  Hello, World! It's  ME.") == "hello world it's me"


def test_round_trip_of_clear_speech_has_low_wer(engine, speech):
    # pocketsphinx understands flite's 16 kHz voices well (measured mean WER 0.1-0.2).
    wers = [engine.wer(read16k(speech[(v, i)]), TEXTS[i]) for v in ("awb", "slt", "rms") for i in (1, 2)]
    assert np.mean(wers) <= 0.3, wers


def test_the_wrong_text_has_high_wer(engine, speech):
    wav = read16k(speech[("slt", 0)])
    assert engine.wer(wav, TEXTS[1]) >= 0.7


def test_a_text_without_words_is_an_error(engine, speech):
    with pytest.raises(ValueError):
        engine.wer(read16k(speech[("slt", 0)]), " ... ")
