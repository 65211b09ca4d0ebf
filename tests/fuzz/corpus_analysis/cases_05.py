match cfg:
    case {"k": v, **kw}:
        pass
# %%
match value:
    case _ as y:
        pass
# %%
match color:
    case Color.RED:
        pass
    case [1, 2] | (3, n):
        pass
# %%
match v:
    case x if x > limit:
        pass
# %%
match = 1
print(match)
# %%
del x
# %%
x = 1
del x
# %%
x = 1
del x
print(x)
# %%
del d[k], obj.attr
# %%
l.append(1)
# %%
n = s.count(1)
# %%
obj.attr = v
