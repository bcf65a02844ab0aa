"""`vmae export` replaces nothing it was not told to: the card written beside a safetensors file
is refused like the file itself."""

import torch
from typer.testing import CliRunner

from cli.main import app
from trainer.checkpoint import model_record
from trainer.models.registry import create_classifier

runner = CliRunner()


def test_a_safetensors_export_does_not_replace_the_json_beside_it(tmp_path):
    ckpt = tmp_path / "clf.pt"
    torch.save(model_record(create_classifier("vit_test", 2, frames=4, img_size=32), "vit_test"), ckpt)
    results = tmp_path / "results.json"
    results.write_text('{"top1": 0.91}')  # someone's evaluation results, not a card of ours
    argv = ["export", str(ckpt), "--format", "safetensors", "--out", str(tmp_path / "results.safetensors")]
    r = runner.invoke(app, argv)
    assert r.exit_code == 2 and "results.json exists" in r.output, r.output
    assert results.read_text() == '{"top1": 0.91}' and not (tmp_path / "results.safetensors").exists()
    assert runner.invoke(app, [*argv, "--overwrite"]).exit_code == 0
    assert '"vmae-model"' in results.read_text()
