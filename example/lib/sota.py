"""The state of the art, wrapped once: every adaptor may call ``sota.hard_task``.

A wrapper module is the place for the few lines that make a Python-only thing callable:
load the model once, take plain arguments, give back text, bytes or JSON.
"""


def hard_task(prompt: str) -> str:
    """Solve a task described in words (this demo's model is a very confident planner)."""
    steps = [word.strip(".,!?") for word in prompt.split() if word.strip(".,!?")]
    plan = " → ".join(f"{word} ✓" for word in steps)
    return f"{prompt}: done ({plan})\n"
