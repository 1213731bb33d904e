"""The classroom in a browser: JupyterLab on loopback, Debian's chromium driven by Playwright, and
no network beyond loopback (every other request is aborted, recorded and must not happen).

A student opens ps1's release notebook, writes a buggy rnn_forward, reads the named mistake under
its test cell and in the Validate dialog. An instructor finds `autograder grade`'s scores in
Formgrader, grades a written answer by hand (with maths in the comment), sees it persist, and
reads the feedback HTML from disk: the comment, typeset maths, the likely mistake, no hidden test.

BROWSER_SCREENSHOTS=DIR saves the README's screenshots there (scripts/screenshots.sh).
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from PIL import Image

from jupyter_browser import JupyterLab, OfflineBrowser

A = "ps1_rnn_forward"
MISTAKE = "Likely mistake: state not carried between steps"
COMMENT = r"Right idea, but say why: the state shrinks when $\rho(W) < 1$ (here $\rho(W)=0.9$)."
RAW_MATH = re.compile(r"\$[^$\s][^$]*\$")       # $...$ left as text: MathJax did not typeset it

# What a student types: a correct step, and a sequence that restarts every step from h0.
STEP = '''def rnn_step_forward(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity="tanh"):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(nonlinearity)
    a = x_t @ W_xh + h_prev @ W_hh + b_h
    return np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)'''
BUGGY_SEQUENCE = '''def rnn_forward(x, h0, W_xh, W_hh, b_h, nonlinearity="tanh"):
    B, T, _ = x.shape
    h = np.zeros((B, W_hh.shape[0]), dtype=x.dtype) if h0 is None else h0
    states = [rnn_step_forward(x[:, t], h, W_xh, W_hh, b_h, nonlinearity) for t in range(T)]
    h_all = np.stack(states, axis=1)
    return h_all, h_all[:, -1]'''

pytestmark = pytest.mark.xdist_group("browser")     # one server and one browser for the module
SHOTS = Path(os.environ["BROWSER_SCREENSHOTS"]) if os.environ.get("BROWSER_SCREENSHOTS") else None


def snap(locator, name: str) -> None:
    """Save a screenshot of LOCATOR, when asked for (BROWSER_SCREENSHOTS)."""
    snap_area(locator.page, [locator], name)


PAD = 8
PAGE_BOX = """e => { const r = e.getBoundingClientRect();
    return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height}; }"""


def snap_area(page, locators, name: str) -> None:
    """Save a screenshot of the smallest rectangle holding every one of LOCATORS, when asked for
    (BROWSER_SCREENSHOTS)."""
    if SHOTS:
        locators[-1].evaluate("e => e.scrollIntoView({block: 'center'})")    # JupyterLab scrolls a panel
        boxes = [loc.evaluate(PAGE_BOX) for loc in locators]     # page coordinates: scrolling moves nothing
        x, y = max(0, min(b["x"] for b in boxes) - PAD), max(0, min(b["y"] for b in boxes) - PAD)
        clip = {"x": x, "y": y, "width": max(b["x"] + b["width"] for b in boxes) + PAD - x,
                "height": max(b["y"] + b["height"] for b in boxes) + PAD - y}
        SHOTS.mkdir(parents=True, exist_ok=True)
        png = page.screenshot(clip=clip, full_page=True, animations="disabled")
        # 256 colours are plenty for text on flat backgrounds, and a third of the bytes
        Image.open(io.BytesIO(png)).quantize(256).save(SHOTS / f"{name}.png", optimize=True)


def run(*args: str, cwd: Path) -> str:
    result = subprocess.run([sys.executable, "-m", *args], cwd=cwd, text=True, capture_output=True,
                            env={**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]})
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


# pytest-xdist may put these tests on different workers (its loadgroup grouping has no effect
# under pytest 9 here), so each test asks only for what it needs: the grading batch runs only for
# the one instructor test, and the fence test needs no server.
@pytest.fixture(scope="module")
def course(built_course, tmp_path_factory) -> Path:
    """A copy of the built course (release/, gradebook)."""
    course = tmp_path_factory.mktemp("browser") / "course"
    shutil.copytree(built_course, course)
    return course


@pytest.fixture(scope="module")
def graded(course) -> Path:
    """The course with ps1's samples submitted and graded by `autograder grade`."""
    run("autograder", "--course-dir", ".", "samples", A, cwd=course)
    run("autograder", "grade", A, "--quiet", cwd=course)
    return course


