"""Publishes a trained model to the running assistant without a restart, or rolls back.

Usage:
    python -m tools.content.publish [--model models/night-cramps.tar.gz] [--force]
    python -m tools.content.publish --rollback
    python -m tools.content.publish --current    # path of the published model

The running Rasa server must have its HTTP API on, protected by a token:
`RASA_API_TOKEN=<secret> make run`. This script reads the same RASA_API_TOKEN,
and the server's address from RASA_URL (default http://localhost:5005). In the
production profile RASA_URL lists every replica, separated by spaces or commas
(`make run-prod` gives the console that list): each replica loads the model in
turn, and if one cannot, those already switched go back to the model they served.

Publishing copies the model into models/published/ under a name of its own,
asks the server to load it (`PUT /model`; the old model keeps answering until the
new one is ready), checks with `GET /status` that the new model is the one served
and records it in models/published/manifest.json. It refuses a model that
evaluates worse than the published one (lower overall accuracy on the held-out
test messages) or that misses ANY red-flag message, unless --force is given.
`--rollback` serves the previously published model again the same way.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import requests

from tools.content import evaluation
from tools.content.manifest import Manifest, now, published_dir

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "http://localhost:5005"
DEFAULT_MODEL = Path("models") / "night-cramps.tar.gz"
HOW_TO_START = (
    "Start the assistant with its HTTP API on, choosing a secret token:\n"
    "    export RASA_API_TOKEN=<a long random secret>\n"
    "    make run\n"
    "then, in another terminal with the same RASA_API_TOKEN set:\n"
    "    make publish        (or: make rollback)\n"
    "If the assistant runs elsewhere, set RASA_URL to its address (default "
    f"{DEFAULT_URL})."
)


class PublishError(RuntimeError):
    """Publishing or rolling back cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Served:
    """What the server says it serves (`GET /status`)."""

    model_file: Optional[str]
    model_id: Optional[str]

    def describe(self) -> str:
        """One line for staff."""
        if self.model_file is None:
            return "no model loaded"
        return f"{self.model_file} (model id {self.model_id})"


class RasaServer:
    """The running Rasa server's HTTP API, authenticated with its token."""

    def __init__(self, url: str, token: Optional[str]) -> None:
        """Prepares calls to the server at `url`.

        Raises:
            PublishError: when no token is given.
        """
        if not token:
            raise PublishError("RASA_API_TOKEN is not set, so the assistant's HTTP API "
                               "cannot be used.\n" + HOW_TO_START)
        self.url = url.rstrip("/")
        self.token = token

    def _call(self, method: str, path: str, timeout: float, **kwargs: Any
              ) -> requests.Response:
        try:
            response = requests.request(method, f"{self.url}{path}",
                                        params={"token": self.token}, timeout=timeout, **kwargs)
        except requests.ConnectionError:
            raise PublishError(f"No assistant is answering at {self.url}.\n"
                               + HOW_TO_START) from None
        except requests.Timeout:
            raise PublishError(f"The assistant at {self.url} did not answer in time "
                               f"({method} {path}).") from None
        if response.status_code == 404:
            raise PublishError(f"The assistant at {self.url} is running without its HTTP API "
                               f"(it was started without RASA_API_TOKEN).\nStop it (Ctrl-C) "
                               f"and start it again.\n" + HOW_TO_START)
        if response.status_code in (401, 403):
            raise PublishError(f"The assistant at {self.url} refused the token: RASA_API_TOKEN "
                               "here must be the same as when the assistant was started.\n"
                               + HOW_TO_START)
        return response

    def status(self) -> Served:
        """The model the server serves now."""
        response = self._call("GET", "/status", timeout=30)
        if response.status_code == 409:  # no model loaded
            return Served(None, None)
        if response.status_code != 200:
            raise PublishError(f"GET /status failed ({response.status_code}): "
                               f"{response.text[:500]}")
        body = response.json()
        return Served(body.get("model_file"), body.get("model_id"))

    def load(self, model: Path) -> None:
        """Asks the server to serve `model` (an absolute path on the server's disk)."""
        response = self._call("PUT", "/model", timeout=900,
                              json={"model_file": str(model.resolve())})
        if response.status_code not in (200, 204):
            raise PublishError(f"The assistant could not load {model.name} "
                               f"({response.status_code}): {response.text[:500]}\n"
                               "It is still serving the model it had before.")


