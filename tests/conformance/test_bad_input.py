"""Bad input on raw sockets: the broker answers with an error or closes that
one connection, stays up, keeps serving other connections, and what it has
stored stays intact.

Frames are built by hand here on purpose (a client library would refuse to
send them). Request header v1: api_key i16, api_version i16, correlation_id
i32, client_id nullable string.
"""

import socket
import struct
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from helpers import create_topic, read_all

API_PRODUCE, API_METADATA, API_VERSIONS = 0, 3, 18
UNSUPPORTED_VERSION, CORRUPT_MESSAGE = 35, 2
WAIT = 10.0  # how long the broker gets to answer or close


def header(api_key, version, corr, client_id=b"fjord-bad-input"):
    return struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def connect(broker):
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=WAIT)
    s.settimeout(WAIT)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def read_response(s):
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    assert 4 <= size < 64 * 1024 * 1024, f"absurd response size {size}"
    return recv_exact(s, size)


def answer_or_close(s):
    """'closed' if the broker closed the connection, else the response bytes.
    Fails if it does neither within WAIT seconds."""
    try:
        return read_response(s)
    except (ConnectionError, ConnectionResetError, BrokenPipeError):
        return "closed"
    except socket.timeout:
        raise AssertionError(f"broker neither answered nor closed the connection within {WAIT}s")


def api_versions_v0(broker):
    """A well-formed ApiVersions v0 on a new connection: {api_key: (min, max)}."""
    with connect(broker) as s:
        s.sendall(frame(header(API_VERSIONS, 0, 7)))
        resp = read_response(s)
    corr, err, n = struct.unpack(">ihi", resp[:10])
    assert corr == 7 and err == 0, (corr, err)
    return {k: (lo, hi) for k, lo, hi in struct.iter_unpack(">hhh", resp[10:10 + 6 * n])}


def assert_healthy(broker):
    assert broker.alive(), f"broker died (exit code {broker.proc.returncode})"
    versions = api_versions_v0(broker)
    assert API_PRODUCE in versions and API_METADATA in versions


# ---------------------------------------------------------------------------
# CRC-32C (Castagnoli) for hand-built record batches.

_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)  # zigzag
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def record_batch(value: bytes, corrupt_crc=False) -> bytes:
    """A v2 RecordBatch with one record (no key, no headers)."""
    rec_body = b"\x00" + varint(0) + varint(0) + varint(-1) + varint(len(value)) + value + varint(0)
    record = varint(len(rec_body)) + rec_body
    ts = int(time.time() * 1000)
    # attributes .. records: the part the CRC covers.
    after_crc = struct.pack(">hiqqqhii", 0, 0, ts, ts, -1, -1, -1, 1) + record
    crc = crc32c(after_crc) ^ (0xDEADBEEF if corrupt_crc else 0)
    # baseOffset, batchLength, partitionLeaderEpoch, magic, crc
    batch_length = 4 + 1 + 4 + len(after_crc)
    return struct.pack(">qiibI", 0, batch_length, -1, 2, crc) + after_crc


def produce_request(version, corr, topic, batch):
    body = struct.pack(">hhi", -1, -1, 10000)  # transactional_id null, acks all, timeout
    body += struct.pack(">ih", 1, len(topic)) + topic.encode()
    body += struct.pack(">iii", 1, 0, len(batch)) + batch
    return frame(header(API_PRODUCE, version, corr) + body)


def produce_error_code(resp, topic):
    # Produce response v3..v8: corr, [topic: name, [partition: index, error_code, ...]]
    off = 4
    (ntopics,) = struct.unpack_from(">i", resp, off)
    off += 4
    (nlen,) = struct.unpack_from(">h", resp, off)
    off += 2
    assert resp[off:off + nlen].decode() == topic
    off += nlen
    (nparts, index, err) = struct.unpack_from(">iih", resp, off)
    return err


# ---------------------------------------------------------------------------


@pytest.fixture
def seeded(broker, topic):
    """A broker holding 200 known records, to check they survive the abuse."""
    create_topic(broker.bootstrap, topic, 2)
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for i in range(200):
        p.produce(topic, key=f"k{i % 5}", value=f"v{i}")
    assert p.flush(30) == 0
    before = sorted((r.partition, r.offset, r.key, r.value) for r in read_all(broker.bootstrap, topic, 2))
    assert len(before) == 200
    yield broker
    assert_healthy(broker)
    after = sorted((r.partition, r.offset, r.key, r.value) for r in read_all(broker.bootstrap, topic, 2))
    assert after == before, "stored data changed after bad input"


