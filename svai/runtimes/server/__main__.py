"""``python -m svai.runtimes.server``: run the container HTTP server."""

from svai.runtimes.server.main import main

raise SystemExit(main())
