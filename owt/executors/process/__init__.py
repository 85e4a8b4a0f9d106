"""Environments as pools of worker processes: the executor and the pool it keeps."""
