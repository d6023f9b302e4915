"""One Redis connection pool per process and URL, shared by the cache, the throttles, the stream caps and /readyz.

Why: Django's cache handler keeps its backends in an `asgiref.local.Local`, which under ASGI is per async context,
i.e. per request. Each request therefore built a new `RedisCache`, whose `RedisCacheClient` built its own
`ConnectionPool` and opened a new connection, closed only when the garbage collector got to the pool (Django's
`close_caches` is a no-op for Redis). Under uvicorn that was one Redis connection per request or open stream
(1,897 for 1,882 requests; 600 streams exhausted a Redis with maxclients 400). Here the pool lives at module level:
cache instances stay per context (cheap objects), connections are reused across all of them, and the number of
connections is bounded by the number of threads using Redis at the same moment.
"""

import threading

import redis
from django.conf import settings
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

# Fail fast: callers (throttles, stream caps, the cache) treat Redis errors as "unavailable", never as a hang.
CLIENT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2, "health_check_interval": 30}

_pools: dict[tuple, redis.ConnectionPool] = {}
_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def shared_pool(url: str, **options) -> redis.ConnectionPool:
    """The process-wide pool for `url` (redis-py pools are thread-safe and reset themselves after a fork)."""
    key = (url, tuple(sorted((name, repr(value)) for name, value in options.items())))
    pool = _pools.get(key)
    if pool is None:
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = redis.ConnectionPool.from_url(url, **{**CLIENT_OPTIONS, **options})
    return pool


def redis_client() -> redis.Redis | None:
    """The shared client for `REDIS_URL`, or None when Redis is not configured (the laptop, in-process mode).

    One client per URL and process: a `redis.Redis` is thread-safe (each command checks a connection out of the pool),
    and building one copies its table of response callbacks, which was a twentieth of a request's CPU when the
    throttle built one per request.
    """
    url = getattr(settings, "REDIS_URL", None)
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        client = _clients.setdefault(url, redis.Redis(connection_pool=shared_pool(url)))
    return client


class SharedPoolRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write):
        index = self._get_connection_pool_index(write)
        return shared_pool(self._servers[index], **self._pool_options)


class SharedPoolRedisCache(RedisCache):
    """Django's Redis cache backend on the process-wide pool (`CACHES` BACKEND with `REDIS_URL`)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
