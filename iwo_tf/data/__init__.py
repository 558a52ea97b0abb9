"""Data: TFRecord schema, readers for the public feature layouts, the synthetic default dataset, the
input pipeline and the winners-out mask store. Knows nothing of the model.

Modules: `schema` (record format), `dataset_writer` / `dataset_info` (converted dataset directory),
`convert` (CLI over `layouts/`), `synthetic` (embedded default), `pipeline` (resample to K segments,
batches), `masks` (MaskStore, MaskTable), `validation` (bad-input checks and reasons).
"""