@pytest.fixture(scope="module")
def browser():
    b = OfflineBrowser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def lab(course, browser, tmp_path_factory):
    """JupyterLab serving the course, the browser logged in."""
    home = tmp_path_factory.mktemp("jupyter-home")
    server = JupyterLab(course, home, home / "lab.log").start()
    browser.log_in(server)
    yield server
    server.stop()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    yield page
    page.close()
    assert browser.blocked == [], f"the page tried to leave loopback: {browser.blocked}"


def code_cell(page, text: str):
    return page.locator(".jp-Notebook .jp-CodeCell", has_text=text).first


def run_cell(page, cell, source: str | None = None) -> None:
    """Select CELL (typing SOURCE into it, replacing what is there) and run it with Shift+Enter,
    then wait until the kernel has answered (its prompt shows a number, not `*`)."""
    editor = cell.locator(".cm-content")
    editor.click()
    if source is not None:
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(source)    # as pasted: no auto-indent
    page.keyboard.press("Shift+Enter")
    prompt = cell.locator(".jp-InputArea-prompt")
    page.wait_for_function("p => /\\[\\d+\\]/.test(p.textContent)", arg=prompt.element_handle(), timeout=60_000)


def formgrader_ready(page) -> None:
    """Formgrader has loaded the grades and comments into its fields, and typeset the maths."""
    page.wait_for_function("() => window.formgrader && formgrader.loaded && formgrader.grades.loaded"
                           " && formgrader.comments.loaded && window.MathJax && MathJax.loaded", timeout=60_000)


def hidden_tests(course: Path) -> list[str]:
    """The hidden-test blocks of the source notebook, whitespace collapsed."""
    nb = nbformat.read(course / "source" / A / f"{A}.ipynb", as_version=4)
    blocks = [cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
              for cell in nb.cells if "### BEGIN HIDDEN TESTS" in cell.source]
    assert blocks
    return [collapse(b) for b in blocks]


def collapse(text: str) -> str:
    return " ".join(text.split())


def test_the_browser_reaches_nothing_beyond_loopback(browser):
    page = browser.new_page()       # about:blank: no content security policy stops the fetches first
    outside = ["https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-svg.js", "http://1.1.1.1/"]
    for url in outside:
        reached = page.evaluate("url => fetch(url, {mode: 'no-cors'}).then(() => true, () => false)", url)
        assert not reached, url
    page.close()
    assert browser.blocked == outside, browser.blocked
    browser.blocked.clear()


def test_student_sees_the_named_mistake_and_validates(lab, page):
    page.goto(f"{lab.base}/lab/tree/release/{A}/{A}.ipynb")
    page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\| Idle$")).wait_for(timeout=90_000)

    run_cell(page, code_cell(page, "from autograder import check"))
    run_cell(page, code_cell(page, "def rnn_step_forward("), STEP)
    step_test = code_cell(page, 'check(rnn_step_forward, "rnn_step_forward"')
    run_cell(page, step_test)
    assert "passed" in step_test.locator(".jp-OutputArea").inner_text()

    run_cell(page, code_cell(page, "def rnn_forward("), BUGGY_SEQUENCE)
    test = code_cell(page, 'check(rnn_forward, "rnn_forward"')
    run_cell(page, test)
    output = test.locator(".jp-OutputArea").inner_text()
    assert "AssertionError" in output and MISTAKE in output, output
    snap(test, "student_check")

    page.keyboard.press("Control+s")
    page.wait_for_selector(".jp-mod-dirty", state="detached")
    page.get_by_role("button", name="Validate").first.click()
    dialog = page.locator(".jp-Dialog-content")
    dialog.get_by_text("Validation Results").wait_for(timeout=90_000)
    text = dialog.inner_text()
    assert "The following cell failed" in text and MISTAKE in text, text
    # scroll the dialog to the failing rnn_forward cell (its source, then the message)
    dialog.locator("pre", has_text='check(rnn_forward, "rnn_forward"').first.evaluate(
        "e => e.parentElement.scrollIntoView({block: 'start'})")
    snap(dialog, "student_validate")
    dialog.get_by_role("button", name="Ok").click()


