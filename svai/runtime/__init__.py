"""``svai.runtime``: exactly what ships inside every artifact, and runs in the user's cloud.

``svai build`` copies this whole package into each zip and image; nothing else of svai ships.
It is layered, bottom to top, under import-linter contracts (``pyproject.toml``):

* ``core``: the serving core (load once, validate input, cache, batch, idempotency, fallback,
  metrics) and the protocols the layers above share (job records and stores, retries, server
  attachments);
* ``cloud``: stdlib-only data-plane clients per cloud (``aws``, ``gcp``, ``azure``) and the job
  and cache stores built on them;
* ``entry``: the platform entry points (Lambda handlers, the async front door, queue workers)
  and the table of cache stores they can open;
* ``server``: the threaded HTTP server for container platforms and ``svai serve``.

Nothing here imports the rest of svai, pydantic, click, jinja2, Pulumi or a training library;
cloud SDKs (boto3) only lazily, where a platform provides them.
"""

__all__: list[str] = []
