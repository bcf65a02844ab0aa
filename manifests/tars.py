"""Reading tar shards as data. A shard from another lab is an input like any other: a header may
claim a member of a terabyte in a 10 KB file (a GNU sparse member does so legitimately), carry a
size that is not a number, a name that is not UTF-8, or end half-way. Python's tarfile reads a
member whole (a sparse one is expanded into zeros in memory) and raises many kinds of errors;
this reader checks every header before it reads a byte of data, reads data in bounded pieces, and
says what is wrong with one TarError naming the tar and the offset.

Members that are not plain files, sparse members and members over the size cap are reported
with the reason they were not read (`refused`), and their data is skipped, never read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from manifests.errors import ManifestError

BLOCK = 512
# A member cap derived from a corpus (its largest clip) is at least this, for the .json members
MIN_MEMBER_CAP = 1024**2
MAX_HEADER_DATA = 1 << 20  # a PAX or GNU long-name header's own data: names and a few numbers
_PIECE = 1 << 20  # data is read in pieces of this size: a claimed size is never allocated at once
_REGULAR, _LINKS = (b"0", b"\0", b"7"), (b"1", b"2")
_SPARSE, _PAX, _PAX_GLOBAL, _LONG_NAME, _LONG_LINK = b"S", b"x", b"g", b"L", b"K"


class TarError(ManifestError):
    """A tar that cannot be read on (truncated, a damaged header, not a tar)."""


@dataclass(frozen=True)
class Member:
    name: str
    offset: int  # of its data in the tar
    size: int
    refused: str | None = None  # why its data was not read; None for a plain file within the cap


def _number(field: bytes, where: str, offset: int) -> int:
    """A header's numeric field: octal digits (NUL or space ended) or GNU's base-256."""
    if field[:1] and field[0] & 0x80:
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    digits = field.split(b"\0", 1)[0].strip()
    try:
        return int(digits or b"0", 8)
    except ValueError:
        raise TarError(f"{where}: the header at byte {offset} has a size or checksum {digits[:12]!r} that is not "
                       "an octal number; not a tar, or a damaged one") from None


def _checked(header: bytes, where: str, offset: int) -> None:
    stored = _number(header[148:156], where, offset)
    counted = sum(header[:148]) + 8 * 32 + sum(header[156:])
    signed = counted - 2 * sum(b for b in header[:148] + header[156:] if b > 127)  # old writers summed signed bytes
    if stored not in (counted, signed):
        raise TarError(f"{where}: the header at byte {offset} has a wrong checksum; not a tar, or a damaged one")


def _pax(data: bytes) -> dict[str, str]:
    """The records of a PAX header ('LEN key=value\\n' …); malformed records are ignored."""
    records, at = {}, 0
    while at < len(data):
        length, _, rest = data[at:at + 20].partition(b" ")
        if not length.isdigit() or int(length) <= len(length) + 1:
            break
        record = data[at + len(length) + 1:at + int(length)].rstrip(b"\n")
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        at += int(length)
    return records


class _Reader:
    """Position-counting reads of a tar stream (a file, a pipe or an HTTP body)."""

    def __init__(self, f: BinaryIO, where: str):
        self.f, self.where, self.at = f, where, 0

    def block(self) -> bytes:
        """The next header block, shorter only at the end of the stream (a pipe may return less)."""
        data = b""
        while len(data) < BLOCK and (piece := self.f.read(BLOCK - len(data))):
            data += piece
        self.at += len(data)
        return data

    def exactly(self, n: int) -> bytes:
        pieces, left = [], n
        while left:
            piece = self.f.read(min(left, _PIECE))
            if not piece:
                raise TarError(f"{self.where}: the tar ends at byte {self.at + n - left}, inside a member of "
                               f"{n} bytes that starts at byte {self.at}; it was cut short")
            pieces.append(piece)
            left -= len(piece)
        self.at += n
        return b"".join(pieces)

    def skip(self, n: int) -> None:
        if n and getattr(self.f, "seekable", lambda: False)():
            self.f.seek(n, 1)
            self.at += n
            return
        while n:  # a stream: read and drop, a piece at a time
            piece = self.f.read(min(n, _PIECE))
            if not piece:
                raise TarError(f"{self.where}: the tar ends at byte {self.at}, {n} bytes before the end of a member; "
                               "it was cut short")
            self.at += len(piece)
            n -= len(piece)


def members(f: BinaryIO, where: str, max_bytes: int, read: bool = True) -> Iterator[tuple[Member, bytes | None]]:
    """(member, data) for every member of the tar in `f`, in order: data is the member's bytes when
    it is a plain file of at most `max_bytes` and `read` is true, else None (see Member.refused).
    `where` names the tar in messages."""
    r = _Reader(f, where)
    long_name: str | None = None
    pax: dict[str, str] = {}
    while True:
        start = r.at
        header = r.block()
        if not header or header == bytes(BLOCK):
            return  # the end (two zero blocks, or a writer that left them out)
        if len(header) < BLOCK:
            raise TarError(f"{where}: the tar ends inside the header at byte {start}; it was cut short")
        _checked(header, where, start)
        kind, size = header[156:157], _number(header[124:136], where, start)
        if kind in (_PAX, _PAX_GLOBAL, _LONG_NAME, _LONG_LINK):
            if size > MAX_HEADER_DATA:
                raise TarError(f"{where}: the extended header at byte {start} claims {size:,} bytes; at most "
                               f"{MAX_HEADER_DATA:,} are read")
            data = r.exactly(size)
            r.skip(-size % BLOCK)
            if kind == _PAX:
                pax = _pax(data)
            elif kind == _LONG_NAME:
                long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            continue
        claimed = size
        if kind == _SPARSE:
            claimed = _number(header[483:495], where, start)  # what it expands to; `size` is what is stored
            extended = header[482]
            while extended:  # old GNU sparse: more blocks of the sparse map follow the header
                extended = r.exactly(BLOCK)[504]
        name = long_name or pax.get("path") or _name(header)
        if "size" in pax:
            size = claimed = _pax_size(pax["size"], where, start)
        sparse = kind == _SPARSE or any(k.startswith("GNU.sparse.") for k in pax)
        long_name, pax = None, {}
        member = Member(name, r.at, size, _refusal(name, kind, sparse, claimed, max_bytes))
        data = None
        if member.refused is None and read:
            data = r.exactly(size)
            r.skip(-size % BLOCK)
        else:
            r.skip(size + -size % BLOCK)
        yield member, data


def _name(header: bytes) -> str:
    name = header[:100].split(b"\0", 1)[0]
    if header[257:262] == b"ustar":
        prefix = header[345:500].split(b"\0", 1)[0]
        name = prefix + b"/" + name if prefix else name
    return name.decode("utf-8", "surrogateescape")


def _pax_size(text: str, where: str, offset: int) -> int:
    if not text.isdigit():
        raise TarError(f"{where}: the PAX header before byte {offset} gives the size {text[:20]!r}, not a number")
    return int(text)


def _refusal(name: str, kind: bytes, sparse: bool, size: int, max_bytes: int) -> str | None:
    if kind in _LINKS:
        return "a link, not a file"
    if kind not in _REGULAR and kind != _SPARSE:
        return "not a plain file"
    if sparse:
        return f"a sparse member claiming {size:,} bytes (shards hold plain files)"
    if size > max_bytes:
        return f"{size:,} bytes, over the cap of {max_bytes:,} for one member"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "a name that is not UTF-8"
    return None
