"""nbconvert preprocessor used by scripts/run-notebooks.ts (`npm run notebooks`).

It is nbconvert's own ExecutePreprocessor (nbclient underneath) with two additions:
- a progress line per cell on stderr (cell index, seconds);
- an unhandled promise rejection or uncaught exception in the kernel (an un-awaited async throw in a
  cell: tslab itself only logs it) fails the notebook at the first cell after which it is seen; the
  kernel launcher records them in $CWD_NB_REJECTIONS (see scripts/install-kernel.cjs);
- when a cell fails, the real error text: the cell's error output (name, message and stack, which the
  project kernel fills in; plain tslab reported only "<Error>:" and wrote the message to stderr) and
  its stderr, which nbconvert does not print. This prints them (and the stdout tail) and writes the partially executed notebook to $CWD_NB_PARTIAL so the
  outputs up to the failure can be inspected.

Run as: PYTHONPATH=jupyter jupyter nbconvert --to notebook \
          --NotebookExporter.preprocessors=cwd_execute.ReportingExecutePreprocessor ...
"""
import json
import os
import re
import sys
import time

import nbformat
from nbconvert.preprocessors import ExecutePreprocessor


def _text(output):
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else str(text)


class ReportingExecutePreprocessor(ExecutePreprocessor):
    def preprocess(self, nb, resources=None, km=None):
        self._nb = nb
        self._code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
        self._done = 0
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        t0 = time.time()
        try:
            result = super().preprocess_cell(cell, resources, index)
        except BaseException as error:  # CellExecutionError, CellTimeoutError, DeadKernelError, ...
            self._report(cell, index, error, time.time() - t0)
            # The report above says everything; exit without nbconvert's long Python traceback.
            # (SystemExit still runs nbclient's kernel clean-up on the way out.)
            raise SystemExit(1)
        async_errors = self._async_errors()
        if async_errors:
            self._report_async(cell, index, async_errors, time.time() - t0)
            raise SystemExit(1)
        self._done += 1
        sys.stderr.write("[cell %d/%d] ok in %.1f s\n" % (self._done, self._code_cells, time.time() - t0))
        sys.stderr.flush()
        return result

    def _async_errors(self):
        """Records the kernel launcher wrote to $CWD_NB_REJECTIONS (one JSON object per line)."""
        path = os.environ.get("CWD_NB_REJECTIONS")
        if not path or not os.path.exists(path):
            return []
        out = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        out.append({"kind": "async error", "error": line})
        return out

    def _report_async(self, cell, index, records, seconds):
        lines = ["", "=" * 72,
                 "cell %d (code cell %d of %d) FAILED after %.1f s: %s in the kernel during or before this cell"
                 % (index, self._done + 1, self._code_cells, seconds, records[0].get("kind", "async error")),
                 "--- source " + "-" * 61]
        lines += cell.source.splitlines()[:40]
        lines += ["--- stderr: the real error (an un-awaited async error: await the promise, or .catch it) " + "-" * 2]
        for r in records:
            lines += ("%s" % r.get("error", "")).splitlines()[:40]
        lines.append("=" * 72)
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()
        partial = os.environ.get("CWD_NB_PARTIAL")
        if partial:
            try:
                nbformat.write(self._nb, partial)
            except Exception:
                pass

    def _report(self, cell, index, error, seconds):
        lines = ["", "=" * 72,
                 "cell %d (code cell %d of %d) FAILED after %.1f s: %s"
                 % (index, self._done + 1, self._code_cells, seconds, type(error).__name__),
                 "--- source " + "-" * 61]
        lines += cell.source.splitlines()[:40]
        stderr = "".join(_text(o) for o in cell.get("outputs", []) if o.get("name") == "stderr")
        stdout = "".join(_text(o) for o in cell.get("outputs", []) if o.get("name") == "stdout")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if stdout:
            lines += ["--- stdout (last 30 lines) " + "-" * 45] + stdout.splitlines()[-30:]
        if stderr:
            lines += ["--- stderr " + "-" * 61]
            lines += stderr.splitlines()[:80]
        for e in errors:
            lines += ["--- error output " + "-" * 55, "%s: %s" % (e.get("ename"), e.get("evalue"))]
            trace = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in e.get("traceback") or []]
            if len(trace) > 1:
                lines += trace[:40]
        if not stderr and not errors:
            lines += ["--- (the cell wrote no stderr; Jupyter said) " + "-" * 26] + str(error).splitlines()[-20:]
        lines.append("=" * 72)
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()
        partial = os.environ.get("CWD_NB_PARTIAL")
        if partial:
            try:
                nbformat.write(self._nb, partial)
                sys.stderr.write("partially executed notebook written to %s\n" % partial)
            except Exception as write_error:  # report, but keep the original error as the cause
                sys.stderr.write("could not write %s: %s\n" % (partial, write_error))
