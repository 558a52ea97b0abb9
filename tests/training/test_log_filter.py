"""The stderr filter drops the known-harmless TensorFlow lines and nothing else."""
import subprocess
import sys

from iwo_tf.training.log_filter import is_harmless

NOISE = (b"E0000 00:00:1795989905.694291 6089 node_def_util.cc:682] NodeDef mentions attribute "
         b"use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset; signature=...")


def test_known_noise_is_recognised_and_real_errors_are_not():
    assert is_harmless(NOISE)
    assert not is_harmless(b"E0000 00:00:1 123 op_kernel.cc:1] OUT_OF_RANGE: End of sequence")
    assert not is_harmless(b"Traceback (most recent call last):")


def test_a_process_with_the_filter_keeps_its_own_stderr_and_loses_only_the_noise():
    script = (
        "import os, sys\n"
        "from iwo_tf.training.log_filter import install_stderr_filter\n"
        "install_stderr_filter()\n"
        f"os.write(2, {NOISE!r} + b'\\n')\n"
        "os.write(2, b'C++ error that matters\\n')\n"
        "print('python warning', file=sys.stderr)\n"
        "print('stdout line')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout == "stdout line\n"
    assert result.stderr == "C++ error that matters\npython warning\n"
