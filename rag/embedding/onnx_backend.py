"""The embedder on ONNX Runtime (float32 or int8): no torch at query time.

Mean pooling over the attention mask and L2 normalisation are done in numpy, exactly as the
sentence-transformers modules of the bundled model do (checked when loading).

Many texts at once (ingestion) are encoded by one single-threaded session run from one
Python thread per core, each on its own batches (ONNX Runtime runs one session from several
threads at once and releases the GIL). Small length-sorted batches leave one two-threaded
run waiting on its slowest thread; measured on SciFact abstracts, batch 4, 2 cores: int8
40.2 -> 49.3 texts/s, float 22.9 -> 28.7. A few texts (a query) keep the multi-threaded
session: one batch cannot be split across threads otherwise.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from rag.bundled import usable_cores, use_offline_runtime
from rag.embedding.base import FloatMatrix
from rag.embedding.onnx_export import ONNX_INPUTS
from rag.errors import ModelUnavailableError
from rag.tokens import TokenCounter


def _checked_sentence_config(model_dir: Path) -> int:
    """The model's max sequence length, after checking its pooling is what we reproduce."""
    pooling_file = model_dir / "1_Pooling" / "config.json"
    if pooling_file.is_file():
        pooling = json.loads(pooling_file.read_text())
        modes = [key for key, on in pooling.items() if key.startswith("pooling_mode") and on]
        if modes != ["pooling_mode_mean_tokens"]:
            raise ModelUnavailableError(
                f"the ONNX backend does mean pooling only; {model_dir} uses {modes}"
            )
    config_file = model_dir / "sentence_bert_config.json"
    if config_file.is_file():
        return int(json.loads(config_file.read_text()).get("max_seq_length") or 512)
    return 512


class OnnxEmbedder:
    """Normalized mean-pooled embeddings from an exported encoder."""

    def __init__(
        self,
        onnx_path: Path,
        model_dir: Path,
        *,
        name: str,
        batch_size: int,
        threads: int,
    ) -> None:
        use_offline_runtime()

        self.max_seq_length = _checked_sentence_config(model_dir)
        self.tokens = TokenCounter.from_model_dir(model_dir)
        self._encoder = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._encoder.enable_truncation(self.max_seq_length)
        self._encoder.enable_padding()
        self._onnx_path = onnx_path
        self._session = self._new_session(threads)
        self.workers = threads or usable_cores()
        # Made on the first call with more than one batch per worker (an API process that
        # only embeds queries never holds a second copy of the weights).
        self._parallel_session: Any = None
        self._parallel_lock = threading.Lock()
        inputs = {i.name for i in self._session.get_inputs()}
        if not inputs <= set(ONNX_INPUTS):
            raise ModelUnavailableError(f"unexpected inputs {sorted(inputs)} in {onnx_path}")
        self._wants_type_ids = "token_type_ids" in inputs
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self.name = name
        self.batch_size = batch_size
        self.texts_embedded = 0
        self._count_lock = threading.Lock()

    def _new_session(self, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # Idle ORT workers spin by default; on two cores that steals the CPU from the parsing
        # thread of ingestion and from llama.cpp in the API process.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(
            str(self._onnx_path), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: Sequence[str]) -> FloatMatrix:
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        # Longest first, in small batches: little padding, and the big ones fail early.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        if self.workers > 1 and len(batches) >= 2 * self.workers:
            session = self._parallel()

            def run(worker: int) -> None:
                # Round robin over the length-sorted batches: every worker gets a fair share.
                for batch in batches[worker :: self.workers]:
                    vectors[batch] = self._encode_batch([texts[i] for i in batch], session)

            with ThreadPoolExecutor(self.workers, thread_name_prefix="onnx-encode") as pool:
                for done in [pool.submit(run, w) for w in range(self.workers)]:
                    done.result()
        else:
            for batch in batches:
                vectors[batch] = self._encode_batch([texts[i] for i in batch], self._session)
        with self._count_lock:
            self.texts_embedded += len(texts)
        return vectors

    def _parallel(self) -> Any:
        with self._parallel_lock:
            if self._parallel_session is None:
                self._parallel_session = self._new_session(1)
            return self._parallel_session

    def _encode_batch(self, texts: list[str], session: Any) -> FloatMatrix:
        encodings = self._encoder.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, npt.NDArray[np.int64]] = {"input_ids": ids, "attention_mask": mask}
        if self._wants_type_ids:
            feeds["token_type_ids"] = np.zeros_like(ids)
        states = np.asarray(session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.ascontiguousarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        return self.tokens.count(text)
