"""What every tools/make_*_fixtures.py shares: its command line (`--out DIR [--force]` and its own options), the
up-to-date check, and writing a fixture folder so that a test never reads half of one."""

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


@contextlib.contextmanager
def replaced_whole(out, prefix):
    """Yields an empty folder beside OUT; on leaving without an error it becomes OUT (an older OUT is removed)."""
    out = os.path.abspath(out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    work = tempfile.mkdtemp(prefix=prefix, dir=os.path.dirname(out))
    os.chmod(work, 0o755)  # mkdtemp's 0700 would otherwise become the fixture folder's mode
    try:
        yield work
        if os.path.exists(out):
            shutil.rmtree(out, ignore_errors=True)
        try:
            os.rename(work, out)
        except OSError:
            # Another run finished first; its output is the same.
            if not os.path.exists(os.path.join(out, "manifest.json")):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def up_to_date(out, stamp):
    """OUT's manifest carries every entry of STAMP, and every file its "files" list names exists."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
        return all(manifest.get(key) == value for key, value in stamp.items()) and all(
            (out / name).exists() for name in manifest.get("files", [])
        )
    except (OSError, ValueError, TypeError, AttributeError):
        return False


def write_manifest(folder, manifest):
    """The manifest goes last and atomically: its presence is what marks a finished run."""
    temporary = folder / "manifest.json.tmp"
    temporary.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(temporary, folder / "manifest.json")


def fixture_main(what, generate, *, stamp=None, whole_folder=False, stale=(), add_arguments=None, description=None):
    """The command line of a fixture generator. `generate(folder, args)` writes the files into FOLDER and returns
    the manifest, written after it with the STAMP's entries first.

    stamp: the generator's version and the versions of what makes the files (a dict, or a function of the parsed
    arguments); when OUT's manifest carries it, nothing is done unless --force. None: always generate.
    whole_folder: FOLDER is an empty sibling of OUT that replaces it whole once complete. Otherwise OUT is written in
    place (for files that name their own absolute paths), after its manifest and the STALE files are removed, so a
    run that fails halfway leaves no manifest behind.
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="directory to write into")
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args()
    out = args.out.resolve()
    expected = stamp(args) if callable(stamp) else stamp
    if expected is not None and not whole_folder:
        # Files written in place may name their own absolute paths: a folder copied elsewhere is made again.
        expected = {**expected, "folder": str(out)}
    if expected is not None and not args.force and up_to_date(out, expected):
        print(f"{what} fixtures in {out} are up to date ({json.dumps(expected)})")
        return 0
    started = time.perf_counter()
    if whole_folder:
        with replaced_whole(out, f".{what}-fixtures-") as work:
            write_manifest(Path(work), {**(expected or {}), **generate(Path(work), args)})
    else:
        out.mkdir(parents=True, exist_ok=True)
        for name in ("manifest.json", *stale):
            (out / name).unlink(missing_ok=True)
        write_manifest(out, {**(expected or {}), **generate(out, args)})
    print(f"wrote {what} fixtures to {out} in {time.perf_counter() - started:.1f} s")
    return 0


def run(*args, **kwargs):
    """fixture_main as a script's exit status."""
    sys.exit(fixture_main(*args, **kwargs))
