"""Turn file bytes into text: byte-order marks, UTF-8, a Windows-1252 fallback, and binary detection."""

from __future__ import annotations

import codecs

from data.errors import DataError

SAVE_AS_HINT = "Export the data as UTF-8 text: CSV, TSV, JSON Lines, JSON records, Parquet or plain .txt."

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx or Word .docx file is one)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"PAR1", "a Parquet file"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Word document"),
    (b"SQLite format 3", "an SQLite database"),
)
# Control bytes that never occur in real text (tab, newlines and form feed are allowed).
_CONTROL_BYTES = frozenset(range(0, 9)) | {11} | frozenset(range(14, 32)) | {127}
_SAMPLE = 65536


def decode_text(raw: bytes, name: str) -> tuple[str, list[str]]:
    """Decode file bytes: BOMs first, then UTF-8, then Windows-1252/Latin-1 with a warning."""
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if raw.startswith(bom):
            try:
                return raw.decode(codec), []
            except UnicodeDecodeError as err:
                raise DataError(
                    f"starts with a {codec.upper()} byte-order mark but byte {err.start} is not valid {codec.upper()}.",
                    file=name,
                    hint="Re-save the file as UTF-8.",
                ) from None
    kind = _magic_kind(raw)
    if kind:
        raise DataError(f"is not a text file: it looks like {kind}.", file=name, hint=SAVE_AS_HINT)
    if _looks_binary(raw):
        # By proportion, not by a single NUL: real exports (an e-mail pasted from a PDF) carry a stray one,
        # and those files are text; data.stray_controls removes them and names the rows.
        if b"\x00" in raw[:_SAMPLE]:
            what = "binary data (it contains NUL bytes)"
            hint = "If it is UTF-16 text without a byte-order mark, re-save it as UTF-8. " + SAVE_AS_HINT
        else:
            what, hint = "binary data that no text encoding can read", SAVE_AS_HINT
        raise DataError(f"is not a text file: it looks like {what}.", file=name, hint=hint)
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
    try:
        text, encoding = raw.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:  # five byte values are undefined in cp1252; Latin-1 maps every byte
        text, encoding = raw.decode("latin-1"), "Latin-1"
    warning = (
        f"File '{name}' is not valid UTF-8 (first bad byte on line {line}); it was read as {encoding}. "
        "If accented characters look wrong, re-save the file as UTF-8."
    )
    return text, [warning]


def _magic_kind(raw: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if raw.startswith(magic):
            return kind
    return None


def _looks_binary(raw: bytes) -> bool:
    """More than 1 byte in 20 of the first 64 KiB (and more than two) are control bytes: binary, or UTF-16
    without a BOM. The floor keeps a short text with one stray NUL a text."""
    sample = raw[:_SAMPLE]
    controls = sum(sample.count(bytes([byte])) for byte in _CONTROL_BYTES)
    return controls > max(2, 0.05 * len(sample))
