"""The next epoch's input built in the background is the iterator the epoch would have built itself."""
import threading

import pytest
import tensorflow as tf

from iwo_tf.training.epoch_inputs import EpochInputs


def recording_build(calls):
    def build(seed):
        calls.append((seed, threading.current_thread().name))
        if seed < 0:
            raise ValueError(f"bad seed {seed}")
        return tf.data.Dataset.range(seed, seed + 3)

    return build


def test_a_prepared_epoch_is_built_once_in_the_background_and_handed_over():
    calls = []
    inputs = EpochInputs(recording_build(calls))
    inputs.prepare(5)
    inputs.wait()
    assert len(calls) == 1 and calls[0][0] == 5 and calls[0][1].startswith("iwo-epoch-input")
    assert [int(x) for x in inputs.iterator(5)] == [5, 6, 7]
    assert len(calls) == 1


def test_an_epoch_other_than_the_prepared_one_is_built_now_and_equals_the_direct_iterator():
    calls = []
    inputs = EpochInputs(recording_build(calls))
    inputs.prepare(5)
    assert [int(x) for x in inputs.iterator(9)] == [9, 10, 11]
    assert calls[-1] == (9, threading.current_thread().name)
    assert [int(x) for x in inputs.iterator(5)] == [5, 6, 7]  # the stale preparation was dropped: built again


def test_a_failure_while_building_in_the_background_is_raised_when_the_epoch_starts():
    inputs = EpochInputs(recording_build([]))
    inputs.prepare(-1)
    with pytest.raises(ValueError, match="bad seed -1"):
        inputs.iterator(-1)


def test_without_a_background_thread_nothing_is_built_ahead():
    calls = []
    inputs = EpochInputs(recording_build(calls), background=False)
    inputs.prepare(5)
    assert calls == []
    assert [int(x) for x in inputs.iterator(5)] == [5, 6, 7]
    assert calls == [(5, threading.current_thread().name)]
