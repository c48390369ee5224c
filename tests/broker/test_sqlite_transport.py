"""The SQLite queue at the kombu level: ack deletes, a lapsed lease redelivers, a restore never copies."""

import pytest
from kombu import Connection, Exchange, Queue

import broker.celery  # noqa: F401 - registers the sqlite:// transport alias
from broker.sqlite_transport import Channel

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(Channel, "clock", clock)
    return clock


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'queue.sqlite3'}"


def _conn(url: str, **options) -> Connection:
    return Connection(url, transport_options={"polling_interval": 0.01, **options})


def _queue() -> Queue:
    return Queue("jobs", Exchange("jobs", type="direct"), routing_key="jobs")


def _publish(conn: Connection, *bodies) -> None:
    with conn.Producer() as producer:
        for body in bodies:
            producer.publish(body, exchange=_queue().exchange, routing_key="jobs", declare=[_queue()])


def _rows(conn: Connection) -> int:
    return conn.default_channel._size("jobs")


def test_acked_message_is_deleted_and_order_is_kept(url):
    with _conn(url) as conn:
        _publish(conn, {"n": 1}, {"n": 2})
        queue = _queue()(conn.default_channel)
        first, second = queue.get(), queue.get()
        assert (first.payload, second.payload) == ({"n": 1}, {"n": 2})
        assert queue.get() is None  # both leased
        first.ack()
        assert _rows(conn) == 1
        second.ack()
        assert _rows(conn) == 0


def test_message_of_a_consumer_that_died_is_delivered_again_after_its_lease(url, clock):
    with _conn(url) as publisher:
        _publish(publisher, {"job": "a"})
    dead = _conn(url, lease_s=30).default_channel
    assert _queue()(dead).get().payload == {"job": "a"}  # taken, never acked: then the worker is SIGKILLed,
    dead._stop.set()  # so nothing renews its lease
    dead.do_restore = False  # and nothing gives the message back
    with _conn(url, lease_s=30) as survivor:
        queue = _queue()(survivor.default_channel)
        clock.now += 29
        assert queue.get() is None  # still leased
        clock.now += 2
        again = queue.get()
        assert again.payload == {"job": "a"}
        again.ack()
        assert _rows(survivor) == 0


def test_live_consumer_keeps_renewing_its_lease(url, clock):
    with _conn(url, lease_s=30) as holder, _conn(url, lease_s=30) as other:
        _publish(holder, {"job": "long"})
        held = _queue()(holder.default_channel).get()
        for _ in range(4):  # a task running for two minutes: the renewer extends its lease every 10 s
            clock.now += 25
            holder.default_channel.renew_leases()
        assert _queue()(other.default_channel).get() is None
        held.ack()
        assert _rows(other) == 0


def test_requeued_message_is_released_not_copied(url):
    with _conn(url) as conn:
        _publish(conn, {"job": "b"})
        queue = _queue()(conn.default_channel)
        queue.get().reject(requeue=True)
        assert _rows(conn) == 1
        again = queue.get()
        assert again.payload == {"job": "b"}
        again.reject()
        assert _rows(conn) == 0


def test_closing_a_channel_gives_back_what_it_held(url):
    consumer = _conn(url)
    _publish(consumer, {"job": "c"})
    channel = consumer.channel()
    _queue()(channel).get()
    channel.close()  # a graceful shutdown restores unacked messages
    with _conn(url) as conn:
        assert _rows(conn) == 1
        assert _queue()(conn.default_channel).get().payload == {"job": "c"}
    consumer.release()


def test_purge_removes_waiting_messages(url):
    with _conn(url) as conn:
        _publish(conn, {"n": 1}, {"n": 2})
        assert conn.default_channel.queue_purge("jobs") == 2
        assert _rows(conn) == 0


def test_url_without_a_path_is_refused():
    with pytest.raises(ValueError, match="database path"):
        Connection("sqlite://").default_channel  # noqa: B018
