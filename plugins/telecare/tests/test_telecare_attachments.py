"""Attachment safety, decided from the content (`filetype`), never from the name: what is accepted,
and the disguised inputs refused with the field's message (nothing is stored when one is refused:
see test_telecare_messaging)."""

from __future__ import annotations

import io
import zipfile

import pytest

from carnet_core.plugin_api import InvalidInput

from carnet_telecare.services.attachments import check, read_limited, safe_name

LIMIT = 1024 * 1024
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


def _docx(extra: dict[str, bytes] | None = None, content_types: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        if content_types:
            z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr("word/document.xml", "<w:document>Bonjour</w:document>")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buffer.getvalue()


def _code(name: str, data: bytes) -> str:
    with pytest.raises(InvalidInput) as refused:
        check(name, data, LIMIT)
    return refused.value.errors["attachment"].code


def test_a_pdf_an_image_and_an_office_document_are_accepted_with_the_detected_type():
    assert check("compte rendu.PDF", PDF, LIMIT).media_type == "application/pdf"
    assert check("photo", PNG, LIMIT).filename == "photo.png"
    docx = check("devoirs.docx", _docx(), LIMIT)
    assert docx.media_type.endswith("wordprocessingml.document") and docx.filename == "devoirs.docx"


def test_the_name_never_decides_the_type():
    assert check("bilan.exe", PDF, LIMIT).filename == "bilan.pdf"  # a PDF named .exe is stored as a PDF


def test_an_executable_renamed_pdf_is_refused():
    exe = b"MZ\x90\x00" + b"\x00" * 60 + b"This program cannot be run in DOS mode" + b"\x00" * 64
    assert _code("ordonnance.pdf", exe) == "type"
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 64
    assert _code("ordonnance.pdf", elf) == "type"


def test_a_polyglot_pdf_that_is_also_a_zip_or_a_web_page_is_refused():
    assert _code("a.pdf", PDF + _docx()) == "disguised"
    assert _code("a.pdf", PDF + b"<html><script>alert(1)</script></html>") == "disguised"
    assert _code("photo.png", PNG + b"<svg onload=alert(1)>") == "disguised"


def test_a_pdf_with_javascript_or_an_embedded_file_is_refused():
    assert _code("a.pdf", PDF.replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /JavaScript /JS (x) >>")) \
        == "active"
    assert _code("a.pdf", PDF + b"<< /Type /EmbeddedFile >>") == "active"


def test_a_zip_bomb_disguised_as_a_document_is_refused():
    bomb = _docx({"word/media/zeros.bin": b"\x00" * (60 * 1024 * 1024)})
    assert len(bomb) < LIMIT
    assert _code("devoirs.docx", bomb) == "bomb"


def _stored_docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr("word/document.xml", "<w:document>Bonjour</w:document>")
    return buffer.getvalue()


def test_a_document_whose_contents_cannot_be_read_is_refused_not_a_server_error():
    data = _stored_docx()
    # a member's bytes changed (its CRC no longer matches)
    damaged = data.replace(b"Bonjour", b"Bonsoir")
    # a compression method no reader knows (99) in the local and central headers of every member
    unknown = data.replace(b"PK\x03\x04\x14\x00\x00\x00\x00\x00", b"PK\x03\x04\x14\x00\x00\x00\x63\x00") \
        .replace(b"PK\x01\x02\x14\x03\x14\x00\x00\x00\x00\x00", b"PK\x01\x02\x14\x03\x14\x00\x00\x00\x63\x00")
    assert unknown != data
    # flagged as encrypted (general purpose bit 0)
    encrypted = data.replace(b"PK\x03\x04\x14\x00\x00\x00", b"PK\x03\x04\x14\x00\x01\x00") \
        .replace(b"PK\x01\x02\x14\x03\x14\x00\x00\x00", b"PK\x01\x02\x14\x03\x14\x00\x01\x00")
    assert encrypted != data
    for bad in (damaged, unknown, encrypted):
        assert _code("devoirs.docx", bad) == "disguised"


def test_a_document_with_macros_or_a_plain_zip_is_refused():
    assert _code("devoirs.docx", _docx({"word/vbaProject.bin": b"macro"})) == "active"
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("setup.exe", b"MZ")
    assert _code("devoirs.docx", plain.getvalue()) in ("type", "active", "disguised")


def test_empty_and_oversized_files_are_refused_and_reading_stops_at_the_limit():
    assert _code("vide.pdf", b"") == "empty"
    assert _code("gros.pdf", PDF + b"0" * LIMIT) == "too_large"

    class Endless(io.RawIOBase):
        read_bytes = 0

        def read(self, n=-1):
            self.read_bytes += n
            return b"x" * n

    stream = Endless()
    with pytest.raises(InvalidInput):
        read_limited(stream, LIMIT)
    assert stream.read_bytes <= LIMIT + 64 * 1024  # never more than one chunk past the limit


def test_a_file_name_keeps_letters_and_loses_paths_and_markup():
    assert safe_name("../../etc/<script>passwd.pdf", "pdf") == "script_passwd.pdf"
    assert safe_name("Bilan d'Élodie.pdf", "pdf").endswith(".pdf") and "Élodie" in safe_name("Bilan Élodie.pdf", "pdf")
