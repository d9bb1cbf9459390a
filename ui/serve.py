"""`python -m ui.serve [streamlit options]`: the web app with its job consumer started at once.

`streamlit run app.py` runs app.py only when a browser connects, so queued jobs (after a restart, or from
`python -m core transcribe --background`) would wait for someone to sign in. This starts the process's
embedded consumer first, then hands the same process to Streamlit; app.py's consumer call finds it running.
"""

from __future__ import annotations

import sys
from pathlib import Path

from core.config import load_settings
from core.errors import WorkbenchError
from core.jobs import api as jobs
from core.workbench import Workbench

APP = Path(__file__).resolve().parent.parent / "app.py"


def main(argv: list[str]) -> int:
    from streamlit.web import cli as streamlit_cli

    try:
        wb = Workbench.open(load_settings())  # migrates once, before any thread touches the database
        jobs.start_embedded_consumer(wb)
        wb.close()
    except WorkbenchError as exc:
        print(exc, file=sys.stderr)
        return 2
    sys.argv = ["streamlit", "run", str(APP), *argv]
    return int(streamlit_cli.main() or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
