"""Shards of a manifest: a function of scan_id alone, disjoint, covering, and split per rank."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from hyperct.data.shard import Shard, parse_shard, shard_of

IDS = [f"scan{i:03d}" for i in range(200)] + ["1.2.840.10008", "a b/c", "ü"]


def test_shards_are_disjoint_cover_the_manifest_and_ignore_row_order() -> None:
    frame = pd.DataFrame({"scan_id": IDS, "row": range(len(IDS))})
    parts = [set(Shard(i, 3).select(frame)["scan_id"]) for i in range(3)]
    assert sum(len(p) for p in parts) == len(IDS) and set().union(*parts) == set(IDS)
    assert all(len(p) > 40 for p in parts)  # a hash spreads the ids, not a prefix of them
    shuffled = frame.sample(frac=1.0, random_state=1)
    assert [set(Shard(i, 3).select(shuffled)["scan_id"]) for i in range(3)] == parts
    assert list(Shard(1, 3).select(frame)["row"]) == sorted(Shard(1, 3).select(frame)["row"])


def test_membership_does_not_depend_on_pythons_hash_seed() -> None:
    code = "from hyperct.data.shard import shard_of; print([shard_of(f'scan{i}', 7) for i in range(50)])"
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert runs == {str([shard_of(f"scan{i}", 7) for i in range(50)]) + "\n"}


def test_the_parts_of_a_shard_are_exactly_its_scans() -> None:
    shard = Shard(1, 3)
    parts = [shard.split(2, r) for r in range(2)]
    held = [{s for s in IDS if p.holds(s)} for p in parts]
    assert not held[0] & held[1]
    assert held[0] | held[1] == {s for s in IDS if shard.holds(s)}
    assert Shard().split(4, 2) == Shard(2, 4)


@pytest.mark.parametrize("text", ["3/3", "1", "-1/2", "a/b", "0/0"])
def test_bad_shard_text_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


def test_shard_text_and_its_file_label() -> None:
    assert parse_shard(" 2/5 ") == Shard(2, 5) and Shard(2, 5).label == "shard-2-of-5"
