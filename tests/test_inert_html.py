"""Learner content stays inert in a real browser: the feedback page and Formgrader's view of a
hostile submission, in Debian's chromium (tests/jupyter_browser.py: loopback only).

One hostile ps1 submission ("mallory": the correct sample's code) carries every payload of the
class-4 corpus (tests/corpus/attacks/html.py) at once: in a markdown cell of its own, in its written
answer (with maths beside it, and TeX's \\href), in cell attachments, in a raw HTML cell, and in
code that displays HTML, SVG and JavaScript when it runs. Stock `nbgrader autograde` grades it,
so that the kernel's displayed outputs reach the autograded notebook as they would in a stock
course (`autograder grade` never keeps them; the corpus covers it). Every script would set
``window.__pwned`` or request a URL with ``pwned`` in it; the pages are watched for both, for a
redirect, and for an element that takes the place of one of Formgrader's fields, while the
maths still typesets offline. A last page is the feedback with a script slipped past the
sanitiser by hand: the Content-Security-Policy alone must stop it.
"""
from __future__ import annotations

import re
import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.authoring.inert import feedback_csp, sanitize
from autograder.course import nbgrader
from autograder.grade.command import shown
from corpus.attacks import html as attacks
from jupyter_browser import JupyterLab, OfflineBrowser

A = "ps1_rnn_forward"
STUDENT = "mallory"
MARKER = attacks.visible(STUDENT)
# Clobbering: a learner element named like Formgrader's comment field for the written answer.
CLOBBER = '<span id="written_dynamics-comment">not the comment box</span>\n\n## written_dynamics'
MATH_LINK = r"Also $\href{javascript:window.__pwned='tex'}{\rho}$ here."
RAW_MATH = re.compile(r"\$[^$\s][^$]*\$")       # $...$ left as text: MathJax did not typeset it

pytestmark = pytest.mark.xdist_group("browser")     # beside tests/test_browser.py: one browser at a time


def hostile(nb, marker):
    """Every payload at once (see the module docstring)."""
    attacks.new_markdown("\n\n".join([attacks.SCRIPT, attacks.ONERROR, attacks.JS_LINK, attacks.SVG, attacks.FRAMES,
                                      attacks.REDIRECT, attacks.STYLE, CLOBBER, attacks.MUTATION]))(nb, marker)
    attacks.in_written_answer("written_dynamics", attacks.ONERROR + "\n\n" + MATH_LINK)(nb, marker)
    attacks.attachments(nb, marker)
    attacks.raw_html(nb, marker)
    attacks.live_outputs(nb, marker)


@pytest.fixture(scope="module")
def course(built_course, tmp_path_factory):
    """A copy of the built course in which stock nbgrader graded mallory and wrote the feedback."""
    course = tmp_path_factory.mktemp("inert") / "course"
    shutil.copytree(built_course, course)
    attacks.submission(A, True, hostile)(course, STUDENT)
    for step in (["autograde", A], ["generate_feedback", A]):
        result = nbgrader(*step, f"--student={STUDENT}", "--log-level=ERROR", course_dir=course,
                          check=False, capture=True)
        assert result.returncode == 0, result.stderr
    outputs = [o.get("data", {}) for c in nbformat.read(course / "autograded" / STUDENT / A / f"{A}.ipynb", 4).cells
               if c.cell_type == "code" for o in c.outputs]
    assert any("text/html" in d for d in outputs) and any("application/javascript" in d for d in outputs), \
        "the kernel's displayed outputs did not reach the autograded notebook: the test would prove nothing"
    return course


@pytest.fixture(scope="module")
def browser():
    b = OfflineBrowser()
    yield b
    b.close()


@pytest.fixture
def watched(browser):
    """A page, with every request whose URL says ``pwned`` recorded."""
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: "pwned" in request.url and requests.append(request.url))
    yield page, requests
    page.close()
    # the payloads' URLs are on loopback (recorded above); nothing may have tried to leave it
    assert browser.blocked == [], f"a page tried to leave loopback: {browser.blocked}"


