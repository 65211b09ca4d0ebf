"""A notebook-directory helper module for adv_import_state (issue 16, P14):
like pdsh's helpers_05_08, importing it changes process state as a side
effect (matplotlib's rcParams, numpy's print options, a pandas option).
It sleeps first, so that in parallel mode cells that only use that state
would run before its importer finished."""
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

time.sleep(1.0)
plt.rcParams["figure.dpi"] = 50
np.set_printoptions(precision=2)
pd.set_option("display.max_rows", 4)
