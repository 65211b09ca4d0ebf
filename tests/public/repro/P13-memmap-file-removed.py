# %%
import numpy as np
import pandas as pd
PREV = pd.options.display.max_rows
# %%
mmap = np.memmap('mymmap', dtype='float64', mode='w+', shape=(10, 10))
# %%
section = mmap[:5]
# %%
section[:] = 1.5
mmap.flush()
del mmap
# %%
!rm mymmap
# %%
x = np.ones(3)
# %%
%xdel x
# %%
pd.options.display.max_rows = PREV
