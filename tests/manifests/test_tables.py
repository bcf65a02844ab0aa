import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from manifests.schemas import SIGNATURE_HASHES, TABLES, VERSION_KEY
from manifests.tables import ManifestError, read_frame, read_table, write_part
from tests.manifests.helpers import EXAMPLES


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_writer_round_trips_through_its_reader(tmp_path, name):
    write_part(tmp_path / name / "part-u000000.parquet", name, [EXAMPLES[name]])
    write_part(tmp_path / name / "part-u000001.parquet", name, [])  # an empty unit
    back = read_table(tmp_path, name).to_pylist()
    assert len(back) == 1
    for k, v in EXAMPLES[name].items():
        assert back[0][k] == v
    # pandas reads the folder as one table, as users will
    assert len(pd.read_parquet(tmp_path / name)) == 1
    assert len(read_frame(tmp_path, name)) == 1


def test_signature_has_a_fixed_number_of_hashes(tmp_path):
    row = dict(EXAMPLES["clips"], signature=[1, 2, 3])
    with pytest.raises((pa.ArrowInvalid, ValueError)):
        write_part(tmp_path / "clips" / "part-u.parquet", "clips", [row])
    assert SIGNATURE_HASHES == 8


def test_unknown_columns_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not in the schema"):
        write_part(tmp_path / "videos" / "part-u.parquet", "videos", [{"row": 0, "vidoe_id": "typo"}])


def test_reader_refuses_another_schema_version(tmp_path):
    table = pa.table({"row": [0]}).replace_schema_metadata({VERSION_KEY: b"videos/999"})
    (tmp_path / "videos").mkdir()
    pq.write_table(table, tmp_path / "videos" / "part-u.parquet")
    with pytest.raises(ManifestError, match="videos/999.*reads 'videos/1' or 'videos/2'"):
        read_table(tmp_path, "videos")


def test_reader_refuses_missing_columns(tmp_path):
    table = pa.table({"row": [0]}).replace_schema_metadata({VERSION_KEY: b"videos/1"})
    (tmp_path / "videos").mkdir()
    pq.write_table(table, tmp_path / "videos" / "part-u.parquet")
    with pytest.raises(ManifestError, match="missing columns"):
        read_table(tmp_path, "videos")


def test_missing_table_names_the_folder(tmp_path):
    with pytest.raises(ManifestError, match="no part files"):
        read_table(tmp_path, "clips")
    assert read_table(tmp_path, "clips", required=False).num_rows == 0


def test_temporary_files_are_invisible_to_readers(tmp_path):
    write_part(tmp_path / "videos" / "part-u0.parquet", "videos", [EXAMPLES["videos"]])
    (tmp_path / "videos" / ".part-u1.parquet.1234.tmp").write_bytes(b"half written")
    assert len(pd.read_parquet(tmp_path / "videos")) == 1


def _as_version_1(root, name: str) -> None:
    """Rewrite a table as vmae wrote it before captions and media (schema version 1)."""
    from manifests.generations import current

    for part in (current(root / name)).glob("part-*.parquet"):
        table = pq.read_table(part).drop_columns([c for c in ("captions", "media") if c in TABLES[name].names])
        pq.write_table(table.replace_schema_metadata({VERSION_KEY: f"{name}/1".encode()}), part)


def test_a_version_1_corpus_still_reads_and_validates(tmp_path, server):
    from manifests.validate import validate
    from tests.helpers import build_corpus

    urls = tmp_path / "urls.csv"
    urls.write_text(f"url,caption\n{server}/a.mp4,colour bars\n{server}/b.mp4,\n")
    build_corpus(tmp_path / "c", "web", [urls])
    for name in ("videos", "clips"):
        _as_version_1(tmp_path / "c", name)
    clips = read_frame(tmp_path / "c", "clips").sort_values("row")
    assert clips["captions"].isna().all() and clips["media"].isna().all()
    assert list(clips["caption"].fillna("-")) == ["colour bars", "-"]
    assert validate(tmp_path / "c").ok
