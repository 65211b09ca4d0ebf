if (n := len(a)) > 10:
    print(n)
# %%
ys = [last := f(x) for x in xs]
# %%
hits = [x for x in xs if (m := match(x))]
# %%
def f():
    if (k := g()):
        return k
# %%
import os
# %%
import os.path
# %%
import numpy as np, os.path as osp
# %%
from collections import OrderedDict, defaultdict as dd
# %%
from . import sibling
from ..pkg import thing as t
# %%
from a import (b,
               c as d)
# %%
from __future__ import annotations

# %%
from m import *
