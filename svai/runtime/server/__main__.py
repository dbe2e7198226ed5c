"""``python -m svai.runtime.server``: run the container HTTP server."""

from svai.runtime.server.main import main

raise SystemExit(main())
