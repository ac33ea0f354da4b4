"""Services behind the routers: answering (gate, executor, streaming, answer log), jobs, uploads."""
