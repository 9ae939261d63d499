"""Cluster mode: several daemons share the polling of one config through Redis.

Membership with heartbeat leases, rendezvous assignment of targets to live nodes, per-target
leases with fencing tokens, a leader lease for cluster-wide work, and the shared state in Redis.
docs/cluster.md is the user's guide; docs/decisions/0009-cluster.md records the design.
"""
