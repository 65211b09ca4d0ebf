"""Chaos mode, for tests: random delays at the points where the timing of
an isolated run can change its schedule, so that every order the scheduler
must cope with turns up in a few runs instead of once a month on a loaded
machine.

FLOE_CHAOS=SEED[:MAX_MS] (default MAX_MS 40) turns it on. Each delay point
draws from a generator seeded by the seed, the point's name and its key
(cell, artifact version, name), so a run is replayed by setting the same
seed: the draws are the same for the same cell attempts, whatever the
machine does. About half the points sleep, for up to MAX_MS, skewed short.

Points: fork (a kernel forked from the zygote starts late), import (an
artifact is slow to load), compute (a cell starts computing late), export
(its exports are slow), send (a message to floe, "done" or "need", is late).
Off, each point costs one attribute test."""
import os
import random
import sys
import time
import zlib


def _parse(spec):
    if not spec:
        return None, 0.0
    seed, _, ms = spec.partition(":")
    try:
        return int(seed), float(ms or 40) / 1000.0
    except ValueError:
        sys.stderr.write("floe: FLOE_CHAOS=%r is not SEED[:MAX_MS]; chaos mode off\n" % spec)
        return None, 0.0


SEED, MAX_S = _parse(os.environ.get("FLOE_CHAOS"))


def delay(point, *key):
    """Sleeps for the draw of (seed, point, key), or returns at once."""
    if SEED is None:
        return
    r = random.Random(zlib.crc32(repr((SEED, point) + key).encode()))
    if r.random() < 0.5:
        return
    time.sleep(MAX_S * r.random() ** 2)


def announce():
    """Says once, on floe's stderr, that this run is under chaos and how to
    replay it."""
    if SEED is not None:
        sys.stderr.write("floe: chaos mode: FLOE_CHAOS=%d:%g (set it again to replay these delays)\n"
                         % (SEED, MAX_S * 1000))
        sys.stderr.flush()
