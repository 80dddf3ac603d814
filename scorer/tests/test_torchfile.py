import io
import pickle
import struct
import zipfile

import numpy as np
import pytest

from voicectl_scorer import speaker
from voicectl_scorer.torchfile import LEGACY_MAGIC, CheckpointError, load_checkpoint


def test_reads_resemblyzers_weights_with_their_shapes():
    state = load_checkpoint(speaker.resemblyzer_weights())["model_state"]
    assert state["lstm.weight_ih_l0"].shape == (1024, 40)
    for k in (1, 2):
        assert state[f"lstm.weight_ih_l{k}"].shape == (1024, 256)
    assert state["linear.weight"].shape == (256, 256)
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in state.values())
    # The LSTM weights are views into one shared storage at different offsets: distinct arrays result.
    assert not np.array_equal(state["lstm.weight_hh_l0"], state["lstm.weight_hh_l1"])


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/voicectl-scorer-pwned",))


def _legacy(obj) -> bytes:
    out = io.BytesIO()
    for part in (LEGACY_MAGIC, 1001, {"little_endian": True}):
        pickle.dump(part, out, protocol=2)
    pickle.dump(obj, out, protocol=2)
    pickle.dump([], out, protocol=2)
    return out.getvalue()


def test_a_checkpoint_that_names_any_other_callable_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    path.write_bytes(_legacy({"model_state": _Evil()}))
    with pytest.raises(CheckpointError, match="refusing to load posix.system"):
        load_checkpoint(path)
    assert not (tmp_path / "voicectl-scorer-pwned").exists()


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"\x80\x02K\x05.")  # a pickled 5
    with pytest.raises(CheckpointError, match="bad magic"):
        load_checkpoint(path)
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def _zip_checkpoint_pickle() -> bytes:
    """data.pkl of torch's zip format for {"w": tensor of shape (2, 3)}, written opcode by opcode (no torch)."""
    def string(s: str) -> bytes:
        b = s.encode()
        return b"X" + struct.pack("<I", len(b)) + b

    return b"".join(
        [
            b"\x80\x02",  # PROTO 2
            b"ccollections\nOrderedDict\n)R",  # OrderedDict()
            b"(",  # MARK for SETITEMS
            string("w"),
            b"ctorch._utils\n_rebuild_tensor_v2\n",
            b"(",  # args
            b"(" + string("storage") + b"ctorch\nFloatStorage\n" + string("0") + string("cpu") + b"K\x06t",
            b"Q",  # BINPERSID
            b"K\x00",  # offset
            b"K\x02K\x03\x86",  # size (2, 3)
            b"K\x03K\x01\x86",  # stride (3, 1)
            b"\x89",  # requires_grad False
            b"ccollections\nOrderedDict\n)R",  # backward hooks
            b"tR",  # call
            b"u.",  # SETITEMS, STOP
        ]
    )


def test_reads_the_zip_format(tmp_path):
    path = tmp_path / "zip.pt"
    values = np.arange(6, dtype=np.float32)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", _zip_checkpoint_pickle())
        zf.writestr("archive/data/0", values.tobytes())
    state = load_checkpoint(path)
    np.testing.assert_array_equal(state["w"], values.reshape(2, 3))
