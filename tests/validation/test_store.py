"""The results store refuses what it cannot trust, clearly, and never overwrites it."""

import sqlite3

import numpy as np
import pytest

from fedtheory.cli import main
from fedtheory.validation.harness.store import ResultsStore, StoreError


def test_round_trip_and_keys(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as st:
        st.put("k1", {"fn": "f"}, {"a": np.arange(3), "s": np.array("text")}, 0.5)
        assert st.has("k1") and not st.has("k2") and st.keys() == {"k1"}
        got = st.get("k1")
        assert np.array_equal(got["a"], np.arange(3)) and str(got["s"]) == "text" and st.seconds("k1") == 0.5
        with pytest.raises(KeyError, match="k2"):
            st.get("k2")


@pytest.mark.parametrize("content", [b"not a database, just text\n" * 10, b"\x00\x01garbage" * 100])
def test_a_file_that_is_not_a_store_is_refused_and_left_untouched(tmp_path, content):
    path = tmp_path / "results.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="not a fedtheory results store") as err:
        ResultsStore(path)
    assert str(path) in str(err.value) and path.read_bytes() == content


def test_a_corrupt_sqlite_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "results.sqlite"
    with ResultsStore(path):
        pass
    raw = bytearray(path.read_bytes())
    raw[100:] = b"\xff" * (len(raw) - 100)  # keep the magic header, destroy the pages
    path.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match="results.sqlite"):
        ResultsStore(path)
    assert path.read_bytes() == bytes(raw)


def test_another_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "results.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE people (name TEXT)")
    con.commit(), con.close()
    with pytest.raises(StoreError, match="SQLite file but not a fedtheory results store"):
        ResultsStore(path)


def test_a_store_of_the_old_layout_is_named_as_such(tmp_path):
    path = tmp_path / "results.sqlite"
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE units (namespace TEXT); CREATE TABLE results (claim_id TEXT);")
    con.commit(), con.close()
    with pytest.raises(StoreError, match="older fedtheory"):
        ResultsStore(path)


def test_a_second_writer_is_refused_until_the_first_is_done(tmp_path):
    path = tmp_path / "results.sqlite"
    with ResultsStore(path):
        with pytest.raises(StoreError, match=r"being written by another `fedtheory validate` \(pid \d+"):
            ResultsStore(path)
        with ResultsStore(path, write=False) as reader:  # reading (fedtheory report) is allowed meanwhile
            assert reader.count_units() == 0
    with ResultsStore(path):  # the lock went with the first writer
        pass


def test_the_cli_names_a_bad_store_in_one_line(tmp_path, capsys):
    (tmp_path / "results.sqlite").write_text("hello")
    assert main(["validate", "la-lora.filter_statistics", "--out", str(tmp_path), "--no-progress", "--jobs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "results.sqlite is not a fedtheory results store" in err
    assert (tmp_path / "results.sqlite").read_text() == "hello"


def test_a_second_validate_on_the_same_out_is_refused_in_one_line(tmp_path, capsys):
    with ResultsStore(tmp_path / "results.sqlite"):  # as a running `fedtheory validate` holds it
        code = main(["validate", "la-lora.filter_statistics", "--out", str(tmp_path), "--no-progress", "--jobs", "1"])
        err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert "is being written by another `fedtheory validate`" in err and "pass another --out" in err
    assert main(["validate", "la-lora.filter_statistics", "--out", str(tmp_path), "--no-progress", "--jobs", "1"]) == 0
