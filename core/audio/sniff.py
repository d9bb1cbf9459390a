"""What a file is, from its first bytes alone: an accepted container, other media, or a non-audio kind."""

from __future__ import annotations

import unicodedata

# What a non-audio file looks like, for the refusal sentence.
NOT_AUDIO = {
    "pdf": "a PDF document",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "gif": "a GIF image",
    "webp": "a WebP image",
    "bmp": "a BMP image",
    "tiff": "a TIFF image",
    "zip": "a ZIP archive (or an Office document)",
    "gzip": "a gzip archive",
    "rar": "a RAR archive",
    "7z": "a 7-Zip archive",
    "elf": "a Linux program (ELF executable)",
    "exe": "a Windows program (EXE/DLL)",
    "macho": "a macOS program",
    "sqlite": "an SQLite database",
    "html": "a web page (HTML)",
    "xml": "an XML document",
    "text": "a text file",
}
# Media FFmpeg could read but the product does not accept.
UNSUPPORTED_MEDIA = {
    "aiff": "an AIFF audio file",
    "caf": "a Core Audio (CAF) file",
    "amr": "an AMR voice memo",
    "asf": "a Windows Media (WMA/WMV) file",
    "avi": "an AVI video",
    "mkv": "a Matroska (MKV) file",
    "midi": "a MIDI file (notes, not recorded sound)",
    "mpegps": "an MPEG program stream (DVD/VOB video)",
    "mpegts": "an MPEG transport stream",
}
ACCEPTED_CONTAINERS = frozenset({"wav", "mp3", "mpeg", "aac", "ogg", "webm", "flac", "mp4", "mov"})


def _mpeg_audio_kind(head: bytes) -> str | None:
    """MPEG audio frame sync at the start: layer III is "mp3", I/II "mpeg", ADTS (layer 0) "aac"."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
    if layer == 0:
        return "aac" if head[1] & 0xF0 == 0xF0 else None
    if version == 0b01 or (head[2] >> 4) == 0xF or (head[2] >> 2) & 0b11 == 0b11:
        return None  # reserved version, bad bitrate index or bad sample-rate index: not a frame
    return "mp3" if layer == 0b01 else "mpeg"


def _id3_size(head: bytes) -> int:
    """Length of a leading ID3v2 tag (0 if none); MP3, AAC and FLAC files may all start with one."""
    if len(head) < 10 or head[:3] != b"ID3" or head[3] not in (2, 3, 4) or any(b & 0x80 for b in head[6:10]):
        return 0
    size = 0
    for byte in head[6:10]:
        size = (size << 7) | (byte & 0x7F)
    return 10 + size + (10 if head[5] & 0x10 else 0)


def _looks_like_text(head: bytes) -> bool:
    """Whether the bytes decode as text with almost no control characters (UTF-8 or BOM-marked UTF-16)."""
    sample = head[:4096]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte order mark
        text = sample[: len(sample) // 2 * 2].decode("utf-16", errors="replace")
    elif b"\x00" in sample:
        return False
    else:
        text = sample.decode("utf-8", errors="replace")
    bad = sum(1 for ch in text if ch == "\ufffd" or (unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f"))
    return bad <= len(text) // 100


def sniff_kind(head: bytes) -> str | None:
    """Guess a file's kind from its first bytes: an audio/video container, a non-audio kind, or None."""
    if not head:
        return None
    tag = _id3_size(head)
    if tag:
        rest = head[tag:]
        if rest.startswith(b"fLaC"):
            return "flac"
        return _mpeg_audio_kind(rest) or "mp3"  # the tag may outrun the head; MP3 is by far the most likely
    four = head[:4]
    if four in (b"RIFF", b"RF64", b"BW64"):
        return {b"WAVE": "wav", b"AVI ": "avi", b"WEBP": "webp"}.get(head[8:12])
    if four == b"fLaC":
        return "flac"
    if four == b"OggS":
        return "ogg"
    if four == b"\x1a\x45\xdf\xa3":  # EBML: WebM or Matroska, told apart by the DocType
        return "mkv" if b"matroska" in head[:64] else "webm"
    if head[4:8] == b"ftyp":
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "mov"  # an old QuickTime file without a ftyp box
    if four == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if four == b"caff":
        return "caf"
    if head.startswith(b"#!AMR"):
        return "amr"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "asf"
    if four == b"MThd":
        return "midi"
    if four == b"\x00\x00\x01\xba":
        return "mpegps"
    signatures = (
        (b"%PDF-", "pdf"),
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"\xff\xd8\xff", "jpeg"),
        (b"GIF87a", "gif"),
        (b"GIF89a", "gif"),
        (b"II*\x00", "tiff"),
        (b"MM\x00*", "tiff"),
        (b"PK\x03\x04", "zip"),
        (b"PK\x05\x06", "zip"),
        (b"\x1f\x8b", "gzip"),
        (b"Rar!\x1a\x07", "rar"),
        (b"7z\xbc\xaf\x27\x1c", "7z"),
        (b"\x7fELF", "elf"),
        (b"\xfe\xed\xfa\xce", "macho"),
        (b"\xfe\xed\xfa\xcf", "macho"),
        (b"\xce\xfa\xed\xfe", "macho"),
        (b"\xcf\xfa\xed\xfe", "macho"),
        (b"\xca\xfe\xba\xbe", "macho"),
        (b"SQLite format 3\x00", "sqlite"),
    )
    for magic, kind in signatures:
        if head.startswith(magic):
            return kind
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) and _looks_like_text(head):
        return "text"  # a UTF-16 byte order mark also passes for an MPEG layer I frame sync
    mpeg = _mpeg_audio_kind(head)
    if mpeg:
        return mpeg
    if _looks_like_text(head):
        start = head[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
            return "html"
        if start.startswith((b"<?xml", b"<svg")):
            return "xml"
        return "text"
    if head[0] == 0x47 and len(head) > 376 and head[188] == 0x47 and head[376] == 0x47:
        return "mpegts"  # sync byte every 188 bytes
    # Two-byte magics only once text is ruled out, so a note starting "MZ..." is still called text.
    if head.startswith(b"MZ"):
        return "exe"
    if head.startswith(b"BM"):
        return "bmp"
    return None
