"""What a step is made of: the vocabulary the registered checks and actions
(``migrator.steps``) and the engine (``migrator.engine``) share.

``registry`` (the ``@check``/``@action`` decorators, the properties an action
declares, ``Outcome``, the context a step is handed), ``schema`` (a playbook's
steps as data), ``writes`` (a computed ZooKeeper write shown to the operator),
``hooks`` (what a step records when it starts), ``evidence`` (what a resumed run
learns about an action left in flight). Nothing here does I/O.
"""
