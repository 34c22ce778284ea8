"""The xdist controller's handoff of the run to workers that started before it was ready."""

import threading
import time

import pytest

from async_test_harness.handoff import Handoff, HandoffFailed, receive
from async_test_harness.provision import RunDatabase

RUN = RunDatabase(
    admin_url="postgresql://postgres:pw@127.0.0.1:5999/postgres", prefix="test", template="test_template",
    version="15.1", source="local", schema="empty", owns_server=True, ready_seconds=0.1, socket_dir="",
)


def test_a_worker_waits_for_the_run_and_gets_it_whole():
    release = threading.Event()

    def provision():
        release.wait(5)
        return RUN

    handoff = Handoff(provision, str)
    got = []
    worker = threading.Thread(target=lambda: got.append(receive(handoff.path)))
    worker.start()
    time.sleep(0.2)
    assert not got  # still waiting: the run is not provisioned yet
    release.set()
    worker.join(5)
    assert got == [RUN]
    assert handoff.wait() == RUN
    handoff.close()


def test_a_failure_reaches_the_workers_as_its_message_and_the_controller_as_itself():
    class SchemaBroke(Exception):
        pass

    def provision():
        raise SchemaBroke("secret-password in a syntax error")

    handoff = Handoff(provision, lambda exc: str(exc).replace("secret-password", "***"))
    with pytest.raises(HandoffFailed, match=r"^\*\*\* in a syntax error$"):
        receive(handoff.path)
    with pytest.raises(SchemaBroke):
        handoff.wait()
    handoff.close()


def test_a_controller_that_never_publishes_times_out_with_a_pointer(tmp_path):
    with pytest.raises(HandoffFailed, match="did not provision the test database within 0s"):
        receive(str(tmp_path / "run.json"), timeout=0.1)