BAD_FRAMES = {
    # A Metadata v1 request claiming 2^31-16 topics with no bytes behind it.
    "malformed-metadata": frame(header(API_METADATA, 1, 1) + struct.pack(">i", 0x7FFFFFF0)),
    # A Produce v7 whose body is noise.
    "malformed-produce": frame(header(API_PRODUCE, 7, 2) + bytes(range(256)) * 4),
    # A header cut short: api_key only.
    "short-header": frame(struct.pack(">h", API_METADATA)),
    "zero-size": struct.pack(">i", 0),
    "negative-size": struct.pack(">i", -5) + b"junk",
    "size-2GiB": struct.pack(">i", 0x7FFFFFFF) + b"\x00" * 64,
    "unknown-api-key": frame(header(32000, 0, 3)),
    "unsupported-metadata-version": frame(header(API_METADATA, 99, 4) + struct.pack(">i", 0)),
    "client-id-overrun": frame(struct.pack(">hhih", API_METADATA, 1, 5, 30000) + b"x"),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_bad_frame_closes_or_errors(seeded, name):
    with connect(seeded) as s:
        s.sendall(BAD_FRAMES[name])
        got = answer_or_close(s)
    if got != "closed" and name != "size-2GiB":
        # If it answered, the answer must be for our request (correlation id).
        (corr,) = struct.unpack(">i", got[:4])
        want = struct.unpack(">i", BAD_FRAMES[name][8:12])[0] if len(BAD_FRAMES[name]) >= 12 else None
        if want is not None:
            assert corr == want, f"answered with correlation id {corr}, sent {want}"
    assert_healthy(seeded)


def test_truncated_frame_then_eof(seeded):
    with connect(seeded) as s:
        s.sendall(struct.pack(">i", 100) + header(API_METADATA, 1, 9)[:10])
        s.shutdown(socket.SHUT_WR)
        assert answer_or_close(s) == "closed"
    assert_healthy(seeded)


def test_stalled_frame_does_not_block_others(seeded):
    # Half a frame sits on one connection while others are served.
    with connect(seeded) as stalled:
        stalled.sendall(struct.pack(">i", 1000) + header(API_METADATA, 1, 9))
        for _ in range(3):
            assert_healthy(seeded)


def test_api_versions_unsupported_version_kip511(seeded):
    """KIP-511: an ApiVersions request at a version the broker does not know
    gets a v0 response with UNSUPPORTED_VERSION and the supported ranges."""
    with connect(seeded) as s:
        # A v99 request from a newer client: header v2 (tagged fields) + body.
        s.sendall(frame(header(API_VERSIONS, 99, 11) + b"\x00" + b"\x00\x00\x00"))
        resp = read_response(s)
    corr, err, n = struct.unpack(">ihi", resp[:10])
    assert corr == 11
    assert err == UNSUPPORTED_VERSION, f"error code {err}, want UNSUPPORTED_VERSION (35)"
    versions = {k: (lo, hi) for k, lo, hi in struct.iter_unpack(">hhh", resp[10:10 + 6 * n])}
    assert API_VERSIONS in versions, f"ApiVersions not listed: {versions}"


def test_pipelined_requests_answered_in_order(seeded):
    with connect(seeded) as s:
        s.sendall(b"".join(frame(header(API_VERSIONS, 0, 100 + i)) for i in range(20)))
        corrs = [struct.unpack(">i", read_response(s)[:4])[0] for _ in range(20)]
    assert corrs == list(range(100, 120))


def test_batch_with_bad_crc_is_rejected(seeded, topic):
    crc_topic = topic + "-crc"
    create_topic(seeded.bootstrap, crc_topic, 1)
    versions = api_versions_v0(seeded)
    lo, hi = versions[API_PRODUCE]
    v = min(max(lo, 3), hi, 8)
    assert lo <= v <= hi, f"no Produce version in 3..8 (broker: {lo}..{hi})"
    with connect(seeded) as s:
        s.sendall(produce_request(v, 21, crc_topic, record_batch(b"bad-crc", corrupt_crc=True)))
        got = answer_or_close(s)
    if got != "closed":
        err = produce_error_code(got, crc_topic)
        assert err == CORRUPT_MESSAGE, f"bad-CRC batch answered with error code {err}, want CORRUPT_MESSAGE (2)"
    # The same batch with a correct CRC is accepted: the test's encoding is right.
    with connect(seeded) as s:
        s.sendall(produce_request(v, 22, crc_topic, record_batch(b"good-crc")))
        resp = read_response(s)
    assert produce_error_code(resp, crc_topic) == 0
    assert [r.value for r in read_all(seeded.bootstrap, crc_topic, 1)] == [b"good-crc"]


def test_admin_errors(broker, topic):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})

    def create_error(new_topic):
        fut = admin.create_topics([new_topic], request_timeout=15)[new_topic.topic]
        with pytest.raises(KafkaException) as e:
            fut.result(timeout=30)
        return e.value.args[0]

    err = create_error(NewTopic(topic + "-rf3", num_partitions=1, replication_factor=3))
    assert err.code() == KafkaError.INVALID_REPLICATION_FACTOR, err
    err = create_error(NewTopic("bad name!", num_partitions=1, replication_factor=1))
    assert err.code() == KafkaError.TOPIC_EXCEPTION, err  # INVALID_TOPIC_EXCEPTION (17)
    err = create_error(NewTopic(topic + "-p0", num_partitions=0, replication_factor=1))
    assert err.code() == KafkaError.INVALID_PARTITIONS, err


