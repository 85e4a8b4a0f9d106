"""Which server runs me? Server.sing() is the owt server running the current call."""

from owt.server import Server


def run(name: str = "world", **extra: object) -> str:
    me = Server.sing()
    return f"Hello, {name}, from owt at {me.address}:{me.port}!"
