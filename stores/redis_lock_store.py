"""A Redis lock store that changes a conversation's lock atomically.

Rasa serialises the messages of one conversation with a ticket lock kept in the
lock store (`rasa/core/lock_store.py`, `rasa/core/lock.py`). Rasa 3.6's
`RedisLockStore` changes that lock with read-modify-write round trips run by the
`LockStore` base class: `issue_ticket` does GET (`get_or_create_lock`), numbers
the new ticket in the client (`TicketLock.issue_ticket`: last ticket + 1) and
SETs the whole lock back (`save_lock`); `update_lock` and `finish_serving` do the
same, and `cleanup` deletes the lock after checking in a separate GET that no one
is waiting. Two replicas interleaving these steps for one conversation hand out
the same ticket twice (both then process at the same time), overwrite each
other's tickets, or delete a lock a new ticket was just added to.

`AtomicRedisLockStore` runs each of those changes as one Lua script, which Redis
executes atomically: issuing, pruning expired tickets and finishing a ticket.
The lock keeps Rasa's JSON format, so `get_lock` and `TicketLock` work
unchanged, and its expiry semantics: a ticket expires `lock_lifetime` seconds
after it was issued, by the issuing replica's clock, and expired tickets are
dropped. Two additions: ticket numbers come from a per-conversation counter
(`INCR`), so they strictly increase and are never reused while the counter
lives (a replica whose ticket expired cannot finish a later holder's ticket);
and the Redis keys get a TTL, so a crashed replica's lock does not stay forever.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Dict, List, Optional

from rasa.core.lock_store import (
    DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX,
    DEFAULT_SOCKET_TIMEOUT_IN_SECONDS,
    LOCK_LIFETIME,
    LockError,
    RedisLockStore,
)
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

# The lock key outlives its latest ticket by this much, so replicas whose clocks
# differ a little still see the same tickets before Redis drops the key.
KEY_GRACE_MS = 60_000
# How long a conversation's ticket counter is kept after its last ticket.
COUNTER_TTL_MS = 24 * 3600 * 1000

# KEYS[1] the lock (Rasa's TicketLock JSON), KEYS[2] the conversation's ticket counter.
# ARGV[1] "issue", "prune" or "finish"; ARGV[2] now (epoch seconds, the caller's clock);
# ARGV[3] issue: the new ticket's expiry (epoch seconds, JSON number), finish: the
# ticket number; ARGV[4] the conversation id; ARGV[5] KEY_GRACE_MS; ARGV[6] COUNTER_TTL_MS.
# Returns the new ticket number (issue) or the number of tickets left.
_LOCK_SCRIPT = """
local op = ARGV[1]
local now = tonumber(ARGV[2])
local grace = tonumber(ARGV[5])
local conversation_id = ARGV[4]
local kept = {}
local latest = nil
local last_number = nil
local changed = false

