"""ElastiCache: Redis OSS/Valkey replication groups, Memcached, Serverless, Global Datastore, and who may use
them (RBAC users)."""
