# %%
import matplotlib.pyplot as plt
# %%
plt.style.use('classic')
# %%
fig = plt.figure()
plt.plot([1, 2, 3]);
# %%
fig.savefig('my_figure.png')
# %%
!ls my_figure.png
# %%
from IPython.display import Image
Image('my_figure.png')
