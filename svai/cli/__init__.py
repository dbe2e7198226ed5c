"""``svai.cli``: the top of the pipeline — thin click commands over :mod:`svai.api`.

A command parses options, calls one function (of :mod:`svai.api`, or of :mod:`svai.release` for
the release commands), renders its result. ``svai.cli.main:main`` is the
console script.
"""

__all__: list[str] = []
