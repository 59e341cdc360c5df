"""The built-in checks and actions that playbooks name, one area per module.

Importing this package registers every one of them (``migrator.stepkit.registry``):
the playbook loader and the engine import it before they look a name up.
"""

from migrator.steps import operator, positions, remote, rollback, serving, zk

__all__ = ["operator", "positions", "remote", "rollback", "serving", "zk"]
