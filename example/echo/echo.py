"""Echo: hello to a name, with the arguments it was given."""


def run(name: str = "world", **extra: object) -> dict[str, object]:
    return {"greeting": f"Hello, {name}!", "extra": extra}
