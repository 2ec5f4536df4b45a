"""The restricted unpickler: plain data in every protocol; a pickle asking for a callable is refused and
nothing in it runs (a marker file the payload would create never appears), through the API, the
RefCOCO adapter and the command line."""

import os
import pickle
import pickletools
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fixtures_refcoco import py2_pickle, write_refcoco  # noqa: E402

from sambench.safe_pickle import UnsafePickleError, load_data_pickle, loads_data_pickle  # noqa: E402


class Payload:
    """Unpickling this would run ``os.system("touch MARKER")``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class EvalPayload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').write('ran')",))


class BigAlloc:
    def __reduce__(self):
        return (bytearray, (1 << 28,))


class OtherCodec:
    def __reduce__(self):
        import _codecs

        return (_codecs.encode, ("x", "zlib"))


PLAIN = [{"a": (1, 2.5, "é", b"\xff\x00", None, True, {3}, frozenset({4}), 1 + 2j, bytearray(b"x")), "n": [[]]}]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_round_trips(protocol):
    obj, encoding = loads_data_pickle(pickle.dumps(PLAIN, protocol=protocol))
    assert obj == PLAIN and encoding == "utf-8"


def test_python2_byte_strings_decode(tmp_path):
    path = py2_pickle([{"sent": "café", "ref_id": 3}], tmp_path / "refs.p")
    ops = {op.name for op, _, _ in pickletools.genops(path.read_bytes())}
    assert "SHORT_BINSTRING" in ops and "BINUNICODE" not in ops  # Python 2 byte strings, as cPickle wrote them
    assert load_data_pickle(path) == [{"sent": "café", "ref_id": 3}]
    latin = tmp_path / "latin.p"
    latin.write_bytes(b"\x80\x02]q\x00U\x04caf\xe9a.")  # a Python 2 str that is not UTF-8
    assert load_data_pickle(latin) == ["café"]


@pytest.mark.parametrize("payload", [Payload, EvalPayload])
@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_code_payload_is_refused_and_nothing_runs(tmp_path, payload, protocol):
    marker = tmp_path / "MARKER"
    path = tmp_path / "refs(unc).p"
    path.write_bytes(pickle.dumps([{"ref_id": 0, "x": payload(marker)}], protocol=protocol))
    with pytest.raises(UnsafePickleError) as err:
        load_data_pickle(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "refused" in msg
    assert ("system" in msg) if payload is Payload else ("eval" in msg)
    assert not marker.exists()
    # the same bytes through plain pickle DO run the payload: the marker check can fail
    if payload is EvalPayload:
        pickle.loads(path.read_bytes())
        assert marker.exists()


def test_classes_and_odd_constructor_uses_are_refused():
    with pytest.raises(UnsafePickleError, match="Path"):
        loads_data_pickle(pickle.dumps(Path("/x"), protocol=2))
    # the answered constructors refuse uses no plain pickle makes: allocation by count, another codec
    with pytest.raises(UnsafePickleError, match="bytearray"):
        loads_data_pickle(pickle.dumps(BigAlloc(), protocol=2))
    with pytest.raises(UnsafePickleError, match="encode"):
        loads_data_pickle(pickle.dumps(OtherCodec(), protocol=2))
    with pytest.raises(ValueError, match="not a readable pickle"):
        loads_data_pickle(b"not a pickle")


def test_refcoco_refuses_a_payload_refs_file_through_the_cli(tmp_path):
    from sambench.app.cli import main

    root = write_refcoco(tmp_path / "data")
    marker = tmp_path / "MARKER"
    refs = root / "refcoco" / "refs(unc).p"
    refs.write_bytes(pickle.dumps([{"ref_id": 0, "x": Payload(marker)}], protocol=2))
    code = main(["run", "referring", "--model", "text-oracle", "--dataset", "refcoco", "--root", str(root),
                 "--out", str(tmp_path / "run"), "--no-progress", "--cache-dir", "none"])
    assert code == 2 and not marker.exists()
    assert not (tmp_path / "run" / "records").exists()
