"""The pure cluster model: peers, the v1 (election) topology, the v2 cluster state.

Nothing in this package performs I/O; every function takes data and returns data.
"""
