# %%
from numpy import *
# %%
sum(range(5), -1)
