"""``svai.runtimes``: the code that runs in the user's cloud, and how it is built.

``core`` is the serving core (load once, validate input, cache, batch, idempotency, fallback,
metrics), copied into every artifact; ``server`` is the container HTTP server; ``entry`` holds the
platform entry points (Lambda, queue worker); ``optimize`` converts and quantises models at build
time. Nothing here imports a cloud SDK or Pulumi.
"""

__all__: list[str] = []
