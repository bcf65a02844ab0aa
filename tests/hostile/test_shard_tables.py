"""A corpus' shards/ table is an input like any other: train, eval and embed refuse an entry that
lies outside the corpus folder (mix already did), naming the corpus and the entry."""

import shutil

import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from manifests.tables import write_part
from trainer.checkpoint import model_record
from trainer.data.shards import resolve_shards
from trainer.errors import DataError
from trainer.models.registry import create_classifier, create_model

runner = CliRunner()


def corpus_pointing_outside(tmp_path, corpus):
    """A copy of `corpus` whose shards/ lists a real tar that lies beside the folder, not in it."""
    copy = tmp_path / "copy"
    shutil.copytree(corpus, copy, symlinks=True)
    outside = tmp_path / "elsewhere.tar"
    shards = pq.read_table(copy / "shards").to_pylist()
    shutil.copy(copy / shards[0]["shard"], outside)
    shards[0]["shard"] = "../elsewhere.tar"
    for part in (copy / "shards").glob("part-*.parquet"):
        part.unlink()
    write_part(copy / "shards" / "part-c000000.parquet", "shards", shards)
    return copy


def test_resolve_shards_refuses_an_entry_outside_the_corpus(tmp_path, tiny_unlabeled):
    copy = corpus_pointing_outside(tmp_path, tiny_unlabeled)
    with pytest.raises(DataError, match=r"shard '\.\./elsewhere\.tar' in its shards/ table lies outside"):
        resolve_shards([str(copy)])


def test_train_eval_and_embed_refuse_it(tmp_path, motion_corpora):
    copy = corpus_pointing_outside(tmp_path, motion_corpora["four"])
    clf, pre = tmp_path / "clf.pt", tmp_path / "pre.pt"
    torch.save(model_record(create_classifier("vit_test", 4, frames=4, img_size=32), "vit_test"), clf)
    torch.save(model_record(create_model("vit_test", frames=4, img_size=32), "vit_test"), pre)
    data = ["--workers", "0", "--no-progress"]
    for argv in (["train", "pretrain", "--shards", str(copy), "--out", str(tmp_path / "run"), "--model", "vit_test",
                  "--frames", "4", "--img-size", "32", "--steps", "1", *data],
                 ["eval", "--shards", str(copy), "--ckpt", str(clf), "--out", str(tmp_path / "ev"), *data],
                 ["embed", "--shards", str(copy), "--ckpt", str(pre), "--out", str(tmp_path / "e.parquet"), *data]):
        r = runner.invoke(app, argv)
        assert r.exit_code == 2 and "lies outside the corpus folder" in r.output, (argv[0], r.output)
    assert not (tmp_path / "e.parquet").exists() and not (tmp_path / "ev").exists()
