"""The step engine: planner (pure), runner (the only caller of effects), journal, lock."""
