# %%
import time
time.sleep(1)
with open('out.txt', 'w') as f:
    f.write('written by cell 1')
# %%
import os
os.path.exists('out.txt')
