"""Test driver: one process of a tiny winners-out run under a tf.distribute strategy; dumps its state.

    python tests/training/distributed_driver.py --strategy=multi_worker --data_dir=D --workdir=W \
        --out=STATE.npz [--logical_cpus=2] [--overrides='{"data.batch_size": 8}']

Run in its own process (tests/training/test_distributed.py) so that no strategy or device
configuration leaks into pytest. TF_CONFIG (multi_worker) comes from the environment. It builds the
library's `WinnersOutTrainer` exactly like train.py (strategy first, then the config, op determinism),
records what the run does, runs it, and writes STATE.npz with:

    weights        the final model weights, `model.weights` order (weight_0 ... weight_{n-1})
    losses         [steps, 3] per training step: cross-entropy, orthogonality term, correct count
    masks          [winners-out steps, N, K] the keep-mask table after each update (train-id order)
    is_chief, task, num_replicas, trainer_workdir (a non-chief's scratch directory, removed by run())
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategy", required=True, choices=("default", "mirrored", "multi_worker"))
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--logical_cpus", type=int, default=1)
    parser.add_argument("--overrides", default="{}", help="JSON {section.key: value} over configs/synthetic.py")
    args = parser.parse_args()

    import tensorflow as tf

    if args.logical_cpus > 1:  # before anything initialises the runtime
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
    from iwo_tf.training.strategy import CLUSTER_ERRORS, cluster_failure_message, make_strategy, sync_workers, task_description

    strategy = make_strategy(args.strategy)  # first TF op of the process (multi_worker needs that)

    import numpy as np

    from configs import synthetic
    from iwo_tf.training.trainer import WinnersOutTrainer

    config = synthetic.get_config()
    config.data_dir = args.data_dir
    config.strategy = args.strategy
    for dotted, value in json.loads(args.overrides).items():
        section, key = dotted.split(".")
        config[section][key] = tuple(value) if isinstance(value, list) else value
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()

    trainer = WinnersOutTrainer(config, args.workdir, strategy, verbose=False)
    losses, masks = [], []
    train_step, assign = trainer.train_step, trainer.mask_table.assign

    def recording_step(iterator):
        outputs = train_step(iterator)
        losses.append([float(x) for x in outputs])
        return outputs

    def recording_assign(new_masks):
        assign(new_masks)
        masks.append(trainer.mask_table.masks.numpy()[:-1].copy())  # the last row serves unknown ids

    trainer.train_step, trainer.mask_table.assign = recording_step, recording_assign
    try:
        trainer.run()
        sync_workers(strategy)  # as train.py: every worker ends after the chief's evaluation
    except CLUSTER_ERRORS as error:
        print("error: " + cluster_failure_message(strategy, error, args.workdir), file=sys.stderr)
        return 3
    state = {f"weight_{i}": v.numpy() for i, v in enumerate(trainer.model.weights)}
    state.update(
        losses=np.asarray(losses, np.float64).reshape(-1, 3),
        masks=np.asarray(masks, np.float32).reshape(-1, len(trainer.train_ids), trainer.num_segments),
        is_chief=trainer.chief,
        task=task_description(strategy),
        num_replicas=strategy.num_replicas_in_sync,
        trainer_workdir=trainer.workdir,
    )
    np.savez(args.out, **state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