def test_oversized_record_refused(broker, topic):
    create_topic(broker.bootstrap, topic, 1, {"max.message.bytes": "2000"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "message.max.bytes": 1_000_000,
                  "enable.idempotence": False})
    errs = []
    p.produce(topic, value=b"x" * 20_000, on_delivery=lambda e, m: errs.append(e))
    assert p.flush(30) == 0
    p.produce(topic, value=b"small", on_delivery=lambda e, m: errs.append(e))
    assert p.flush(30) == 0
    assert errs[0] is not None and errs[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, errs
    assert errs[1] is None, errs
    assert [r.value for r in read_all(broker.bootstrap, topic, 1)] == [b"small"]
    assert broker.alive()


def test_keyless_records_on_a_compacted_topic_are_named_kip467(broker, topic):
    """A batch with records that have no key, sent to a compacted topic, is
    refused whole; the response names the keyless records (KIP-467), so
    librdkafka fails those with INVALID_RECORD and their batch mates with
    _INVALID_DIFFERENT_RECORD, as its own test 0011 counts."""
    create_topic(broker.bootstrap, topic, 1, {"cleanup.policy": "compact"})
    # One batch: the records wait for each other (linger) and are not retried.
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 500,
                  "enable.idempotence": False, "retries": 0})
    errs: dict[bytes, KafkaError | None] = {}

    def report(err, msg):
        errs[msg.value()] = err

    for i, key in enumerate([b"a", None, b"c", None]):
        p.produce(topic, key=key, value=b"v%d" % i, on_delivery=report)
    assert p.flush(30) == 0
    codes = {v: (e.code() if e else None) for v, e in errs.items()}
    assert codes == {
        b"v0": KafkaError._INVALID_DIFFERENT_RECORD,
        b"v1": KafkaError.INVALID_RECORD,
        b"v2": KafkaError._INVALID_DIFFERENT_RECORD,
        b"v3": KafkaError.INVALID_RECORD,
    }, codes
    assert read_all(broker.bootstrap, topic, 1) == []
    assert broker.alive()


def test_hostile_fetch_is_capped_and_memory_bounded(broker, topic):
    """One 64 MB partition named 16 times with i32::MAX limits, the request
    that once made the broker answer 1,059 MB and peak at 2 GB: the answer
    stays under fetch.max.bytes (55 MiB; the partition answered once) and
    the broker's peak memory under 200 MB."""
    create_topic(broker.bootstrap, topic, 1)
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5})
    chunk = b"x" * 900_000
    for _ in range(72):  # ~64.8 MB
        p.produce(topic, value=chunk)
    assert p.flush(60) == 0
    api_fetch, i32_max = 1, 2**31 - 1
    # Fetch v4: replica, max_wait, min_bytes, max_bytes, isolation, topics.
    body = struct.pack(">iiiib", -1, 0, 0, i32_max, 0)
    body += struct.pack(">ih", 1, len(topic)) + topic.encode()
    body += struct.pack(">i", 16) + struct.pack(">iqi", 0, 0, i32_max) * 16
    s = connect(broker)
    s.settimeout(60)
    s.sendall(frame(header(api_fetch, 4, 7) + body))
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    answer = bytearray()
    while len(answer) < size:
        got = s.recv(min(1 << 20, size - len(answer)))
        assert got, "the broker closed the connection mid-answer"
        answer += got
    s.close()
    assert size <= 55 * 1024 * 1024 + 1024 * 1024, f"answer of {size} bytes"
    # The partition is answered once: its name appears once in the answer.
    assert answer.count(topic.encode()) == 1
    assert size > 50 * 1024 * 1024, f"only {size} bytes: the cap, not less"
    status = open(f"/proc/{broker.proc.pid}/status").read()
    peak_kib = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:")))
    print(f"hostile fetch: {size} bytes answered, broker peak RSS {peak_kib // 1024} MiB")
    assert peak_kib < 200 * 1024, f"broker peak RSS {peak_kib // 1024} MiB"
    assert broker.alive()
