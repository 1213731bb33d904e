"""CachedOverwriteKernelspec: nbgrader's ``OverwriteKernelspec`` reading each source notebook's
kernelspec from the gradebook once per batch, not once per submission."""
from __future__ import annotations

import json

import nbgrader.preprocessors.overwritekernelspec as m_kernelspec
from nbgrader.preprocessors import OverwriteKernelspec
from traitlets import Any


class CachedOverwriteKernelspec(OverwriteKernelspec):
    """The submitted notebook gets its source notebook's kernelspec, as with nbgrader's step;
    the gradebook is asked once per (assignment, notebook) in a batch (the session's cache)."""

    session = Any(allow_none=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        key = ("kernelspec", info["db_url"], info["assignment"], info["notebook"])
        cache = self.session.cache if self.session is not None else {}
        if key not in cache:
            with m_kernelspec.Gradebook(info["db_url"]) as gb:      # the batch's shared engine
                found = gb.find_notebook(info["notebook"], info["assignment"]).kernelspec
            cache[key] = json.loads(found) if found is not None else None
        if cache[key]:
            nb.metadata["kernelspec"] = cache[key]
        return nb, resources
