"""TTL cache of poll results behind one small interface (`ResultCache`)."""

from snmpd_ng.cache.base import CacheEntry, CacheKey, CacheStats, ResultCache
from snmpd_ng.cache.memory import MemoryCache

__all__ = ["CacheEntry", "CacheKey", "CacheStats", "MemoryCache", "ResultCache"]
