"""Rasa's stock `rasa init` assistant, created and trained once, then cached."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from pathlib import Path
from typing import Tuple

from tools.load.deadline import Deadline
from tools.load.servers import BIN, ROOT, load_env

STOCK_CACHE = ROOT / "models" / "stock-init"
TRAIN_TIMEOUT = 1800.0


def stock_key() -> str:
    """A hash of Rasa's version and its `rasa init` template: the cached model's key."""
    import rasa

    template = Path(rasa.__file__).parent / "cli" / "initial_project"
    digest = hashlib.sha256(rasa.__version__.encode())
    for path in sorted(template.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(template)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def prepare_stock(deadline: Deadline) -> Tuple[Path, Path]:
    """The stock `rasa init` project and its trained model, made once and cached.

    Returns:
        The project folder and the model file (under models/stock-init/<key>/).
    """
    project = STOCK_CACHE / stock_key()
    models = sorted((project / "models").glob("*.tar.gz")) if project.exists() else []
    if models:
        return project, models[-1]
    partial = project.with_name(project.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    print(f"Creating and training the stock `rasa init` assistant in {partial} "
          f"(once; cached)...", flush=True)
    started = time.monotonic()
    with open(partial.parent / f"{project.name}.train.log", "wb") as log:
        subprocess.run([str(BIN / "rasa"), "init", "--no-prompt", "--init-dir", str(partial)],
                       cwd=ROOT, env=load_env(), stdout=log, stderr=subprocess.STDOUT,
                       check=True, timeout=max(60.0, min(TRAIN_TIMEOUT, deadline.left())))
    if not sorted((partial / "models").glob("*.tar.gz")):
        raise RuntimeError(f"`rasa init` trained no model (log: {log.name})")
    partial.rename(project)
    print(f"  trained in {time.monotonic() - started:.0f} s", flush=True)
    return project, sorted((project / "models").glob("*.tar.gz"))[-1]


def stock_actions_package(project: Path) -> Path:
    """The stock project's `actions` package under a name of its own, for its action server.

    Returns:
        The folder to put on PYTHONPATH (the package is `stock_init_actions`).
    """
    folder = project / "pythonpath"
    package = folder / "stock_init_actions"
    if not package.exists():
        shutil.copytree(project / "actions", package,
                        ignore=shutil.ignore_patterns("__pycache__"))
        (package / "__init__.py").touch()
    return folder
