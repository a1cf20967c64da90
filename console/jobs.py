"""Training, evaluation and publishing started from the console, one at a time, with their output.

Each job runs the same command as its make target (`make train`'s
`tools.fast_training`, `make evaluate`, `make publish`, `make rollback`) in the project folder, in a
process group of its own, its output going to a log file the console shows
while it runs. Publishing goes through `tools.content.publish`, the gate of
`make publish`: it refuses a worse model and needs the assistant's
RASA_API_TOKEN in the console's environment.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from tools.processes import ServerProcess, stop

#: What each button runs (in the project folder), as its make target does.
COMMANDS: Mapping[str, Sequence[str]] = {
    # make train: fine-tunes the last model on the changed data, else trains from scratch.
    "train": (sys.executable, "-m", "tools.fast_training", "--model",
              str(Path("models") / "night-cramps.tar.gz")),
    "evaluate": (sys.executable, "-m", "tools.benchmark", "--accuracy", "--report", "reports"),
    "publish": (sys.executable, "-m", "tools.content.publish"),
    "rollback": (sys.executable, "-m", "tools.content.publish", "--rollback"),
}
#: How the console names each job.
TITLES = {"train": "Training", "evaluate": "Evaluation", "publish": "Publishing",
          "rollback": "Rolling back"}
#: Jobs only a clinical reviewer or an admin may start.
SIGN_OFF_JOBS = ("publish", "rollback")
#: The end of a log shown while a job runs.
TAIL_CHARACTERS = 6000


class JobBusy(RuntimeError):
    """Another job is still running."""


@dataclass
class Job:
    """One run of a command."""

    id: int
    kind: str
    started_by: str
    started_at: float
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def title(self) -> str:
        """How the console names the job."""
        return TITLES.get(self.kind, self.kind)

    @property
    def returncode(self) -> Optional[int]:
        """The exit status, or None while it runs."""
        return self.process.poll()

    @property
    def running(self) -> bool:
        """Whether it still runs."""
        return self.returncode is None

    def output(self, characters: int = TAIL_CHARACTERS) -> str:
        """The end of its output so far."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return text[-characters:]


class Jobs:
    """The jobs of one console process."""

    def __init__(self, project_root: Path, logs: Path,
                 commands: Mapping[str, Sequence[str]] = COMMANDS,
                 env: Optional[Mapping[str, str]] = None) -> None:
        """Runs `commands` in `project_root`, logging to files in `logs`.

        Args:
            project_root: The folder the commands run in (the project).
            logs: Where each job's output goes.
            commands: Job kind -> command line.
            env: The jobs' environment (None: the console's own).
        """
        self.root = Path(project_root)
        self.logs = Path(logs)
        self.commands = dict(commands)
        self.env = dict(env) if env is not None else None
        self._jobs: Dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, kind: str, started_by: str) -> Job:
        """Starts a job.

        Raises:
            KeyError: Unknown kind.
            JobBusy: Another job still runs.
        """
        command = list(self.commands[kind])
        with self._lock:
            busy = [job for job in self._jobs.values() if job.running]
            if busy:
                raise JobBusy(f"{busy[0].title} is still running")
            job_id = next(self._ids)
            self.logs.mkdir(parents=True, exist_ok=True)
            log = self.logs / f"job-{int(time.time())}-{job_id}-{kind}.log"
            with open(log, "wb") as out:  # a process group of its own, stopped as one
                process = ServerProcess(command, cwd=self.root, env=self.env, stdout=out,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            job = Job(job_id, kind, started_by, time.time(), log, process)
            self._jobs[job_id] = job
        return job

    def get(self, job_id: int) -> Optional[Job]:
        """The job with this id, or None."""
        return self._jobs.get(job_id)

    def listed(self) -> List[Job]:
        """Every job of this process, newest first."""
        return sorted(self._jobs.values(), key=lambda job: job.id, reverse=True)

    def stop_all(self) -> None:
        """Stops the jobs still running (when the console stops)."""
        running = [job.process for job in self._jobs.values() if job.running]
        if running:
            stop(running)
