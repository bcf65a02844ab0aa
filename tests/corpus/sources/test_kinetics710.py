"""Kinetics-710 label alignment on the real annotation files in ../shared/data/kinetics."""

import json

import pandas as pd
import pytest

from corpus.build import build
from corpus.config import configure_build
from corpus.errors import InputError
from manifests.labels.kinetics import RENAMES, canonical, version_of
from manifests.validate import validate


def plan_only(out, inputs, **opts):
    return build(configure_build({"source": "kinetics", "inputs": inputs, "out": out, "unit_size": 5000, **opts}),
                 plan_only=True, progress=False)


def test_rename_table_matches_the_public_merge_table(kinetics_data):
    public = json.loads((kinetics_data / "k710_identical_label_merge.json").read_text())
    assert RENAMES == public
    k710 = set((kinetics_data / "label_map_k710.txt").read_text().splitlines())
    assert all(new in k710 for new in RENAMES.values())


def test_versions_from_file_names():
    assert [version_of(n) for n in ("kinetics-400_val.csv", "k600_train.csv", "kinetics700_2020_val.csv",
                                    "my.csv")] == [400, 600, 700, None]
    assert canonical("dying hair") == "dyeing hair" and canonical("abseiling") == "abseiling"


def test_k400_and_k600_val_merge_into_k710_classes(tmp_path, kinetics_data):
    d = kinetics_data
    s = plan_only(tmp_path / "k", [d / "kinetics-400_val.csv", d / "kinetics-600_val.csv"],
                  label_map=str(d / "label_map_k710.txt"),
                  source_options={"version_labels": (f"400={d / 'label_map_k400.txt'}",
                                                     f"600={d / 'label_map_k600.txt'}")})
    assert s["rows"] == 19906 + 30000  # every input row accounted for
    assert s["status"] == {"pending": 36287, "skipped": 13619}
    assert s["error_kinds"] == {"duplicate": 13569, "unknown_label": 50}
    report = json.loads((tmp_path / "k" / "build.json").read_text())["report"]
    assert report["cross_version_duplicates"] == 13569  # K400 val videos re-annotated in K600 val
    assert report["label_conflicts"] == 48 and len(report["label_conflict_list"]) == 48
    assert any(c["youtube_id"] == "-0OK3nbLKgM" and c["label"] == "baby waking up"
               and c["kept_label"] == "waking up" for c in report["label_conflict_list"])
    assert len(report["renamed_classes"]) == 15 and report["renamed_classes"]["dying hair -> dyeing hair"] == 48
    assert report["unknown_labels"] == {"chopping vegetables": 50}
    videos = pd.read_parquet(tmp_path / "k" / "videos")
    pending = videos[videos.status == "pending"]
    assert pending.video_id.nunique() == 36281  # six K600 videos carry two segments each
    assert pending.label_id.notna().all() and pending.label_id.max() < 710
    labels = (tmp_path / "k" / "labels.txt").read_text().splitlines()
    assert labels == (d / "label_map_k710.txt").read_text().splitlines()
    # the 710→400 and 710→600 slices equal the released ones
    for v in (400, 600):
        ours = json.loads((tmp_path / "k" / "label_maps" / f"k{v}.json").read_text())
        assert ours["index"] == json.loads((d / f"label_710to{v}.json").read_text())
    assert validate(tmp_path / "k").ok


def test_without_a_label_map_the_order_is_sorted_and_new_classes_kept(tmp_path, kinetics_data):
    s = plan_only(tmp_path / "k", [kinetics_data / "kinetics-600_val.csv"])
    labels = (tmp_path / "k" / "labels.txt").read_text().splitlines()
    assert labels == sorted(labels) and "chopping vegetables" in labels
    # K600 val names both 'picking fruit' and 'picking apples': one class once merged
    assert "picking apples" in labels and "picking fruit" not in labels and len(labels) == 600
    assert s["status"] == {"pending": 30000}
    k600 = json.loads((tmp_path / "k" / "label_maps" / "k600.json").read_text())
    assert k600["classes"] == labels and k600["index"] == list(range(600))


def test_eval_videos_in_a_training_split_are_dropped(tmp_path):
    train = tmp_path / "kinetics-700_train.csv"
    train.write_text("label,youtube_id,time_start,time_end,split\nrunning,aaaaaaaaaaa,0,10,train\n")
    val = tmp_path / "kinetics-400_val.csv"
    val.write_text("label,youtube_id,time_start,time_end,split\nrunning,aaaaaaaaaaa,0,10,val\n"
                   "jogging,bbbbbbbbbbb,0,10,val\n")
    s = plan_only(tmp_path / "k", [val, train])
    videos = pd.read_parquet(tmp_path / "k" / "videos").sort_values("row")
    assert list(videos.error_kind.fillna("")) == ["in_train", "", ""]
    assert s["status"] == {"pending": 2, "skipped": 1}


def test_bad_label_map_is_a_clear_error(tmp_path):
    f = tmp_path / "kinetics-400_val.csv"
    f.write_text("label,youtube_id,time_start,time_end,split\nx,aaaaaaaaaaa,0,10,val\n")
    with pytest.raises(InputError, match="--label-map"):
        plan_only(tmp_path / "k", [f], label_map=str(tmp_path / "missing.txt"))
