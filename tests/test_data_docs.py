"""The GX Data Docs open in a real browser: the staging checkpoints run on a
small built warehouse (as in the transform DAG, their UpdateDataDocsAction
rebuilds the site), then headless Chromium renders the site's index and every
suite of `quality.SUITES` is on the page.

`make test` installs Debian's `chromium` when absent (Makefile `test-tools`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from shrinkwatch import quality
from shrinkwatch.postgres import PgTarget
from shrinkwatch.runtime import EXPECTATIONS_DIR
from test_dbt_project import _dbt, _load_raw

CHROMIUM = Path("/usr/bin/chromium")
# Headless, offline and quiet: no sandbox (tests run as root), no background
# traffic, a throwaway profile.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _rendered_dom(page: Path, profile_dir: Path) -> str:
    done = subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_data_docs_index_shows_every_suite_in_a_browser(warehouse: PgTarget, tmp_path: Path):
    assert CHROMIUM.exists(), "chromium is installed by `make test` (Debian package chromium)"
    _load_raw(warehouse)
    built = _dbt(warehouse, tmp_path, "build", "--select", "path:models/staging")
    assert built.returncode == 0, built.stdout[-4000:]

    # a copy of the committed context: the test's Data Docs stay out of the repo
    project_root = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, project_root, ignore=shutil.ignore_patterns("uncommitted"))
    context = quality.open_context(quality.gx_dsn(warehouse), project_root)
    assert quality.staging_checkpoint(context).run().success
    quality.staging_warnings_checkpoint(context).run()

    index = quality.data_docs_index(project_root)
    assert index.exists()
    dom = _rendered_dom(index, tmp_path / "chromium-profile")
    assert "<html" in dom.lower()
    missing = [suite.name for suite in quality.SUITES if suite.name not in dom]
    assert not missing, f"suites not on the Data Docs index: {missing}"
