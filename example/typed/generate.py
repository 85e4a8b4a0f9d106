"""A picture of an animal: the Python function a newcomer starts from.

owt serve --mount generate=example/typed/generate.py
owt codegen --lang haskell --out Endpoints.hs http://127.0.0.1:9876
# generate :: OwtClient -> Animal -> IO ByteString
"""

from typing import Literal

FACES = {"cat": "=^.^=", "dog": "U・ᴥ・U"}


def run(animal: Literal["cat", "dog"]) -> bytes:
    """A 1-bit image of the animal's face (a PBM file; any viewer opens it)."""
    face = FACES[animal]
    width = 8 * len(face)
    rows = [bytes(ord(ch) & 0xFF for ch in face) for _ in range(8)]
    return f"P4\n{width} 8\n".encode() + b"".join(rows)
