"""The Mosquitto test fixture: QoS 1 delivery, per-device credentials and ACLs, restarts."""
from __future__ import annotations

import queue

import paho.mqtt.client as mqtt
import pytest

pytestmark = pytest.mark.integration

WAIT_S = 10.0  # generous upper bound for a loopback round trip on a loaded machine


class Client:
    """A paho-mqtt 2.x client whose events land in queues that tests wait on."""

    def __init__(self, broker, client_id: str, username: str | None = None,
                 password: str | None = None, clean_session: bool = True) -> None:
        self.connects: queue.Queue = queue.Queue()
        self.messages: queue.Queue = queue.Queue()
        self.subacks: queue.Queue = queue.Queue()
        self.acked_mids: queue.Queue = queue.Queue()
        self.mqtt = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                clean_session=clean_session)
        if username is not None:
            self.mqtt.username_pw_set(username, password)
        self.mqtt.on_connect = lambda c, u, flags, rc, props: self.connects.put(rc)
        self.mqtt.on_message = lambda c, u, msg: self.messages.put(msg)
        self.mqtt.on_subscribe = lambda c, u, mid, rcs, props: self.subacks.put(rcs)
        self.mqtt.on_publish = lambda c, u, mid, rc, props: self.acked_mids.put(mid)
        self.broker = broker

    def connect(self) -> mqtt.ReasonCode:
        self.mqtt.connect(self.broker.host, self.broker.port, keepalive=10)
        self.mqtt.loop_start()
        return self.connects.get(timeout=WAIT_S)

    def subscribe(self, topic: str, qos: int = 1) -> list:
        self.mqtt.subscribe(topic, qos)
        return self.subacks.get(timeout=WAIT_S)

    def publish_acked(self, topic: str, payload: bytes) -> None:
        info = self.mqtt.publish(topic, payload, qos=1)
        assert self.acked_mids.get(timeout=WAIT_S) == info.mid

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()


@pytest.fixture
def clients():
    made: list[Client] = []

    def make(*args, **kwargs) -> Client:
        made.append(Client(*args, **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.close()


def test_qos1_message_is_delivered(mosquitto, clients):
    sub, pub = clients(mosquitto, "sub"), clients(mosquitto, "pub")
    assert not sub.connect().is_failure and not pub.connect().is_failure
    assert [rc.value for rc in sub.subscribe("liftguard/box-1/reps")] == [1]  # granted QoS 1

    pub.publish_acked("liftguard/box-1/reps", b'{"rep": 1}')
    msg = sub.messages.get(timeout=WAIT_S)
    assert (msg.topic, msg.payload, msg.qos) == ("liftguard/box-1/reps", b'{"rep": 1}', 1)


def test_queued_qos1_message_survives_broker_restart_on_same_port(mosquitto, clients):
    sub = clients(mosquitto, "ingester", clean_session=False)
    sub.connect()
    sub.subscribe("liftguard/+/reps")
    sub.close()
    pub = clients(mosquitto, "box-1")
    pub.connect()
    pub.publish_acked("liftguard/box-1/reps", b"queued while the ingester was away")
    pub.close()
    port = mosquitto.port

    mosquitto.stop()
    assert not mosquitto.is_running()
    mosquitto.start()

    assert mosquitto.port == port
    again = clients(mosquitto, "ingester", clean_session=False)
    assert not again.connect().is_failure
    assert again.messages.get(timeout=WAIT_S).payload == b"queued while the ingester was away"


def test_password_file_and_acl_scope_each_device(mosquitto_factory, clients):
    broker = mosquitto_factory(users={"box-1": "pw-1", "box-2": "pw-2"},
                               acl="pattern readwrite liftguard/%u/#\n")
    assert clients(broker, "anon").connect().is_failure
    assert clients(broker, "bad", "box-1", "wrong").connect().is_failure

    box1 = clients(broker, "box-1", "box-1", "pw-1")
    box2 = clients(broker, "box-2", "box-2", "pw-2")
    assert not box1.connect().is_failure and not box2.connect().is_failure
    assert [rc.value for rc in box1.subscribe("liftguard/box-1/#")] == [1]
    assert [rc.value for rc in box2.subscribe("liftguard/box-2/#")] == [1]
    box2.subscribe("liftguard/box-1/#")  # granted, but the ACL filters what it delivers

    box1.publish_acked("liftguard/box-1/reps", b"box-1 data")
    box1.publish_acked("liftguard/box-2/reps", b"spoofed")
    box2.publish_acked("liftguard/box-2/reps", b"own")

    assert box1.messages.get(timeout=WAIT_S).payload == b"box-1 data"
    assert box2.messages.get(timeout=WAIT_S).payload == b"own"
    assert box1.messages.empty() and box2.messages.empty()
