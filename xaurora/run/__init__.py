"""How a model runs over a Dataset: times and history pairs, batches, the read-ahead loop and its
sizing, hooks, edits, the collector's freeze, the Dask map over time chunks, and token layout."""
