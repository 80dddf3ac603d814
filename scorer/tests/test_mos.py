import numpy as np
import pytest

from conftest import TEXTS, VOICES, add_noise, read16k
from voicectl_scorer import mos


@pytest.fixture(scope="module")
def clips(speech):
    return {v: [read16k(speech[(v, i)]) for i in range(len(TEXTS))] for v in VOICES}


def test_one_window_matches_speechmos(engine, clips):
    import speechmos.dnsmos as reference

    window = np.concatenate(clips["slt"])[: mos.WINDOW]
    assert len(window) == mos.WINDOW
    expected = reference.run(window, 16000)["ovrl_mos"]
    assert engine.mos([window]) == [pytest.approx(expected, abs=1e-6)]


def test_noise_at_20db_snr_lowers_mos(engine, clips):
    for v in ("awb", "slt"):
        clean = engine.mos(clips[v])
        noisy = engine.mos([add_noise(c, 20, seed=i) for i, c in enumerate(clips[v])])
        assert len(clean) == len(noisy) == len(clips[v])
        # Measured: clean flite 2.7-3.2, at 20 dB SNR 2.2-2.6.
        assert np.mean(clean) - np.mean(noisy) >= 0.3, (v, clean, noisy)


def test_each_clip_gets_the_windows_that_cover_it(engine, clips):
    # Two long groups back to back: clean then noisy. Clips of the clean half score as the clean group alone.
    clean = clips["rms"] * 2
    noisy = [add_noise(c, 10, seed=i) for i, c in enumerate(clean)]
    together = engine.mos(clean + noisy)
    alone = engine.mos(clean)
    assert np.mean(together[: len(clean)]) - np.mean(together[len(clean) :]) >= 0.5
    assert together[0] == pytest.approx(alone[0], abs=1e-9)  # the first window is the same audio


def test_a_group_shorter_than_a_window_is_repeated_as_speechmos_does(engine, clips):
    short = clips["awb"][:1]
    assert sum(len(c) for c in short) < mos.WINDOW
    [value] = engine.mos(short)
    assert 1.0 <= value <= 5.0
    assert engine.mos([]) == []