local raw = redis.call('GET', KEYS[1])
if raw then
  local ok, lock = pcall(cjson.decode, raw)
  if not ok or type(lock) ~= 'table' then
    return redis.error_reply('the lock at ' .. KEYS[1] .. ' is not valid JSON')
  end
  if type(lock.conversation_id) == 'string' then
    conversation_id = lock.conversation_id
  end
  local tickets = lock.tickets
  if type(tickets) ~= 'table' then
    tickets = {}
  end
  for _, text in ipairs(tickets) do
    local ticket = cjson.decode(text)
    -- TicketLock: a ticket has expired when now > expires.
    if ticket.expires < now or (op == 'finish' and ticket.number == tonumber(ARGV[3])) then
      changed = true
    else
      kept[#kept + 1] = text
      if latest == nil or ticket.expires > latest then
        latest = ticket.expires
      end
      if last_number == nil or ticket.number > last_number then
        last_number = ticket.number
      end
    end
  end
end

local number = nil
if op == 'issue' then
  number = redis.call('INCR', KEYS[2])
  if last_number ~= nil and number <= last_number then
    -- The counter was lost (evicted or deleted) while tickets were queued.
    number = last_number + 1
    redis.call('SET', KEYS[2], number)
  end
  local expires = tonumber(ARGV[3])
  kept[#kept + 1] = string.format('{"number": %d, "expires": %s}', number, ARGV[3])
  if latest == nil or expires > latest then
    latest = expires
  end
  changed = true
end

if not changed then
  return #kept
end
if #kept == 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
local ttl = math.ceil((latest - now) * 1000) + grace
if ttl < grace then
  ttl = grace
end
redis.call('SET', KEYS[1], cjson.encode({conversation_id = conversation_id, tickets = kept}),
           'PX', ttl)
if op == 'issue' then
  redis.call('PEXPIRE', KEYS[2], math.max(ttl, tonumber(ARGV[6])))
  return number
end
return #kept
"""


def _to_bool(value: Any) -> bool:
    """Reads a boolean setting; endpoint files filled from env vars give strings."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


_SETTINGS: Dict[str, Callable[[Any], Any]] = {
    "port": int,
    "db": int,
    "username": str,
    "password": str,
    "use_ssl": _to_bool,
    "ssl_certfile": str,
    "ssl_keyfile": str,
    "ssl_ca_certs": str,
    "key_prefix": str,
    "socket_timeout": float,
}


def settings_from_endpoint_config(endpoint_config: EndpointConfig) -> Dict[str, Any]:
    """The constructor arguments that a `lock_store` section of an endpoints file gives.

    `url` is the host, as for Rasa's `type: redis`; the other keys are the
    constructor's. Values filled from `${ENV_VARS}` arrive as strings and are
    converted; empty values mean "use the default".

    Args:
        endpoint_config: The `lock_store` section, as Rasa read it.

    Returns:
        Keyword arguments for `AtomicRedisLockStore`.

    Raises:
        ValueError: A key is unknown or a value has the wrong form.
    """
    unknown = sorted(set(endpoint_config.kwargs) - set(_SETTINGS))
    if unknown:
        raise ValueError(
            f"AtomicRedisLockStore: unknown lock_store setting(s) {unknown}; "
            f"known: url, {', '.join(_SETTINGS)}")
    settings: Dict[str, Any] = {"host": endpoint_config.url or "localhost"}
    for name, value in endpoint_config.kwargs.items():
        if value is None or value == "":
            continue
        try:
            settings[name] = _SETTINGS[name](value)
        except ValueError as error:
            raise ValueError(f"AtomicRedisLockStore: lock_store setting {name}: {error}") \
                from error
    return settings


class AtomicRedisLockStore(RedisLockStore):  # type: ignore[misc]
    """`RedisLockStore` whose ticket changes are atomic Lua scripts on the Redis server.

    Use it from an endpoints file with
    `lock_store: {type: stores.redis_lock_store.AtomicRedisLockStore, url: ..., ...}`;
    Rasa then calls `AtomicRedisLockStore(endpoint_config=...)`.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        db: int = 1,
        username: Optional[str] = None,
        password: Optional[str] = None,
        use_ssl: bool = False,
        ssl_certfile: Optional[str] = None,
        ssl_keyfile: Optional[str] = None,
        ssl_ca_certs: Optional[str] = None,
        key_prefix: Optional[str] = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT_IN_SECONDS,
        endpoint_config: Optional[EndpointConfig] = None,
    ) -> None:
        """Creates the store; no connection is made until the first command.

        Args:
            host: The Redis host.
            port: The Redis port.
            db: The Redis database number.
            username: The Redis user (ACL), if any.
            password: The Redis password, if any.
            use_ssl: Whether to connect with TLS.
            ssl_certfile: The client certificate file for TLS.
            ssl_keyfile: The client key file for TLS.
            ssl_ca_certs: The CA certificates file for TLS.
            key_prefix: An alphanumeric prefix for the keys, e.g. one per assistant.
            socket_timeout: Seconds before a Redis command times out.
            endpoint_config: The endpoints file's `lock_store` section; when given,
                it replaces all the other arguments (this is how Rasa creates it).
        """
        if endpoint_config is not None:
            settings = settings_from_endpoint_config(endpoint_config)
        else:
            settings = {
                "host": host, "port": port, "db": db, "username": username,
                "password": password, "use_ssl": use_ssl, "ssl_certfile": ssl_certfile,
                "ssl_keyfile": ssl_keyfile, "ssl_ca_certs": ssl_ca_certs,
                "key_prefix": key_prefix, "socket_timeout": socket_timeout,
            }
        super().__init__(**settings)
        # The counter key must never equal a lock key: "lock:" + any id never starts
        # with "lock_counter:".
        self.counter_prefix = (self.key_prefix[: -len(DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX)]
                               + "lock_counter:")
        # Computes the script's SHA locally; loaded into Redis on first use.
        self._script = self.red.register_script(_LOCK_SCRIPT)

    def lock_key(self, conversation_id: str) -> str:
        """The Redis key of the conversation's lock (the same as `RedisLockStore`'s)."""
        return f"{self.key_prefix}{conversation_id}"

    def counter_key(self, conversation_id: str) -> str:
        """The Redis key of the conversation's ticket counter."""
        return f"{self.counter_prefix}{conversation_id}"

    def _run(self, operation: str, conversation_id: str, ticket_number: int = 0,
             lifetime: float = 0.0) -> int:
        """Runs the lock script for one operation and returns its integer result."""
        now = time.time()
        argument = str(int(ticket_number))
        if operation == "issue":
            expires = now + float(lifetime)
            if not math.isfinite(expires):
                raise ValueError(f"lock lifetime must be finite, got {lifetime!r}")
            argument = repr(expires)
        keys: List[str] = [self.lock_key(conversation_id), self.counter_key(conversation_id)]
        args: List[str] = [operation, repr(now), argument, conversation_id,
                           str(KEY_GRACE_MS), str(COUNTER_TTL_MS)]
        return int(self._script(keys=keys, args=args))

    def issue_ticket(self, conversation_id: str,
                     lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Adds a ticket that expires in `lock_lifetime` seconds, in one atomic step.

        Args:
            conversation_id: The conversation to lock.
            lock_lifetime: Seconds until the ticket expires.

        Returns:
            The ticket's number, greater than any number issued before for the
            conversation (while its counter lives).

        Raises:
            LockError: Redis failed or refused.
        """
        logger.debug(f"Issuing ticket for conversation '{conversation_id}'.")
        try:
            return self._run("issue", conversation_id, lifetime=lock_lifetime)
        except Exception as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: str) -> None:
        """Drops expired tickets atomically; deletes the lock if none is left."""
        self._run("prune", conversation_id)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Removes the ticket (and expired ones) atomically; deletes an empty lock."""
        self._run("finish", conversation_id, ticket_number=ticket_number)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Finishes the ticket; the lock goes in the same step if no one is waiting.

        The base class checks `is_someone_waiting` and then deletes in a second
        round trip, which can delete a ticket issued in between.
        """
        self.finish_serving(conversation_id, ticket_number)
