# %%
import numpy as np
x2 = np.zeros((3, 4), dtype=int)
# %%
x2_sub = x2[:2, :2]
# %%
x2_sub[0, 0] = 99
# %%
print(x2)
