"""One protocol description (python/floe_kernel/protocol.def) for both
sides: the codecs and message types the kernel side reads from it are the
ones the C side compiles in, and no message op is used in the sources
without being described there."""
import glob
import os
import re
import sys

import oracle

sys.path.insert(0, os.path.join(oracle.ROOT, "python"))
from floe_kernel import protocol  # noqa: E402


def test_codecs_are_one_set():
    assert sorted(protocol.CODECS) == ["arrow", "code", "dropped", "group", "module", "pickle", "unmovable"]
    assert protocol.CODEC_DROPPED == "dropped" and protocol.CODEC_UNMOVABLE == "unmovable"


def test_every_op_in_the_sources_is_described():
    used = set()
    for path in glob.glob(os.path.join(oracle.ROOT, "python", "floe_kernel", "*.py")):
        used |= set(re.findall(r'"op":\s*"(\w+)"', open(path, encoding="utf-8").read()))
        used |= set(re.findall(r'get\("op"\)\s*==\s*"(\w+)"', open(path, encoding="utf-8").read()))
    for path in glob.glob(os.path.join(oracle.ROOT, "src", "*", "*.c")):
        text = open(path, encoding="utf-8").read()
        used |= set(re.findall(r'"op",\s*"(\w+)"', text))
        used |= set(re.findall(r'strcmp\(op,\s*"(\w+)"\)', text))
    assert used, "no op found: the patterns are stale"
    assert used - set(protocol.MESSAGES) == set()


def test_no_codec_name_outside_the_description():
    """The kernel side names codecs through protocol.CODEC_*, not literals."""
    for path in glob.glob(os.path.join(oracle.ROOT, "python", "floe_kernel", "*.py")):
        text = open(path, encoding="utf-8").read()
        assert not re.search(r'"codec":\s*"\w+"', text), path
        assert not re.search(r'codec\s*==\s*"\w+"', text), path
