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
