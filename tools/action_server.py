"""Starts the project's action server (rasa-sdk's), bound to one interface only.

Usage: python -m tools.action_server [--host 127.0.0.1] [--port 5055] [--actions actions]

The same server as `rasa run actions`, with the same options (port, CORS,
actions package, TLS, auto-reload, logging), and these differences:

- it binds to `--host`: 127.0.0.1 unless `$ACTION_SERVER_HOST` says otherwise
  (rasa-sdk 3.6 binds 0.0.0.0: every interface);
- requests over `--max-request-size` bytes (default 16 MiB, or
  `$ACTION_SERVER_MAX_REQUEST_SIZE`) are refused with 413; Rasa sends the whole
  tracker of the current session with each call, so the limit is generous;
- an error answers with a short message, not with the request body (rasa-sdk's
  handler returns the whole tracker, which Rasa would then write to its log);
- CORS allows no origin unless `--cors` names some: Rasa calls the action
  server from its own process, never a browser. (rasa-sdk installs its CORS
  extension either way; an earlier version of this script replaced rasa-sdk's
  setup to leave it out, which the project no longer does: see
  runtime/rasa_patches.py for the only changes to Rasa's code.)
- it runs without TensorFlow: spaCy imports thinc, and thinc imports
  TensorFlow (and h5py) whenever they are installed, about 370 MB, though the
  safety net only needs spaCy's tokenizer and `Matcher`. `main` refuses those
  imports before anything loads spaCy, and thinc carries on without its
  TensorFlow shims (`--allow-tensorflow` keeps them, for measurements only).
  `rasa run actions` serves the same actions with TensorFlow loaded
  (docs/performance.md has both figures);
- with `--content-db URL` (default `$CONTENT_DB_URL`) or `--endpoints FILE` (its
  SQL tracker store), it follows the approved content versions in that database
  (stores/content_versions.py) and writes them into its content folder
  (`$CONTENT_DIR`, else content/), where the store's hot reload serves them
  within seconds; without either, the content folder alone is served.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence

from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

if TYPE_CHECKING:
    from stores.content_follower import ContentFollower

ROOT = Path(__file__).resolve().parent.parent
HOST_ENV = "ACTION_SERVER_HOST"
MAX_REQUEST_SIZE_ENV = "ACTION_SERVER_MAX_REQUEST_SIZE"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_REQUEST_SIZE = 16 * 1024 * 1024
CONTENT_DB_ENV = "CONTENT_DB_URL"
#: Modules the action server never loads: nothing it runs uses them, and thinc
#: (imported by spaCy) loads them whenever it can (TensorFlow about 350 MB, h5py 12).
REFUSED_MODULES = ("tensorflow", "h5py")

logger = logging.getLogger(__name__)


def create_argument_parser() -> argparse.ArgumentParser:
    """rasa-sdk's options plus `--host` and `--max-request-size`."""
    from rasa_sdk.endpoint import create_argument_parser as sdk_parser

    parser: argparse.ArgumentParser = sdk_parser()
    parser.description = __doc__.splitlines()[0]
    parser.set_defaults(actions="actions")
    parser.add_argument("--host", default=os.environ.get(HOST_ENV) or DEFAULT_HOST,
                        help=f"interface to bind (default: ${HOST_ENV}, else {DEFAULT_HOST})")
    parser.add_argument("--max-request-size", type=int,
                        default=int(os.environ.get(MAX_REQUEST_SIZE_ENV)
                                    or DEFAULT_MAX_REQUEST_SIZE),
                        help="largest request body accepted, in bytes "
                             f"(default: ${MAX_REQUEST_SIZE_ENV}, else 16 MiB)")
    parser.add_argument("--allow-tensorflow", action="store_true",
                        help="let thinc load TensorFlow (for memory measurements only)")
    parser.add_argument("--content-db", default=os.environ.get(CONTENT_DB_ENV) or None,
                        help="SQLAlchemy URL of the database whose approved content versions "
                             f"this server follows (default: ${CONTENT_DB_ENV})")
    parser.add_argument("--endpoints", default=None,
                        help="endpoints file whose SQL tracker store holds the approved "
                             "content versions (when --content-db is not given)")
    return parser


