"""Embeddings from Python with owt's client (``python example/embed/client.py``).

Needs a server with the embeddings environment: owt serve --env embed=.venv-embed/bin/python
(OWT_ADDRESS, OWT_PORT and OWT_TOKEN name it, as for the scripts: example/README.md).
"""

import os

from owt.client import Client

url = f"http://{os.environ.get('OWT_ADDRESS', '127.0.0.1')}:{os.environ.get('OWT_PORT', '9876')}"
token = os.environ.get("OWT_TOKEN", "").split(",")[0] or None

with Client(url, timeout=180, token=token) as owt:
    embed = owt.adaptor("from owt.lib.embed import run", env="embed")
    similarity = owt.adaptor(
        "from owt.lib.embed import similarity", fn_name="similarity", env="embed"
    )
    out = embed(texts=["The cat sat on the mat.", "A feline rested on the rug."])
    print(f"{len(out['vectors'])} vectors of {out['dim']} floats")
    print("similarity:", round(similarity(a="How old are you?", b="What is your age?"), 3))
