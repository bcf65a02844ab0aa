"""Planning a mix in bounded memory: a 210k-clip plan under an address-space cap that the planner
it replaced (a dict per clip, ~9 KB each) cannot plan within."""

from corpus.synthetic_tables import make_corpus_tables
from tests.hostile.limits import run_limited

CAP_GB = 2.5  # the columns planner peaks near 1.7 GB of address space here, the row planner near 3.4


def test_a_210k_clip_plan_fits_where_rows_did_not(tmp_path):
    make_corpus_tables(tmp_path / "a", "a", 150_000, 0)
    make_corpus_tables(tmp_path / "b", "b", 60_000, 1)
    (tmp_path / "r.yaml").write_text("sources:\n  a: {quota: 140000}\n  b: {quota: 50000}\n")
    inputs = {"a": str(tmp_path / "a"), "b": str(tmp_path / "b")}
    columns = run_limited(
        "from corpus.mix.run import MixOptions, mix\n"
        f"s = mix(MixOptions(recipe={str(tmp_path / 'r.yaml')!r}, inputs={inputs!r}, out={str(tmp_path / 'o')!r}, "
        "plan_only=True), progress=False)\n"
        "print(s['planned_clips'], s['plan_digest'])", CAP_GB)
    assert columns.returncode == 0, columns.stderr[-2000:]
    planned, digest = columns.stdout.split()
    assert int(planned) == 190_000
    rows = run_limited(
        "from pathlib import Path\nfrom manifests.recipe import load_recipe\n"
        "from tests.corpus.mix.row_planner import candidates, plan_mix\n"
        f"pool = {{n: candidates(n, Path(d)) for n, d in {inputs!r}.items()}}\n"
        f"print(plan_mix(load_recipe({str(tmp_path / 'r.yaml')!r}), pool, 1.0, 0, False, 1 << 30).digest)", CAP_GB)
    assert rows.returncode != 0 and "MemoryError" in rows.stderr
