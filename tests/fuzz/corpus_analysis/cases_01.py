print(x)
x = 1
# %%
if c:
    x = 1
print(x)
# %%
if c:
    x = 1
else:
    x = 2
y = x
# %%
while n > 0:
    m = n
    n -= 1
print(m)
# %%
print(len(range(10)), sorted([]))

# ---- loops and context managers ---------------------------------------------------
# %%
for i, (k, v) in enumerate(pairs):
    total = i
# %%
for x in xs:
    break
else:
    y = z
# %%
with open(path) as f, lock:
    data = f.read()
# %%
with ctx() as (a, b):
    pass
# %%
try:
    r = risky()
except ValueError as e:
    msg = str(e)
# %%
try:
    x = 1
finally:
    cleanup(x)
# %%
try:
    pass
except* OSError as eg:
    log(eg)
