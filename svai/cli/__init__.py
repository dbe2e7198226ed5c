"""``svai.cli``: the top of the pipeline — thin click commands over :mod:`svai.api`.

A command parses options, calls one function, renders its result. ``svai.cli.main:main`` is the
console script.
"""

__all__: list[str] = []
