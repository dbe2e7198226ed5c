"""svai: ship an AI model to serverless infrastructure from one ``svai.yaml``.

The pipeline, one package per stage::

    svai.yaml ─load─▶ Spec ─resolve─▶ ResolvedSpec ─recommend─▶ Recommendation ─lower─▶ DeploymentPlan
              svai.spec                            svai.compiler                    svai.ir
                                  ─backend─▶ Pulumi resources (svai.backends)
                                  ─package─▶ runtime artifact (svai.build, shipping svai.runtime)

``svai.api`` is the library entry point (``svai.release`` adds the release commands over it);
``svai.cli`` is a thin click layer over them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
