# %%
%matplotlib inline
import matplotlib.pyplot as plt
# %%
fig, ax = plt.subplots()
ax.plot([1, 2, 3], label='a')
# %%
ax.set_title('set through ax, shown through fig')
fig
# %%
ax.get_title(), fig.axes[0].get_title()