def settled(page) -> None:
    """Whatever the page's content would do by itself has had its chance: every image, frame and
    stylesheet loaded or failed (the load event), and a moment more for a redirect or a handler."""
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)


def assert_inert(page, requests: list[str], url: str) -> None:
    assert page.evaluate("() => window.__pwned") is None, f"learner script ran: {page.evaluate('() => window.__pwned')}"
    assert requests == [], f"learner content made requests: {requests}"
    # (Formgrader itself adds ?index=N to its address)
    assert page.url.split("?")[0] == url, f"learner content navigated the page to {page.url}"
    # (MathJax 2 keeps each formula in a <script type="math/tex">, which never runs)
    active = page.evaluate("""() => [...document.querySelectorAll(
        '#notebook-container script:not([type^="math/tex"]), #notebook-container iframe, ' +
        '#notebook-container object, ' +
        '#notebook-container embed, #notebook-container svg:not(mjx-container svg), ' +
        '#notebook-container form, #notebook-container style, #notebook-container meta, ' +
        'a[href^="javascript:" i], [onerror], [onload]')].map(e => e.outerHTML.slice(0, 80))""")
    assert active == [], active
    text = page.locator("body").inner_text()
    assert MARKER in text, "the learner's own text is gone (inert, not deleted)"


def test_feedback_and_formgrader_show_a_hostile_submission_inert(course, browser, watched, tmp_path):
    page, requests = watched
    # The feedback, as a student fetches it: a lone .html file.
    fetched = tmp_path / "fetched" / f"{A}.html"
    fetched.parent.mkdir()
    shutil.copy(course / "feedback" / STUDENT / A / f"{A}.html", fetched)
    violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    page.goto(fetched.as_uri())
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
    page.evaluate("() => MathJax.startup.promise")
    settled(page)
    assert_inert(page, requests, fetched.as_uri())
    answer = page.locator(".text_cell_render", has_text="My answer").first
    assert answer.locator("mjx-container").count() >= 2, "the written answer's maths did not typeset"
    assert page.locator("mjx-container").count() > 10
    assert not RAW_MATH.search(page.locator("body").inner_text())
    # MathJax's inline scripts ran under the policy, and no learner script was there to block (the
    # policy does block bootstrap's glyph fonts, which a lone .html file never has beside it)
    assert not [v for v in violations if "script" in v.lower()], violations

    # Formgrader, as the instructor opens the submission (logged in: the page has the session).
    home = tmp_path / "jupyter-home"
    home.mkdir()
    lab = JupyterLab(course, home, home / "lab.log").start()
    try:
        browser.log_in(lab)
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            submission = gb.find_submission_notebook(A, A, STUDENT).id
        url = f"{lab.base}/formgrader/submissions/{submission}/"
        page.goto(url)
        page.wait_for_function("() => window.formgrader && formgrader.loaded && formgrader.grades.loaded"
                               " && formgrader.comments.loaded && window.MathJax && MathJax.loaded", timeout=60_000)
        page.evaluate("() => new Promise(done => MathJax.Hub.Queue(done))")
        settled(page)
        assert_inert(page, requests, url)
        answer = page.locator(".text_cell_render", has_text="My answer").first
        assert answer.locator(".MathJax").count() >= 1, "Formgrader did not typeset the written answer's maths"
        # the comment box is still Formgrader's own: the learner's element of that id was renamed
        assert page.evaluate("() => document.getElementById('written_dynamics-comment').tagName") == "TEXTAREA"
        assert page.locator("#user-content-written_dynamics-comment").count() == 1
    finally:
        lab.stop()

    # The second line of defence: a script and handlers slipped into the feedback page by hand.
    requests.clear()
    tampered = tmp_path / "tampered.html"
    slipped = f"<script>window.__pwned = 'csp'</script><img src=x onerror=\"window.__pwned = 'csp-onerror'\">" \
              f"<a id=tampered href=\"javascript:window.__pwned='csp-link'\">x</a><span>{MARKER}</span>"
    container = '<div class="container" id="notebook-container">'
    page_text = fetched.read_text(encoding="utf-8")
    tampered.write_text(page_text.replace(container, container + slipped, 1), encoding="utf-8")
    page.goto(tampered.as_uri())
    page.evaluate("() => MathJax.startup.promise")
    page.click("#tampered")
    settled(page)
    assert page.evaluate("() => window.__pwned") is None, "the Content-Security-Policy let a script run"
    assert page.locator("mjx-container").count() > 10, "MathJax no longer runs under the policy"
    assert any("script" in v.lower() for v in violations), "the policy reported no script it stopped"