def refuse_imports(names: Sequence[str] = REFUSED_MODULES) -> List[str]:
    """Makes every later `import` of these modules raise `ImportError`.

    A `None` in `sys.modules` is Python's own way to say "not available": thinc's
    `import tensorflow` then fails as if TensorFlow were not installed, and thinc
    carries on without its TensorFlow shim. Modules already imported are left alone.

    Args:
        names: Top-level module names.

    Returns:
        The names refused now (those not imported already).
    """
    refused = []
    for name in names:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]
            refused.append(name)
    return refused


async def error_response(request: Request, exception: Exception) -> HTTPResponse:
    """Answers an error without echoing the request (which holds the tracker)."""
    if isinstance(exception, SanicException):
        return response.json({"error": str(exception)}, status=exception.status_code)
    logger.error("The action server failed on %s %s.", request.method, request.path,
                 exc_info=exception)
    return response.json({"error": "The action server failed; see its log."}, status=500)


def content_follower(args: argparse.Namespace) -> Optional[ContentFollower]:
    """The follower of the approved content versions, when a database is configured.

    A database that cannot be reached is no error (the follower retries); an
    endpoints file without an SQL tracker store is logged, and content is then
    served from the content folder alone.
    """
    if not (args.content_db or args.endpoints):
        return None
    from nightcramps.content_store import content_dir
    from stores.content_follower import ContentFollower
    from stores.content_versions import ContentVersions, engine_from

    try:
        engine = engine_from(args.content_db, args.endpoints)
    except ValueError as error:
        logger.error("Not following the approved content versions: %s", error)
        return None
    if engine is None:
        return None
    directory = content_dir()
    logger.info("Following the approved content versions into %s.", directory)
    return ContentFollower(ContentVersions(engine, directory), directory)


def create_app(args: argparse.Namespace) -> Sanic:
    """rasa-sdk's app for `args.actions`, with the size limit and error handler."""
    from rasa_sdk.endpoint import create_app as sdk_app
    from rasa_sdk.plugin import plugin_manager

    from runtime import gc_tuning

    # Without --cors, rasa-sdk's CORS setup gets no origins ("" matches none), so no
    # browser origin is allowed.
    app: Sanic = sdk_app(args.actions, cors_origins=args.cors or "",
                         auto_reload=args.auto_reload)
    app.config.REQUEST_MAX_SIZE = args.max_request_size
    app.error_handler.add(Exception, error_response)
    # The actions, spaCy and the safety rules are loaded: keep full garbage
    # collections from walking them (runtime/gc_tuning.py).
    app.register_listener(lambda _app, _loop: gc_tuning.freeze_now(), "after_server_start")
    follower = content_follower(args)
    if follower is not None:
        app.register_listener(lambda _app, _loop: follower.start(), "after_server_start")
        app.register_listener(lambda _app, _loop: follower.stop(), "before_server_stop")
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    return app


def main(argv: Optional[List[str]] = None) -> int:
    """Configures logging as `rasa run actions` does, then serves until stopped."""
    from rasa_sdk import utils
    from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
    from rasa_sdk.endpoint import create_ssl_context

    args = create_argument_parser().parse_args(argv)
    if not args.allow_tensorflow:
        refuse_imports()
    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME),
                                 args.log_file, args.loglevel, args.logging_config_file)
    utils.update_sanic_log_level()

    app = create_app(args)
    ssl_context = create_ssl_context(args.ssl_certificate, args.ssl_keyfile,
                                     args.ssl_password)
    protocol = "https" if ssl_context else "http"
    logger.info("Action server listening on %s://%s:%s", protocol, args.host, args.port)
    app.run(args.host, args.port, ssl=ssl_context,
            workers=utils.number_of_sanic_workers())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
