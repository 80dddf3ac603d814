import numpy as np
import pytest

from conftest import wav_bytes
from voicectl_scorer import audio


def tone(seconds: float, rate: int = 16000, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def reason(data: bytes, limits: audio.Limits = audio.Limits()) -> str:
    with pytest.raises(audio.AudioRejected) as e:
        audio.decode(data, limits)
    return e.value.reason


def test_a_16k_wav_decodes_unchanged_in_length():
    x = audio.decode(wav_bytes(tone(2.0)))
    assert x.dtype == np.float32 and len(x) == 32000


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_other_rates_are_resampled_to_16k(rate):
    x = audio.decode(wav_bytes(tone(2.0, rate), rate))
    assert abs(len(x) - 32000) <= 2
    # The 220 Hz tone survives resampling: its spectrum peaks there.
    peak = np.argmax(np.abs(np.fft.rfft(x))) * 16000 / len(x)
    assert abs(peak - 220) < 2


def test_stereo_is_mixed_down():
    x = tone(1.0)
    assert len(audio.decode(wav_bytes(np.stack([x, x], axis=1)))) == 16000


@pytest.mark.parametrize(
    "data,expected",
    [
        (b"definitely not a wav file" * 100, "not_audio"),
        (b"", "not_audio"),
        (wav_bytes(tone(1.0, 96000), 96000), "sample_rate"),
        (wav_bytes(tone(1.0, 4000), 4000), "sample_rate"),
        (wav_bytes(np.zeros(32000, np.float32)), "silence"),
        (wav_bytes(tone(2.0, amp=0.0005)), "silence"),
        (wav_bytes(tone(0.2)), "too_short"),
        (wav_bytes(tone(61.0)), "too_long"),
    ],
    ids=["text", "empty", "96k", "4k", "zeros", "near-silent", "short", "long"],
)
def test_bad_input_is_refused_with_its_reason(data, expected):
    assert reason(data) == expected


def test_a_truncated_wav_is_not_audio_or_short_never_a_crash():
    data = wav_bytes(tone(2.0))
    assert reason(data[:30]) == "not_audio"
    assert reason(data[:2000]) == "too_short"


def test_non_finite_samples_are_refused():
    x = tone(1.0)
    x[100] = np.nan
    assert reason(wav_bytes(x, subtype="FLOAT")) == "not_audio"
