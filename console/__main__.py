"""Serves the console: `python -m console [--host 127.0.0.1] [--port 8081] [--endpoints FILE]`.

Migrates the database first (`console.migrate`). Options can also come from the
environment: $CONSOLE_IDLE_MINUTES (sessions end after this many idle minutes,
default 30), $CONTENT_DIR (the content folder the action servers serve) and
$CONSOLE_SECURE_COOKIES=1 (mark cookies Secure even on plain http, e.g. behind
a proxy that ends TLS).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
HTMX = ROOT / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """The command line."""
    from nightcramps.content_store import content_dir

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--endpoints", type=Path, default=Path("endpoints.yml"),
                        help="endpoints file naming the tracker store (default: %(default)s)")
    parser.add_argument("--content-dir", type=Path, default=content_dir(),
                        help="content folder (default: $CONTENT_DIR or the project's content/)")
    parser.add_argument("--idle-minutes", type=float,
                        default=float(os.environ.get("CONSOLE_IDLE_MINUTES") or 30),
                        help="sessions end after this many minutes without a request")
    parser.add_argument("--secure-cookies", action="store_true",
                        default=os.environ.get("CONSOLE_SECURE_COOKIES", "") in ("1", "true"),
                        help="always mark cookies Secure (else only over https)")
    parser.add_argument("--project-root", type=Path, default=ROOT,
                        help="folder with data/nlu/ and content/inbox_triage.yml (the inbox's "
                             "training examples; default: this project)")
    parser.add_argument("--htmx", type=Path, default=HTMX, help="htmx.min.js to serve")
    return parser.parse_args(argv)


def publisher(engine: Any, content: Path) -> Any:
    """Records approved files as store versions, which every action server follows.

    `stores.content_versions.ContentVersions(engine, content).publish`; None
    where that module is missing (then approval writes content/ alone).
    """
    try:
        from stores.content_versions import ContentVersions
    except ImportError:
        return None
    return ContentVersions(engine, content).publish


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Migrates the database and serves the console until Ctrl-C."""
    args = parse_args(argv)
    from console.app import Settings, make_app
    from console.database import DatabaseError, engine_for
    from console.migrate import migrate
    from console.services import build_services

    if not args.htmx.is_file():
        print(f"console: {args.htmx} is missing: run `npm ci` (make run does)", file=sys.stderr)
        return 2
    import sqlalchemy as sa

    try:
        engine = engine_for(args.endpoints)
        migrate(engine)
    except DatabaseError as error:
        print(f"console: {error}", file=sys.stderr)
        return 2
    except sa.exc.SQLAlchemyError as error:
        print(f"console: the database cannot be used: {getattr(error, 'orig', error)}",
              file=sys.stderr)
        return 2
    services = build_services(engine, args.content_dir, idle_seconds=args.idle_minutes * 60,
                              publisher=publisher(engine, args.content_dir),
                              project_root=args.project_root)
    app = make_app(services, Settings(htmx_file=args.htmx, secure_cookies=args.secure_cookies))
    print(f"Console on http://{args.host}:{args.port} (content {args.content_dir}, "
          f"database of {args.endpoints})", flush=True)
    app.run(host=args.host, port=args.port, workers=1, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
