"""``svai.backends.knative``: a skeleton cloud (one Knative Service per plan), for the tests."""

__all__: list[str] = []