def model_metadata(model: Path) -> Dict[str, Any]:
    """The model's metadata.json (model_id, trained_at, ...); {} if unreadable."""
    try:
        with tarfile.open(model, "r:gz") as archive:
            for member in archive:
                if member.name.lstrip("./") == "metadata.json":
                    handle = archive.extractfile(member)
                    if handle is not None:
                        data: Dict[str, Any] = json.loads(handle.read())
                        return data
    except (OSError, tarfile.TarError, ValueError):
        pass
    return {}


def refusal_reasons(new: Dict[str, Any], published: Optional[Dict[str, Any]]) -> List[str]:
    """Why `new` must not replace `published` (both evaluation summaries); [] if it may.

    A model may not be published when it misses any red-flag message (held-out or
    in the red-flag phrasings file), or when its overall accuracy is lower than the
    published model's.
    """
    reasons = []
    misses = new.get("red_flag_misses") or evaluation.red_flag_misses(new)
    if misses or new.get("red_flag_recall", 1.0) < 1.0 or \
            new.get("red_flag_phrasings_recall", 1.0) < 1.0:
        listed = "; ".join(f'"{m}"' for m in misses[:5])
        reasons.append(f"it misses {len(misses) or 'some'} red-flag message(s)"
                       + (f": {listed}" if listed else ""))
    if published is not None:
        ours, theirs = new.get("overall_accuracy"), published.get("overall_accuracy")
        if ours is not None and theirs is not None and ours < theirs - 1e-9:
            reasons.append(f"its overall accuracy {ours:.3f} is lower than the published "
                           f"model's {theirs:.3f}")
    return reasons


def published_summary(manifest: Manifest, root: Path) -> Optional[Dict[str, Any]]:
    """The published model's figures on today's test data (evaluating it if needed)."""
    entry = manifest.current_entry()
    if entry is None:
        return None
    path = manifest.model_path(entry["file"])
    if path.exists():
        record = evaluation.latest(path, root, model_sha256=entry.get("sha256"))
        if record is not None:
            return evaluation.summary(record)
    recorded: Optional[Dict[str, Any]] = entry.get("evaluation")
    return recorded


class Replicas:
    """Several Rasa servers serving one assistant, published to together.

    `status()` is what they all serve (an error if they differ, naming each);
    `load()` switches them one after another, and if one fails, switches those
    already done back to what they served, so no model is half published.
    """

    def __init__(self, servers: List[RasaServer], root: Path = ROOT) -> None:
        """Groups `servers` (at least one) of the project in `root`."""
        if not servers:
            raise PublishError("No assistant address given (RASA_URL is empty).")
        self.servers = servers
        self.root = root
        self.url = ", ".join(server.url for server in servers)

    def status(self) -> Served:
        """The model every replica serves."""
        served = [server.status() for server in self.servers]
        if any(other != served[0] for other in served[1:]):
            raise PublishError("The replicas serve different models: " + "; ".join(
                f"{server.url} serves {one.describe()}"
                for server, one in zip(self.servers, served, strict=True))
                + ". Publish or roll back again to bring them together.")
        return served[0]

    def load(self, model: Path) -> None:
        """Loads `model` into every replica, or into none."""
        before = [server.status() for server in self.servers]
        done: List[RasaServer] = []
        for server in self.servers:
            try:
                server.load(model)
            except PublishError:
                for switched, previous in zip(done, before, strict=False):
                    back = self.model_path(previous.model_file)
                    if back is not None:
                        switched.load(back)
                raise
            done.append(server)


    def model_path(self, model_file: Optional[str]) -> Optional[Path]:
        """Where a served model's file is: published, else trained (None: unknown)."""
        for folder in (published_dir(self.root), self.root / DEFAULT_MODEL.parent):
            if model_file and (folder / model_file).exists():
                return folder / model_file
        return None


def assistant(env: Dict[str, str], root: Path = ROOT) -> Replicas:
    """The replicas RASA_URL names (default http://localhost:5005), with RASA_API_TOKEN."""
    urls = (env.get("RASA_URL") or DEFAULT_URL).replace(",", " ").split()
    return Replicas([RasaServer(url, env.get("RASA_API_TOKEN")) for url in urls], root)


def serve(server: Replicas, model: Path) -> Served:
    """Loads `model` into the server and confirms it is the one served now."""
    server.load(model)
    served = server.status()
    expected_id = model_metadata(model).get("model_id")
    if served.model_file != model.name or (expected_id and served.model_id != expected_id):
        raise PublishError(f"The assistant reports serving {served.describe()}, not "
                           f"{model.name}; check its log.")
    return served


