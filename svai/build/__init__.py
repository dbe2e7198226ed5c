"""``svai.build``: turns a resolved spec and its recommendation into runtime artifacts.

Pipeline position: beside the backends, below ``svai.api``. ``package`` writes reproducible
Lambda zips and container build contexts (``svai build``), copying the whole of
``svai.runtime`` into each; ``optimize`` converts and quantises models at build time; ``bench``
measures a built artifact and feeds the recommender (``svai bench``); ``templates/`` holds the
Jinja glue (Dockerfiles, entry-point shims, host files) and nothing else.
"""

__all__: list[str] = []
