"""What every part of a build is (step, filter, fetcher, executor): a named class with its own
frozen `Options`, built from a build's settings by `from_build`, which hands it its own section
and the shared sections it names in `reads` (media, download) and nothing else, so that what a
component may depend on is written in one place."""

from __future__ import annotations

from typing import Any, ClassVar

from corpus.options import BuildOptions, NoOptions


class Component:
    name: ClassVar[str]
    Options: ClassVar[type] = NoOptions
    section: ClassVar[str]  # its options' key in BuildOptions.components (and its help panel); default: name
    reads: ClassVar[tuple[str, ...]] = ()  # shared sections of BuildOptions it reads, e.g. ("media",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "section" not in cls.__dict__ and "name" in cls.__dict__:
            cls.section = cls.name

    def __init__(self, options: Any, **shared: Any) -> None:
        self.options = options
        unknown = set(shared) - set(self.reads)
        assert not unknown, f"{type(self).__name__} reads no section {sorted(unknown)}"
        for name, section in shared.items():
            setattr(self, name, section)

    @classmethod
    def from_build(cls, build: BuildOptions):
        return cls(build.of(cls), **{name: getattr(build, name) for name in cls.reads})
