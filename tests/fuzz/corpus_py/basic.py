import os

# %% tags=["parameters"]
x = 1

# %% [markdown]
# # T
#
# %% title
print(x)
