"""The docs site's reference pages are what the code declares: regenerated, they equal the
committed ones (a changed option or help text without `python -m cli.reference` fails here)."""

from cli.reference import PAGES, pages


def test_the_reference_pages_are_current():
    for name, text in pages().items():
        committed = (PAGES / name).read_text() if (PAGES / name).is_file() else ""
        assert committed == text, f"docs/reference/{name} is out of date: run `python -m cli.reference`"


def test_every_command_has_a_section_with_its_options():
    page = pages()["cli.md"]
    for command in ("vmae corpus build", "vmae corpus view", "vmae train pretrain", "vmae train vlpretrain",
                    "vmae eval", "vmae bench", "vmae manifests validate"):
        assert f"## {command}\n" in page, command
    assert "| `--uma-weight` |" in page and "| `--host` | `127.0.0.1` |" in page


def test_the_component_pages_list_every_registered_component():
    from corpus.sources import SOURCES
    from corpus.steps.filters import FILTERS
    from trainer.models.families import FAMILIES
    from trainer.stages.specs import STAGES

    corpus, training = pages()["corpus.md"], pages()["training.md"]
    assert all(f"### {name}\n" in corpus for name in [*SOURCES, *FILTERS])
    assert "| `--crf` | `23` | yes |" in corpus and "| `--workers` | `1` | no |" in corpus
    assert all(f"| `{name}` |" in training for name in [*STAGES, *FAMILIES])
    assert "### umt\n" in training and "| `--decoder-mask` | `0.5` |" in training