def test_instructor_grades_in_formgrader_and_reads_the_feedback(lab, graded, page, tmp_path):
    course = graded
    # Formgrader lists the submissions with the scores `autograder grade` wrote
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        expected = {s.student.id: f"{s.score:g} / {s.max_score:g}" for s in gb.assignment_submissions(A)}
    assert set(expected) == {"sample_correct", "sample_buggy", "sample_release"}
    page.goto(f"{lab.base}/formgrader/manage_submissions/{A}")
    table = page.locator("table")
    for student in expected:
        table.locator("tr", has_text=student).wait_for()
    for student, score in expected.items():
        assert score in table.locator("tr", has_text=student).inner_text()
    snap(table, "formgrader_submissions")

    # a manual grade and a comment on the written answer persist after a reload
    page.goto(f"{lab.base}/formgrader/gradebook/{A}/{A}")
    page.locator("tr", has_text="sample_buggy").locator("a[href*='/submissions/']").first.click()
    score = page.locator("input.score#written_dynamics")
    comment = page.locator("textarea#written_dynamics-comment")
    formgrader_ready(page)
    for field, value, api in [(score, "6", "/api/grade/"), (comment, COMMENT, "/api/comment/")]:
        field.fill(value)
        with page.expect_response(lambda r: api in r.url and r.request.method == "PUT") as saved:
            field.press("Tab")      # leaving the field saves it
        assert saved.value.ok
    page.reload()
    formgrader_ready(page)
    assert score.input_value() == "6"
    assert comment.input_value() == COMMENT
    question = page.locator(".text_cell_render", has_text="Exercise 5.4").first
    assert question.locator(".MathJax").count() > 0, "Formgrader did not typeset the maths"
    prose = " ".join(page.locator(".text_cell_render").all_inner_texts())
    assert not RAW_MATH.search(prose), RAW_MATH.search(prose)
    snap_area(page, [question, comment.locator("xpath=ancestor::div[contains(@class, 'nbgrader_cell')][1]")],
              "formgrader_manual_grade")

    # the feedback, from disk: the comment, typeset maths, the likely mistakes, no hidden test
    run("nbgrader", "generate_feedback", A, "--student=sample_buggy", "--force", "--log-level=ERROR", cwd=course)
    # release_feedback hands out the lone .html file: open a copy with nothing beside it
    html = tmp_path / "fetched" / f"{A}.html"
    html.parent.mkdir()
    shutil.copy(course / "feedback" / "sample_buggy" / A / f"{A}.html", html)
    page.goto(html.as_uri())
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
    page.evaluate("() => MathJax.startup.promise")
    body = page.locator("body").inner_text()
    assert "Right idea, but say why" in body
    mistake = page.locator(".output_area", has_text="Likely mistake:").first
    assert mistake.count() == 1
    assert "HIDDEN TESTS" not in body
    leaked = [block for block in hidden_tests(course) if block in collapse(body)]
    assert not leaked, f"hidden tests in the feedback: {leaked}"
    feedback_comment = page.locator(".panel-footer", has_text="Right idea").first
    assert feedback_comment.locator("mjx-container").count() == 2
    assert page.locator("mjx-container").count() > 10
    assert not RAW_MATH.search(body), RAW_MATH.search(body)
    snap(mistake, "feedback_mistake")
    snap_area(page, [page.locator(".text_cell_render", has_text="Exercise 5.4").first,
                     feedback_comment.locator("xpath=..")], "feedback_comment")
