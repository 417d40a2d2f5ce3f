"""The state writer on its own, against a real redis-server: its direct standalone path (one
connection of its own, RESP packed by hand), script reloads, per-operation refusals, the linger."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
import redis.asyncio as aioredis
from redis.connection import Connection
from redis.exceptions import ResponseError

from cogkit.runtime.queue.protocol import events_key, lease_key, state_key
from cogkit.runtime.queue.store import UPDATE_LINGER, StateStore, _resp_command
from cogkit.runtime.types import PredictionResponse


@pytest.mark.parametrize(
    "args",
    [
        ("EVALSHA", "0123abcd", 2, "prediction:{q}:p1", "prediction:{q}:p1:lease", "tok/1-0", 30000),
        ("EVALSHA", "ff", 0, b"\x00\xffbinary\r\n", "naïve ✓", 1.5, -3, 0),
        ("PING",),
    ],
)
def test_commands_are_packed_exactly_as_redis_py_packs_them(args: tuple) -> None:
    assert _resp_command(args) == b"".join(Connection().pack_command(*args))


def _run(coro) -> object:  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_the_standalone_writer_keeps_its_own_connection_and_reloads_lost_scripts(private_redis) -> None:
    stream = f"store-{uuid.uuid4().hex[:6]}"

    async def main() -> None:
        client = aioredis.Redis.from_url(private_redis.url)
        store = StateStore(client, stream, "cogkit")
        store.start()
        assert await store.begin("p1", "w/1-0", 5000) == "run"
        own = store._conn
        assert own is not None and own.is_connected  # not a pooled connection: the writer's own
        await client.script_flush()  # Redis lost the scripts (as after a restart without AOF)
        assert await store.begin("p2", "w/2-0", 5000) == "run"
        assert store._conn is own  # NOSCRIPT is a reply, not a broken connection
        await store.close()
        assert store._conn is None
        await client.aclose()

    _run(main())


def test_a_refused_operation_fails_alone_in_its_batch(private_redis) -> None:
    stream = f"store-{uuid.uuid4().hex[:6]}"
    sync = redis.Redis.from_url(private_redis.url)
    sync.rpush(state_key(stream, "broken"), "not a string")  # GET on it: WRONGTYPE inside the script

    async def main() -> None:
        client = aioredis.Redis.from_url(private_redis.url)
        store = StateStore(client, stream, "cogkit")
        store.start()
        refused, fine = await asyncio.gather(
            store.begin("broken", "w/1-0", 5000), store.begin("ok", "w/2-0", 5000), return_exceptions=True
        )
        assert isinstance(refused, ResponseError) and "WRONGTYPE" in str(refused)
        assert fine == "run"
        assert await store.begin("ok2", "w/3-0", 5000) == "run"  # the connection is still in sync
        await store.close()
        await client.aclose()

    _run(main())
    sync.close()


def test_a_lone_update_is_written_within_the_linger_and_a_finish_supersedes_a_pending_one(
    private_redis,
) -> None:
    stream = f"store-{uuid.uuid4().hex[:6]}"
    sync = redis.Redis.from_url(private_redis.url)
    sync.xgroup_create(stream, "cogkit", id="0", mkstream=True)
    entry = sync.xadd(stream, {"id": "p1"}).decode()
    sync.xreadgroup("cogkit", "w", {stream: ">"})

    async def main() -> None:
        client = aioredis.Redis.from_url(private_redis.url)
        store = StateStore(client, stream, "cogkit")
        store.start()
        state = PredictionResponse(id="p1", input={}, status="processing")
        store.publish(state, "start")
        await asyncio.sleep(UPDATE_LINGER + 0.2)  # nothing else happens: the timer writes it
        assert [f[b"event"] for _, f in sync.xrange(events_key(stream, "p1"))] == [b"start"]
        state.logs = "more"
        store.publish(state, "logs")
        done = PredictionResponse(id="p1", input={}, status="succeeded", output="x")
        assert await store.finish(entry, done, "w/" + entry)  # before the linger ends
        events = [f[b"event"] for _, f in sync.xrange(events_key(stream, "p1"))]
        assert events == [b"start", b"completed"]  # the pending log update was folded into it
        assert sync.xpending(stream, "cogkit")["pending"] == 0  # acked in the same step
        await store.close()
        await client.aclose()

    _run(main())
    sync.close()


def test_a_reclaim_that_finds_a_live_lease_does_not_count_a_delivery(private_redis) -> None:
    # A dead worker's entry turns idle a moment before its lease lapses (or a live holder's
    # heartbeat is late): the reclaim finds `busy`. That must not use up one of --max-deliveries,
    # and the entry must be reclaimable again as soon as the lease is gone, not a timeout later.
    stream, group = f"store-{uuid.uuid4().hex[:6]}", "cogkit"
    sync = redis.Redis.from_url(private_redis.url)
    sync.xgroup_create(stream, group, id="0", mkstream=True)
    entry = sync.xadd(stream, {"id": "p1", "request": b"{}"}).decode()
    sync.xreadgroup(group, "dead", {stream: ">"}, count=1)
    sync.set(lease_key(stream, "p1"), f"dead/{entry}", px=600)
    sync.xclaim(stream, group, "dead", 0, [entry], idle=5000, justid=True)

    def pending() -> dict:
        return sync.xpending_range(stream, group, "-", "+", 1)[0]

    async def take(store: StateStore) -> tuple[int, list, list]:
        _, count, _, delivered, verdicts = await store.take("alive", [], 1, "0-0", 1000)
        return count, [int(n) for n in delivered], [v.decode() for v in verdicts]

    async def main() -> None:
        client = aioredis.Redis.from_url(private_redis.url)
        store = StateStore(client, stream, group)
        store.start()
        assert await take(store) == (1, [1], ["busy"])
        p = pending()
        assert p["consumer"] == b"alive" and p["times_delivered"] == 1
        assert 1000 - 600 <= p["time_since_delivered"] < 1000  # reclaimable when the lease lapses
        await asyncio.sleep(0.7)
        assert await take(store) == (1, [2], ["run"])  # the second delivery, and it runs
        assert pending()["times_delivered"] == 2
        await store.close()
        await client.aclose()

    _run(main())
    sync.close()
