@dataclass
class P:
    x: int = 0
# %%
async def fetch(url):
    async with session.get(url) as r:
        return await r.text()
# %%
key = lambda item: item[col]
# %%
f = lambda x=d: x
# %%
squares = [x * x for x in range(n)]
# %%
x = [x for x in xs]
# %%
r = [y for x in xs for y in x]
# %%
d = {k: v for k, v in items if k not in skip}
s = {e for e in d}
g = sum(v for v in vals)
# %%
m = [[row[c] for c in cols] for row in rows]
# %%
fs = [lambda: base + i for i in range(3)]
# %%
match p:
    case Point(x=a, y=0):
        pass
# %%
match seq:
    case [first, *rest]:
        pass
