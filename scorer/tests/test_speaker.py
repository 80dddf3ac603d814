"""The numpy speaker encoder against independent implementations of each of its parts, and on real voices.

Resemblyzer's own encoder needs torch, which is not installed here (PyPI's build is the 5.8 GB CUDA one),
so its embeddings are not compared end to end. Instead: the frontend is compared with Resemblyzer's
audio.py itself (loaded from the installed wheel, it needs only librosa and webrtcvad), the partial
slicing with the function in its voice_encoder.py (lifted out of the file, which imports torch), and the
LSTM with onnxruntime's LSTM operator built from the same weights.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from conftest import VOICES, read16k
from voicectl_scorer import speaker


def resemblyzer_dir() -> Path:
    return speaker.resemblyzer_weights().parent


@pytest.fixture(scope="module")
def reference_audio_module():
    """resemblyzer/audio.py, imported without resemblyzer/__init__.py (which imports torch)."""
    folder = resemblyzer_dir()
    pkg = types.ModuleType("resemblyzer")
    pkg.__path__ = [str(folder)]
    saved = {k: sys.modules.get(k) for k in ("resemblyzer", "resemblyzer.hparams", "resemblyzer.audio")}
    sys.modules["resemblyzer"] = pkg
    try:
        for name in ("hparams", "audio"):
            spec = importlib.util.spec_from_file_location(f"resemblyzer.{name}", folder / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[f"resemblyzer.{name}"] = module
            spec.loader.exec_module(module)
        loaded = sys.modules["resemblyzer.audio"]
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return loaded


def test_frontend_matches_resemblyzers_audio_py(reference_audio_module, speech):
    ref = reference_audio_module
    for voice in ("kal", "slt"):
        wav = read16k(speech[(voice, 0)])
        mine = speaker.preprocess(wav)
        theirs = ref.preprocess_wav(wav)
        assert len(mine) == len(theirs) and len(mine) < len(wav) + 1
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6)
        mel_mine = speaker.mel_spectrogram(mine)
        mel_theirs = ref.wav_to_mel_spectrogram(theirs)
        assert mel_mine.shape == mel_theirs.shape
        np.testing.assert_allclose(mel_mine, mel_theirs, rtol=1e-4, atol=1e-4 * float(mel_theirs.max()))


def test_partial_slices_match_resemblyzers():
    source = (resemblyzer_dir() / "voice_encoder.py").read_text()
    fn = next(
        n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == "compute_partial_slices"
    )
    fn.decorator_list = []
    namespace = {"np": np, "sampling_rate": 16000, "mel_window_step": 10, "partials_n_frames": 160}
    exec(compile(ast.Module([fn], []), "voice_encoder.py", "exec"), namespace)
    for n in (100, 16000, 25600, 25601, 40000, 77777, 160000):
        _, theirs = namespace["compute_partial_slices"](n, 1.3, 0.75)
        assert speaker.partial_slices(n) == theirs, n


def test_lstm_matches_onnxruntimes_lstm_operator():
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from voicectl_scorer.torchfile import load_checkpoint

    state = load_checkpoint(speaker.resemblyzer_weights())["model_state"]

    def onnx_order(w):  # torch stacks gates i, f, g, o; ONNX i, o, f, c
        i, f, g, o = np.split(w, 4, axis=0)
        return np.concatenate([i, o, f, g], axis=0).astype(np.float32)

    nodes, inits, prev = [], [], "X"
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axis0"))
    for k in range(3):
        bias = np.concatenate([onnx_order(state[f"lstm.bias_ih_l{k}"]), onnx_order(state[f"lstm.bias_hh_l{k}"])])
        inits += [
            numpy_helper.from_array(onnx_order(state[f"lstm.weight_ih_l{k}"])[None], f"W{k}"),
            numpy_helper.from_array(onnx_order(state[f"lstm.weight_hh_l{k}"])[None], f"R{k}"),
            numpy_helper.from_array(bias[None], f"B{k}"),
        ]
        nodes.append(helper.make_node("LSTM", [prev, f"W{k}", f"R{k}", f"B{k}"], [f"Y{k}", f"H{k}"], hidden_size=256))
        nodes.append(helper.make_node("Squeeze", [f"Y{k}", "axis1"], [f"S{k}"]))
        prev = f"S{k}"
    inits += [
        numpy_helper.from_array(state["linear.weight"].T.astype(np.float32), "LW"),
        numpy_helper.from_array(state["linear.bias"].astype(np.float32), "LB"),
    ]
    nodes += [
        helper.make_node("Squeeze", ["H2", "axis0"], ["h"]),
        helper.make_node("MatMul", ["h", "LW"], ["m"]),
        helper.make_node("Add", ["m", "LB"], ["a"]),
        helper.make_node("Relu", ["a"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes, "encoder", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [160, None, 40])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 256])], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    mels = np.random.default_rng(0).gamma(0.5, 2.0, (5, 160, 40)).astype(np.float32)
    theirs = session.run(None, {"X": mels.transpose(1, 0, 2)})[0]
    theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
    mine = speaker.SpeakerEncoder().forward(mels)
    np.testing.assert_allclose(mine, theirs, atol=2e-6)


@pytest.fixture(scope="module")
def embeddings(engine, speech):
    return {key: engine.encoder.embed(read16k(path)) for key, path in speech.items()}


def test_same_speaker_is_similar_and_other_speakers_are_not(embeddings):
    same = {v: [] for v in VOICES}
    other = {v: [] for v in VOICES}
    for (a, b) in itertools.combinations(embeddings, 2):
        cos = speaker.cosine(embeddings[a], embeddings[b])
        if a[0] == b[0]:
            same[a[0]].append(cos)
        else:
            other[a[0]].append(cos)
            other[b[0]].append(cos)
    for v in VOICES:
        # Measured on flite: same speaker 0.90-0.96; other speakers 0.45-0.73 (awb and rms are the closest).
        assert min(same[v]) >= 0.85, (v, same[v])
        assert max(other[v]) <= 0.76, (v, max(other[v]))
        assert min(same[v]) - max(other[v]) >= 0.12, v


def test_embeddings_are_unit_vectors_and_repeatable(engine, speech):
    wav = read16k(speech[("awb", 1)])
    a, b = engine.encoder.embed(wav), engine.encoder.embed(wav.copy())
    assert a.shape == (256,) and abs(np.linalg.norm(a) - 1) < 1e-5
    assert np.array_equal(a, b)
    assert (a >= 0).all()  # ReLU before normalising, as Resemblyzer
