"""The detection service (``llmad serve``): FastAPI + uvicorn over one trained detector, calling the run
API's scoring through a bounded, micro-batching queue. Needs ``pip install 'llmad[serve]'``."""

from llmad.serve.config import ServeConfig, check_host, read_token

__all__ = ["ServeConfig", "create_app", "serve", "read_token", "check_host"]


def create_app(*args, **kwargs):
    from llmad.serve.app import create_app as _create

    return _create(*args, **kwargs)


def serve(model_dir, config: ServeConfig | None = None, token: str | None = None, log_level: str = "info") -> None:
    """Run the service until SIGINT / SIGTERM; accepted requests are finished before it exits."""
    import uvicorn

    cfg = config or ServeConfig()
    check_host(cfg.host, token)
    app = create_app(model_dir, cfg, token)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level=log_level,
                timeout_graceful_shutdown=int(cfg.shutdown_grace_s), timeout_keep_alive=75)
