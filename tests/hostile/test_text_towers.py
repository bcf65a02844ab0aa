"""Text towers and captions from strangers: a BERT folder whose config.json states a tower far
larger than its weights, a vocabulary without [UNK], captions of megabytes. Each is refused in one
line before it costs memory, or costs what its first tokens cost."""

import io
import json
import tarfile

import pytest

from tests.hostile.limits import run_limited
from tests.trainer.vl_fixtures import bert_folder


@pytest.fixture
def bert(tmp_path):
    return bert_folder(tmp_path, ["a", "dog", "runs", "in", "the", "park"])


def test_a_config_stating_a_far_larger_tower_than_its_weights_is_refused_before_building(bert):
    config = json.loads((bert / "config.json").read_text())
    config |= {"hidden_size": 4096, "num_hidden_layers": 48, "num_attention_heads": 64, "intermediate_size": 16384}
    (bert / "config.json").write_text(json.dumps(config))
    done = run_limited(f"""
from trainer.checkpoint.bert import read_bert
from trainer.errors import CheckpointError
try:
    read_bert({str(bert)!r}, fusion_layers=1, video_dim=64)
except CheckpointError as e:
    print(e)
""", limit_gb=4.5)
    assert done.returncode == 0, done.stderr[-2000:]
    message = done.stdout.strip()
    assert str(bert) in message and "width 4096 and 48 layers" in message and "weights of other shapes" in message
    assert len(message.splitlines()) == 1


def test_a_vocabulary_without_unk_is_refused_up_front(bert):
    from trainer.checkpoint.bert import read_bert
    from trainer.data.captions import Tokenizer
    from trainer.errors import CheckpointError
    from trainer.models.sizes import ModelError
    from trainer.models.text import check_family_args

    vocab = (bert / "vocab.txt").read_text().splitlines()
    (bert / "vocab.txt").write_text("\n".join("[unused0]" if t == "[UNK]" else t for t in vocab) + "\n")
    with pytest.raises(CheckpointError, match=r"lacks the special tokens \['\[UNK\]'\].*stops the run"):
        read_bert(bert, fusion_layers=1, video_dim=64)
    without = [t for t in vocab if t != "[UNK]"] + ["[unused0]"]
    with pytest.raises(ValueError, match=r"lacks \['\[UNK\]'\]"):
        Tokenizer(without)
    text_args = {"vocab_size": len(without), "dim": 32, "depth": 2, "heads": 2, "mlp_dim": 64, "fusion_layers": 1,
                 "video_dim": 64, "pad_id": 0, "cls_id": 1, "sep_id": 2, "mask_id": 3}
    with pytest.raises(ModelError, match=r"lacks \[UNK\]"):  # as a checkpoint's record states it
        check_family_args({"text_args": text_args, "embed_dim": 16, "vocab": without})
    assert Tokenizer(vocab)(["a zebra runs"])[0][0, :5].tolist() == [2, 5, 1, 9, 3]  # zebra: [UNK]


def test_a_caption_costs_its_first_tokens_not_its_length(bert):
    vocab = (bert / "vocab.txt").read_text().splitlines()
    done = run_limited(f"""
from trainer.data.captions import Tokenizer
tok = Tokenizer({vocab!r}, max_tokens=32)
long = "a dog runs in the park " * (8 * 2**20 // 23)
ids, keep = tok([long, "a dog runs in the park " * 30])
assert ids.shape == (2, 32) and keep.all() and (ids[0] == ids[1]).all(), ids
print("ok")
""", limit_gb=4.5)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-2000:]


def test_caption_members_over_the_text_cap_are_refused_in_the_stream(tmp_path, videos):
    from trainer.data.tars import TEXT_MEMBER_CAP, Refused, tar_samples

    shard = tmp_path / "s.tar"
    clip = (videos / "a.mp4").read_bytes()
    with tarfile.open(shard, "w") as tar:
        for key, text in (("k0", b"a dog runs"), ("k1", b"a dog " * (TEXT_MEMBER_CAP // 6 + 1))):
            for ext, data in (("mp4", clip), ("txt", text)):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    before = Refused.count
    samples = {s["__key__"]: s for s in tar_samples([str(shard)], handler=lambda e: False)}
    assert samples["k0"]["txt"] == b"a dog runs" and "txt" not in samples["k1"] and "mp4" in samples["k1"]
    assert Refused.count == before + 1
