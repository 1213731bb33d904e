"""FixedOverwriteCells: nbgrader's ``OverwriteCells``, without its crashes and with the source
cells read once per assignment instead of once per notebook."""
from __future__ import annotations

from types import SimpleNamespace

import nbgrader.preprocessors.overwritecells as m_overwrite
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import OverwriteCells
from traitlets import Any


class FixedOverwriteCells(OverwriteCells):
    """nbgrader 0.9.6's OverwriteCells, minus three KeyErrors that make it give up on a whole
    submission: a test cell whose predecessor was deleted too (an emptied notebook), a cell
    whose grade_id nbgrader itself removed (renamed ids), and a duplicate whose metadata
    DeduplicateIds emptied. Where nbgrader's own code succeeds, it does the same thing."""

    session = Any(None, allow_none=True, help="the GradingSession that caches the source cells")

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = source_nb.source_cells
        source_ids = [cell.name for cell in source_cells]
        grade_cells = {cell.name: cell for cell in source_nb.grade_cells}
        solution_ids = [cell.name for cell in source_nb.solution_cells]
        present = {}
        for idx, cell in enumerate(nb.cells):
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid and (utils.is_grade(cell) or utils.is_solution(cell)):
                present[gid] = idx
        added = 0
        for gid, grade_cell in grade_cells.items():
            if gid in present:
                continue
            self.log.warning(f"Missing grade cell {gid} encountered, adding to notebook")
            k = source_ids.index(gid)
            cell = self.missing_cell_transform(source_cells[k], grade_cell.max_score,
                                               is_solution=gid in solution_ids)
            earlier = [source_ids[j] for j in range(k - 1, -1, -1) if source_ids[j] in present]
            if k == 0:
                nb.cells.insert(0, cell)
                present[gid] = 0
            elif earlier:
                prev = earlier[0]
                nb.cells.insert(present[prev] + added + 1, cell)
                present[gid] = present[prev]
            else:                                    # nothing before it survived: append
                nb.cells.append(cell)
                present[gid] = len(nb.cells) - 1 - added
            added += 1
        return nb, resources

    def add_missing_task_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = source_nb.source_cells
        source_ids = [cell.name for cell in source_cells]
        submitted = [c["metadata"]["nbgrader"].get("grade_id") for c in nb.cells if "nbgrader" in c["metadata"]]
        for task in source_nb.task_cells:
            if task.name not in submitted:
                cell = self.missing_cell_transform(source_cells[source_ids.index(task.name)], task.max_score,
                                                   is_task=True)
                nb.cells.append(cell)
        return nb, resources

    def preprocess(self, nb, resources):
        for cell in nb.cells:                  # emptied by DeduplicateIds: an ordinary cell
            if cell.metadata.get("nbgrader") == {}:
                del cell.metadata["nbgrader"]
        if self.session is None:
            return super().preprocess(nb, resources)
        # nbgrader's OverwriteCells.preprocess, with the source cells read once per assignment
        info = resources["nbgrader"]
        self.notebook_id, self.assignment_id, self.db_url = info["notebook"], info["assignment"], info["db_url"]
        self.gradebook = source_cells(self.session, self.db_url, self.assignment_id, self.notebook_id)
        nb, resources = super(OverwriteCells, self).preprocess(nb, resources)
        if self.add_missing_cells:
            nb, resources = self.add_missing_grade_cells(nb, resources)
            nb, resources = self.add_missing_task_cells(nb, resources)
        return nb, resources

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        meta = cell.metadata.get("nbgrader")
        if meta is not None and not meta.get("grade_id"):
            del cell.metadata["nbgrader"]      # an id the gradebook does not know: an ordinary cell
        return cell, resources


def source_cells(session, db_url: str, assignment: str, notebook: str) -> "SourceCells":
    """The session's snapshot of a notebook's source cells, read from the gradebook once."""
    key = ("source cells", db_url, assignment, notebook)
    if key not in session.cache:
        session.cache[key] = SourceCells.load(db_url, assignment, notebook)
    return session.cache[key]


class SourceCells:
    """Snapshots of one notebook's source, grade, solution and task cells from the gradebook."""

    def __init__(self, notebook_id: str, cells: dict, graded: dict, nb):
        self.notebook_id, self.cells, self.graded, self.nb = notebook_id, cells, graded, nb

    @classmethod
    def load(cls, db_url: str, assignment: str, notebook: str) -> "SourceCells":
        with m_overwrite.Gradebook(db_url) as gb:
            nb = gb.find_notebook(notebook, assignment)
            snap = lambda c, **kw: SimpleNamespace(name=c.name, cell_type=c.cell_type, locked=c.locked,
                                                   checksum=c.checksum, source=c.source, **kw)
            cells = {c.name: snap(c) for c in nb.source_cells}
            graded = {c.name: SimpleNamespace(name=c.name, max_score=c.max_score) for c in nb.grade_cells}
            view = SimpleNamespace(source_cells=[cells[c.name] for c in nb.source_cells],
                                   grade_cells=[graded[c.name] for c in nb.grade_cells],
                                   solution_cells=[SimpleNamespace(name=c.name) for c in nb.solution_cells],
                                   task_cells=[SimpleNamespace(name=c.name, max_score=c.max_score)
                                               for c in nb.task_cells])
        return cls(notebook, cells, graded, view)

    def find_source_cell(self, name, notebook, assignment):
        if notebook != self.notebook_id or name not in self.cells:
            raise MissingEntry()
        return self.cells[name]

    def find_graded_cell(self, name, notebook, assignment):
        if notebook != self.notebook_id or name not in self.graded:
            raise MissingEntry()
        return self.graded[name]

    def find_notebook(self, name, assignment):
        return self.nb

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None
