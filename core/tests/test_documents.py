"""carnet_core.documents: PDF/A-3b from HTML through WeasyPrint, byte-identical for the same input,
attachments embedded, translated templates, and an app that starts without WeasyPrint."""

import io
import os
import subprocess
import sys
from datetime import UTC, datetime

import pypdf
import pytest

from carnet_core import plugin_api
from carnet_core.documents import PdfAttachment, PdfUnavailable, html_to_pdf, pdf_unavailable_reason, render_pdf

HTML = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Essai</title>
<style>body { font-family: "DejaVu Sans", sans-serif; }</style></head>
<body><h1>Note d'honoraires</h1><p>Exonéré de TVA – art. 261-4-1° du CGI</p></body></html>"""
WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.mark.pdf
def test_a_pdf_a3b_with_its_text_metadata_and_attachment():
    pdf = html_to_pdf(
        HTML, title="Note 2026-000001", created=WHEN, attachments=[PdfAttachment("factur-x.xml", b"<x/>", "Facture")]
    )
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert "Exonéré de TVA – art. 261-4-1° du CGI" in reader.pages[0].extract_text()
    xmp = reader.xmp_metadata.stream.get_data().decode()
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp
    assert reader.metadata["/Title"] == "Note 2026-000001"
    assert reader.metadata["/CreationDate"].startswith("D:20260302093000")
    assert reader.attachments["factur-x.xml"] == [b"<x/>"]
    assert pdf.startswith(b"%PDF-1.7")


@pytest.mark.pdf
def test_the_same_input_gives_the_same_bytes():
    assert html_to_pdf(HTML, created=WHEN) == html_to_pdf(HTML, created=WHEN)
    assert html_to_pdf(HTML, created=WHEN) != html_to_pdf(HTML, created=datetime(2026, 3, 3, tzinfo=UTC))


@pytest.mark.pdf
def test_the_style_blocks_parsed_once_change_no_byte():
    """A template's <style> blocks are parsed once per rendering kit and given beside the document:
    the bytes are WeasyPrint's own for the document as written (a note, with inline styles too)."""
    import weasyprint

    from carnet_core import documents

    html = HTML.replace("<p>", '<p style="color: #333; font-weight: bold">', 1)
    with documents._kit(html) as kit:
        stripped, sheets = documents._stylesheets(weasyprint, html, kit)
        assert "<style>" in html and "<style>" not in stripped and len(sheets) == 1
        assert documents._stylesheets(weasyprint, html, kit)[1][0] is sheets[0]  # parsed once in this kit
        for kept in ("<style>@font-face { font-family: X }</style><p>x</p>",
                     "<style>p { color: red !important }</style>"):
            assert documents._stylesheets(weasyprint, kept, kit) == (kept, [])
    for document in (html, HTML):
        plain = weasyprint.HTML(string=document).render()  # WeasyPrint's defaults: a fresh font map
        plain.metadata.created = plain.metadata.modified = "2026-03-02T09:30:00Z"
        plain.metadata.lang = "fr"
        html_to_pdf(document.replace("Note", "Autre texte, gras <b>ici</b>"), created=WHEN)  # a warm kit
        assert html_to_pdf(document, created=WHEN) == plain.write_pdf(pdf_variant="pdf/a-3b")


@pytest.mark.pdf
def test_a_render_on_another_thread_after_this_one_loads_no_font_map(monkeypatch):
    """The worker's eight threads take turns on notes: the next note, on whichever thread, is laid
    out with the font map already loaded (not a cold one for each thread's first document)."""
    import threading

    from weasyprint.text import fonts

    html_to_pdf(HTML, created=WHEN)
    built: list[object] = []

    class Counted(fonts.FontConfiguration):
        def __init__(self) -> None:
            built.append(self)
            super().__init__()

    monkeypatch.setattr(fonts, "FontConfiguration", Counted)
    out: list[bytes] = []
    thread = threading.Thread(target=lambda: out.append(html_to_pdf(HTML, created=WHEN)))
    thread.start()
    thread.join()
    assert out == [html_to_pdf(HTML, created=WHEN)]
    assert built == []


@pytest.mark.pdf
def test_renders_one_after_the_other_share_one_warm_font_map_whatever_their_thread():
    """The worker's threads take turns: a render on another thread after this one reuses its font
    map and parsed style (not a cold one per thread); renders at the same time each get their own
    (a font map is never used by two threads at once); @font-face documents get a fresh, unkept one."""
    import threading

    from carnet_core import documents

    html_to_pdf(HTML, created=WHEN)
    with documents._kit(HTML) as mine:
        with documents._kit(HTML) as concurrent:
            assert concurrent is not mine and concurrent.fonts is not mine.fonts
        with documents._kit("<style>@font-face { font-family: X }</style>") as own:
            assert own.fonts is not mine.fonts
    seen: list[object] = []

    def render_elsewhere() -> None:
        with documents._kit(HTML) as kit:
            seen.append(kit)

    thread = threading.Thread(target=render_elsewhere)
    thread.start()
    thread.join()
    assert seen == [mine] and mine.sheets  # the warm kit, its style already parsed
    with documents._kit("<style>@font-face { font-family: X }</style>") as own:
        pass
    with documents._kit(HTML) as next_one:
        assert next_one is mine  # the fresh @font-face kit was not kept


@pytest.mark.pdf
def test_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown PDF variant"):
        html_to_pdf(HTML, variant="pdf/z")


def test_without_weasyprint_rendering_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import fails as on a machine without it
    with pytest.raises(PdfUnavailable, match="apt-get install libpango"):
        html_to_pdf(HTML)
    assert "apt-get install libpango" in pdf_unavailable_reason()


def test_pdf_tests_skip_without_pango_and_fail_under_ci(tmp_path):
    """The `pdf` marker and a PdfUnavailable raised by an unmarked test are service gates: skipped
    on a fresh machine without Pango, failed where CI requires every service."""
    (tmp_path / "test_gate.py").write_text(
        "import sys\n"
        "import pytest\n"
        "sys.modules['weasyprint'] = None  # as on a machine without Pango\n"
        "from carnet_core.documents import html_to_pdf\n\n"
        "@pytest.mark.pdf\n"
        "def test_marked():\n    html_to_pdf('<p>x</p>')\n\n"
        "def test_unmarked():\n    html_to_pdf('<p>x</p>')\n"
    )

    def run(require: str) -> str:
        env = {k: v for k, v in os.environ.items() if k != "CARNET_TEST_REQUIRE_SERVICES"}
        env["CARNET_TEST_REQUIRE_SERVICES"] = require
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(tmp_path / "test_gate.py")], cwd=tmp_path, env=env, capture_output=True, text=True)
        return done.stdout.strip().splitlines()[-1]

    assert run("0").startswith("2 skipped")
    under_ci = run("1")
    assert "1 failed" in under_ci and "1 error" in under_ci


@pytest.mark.pdf
def test_render_pdf_translates_a_template(plugin_host):
    pdf = render_pdf(plugin_host, "core/base_document.html", {"body_title": "Essai"}, locale="fr", created=WHEN)
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Essai" in text and "Page 1 / 1" in text
    assert plugin_api.render_pdf is render_pdf and plugin_api.PdfUnavailable is PdfUnavailable


def test_the_app_starts_without_importing_weasyprint():
    code = (
        "import sys; from carnet_core.web.app import create_app; import carnet_core.plugin_api as p; "
        "p.render_pdf; assert 'weasyprint' not in sys.modules, 'imported at start'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