# ------------------------------------------------------------------ the sanitiser and the console, alone

# Each vector, and what must not survive sanitising (compared lower-case).
VECTORS = {
    "script": ("<script>window.__pwned = 1</script>", "<script"),
    "onerror image": ('<img src="x" onerror="window.__pwned = 1">', "onerror"),
    "remote image": (f'<img src="{attacks.OUT}">', "pwned"),
    "javascript: link": ('<a href="javascript:alert(1)">x</a>', "javascript"),
    "entity-encoded javascript: link": ('<a href="JaVaScRiPt&colon;alert(1)">x</a>', "alert"),
    "data: link": ('<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">x</a>', "data:"),
    "svg that scripts": (attacks.SVG, "pwned"),
    "mutation-XSS nest": (attacks.MUTATION, "onerror"),
    "iframes, object, embed": (attacks.FRAMES, "pwned"),
    "meta refresh, base, form": (attacks.REDIRECT, "pwned"),
    "CSS exfiltration": (attacks.STYLE, "pwned"),
    "details ontoggle": ('<details open ontoggle="window.__pwned = 1">x</details>', "ontoggle"),
    "clobbering id": ('<span id="written_dynamics-comment">x</span>', 'id="written_dynamics-comment"'),
}


@pytest.mark.parametrize("vector", VECTORS)
def test_the_sanitiser_removes(vector):
    payload, forbidden = VECTORS[vector]
    assert forbidden not in sanitize(payload).lower(), sanitize(payload)


def test_the_sanitiser_keeps_the_course_text():
    page = sanitize('<h2 id="Part-1">Part 1<a class="anchor-link" href="#Part-1">¶</a></h2>'
                    '<p>Let $a&lt;b$ and <code>x &lt; y</code>, <strong>see</strong> '
                    '<a href="https://pytorch.org/docs">the docs</a>.</p>'
                    '<table><thead><tr><th style="text-align:left">a</th></tr></thead></table>'
                    '<div class="highlight"><pre><span class="n">x</span></pre></div>'
                    '<img src="data:image/png;base64,iVBORw0KGgo=" alt="figure">')
    for kept in ['<h2 id="user-content-Part-1">', 'href="#user-content-Part-1"', "$a&lt;b$", "<code>x &lt; y</code>",
                 '<a href="https://pytorch.org/docs"', 'style="text-align:left"', '<span class="n">',
                 'src="data:image/png;base64,iVBORw0KGgo="']:
        assert kept in page, (kept, page)


def test_the_feedback_policy_allows_only_the_pages_scripts():
    policy = feedback_csp(["a()", "b()"])
    script = next(d for d in policy.split("; ") if d.startswith("script-src"))
    assert "default-src 'none'" in policy and "unsafe" not in script and script.count("'sha256-") == 2


def test_the_console_shows_learner_text_inert():
    assert shown("x\x1b]8;;http://evil\x1b\\y\x1b[2J") == "x\\x1b]8;;http://evil\\x1b\\y\\x1b[2J"
    assert shown("[link=http://evil]a[/link]") == "\\[link=http://evil]a\\[/link]"
    assert shown("line one\n\tline two") == "line one\n\tline two"
