"""Learner content shown inert: the HTML of feedback and Formgrader pages, sanitised, and a CSP.

A submission's markdown cells, written answers, cell attachments and code-cell outputs are the
learner's HTML. nbgrader's feedback and Formgrader templates render markdown with nbconvert's
``markdown2html`` as it is, and nbconvert's own ``HTMLExporter.sanitize_html`` leaves both of
them out (nbgrader's templates replace the blocks that honour it) and, where it applies, escapes
every tag beyond bleach's dozen (a heading shows up as the text ``<h2 id=...>``). So this module
replaces two nbconvert filters, in ``nbgrader_config.py``, for stock ``nbgrader generate_feedback``
and Formgrader alike:

* ``markdown2html``: nbconvert's own rendering (attachments, anchors, maths left as text), then
  ammonia's sanitiser (``nh3``) with the allow-list below;
* ``clean_html``: what nbconvert's templates apply, with ``sanitize_html`` on, to text/html and
  text/markdown outputs and raw cells: the same sanitiser.

With ``sanitize_html`` on, nbconvert also drops application/javascript outputs and widgets, and
shows SVG as an ``<img>`` (where no script of it runs). ``feedback_csp`` is the second line of
defence: a Content-Security-Policy for the feedback page that lets exactly the page's own inline
scripts (MathJax's configuration and MathJax itself, by hash) run and loads nothing from anywhere.
"""
from __future__ import annotations

import base64
import hashlib
from copy import deepcopy

import nh3
from jinja2 import pass_context
from nbconvert.filters import markdown2html as plain_markdown2html
from traitlets.config import LoggingConfigurable

# Ammonia's defaults: text, headings, lists, tables, links, images; nothing that runs, loads,
# submits or redirects (no script, style, iframe, object, embed, form, input, meta, base, svg,
# math). Attributes: ammonia's per-tag lists (href, src, alt, ...), never an event handler.
ATTRIBUTES = deepcopy(nh3.ALLOWED_ATTRIBUTES)
ATTRIBUTES["*"] = {"class", "id"}             # pygments' and nbconvert's classes, heading anchors
for _cell in ("th", "td"):
    ATTRIBUTES[_cell] = ATTRIBUTES.get(_cell, set()) | {"style"}    # a markdown table's alignment
STYLE_PROPERTIES = {"text-align"}
URL_SCHEMES = {"http", "https", "mailto", "data"}
# The learner's ids are prefixed, as GitHub does, so that none can stand for one of the page's
# own elements (Formgrader looks its grade and comment fields up by id).
ID_PREFIX = "user-content-"
IMAGE_DATA = ("data:image/png", "data:image/jpeg", "data:image/gif", "data:image/webp", "data:image/svg+xml")


def _attribute(tag: str, name: str, value: str) -> str | None:
    if name == "id":
        return value if value.startswith(ID_PREFIX) else ID_PREFIX + value
    if name == "href" and value.startswith("#") and not value.startswith("#" + ID_PREFIX):
        return "#" + ID_PREFIX + value[1:]
    if name == "href" and value.lower().startswith("data:"):
        return None                            # a data: link is a page of the learner's
    if tag == "img" and name == "src" and not value.lower().startswith(IMAGE_DATA):
        return None                            # embedded images only: no request leaves the page
    return value


CLEANER = nh3.Cleaner(attributes=ATTRIBUTES, attribute_filter=_attribute, url_schemes=URL_SCHEMES,
                      filter_style_properties=STYLE_PROPERTIES, strip_comments=True,
                      link_rel="noopener noreferrer nofollow")


def sanitize(html: str | bytes) -> str:
    """HTML from a learner, with everything that could run, load or navigate by itself removed."""
    return CLEANER.clean(html.decode("utf-8", "replace") if isinstance(html, bytes) else str(html))


def clean_html(html: str | bytes) -> str:
    """nbconvert's ``clean_html`` filter, with this module's allow-list."""
    return sanitize(html)


class InertMarkdown(LoggingConfigurable):
    """nbconvert's ``markdown2html`` filter, its HTML sanitised. nbconvert makes a filter class
    with the exporter as its parent, so the exporter's own rendering (cell attachments, anchor
    links, lexer options) is kept; any other parent gets nbconvert's plain filter."""

    @pass_context
    def __call__(self, context, source: str) -> str:
        render = getattr(self.parent, "markdown2html", None)
        return sanitize(render(context, source) if render else plain_markdown2html(source))

    # Jinja reads this marker from the callable it is given (here an instance): pass the context.
    jinja_pass_arg = __call__.jinja_pass_arg


def script_hash(script: str) -> str:
    """The CSP source that allows one inline script, by the SHA-256 of its text."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"


def feedback_csp(scripts: list[str]) -> str:
    """The feedback page's policy: its own inline SCRIPTS run; no other script, no request beyond
    the page (images and fonts come inlined as data: URLs), no frame, no form, no <base>."""
    return "; ".join([
        "default-src 'none'",
        "script-src " + " ".join(script_hash(s) for s in scripts),
        "style-src 'unsafe-inline'",           # the page's inlined CSS; MathJax styles what it typesets
        "img-src data:",
        "font-src data:",
        "base-uri 'none'",
        "form-action 'none'",
    ])
