"""Environments as pools of Ray actors (``--executor ray``); imported only when chosen."""
