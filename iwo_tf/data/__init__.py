"""Data: TFRecord schema, readers for the public feature layouts, the synthetic default dataset, the
input pipeline and the winners-out mask store. Knows nothing of the model.

Modules: `schema` (record format), `dataset_format` (file names of a converted dataset),
`dataset_writer` / `staging` / `dataset_info` (writing a converted dataset directory safely, reading
its metadata), `convert` (CLI over `layouts/`, whose `registry` names every layout), `safe_npy`
(`.npy` without pickle), `validation` (bad-input checks and reasons), `synthetic` (embedded
default), `record_index` / `epoch_order` / `pipeline` (record offsets, the order of a training
epoch, resample to K segments, batches), `masks` (MaskStore, MaskTable).
"""
