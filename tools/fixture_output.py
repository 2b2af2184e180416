"""Writing a fixture folder whole: the generators write into a temporary sibling folder, which replaces OUT only once
complete, so a test never reads half a fixture set and two runs at once cannot mix their files."""
import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def replaced_whole(out, prefix):
    """Yields an empty folder beside OUT; on leaving without an error it becomes OUT (an older OUT is removed)."""
    out = os.path.abspath(out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    work = tempfile.mkdtemp(prefix=prefix, dir=os.path.dirname(out))
    try:
        yield work
        if os.path.exists(out):
            shutil.rmtree(out, ignore_errors=True)
        try:
            os.rename(work, out)
        except OSError:
            # Another run finished first; its output is the same.
            if not os.path.exists(os.path.join(out, 'manifest.json')):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
