x = y + 1
# %%
a = b = c
# %%
a, (b, c) = t
# %%
[a, *b] = xs
# %%
first, *rest = items
# %%
x: Dict[str, int] = {}
# %%
y: T
# %%
n += 1
# %%
n = 0
n += k
# %%
a, b = b, a
# %%
x = x + 1
# %%
x = 1
print(x)
