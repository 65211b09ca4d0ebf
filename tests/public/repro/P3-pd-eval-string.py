# %%
import pandas as pd
df1 = pd.DataFrame({'a': [1, 2]})
# %%
pd.eval('df1 + 1')