def publish(root: Path, model: Path, server: Replicas, force: bool = False) -> int:
    """Publishes `model`; returns the exit code."""
    before = server.status()
    print(f"The assistant at {server.url} serves {before.describe()}.")
    if not model.exists():
        raise PublishError(f"There is no trained model at {model}: run `make train` first.")
    manifest = Manifest.load(root)
    sha256 = evaluation.sha256_file(model)
    entry = manifest.current_entry()
    if entry and entry.get("sha256") == sha256:
        if before.model_file == entry["file"]:
            print(f"{model.name} is already the published model ({entry['file']}) and is "
                  "being served; nothing to do.")
            return 0
        served = serve(server, manifest.model_path(entry["file"]))
        manifest.history.append({"time": now(), "action": "reload", "file": entry["file"],
                                 "previous": manifest.current, "forced": False,
                                 "served": served.__dict__})
        manifest.save()
        print(f"{model.name} was already published as {entry['file']}; the assistant "
              f"serves it again: {served.describe()}.")
        return 0
    new = evaluation.latest(model, root, model_sha256=sha256)
    assert new is not None
    new_summary = evaluation.summary(new)
    published = published_summary(manifest, root)
    print(f"New model: overall accuracy {new_summary.get('overall_accuracy', 0):.3f}, "
          f"red-flag recall {new_summary.get('red_flag_recall', 0):.3f} (held-out) and "
          f"{new_summary.get('red_flag_phrasings_recall', 0):.3f} (phrasings).")
    if published is not None:
        print(f"Published model: overall accuracy "
              f"{published.get('overall_accuracy', 0):.3f}.")
    reasons = refusal_reasons(new_summary, published)
    if reasons and not force:
        print("NOT published, because " + "; and ".join(reasons) + ".\n"
              "Improve the training data and run `make train` and `make evaluate` again "
              "(see reports/index.html), or publish anyway with `make publish FORCE=1`.")
        return 1
    if reasons:
        print("Publishing anyway (forced), although " + "; and ".join(reasons) + ".")
    metadata = model_metadata(model)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = published_dir(root) / f"{stamp}-{sha256[:12]}.tar.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(model, partial)
    partial.replace(target)
    try:
        served = serve(server, target)
    except PublishError:
        target.unlink(missing_ok=True)
        raise
    previous = manifest.current
    manifest.models[target.name] = {
        "file": target.name, "sha256": sha256, "model_id": metadata.get("model_id"),
        "trained_at": metadata.get("trained_at"), "source": str(model),
        "published_at": now(), "forced": bool(reasons), "evaluation": new_summary,
    }
    manifest.stack.append(target.name)
    manifest.history.append({"time": now(), "action": "publish", "file": target.name,
                             "previous": previous, "forced": bool(reasons),
                             "served": served.__dict__})
    manifest.save()
    print(f"Published. The assistant now serves {served.describe()}, "
          f"trained {metadata.get('trained_at', '?')}.")
    return 0


def rollback(root: Path, server: Replicas) -> int:
    """Serves the previously published model again; returns the exit code."""
    manifest = Manifest.load(root)
    before = server.status()
    print(f"The assistant at {server.url} serves {before.describe()}.")
    if manifest.previous is None:
        what = (f"only {manifest.current} has been published" if manifest.current
                else "nothing has been published yet")
        print(f"Nothing to roll back to: {what}.")
        return 1
    target = manifest.model_path(manifest.previous)
    if not target.exists():
        raise PublishError(f"The previous model {target} is missing from disk.")
    served = serve(server, target)
    dropped = manifest.stack.pop()
    manifest.history.append({"time": now(), "action": "rollback", "file": target.name,
                             "previous": dropped, "forced": False, "served": served.__dict__})
    manifest.save()
    print(f"Rolled back from {dropped}. The assistant now serves {served.describe()}.")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Publishes (or rolls back) and prints what the assistant serves now."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None,
                        help=f"the model to publish (default {DEFAULT_MODEL})")
    parser.add_argument("--force", action="store_true",
                        help="publish even if it evaluates worse than the published model")
    parser.add_argument("--rollback", action="store_true",
                        help="serve the previously published model again")
    parser.add_argument("--current", action="store_true",
                        help="print the path of the published model (the trained model "
                             "if none is published yet) and exit; for `make run`")
    parser.add_argument("--root", type=Path, default=ROOT, help="project folder")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.current:
        manifest = Manifest.load(root)
        current = manifest.model_path(manifest.current) if manifest.current else None
        print(current if current and current.exists() else root / DEFAULT_MODEL)
        return 0
    try:
        server = assistant(dict(os.environ), root)
        if args.rollback:
            return rollback(root, server)
        model = (args.model or root / DEFAULT_MODEL).resolve()
        return publish(root, model, server, force=args.force)
    except PublishError as error:
        print(f"error: {error}")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
