"""Shared pytest set-up: the Keras backend is chosen before anything imports keras; the Keras
backends that run in worker processes (``reports/backends.py``) get the selected parity cases
queued at the start of the session and are shut down at its end."""

import impl_tf  # noqa: F401  (sets KERAS_BACKEND=tensorflow)


def pytest_collection_finish(session):
    """Queue every (case, framework, dtype) that the selected ``test_parity`` items need from a worker,
    in test order: the JAX and torch workers compute them while this process runs the other tests
    (``harness.prefetch``). Nothing starts for ``--collect-only`` or a selection without such items."""
    if session.config.option.collectonly or hasattr(session.config, "workerinput"):   # (an xdist worker)
        return
    runs = [(item.callspec.params["case"], framework, item.callspec.params["dtype"])
            for item in session.items if getattr(item, "originalname", None) == "test_parity"
            for framework in item.callspec.params["pair"]]
    if runs:
        from reports import harness

        harness.prefetch(runs)


def pytest_sessionfinish(session):
    from reports import backends

    backends.shutdown()
