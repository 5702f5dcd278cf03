"""master_app, with an import that takes a moment and leaves a mark when it
is done (imported-<pid> in FERRICORN_TEST_MARK_DIR): readiness tests check
that the server reports "ready" only after its workers imported the app."""

import os
import time

from master_app import application  # noqa: F401

time.sleep(0.4)
_marks = os.environ.get("FERRICORN_TEST_MARK_DIR")
if _marks:
    with open(os.path.join(_marks, "imported-%d" % os.getpid()), "w") as f:
        f.write("done")
