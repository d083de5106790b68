"""A local HTTP server and keras_resnet nets as PyTorch state dicts, shared by the weights tests."""

from __future__ import annotations

import http.server
import threading

import numpy as np

from keras_resnet import checkpoints


def state_dict(model) -> dict[str, np.ndarray]:
    """``model``'s weights as a torchvision/timm state dict (the inverse of the checkpoint mapping)."""
    state = {}
    for layer, keys in checkpoints._targets(model, avg_down=False):
        for key, value in zip(keys, layer.get_weights(), strict=True):
            state[key] = np.ascontiguousarray(
                value.transpose(3, 2, 0, 1) if value.ndim == 4 else (value.T if value.ndim == 2 else value))
    return state


class Server:
    """An HTTP server on 127.0.0.1 serving ``routes``: path -> (status, body, bytes actually sent)."""

    def __init__(self) -> None:
        routes: dict[str, tuple[int, bytes, int | None]] = {}
        self.routes = routes

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                status, body, sent = routes.get(self.path, (404, b"not here", None))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:sent])
                self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
