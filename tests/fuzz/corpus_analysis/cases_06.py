d[k] = v
# %%
a.b[i].c = 1
# %%
counts[w] += 1
# %%
self_.n += 1
# %%
df.dropna(inplace=True)
# %%
def add(v):
    items.append(v)
add(1)
# %%
def f():
    l = []
    l.append(1)
    return l
r = f()
# %%
f().x = 1
# %%
exec(code)
# %%
r = eval(expr)
# %%
globals()["a"] = 1
# %%
v = vars()
