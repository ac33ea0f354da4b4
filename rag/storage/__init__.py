"""Storage: typed models, the store (all SQL), lexical and vector indexes, the knowledge base."""
