"""Overload: a full queue turns requests away with "busy, try again", and the server survives.

The app runs `app.MODEL_CONCURRENCY` model requests at once and holds up to `queue_size`
more. To fill it whatever the machine's speed, the models wait at a gate the test opens:
the test sends requests until that many run and that many wait, then some more, which
must be turned away with a clear message; once the gate opens, every accepted request is
answered, and so is the next one.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import QueueError

import app
from demo_helpers import torch_threads_as_in_the_app  # noqa: F401 (autouse fixture)
from demo_helpers import EXAMPLE_PICTURE, assert_same_answer, launched_app, shared_predictor
from kd.serving.infer import Predictor

pytestmark = [
    pytest.mark.slow,
    # Gradio 6.31's queue still uses options pandas 3 deprecates; nothing to do on our side.
    pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning"),
]

QUEUE_SIZE = 3
TURNED_AWAY = 4


class HeldPredictor(Predictor):
    """The shipped models, except that inside `held()` every request waits at a gate before
    they run, and says so on `started`."""

    def __init__(self, loaded: Predictor):
        super().__init__(loaded.teacher, loaded.student, warmup=False)
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Semaphore(0)

    @contextmanager
    def held(self):
        self.gate.clear()
        try:
            yield
        finally:
            self.gate.set()

    def predict(self, *args, **kwargs):
        if not self.gate.is_set():
            self.started.release()
            self.gate.wait(timeout=120)
        return super().predict(*args, **kwargs)


def queue_length(url: str) -> int:
    """Requests waiting in the app's queue (not those running), as Gradio reports them."""
    return httpx.get(f"{url}gradio_api/queue/status").json()["queue_size"]


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_full_queue_turns_requests_away_with_busy_try_again_and_the_server_survives():
    predictor = HeldPredictor(shared_predictor())
    with launched_app(predictor, queue_size=QUEUE_SIZE) as demo:
        url, client = demo.local_url, Client(demo.local_url, verbose=False)

        def ask():
            return client.submit(handle_file(str(EXAMPLE_PICTURE)), "boar", 4.0, api_name="/predict")

        with predictor.held():
            running = [ask() for _ in range(app.MODEL_CONCURRENCY)]
            for _ in running:
                assert predictor.started.acquire(timeout=60), "a request never reached the models"
            waiting = [ask() for _ in range(QUEUE_SIZE)]
            wait_until(lambda: queue_length(url) == QUEUE_SIZE)
            assert not predictor.started.acquire(timeout=1), "more requests ran at once than the concurrency limit"

            turned_away = [ask() for _ in range(TURNED_AWAY)]
            for job in turned_away:
                with pytest.raises(QueueError, match="Queue is full! Please try again."):
                    job.result(timeout=60)
            # Without gradio_client (curl, or the browser, which then says "This application is
            # currently busy. Please try again."): HTTP 503, "Service Unavailable", and why.
            data = {"data": [None, "boar", 4.0]}
            refused = httpx.post(f"{url}gradio_api/call/predict", json=data)
            assert refused.status_code == 503 and "Queue is full" in refused.json()["detail"]

        expected = shared_predictor().predict(EXAMPLE_PICTURE, "boar", temperature=4.0).to_dict()
        for job in running + waiting:
            assert_same_answer(job.result(timeout=120), expected)
        assert_same_answer(ask().result(timeout=60), expected)
