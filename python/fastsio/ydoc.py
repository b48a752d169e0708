"""YdocStore: the Redis side of Open WebUI's collaborative documents
(``YdocManager``), on fastsio's C client, with the same keys:

    <prefix>:<doc>:updates              list of JSON-encoded update byte lists
    <prefix>:<doc>:users                set of session ids in the document
    <prefix>:<doc>:size                 stored bytes of the document
    <prefix>:session:<sid>:documents    reverse index: documents of a session

The reverse index makes ``remove_user_from_all_documents`` a set read, not a
keyspace SCAN. Every method is a coroutine that does not block the loop;
commands of one call are pipelined on the client's connection.
"""
import json as stdlib_json

from .redis_client import parse_url, shared_connection


class YdocStore:
    def __init__(self, redis_url, redis_key_prefix="open-webui:ydoc:documents",
                 redis_sentinels=[], redis_cluster=False, redis_options=None, json=None):
        self.prefix = redis_key_prefix
        self._json = json or stdlib_json
        cfg = parse_url(redis_url, redis_options, sentinels=redis_sentinels,
                        cluster=redis_cluster)
        self.redis = shared_connection(cfg)

    def _key(self, document_id, what):
        return f"{self.prefix}:{document_id}:{what}"

    def _session_key(self, sid):
        return f"{self.prefix}:session:{sid}:documents"

    async def append_update(self, document_id, update):
        """Appends one update (bytes or a list of ints); returns the list length."""
        return await self.redis.execute("RPUSH", self._key(document_id, "updates"),
                                        self._json.dumps(list(update)))

    async def get_updates(self, document_id):
        raw = await self.redis.execute("LRANGE", self._key(document_id, "updates"), 0, -1)
        return [bytes(self._json.loads(r)) for r in raw]

    async def document_exists(self, document_id):
        return await self.redis.execute("EXISTS", self._key(document_id, "updates")) > 0

    async def get_users(self, document_id):
        members = await self.redis.execute("SMEMBERS", self._key(document_id, "users"))
        return [m.decode() for m in members]

    async def add_user(self, document_id, sid):
        await self.redis.execute("SADD", self._key(document_id, "users"), sid)
        await self.redis.execute("SADD", self._session_key(sid), document_id)

    async def remove_user(self, document_id, sid):
        await self.redis.execute("SREM", self._key(document_id, "users"), sid)
        await self.redis.execute("SREM", self._session_key(sid), document_id)

    async def documents_of(self, sid):
        members = await self.redis.execute("SMEMBERS", self._session_key(sid))
        return [m.decode() for m in members]

    async def count_documents_for_user(self, sid):
        return await self.redis.execute("SCARD", self._session_key(sid))

    async def remove_user_from_all_documents(self, sid):
        """Removes sid from every document it joined; returns those documents
        that have no user left (the caller decides whether to clear them)."""
        emptied = []
        for document_id in await self.documents_of(sid):
            await self.remove_user(document_id, sid)
            if not await self.redis.execute("SCARD", self._key(document_id, "users")):
                emptied.append(document_id)
        await self.redis.execute("DEL", self._session_key(sid))
        return emptied

    async def clear_document(self, document_id):
        await self.redis.execute("DEL", self._key(document_id, "updates"),
                                 self._key(document_id, "users"), self._key(document_id, "size"))
