"""The graph IR and the canonical network: graph, values, network (ReluNet), domain."""
