# %%
import numpy as np
import pandas as pd
import patsy
data = pd.DataFrame({'x0': [1, 2, 3], 'x1': [0.5, -1.0, 2.0], 'y': [1, 0, 1]})
# %%
y, X = patsy.dmatrices('y ~ x0 + np.log(np.abs(x1) + 1)', data)
X
