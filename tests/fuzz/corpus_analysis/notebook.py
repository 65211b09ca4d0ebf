import numpy as np
data = load("x.csv")
# %%
def clean(df):
    global N
    N = len(df)
    return df.dropna()
# %%
data = clean(data)
data.sort(inplace=True)
# %%
%matplotlib inline
%time model = fit(data, lr=rate)
# %%
match model:
    case Fit(score=s) if s > best:
        best = s
    case [first, *rest] | {"k": first, **rest}:
        pass
# %%
from helpers import *
exec(code)
del data
