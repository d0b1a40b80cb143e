"""Tokens and predictions become labelled DataArrays and Datasets: embeddings (Aurora's and any
encoder's), forecasts, and zarr stores streamed step by step."""
