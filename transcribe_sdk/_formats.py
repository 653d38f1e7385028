"""Audio container names: extension to content type, and container detection from first bytes;
and which response formats are subtitles.

Servers in the OpenAI family decide whether they accept an upload from its filename extension
and content type, so an unnamed upload must be given the canonical name of what it contains.
"""

from __future__ import annotations

import mimetypes
import posixpath

# Extension -> content type for the formats OpenAI-compatible servers accept, plus a few that
# some providers take. m4a is sent as audio/x-m4a: some servers refuse m4a labelled audio/mp4.
CONTENT_TYPES: dict[str, str] = {
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "mpeg": "audio/mpeg",
    "mpga": "audio/mpeg",
    "mp4": "audio/mp4",
    "m4a": "audio/x-m4a",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "wav": "audio/wav",
    "webm": "audio/webm",
    "aac": "audio/aac",
    "aiff": "audio/aiff",
    "aif": "audio/aiff",
    "amr": "audio/amr",
    "mkv": "video/x-matroska",
    "mov": "video/quicktime",
}

SUBTITLE_FORMATS = ("srt", "vtt")
"""The response formats that are subtitles: cues, each a phrase with its own times."""

# How many leading bytes detection needs.
SNIFF_BYTES = 64


def extension_of(filename: str) -> str:
    """Lower-case extension without the dot, or ``""``."""
    base = posixpath.basename(filename.replace("\\", "/"))
    _, dot, ext = base.rpartition(".")
    return ext.lower() if dot and _ else ""


def content_type_for(filename: str) -> str | None:
    """The content type for a filename's extension, or ``None`` when the extension is unknown."""
    ext = extension_of(filename)
    if not ext:
        return None
    known = CONTENT_TYPES.get(ext)
    if known:
        return known
    guessed, _ = mimetypes.guess_type("x." + ext, strict=False)
    if guessed and guessed.startswith(("audio/", "video/")):
        return guessed
    return None


def _is_mp3_frame(head: bytes) -> bool:
    # MPEG audio frame sync: 11 set bits; layer bits 00 would be AAC ADTS, not MP3.
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    return (head[1] >> 1) & 0b11 != 0


def sniff_extension(head: bytes) -> str | None:
    """Name the container from its first bytes: ``"wav"``, ``"mp3"``, ``"flac"``, ... or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or _is_mp3_frame(head):
        return "mp3"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "m4a" if brand.startswith((b"M4A", b"M4B")) else "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        # EBML: WebM and Matroska share it; the doctype string tells them apart.
        return "mkv" if b"matroska" in head[:SNIFF_BYTES] else "webm"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:5] == b"#!AMR":
        return "amr"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"
    return None
