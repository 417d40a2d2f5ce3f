"""Redis connections of the queue: one standalone server or a Redis Cluster, found from the URL.

The same `redis://host:port` works for both: the first call asks the server whether it runs in
cluster mode, so a fleet's configuration does not change when its Redis becomes a cluster.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry  # the asyncio one: redis 8 warns on the synchronous Retry
from redis.backoff import NoBackoff

# Reconnects are ours (tenacity in the store), not redis-py's hidden retries. One silent retry
# remains: the first command on a pooled connection that Redis closed (e.g. after a restart)
# fails at once, and retrying it on a fresh connection is always right.
_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 2.0,
    "socket_timeout": 10.0,  # > the 1 s XREADGROUP block
    "socket_keepalive": True,
    "health_check_interval": 15,
}


def standalone(url: str) -> Redis:
    """A client for a standalone Redis (no round trip yet)."""
    return Redis.from_url(url, retry=Retry(NoBackoff(), 1), **_OPTIONS)


def cluster(url: str) -> RedisCluster:
    """A cluster client that keeps serving the live masters' slots while one master is down."""
    return RedisCluster.from_url(
        url, retry=Retry(NoBackoff(), 1), require_full_coverage=False, **_OPTIONS
    )


async def is_cluster(client: Redis) -> bool:
    info = await client.info("cluster")
    return bool(info.get("cluster_enabled"))


async def open_redis(url: str) -> Redis | RedisCluster:
    """The right client for whatever `url` points at; raises redis' errors when unreachable."""
    probe = standalone(url)
    try:
        clustered = await is_cluster(probe)
    except BaseException:
        await probe.aclose()
        raise
    if not clustered:
        return probe
    await probe.aclose()
    client = cluster(url)
    await client.initialize()
    return client
