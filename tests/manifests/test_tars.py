"""The tar reader reads what Python's tarfile and vmae's writer write (USTAR, GNU, PAX, long
names), and refuses what a crafted shard holds with one TarError naming the tar and the offset,
reading no member it refuses."""

import io
import tarfile

import pytest

from manifests.tars import BLOCK, TarError, members


def tar_bytes(files: dict[str, bytes], fmt=tarfile.USTAR_FORMAT, links=()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return out.getvalue()


def read_all(data: bytes, cap=1 << 20):
    return [(m.name, d, m.refused) for m, d in members(io.BytesIO(data), "t.tar", cap)]


def header(name: bytes, size_field: bytes, kind: bytes = b"0", extra: dict | None = None) -> bytes:
    """A hand-made USTAR header (with a right checksum) for the crafted cases."""
    h = bytearray(BLOCK)
    h[:len(name)] = name
    h[100:124] = b"0000644\x000000000\x000000000\x00"
    h[124:136] = size_field.ljust(12, b"\0")
    h[136:148] = b"00000000000\0"
    h[156:157] = kind
    h[257:265] = b"ustar\x0000"
    for at, value in (extra or {}).items():
        h[at:at + len(value)] = value
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\x00 " % sum(h)
    return bytes(h)


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_reads_what_tarfile_writes(fmt):
    long = "d/" + "n" * 150 + ".mp4"
    files = {"a.mp4": b"x" * 1000, "a.json": b"{}", long: b"y" * 513, "empty.txt": b""}
    if fmt == tarfile.USTAR_FORMAT:
        files.pop(long)  # USTAR holds at most 255 bytes split as prefix/name; 157 with no slash fits
        files["d" * 90 + "/" + "e" * 90 + ".mp4"] = b"z" * 3
    got = read_all(tar_bytes(files, fmt))
    assert [(n, d) for n, d, _ in got] == list(files.items())


def test_refuses_to_read_sparse_oversized_and_link_members_and_goes_on():
    realsize = b"%011o\0" % (1 << 30)
    sparse = header(b"bomb.mp4", b"00000000000\0", b"S", {483: realsize, 386: realsize + b"00000000000\0"})
    data = sparse + tar_bytes({"big.mp4": b"b" * 5000, "ok.json": b"{}"}, links=["link.mp4"])
    got = {n: (d, why) for n, d, why in read_all(data, cap=4096)}
    assert got["bomb.mp4"][0] is None and "sparse member claiming 1,073,741,824 bytes" in got["bomb.mp4"][1]
    assert got["big.mp4"][0] is None and "5,000 bytes, over the cap of 4,096" in got["big.mp4"][1]
    assert got["link.mp4"] == (None, "a link, not a file")
    assert got["ok.json"] == (b"{}", None)


def test_a_name_that_is_not_utf8_is_refused_not_fatal():
    data = header(b"caf\xe9.mp4", b"%011o\0" % 3) + b"abc".ljust(BLOCK, b"\0") + bytes(2 * BLOCK)
    (name, data_read, why), = read_all(data)
    assert data_read is None and why == "a name that is not UTF-8"


@pytest.mark.parametrize("case", ["non-octal size", "cut in a member", "cut in a header", "bad checksum",
                                  "huge pax header"])
def test_damaged_tars_are_one_clear_error(case):
    good = tar_bytes({"a.mp4": b"x" * 3000})
    data = {"non-octal size": header(b"a.mp4", b"12abc"),
            "cut in a member": good[:BLOCK + 1000],
            "cut in a header": good[:200],
            "bad checksum": good[:148] + b"0000000\0" + good[156:],
            "huge pax header": header(b"././@PaxHeader", b"%011o\0" % (1 << 40), b"x")}[case]
    with pytest.raises(TarError, match=r"^t\.tar: ") as e:
        read_all(data)
    assert len(str(e.value).splitlines()) == 1
