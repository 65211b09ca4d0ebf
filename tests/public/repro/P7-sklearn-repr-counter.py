# %%
from sklearn.linear_model import LinearRegression
# %%
LinearRegression()
# %%
LinearRegression(fit_intercept=False)
