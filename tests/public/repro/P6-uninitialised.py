# %%
import numpy as np
np.ones(3)
# %%
np.empty(3)
