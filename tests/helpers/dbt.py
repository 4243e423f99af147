"""The real dbt CLI on dbt_project/, as every test module that builds models runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from shrinkwatch.postgres import PgTarget
from shrinkwatch.settings import DBT_PROJECT_DIR


def run_dbt(target: PgTarget, work_dir: Path, *args: str, profiles_dir: Path = DBT_PROJECT_DIR,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """The real dbt CLI on dbt_project/ against one warehouse database, with
    its target and log folders in `work_dir` (so that parallel runs share none)."""
    dbt = shutil.which("dbt", path=str(Path(sys.executable).parent)) or shutil.which("dbt")
    assert dbt, "dbt executable not found next to the interpreter"
    env = {
        **os.environ,
        "SHRINKWATCH_PG_HOST": target.host,
        "SHRINKWATCH_PG_PORT": str(target.port),
        "SHRINKWATCH_PG_USER": target.user,
        "SHRINKWATCH_PG_PASSWORD": target.password,
        "SHRINKWATCH_PG_DATABASE": target.dbname,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return subprocess.run(
        [
            dbt, *args,
            "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(profiles_dir),
            "--target-path", str(work_dir / "target"),
            "--log-path", str(work_dir / "logs"),
        ],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
