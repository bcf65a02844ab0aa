"""The container formats a video may come in, told from its first bytes, before any decoder sees
it. Demuxers that open other files are what makes a file dangerous: an HLS playlist or an ffconcat
list fetched from a stranger's URL list would have ffmpeg read the user's own files into a
corpus. Both halves refuse anything that is not one of these containers, and give ffmpeg the
same list as its demuxer whitelist."""

from __future__ import annotations

# ffmpeg's demuxers for those containers (its -format_whitelist), none of which opens another file
# (the mov demuxer's external references stay off, as they are by default)
FFMPEG_DEMUXERS = "mov,matroska,avi,flv,mpegts,mpeg,ogg,asf,gif"
SNIFF_BYTES = 512  # enough for every signature below

_ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid")


def container_of(head: bytes) -> str | None:
    """The container a file starting with `head` is in, or None when it is none vmae reads."""
    if len(head) >= 8 and head[4:8] in _ISO_BOXES:
        return "mp4"  # ISO base media: mp4, mov, m4v, 3gp
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"  # mkv, webm
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg-ps"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "asf"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if _is_transport_stream(head, 188, 0) or _is_transport_stream(head, 192, 4):
        return "mpegts"
    return None


def _is_transport_stream(head: bytes, packet: int, skip: int) -> bool:
    """MPEG-TS (188-byte packets) or M2TS (192, after a 4-byte time code): sync bytes in step."""
    marks = range(skip, min(len(head), skip + 3 * packet), packet)
    return len(marks) >= 2 and all(head[i] == 0x47 for i in marks)


def describe(head: bytes) -> str:
    """What a file that is not a video looks like, for the error message."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    for sign, what in ((b"#EXTM3U", "an HLS playlist"), (b"ffconcat", "an ffmpeg concat list"),
                       (b"<", "an HTML or XML page"), (b"{", "JSON"), (b"\x1f\x8b", "gzip data")):
        if text.startswith(sign):
            return what
    shown = "".join(chr(b) if 32 <= b < 127 else "." for b in head[:16])
    return f"data starting with '{shown}'"


def not_a_video(head: bytes) -> str | None:
    """Why a file starting with `head` is refused, or None when it is a container vmae reads."""
    if container_of(head) is not None:
        return None
    return (f"not a video container: it is {describe(head)}. vmae reads MP4/MOV, Matroska/WebM, AVI, FLV, MPEG-TS/PS, "
            "Ogg, ASF and GIF only (playlists and lists would make the decoder open other files)")
