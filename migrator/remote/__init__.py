"""Zones over SSH: connections with verified host keys, shell-quoted commands,
sitter logs read from an offset and followed, ``manatee-adm status`` parsed.

paramiko is imported only through ``migrator.remote.sshlib`` (see why there),
and only by the functions that open connections, so commands that never reach a
zone do not pay for it.
"""
