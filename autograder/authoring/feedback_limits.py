"""A feedback step for nbgrader: learner text reaches nbconvert's filters on a capped prefix.

``nbgrader generate_feedback`` turns every cell of an autograded notebook into HTML with
nbconvert's filters: markdown (mistune), code highlighting (pygments), ANSI colours. Their work
grows faster than their input on crafted text (mistune on 800,000 characters of ``$$``: 12 s;
pygments on a long line of ``a(``: 13 s for 800,000), and a submission's cells are learner text.
This step cuts each cell's source to a prefix of fixed size, with a note, so feedback costs time
linear in the notebook. Outputs come from ``autograder grade``, which bounds them already
(``sandbox.channel.bounded_text``: no terminal escapes, a fixed length).
"""
from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Integer

NOTE = "\n\n[... {left} more characters of this cell are left out of the feedback ...]\n"


class CapLearnerText(Preprocessor):
    """Cut markdown and code cell sources longer than the caps (feedback only; the gradebook and
    autograded/ keep them whole)."""

    markdown_chars = Integer(50_000, help="Characters of a markdown cell shown in feedback").tag(config=True)
    code_chars = Integer(100_000, help="Characters of a code cell shown in feedback").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        cap = self.markdown_chars if cell.cell_type == "markdown" else self.code_chars
        source = cell.get("source", "")
        if isinstance(source, str) and len(source) > cap:
            note = NOTE.format(left=len(source) - cap)
            cell.source = source[:cap] + (note if cell.cell_type == "markdown" else "\n# " + note.strip() + "\n")
        return cell, resources
