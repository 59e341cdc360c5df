"""Zones over SSH: connections with verified host keys, shell-quoted commands,
sitter logs read from an offset and followed, ``manatee-adm status`` parsed.

Commands that never reach a zone do not import this package's connection modules,
so they do not pay for importing paramiko (about 0.1 s).
"""
