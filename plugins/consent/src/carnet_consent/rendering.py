"""Form text: Markdown rendered to HTML with markdown-it-py (CommonMark, raw HTML disabled), then
sanitised with nh3 (the Ammonia sanitiser): only text tags survive, never a script, a style, an
event handler or a `javascript:` link. Both are maintained field libraries; nothing hand-written
parses or cleans HTML here."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "ul", "ol", "li", "h2", "h3", "h4", "blockquote", "a", "hr", "code",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def to_html(markdown: str) -> Markup:
    """Safe HTML for a form's Markdown body (headings start at level 2: the page owns the h1)."""
    html = _md.render(markdown or "")
    html = html.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    clean = nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"https", "mailto"},
                      link_rel="noopener noreferrer")
    return Markup(clean)  # noqa: S704 (sanitised just above by nh3)
