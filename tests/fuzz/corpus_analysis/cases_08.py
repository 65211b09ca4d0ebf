files = !ls
# %%
x?
??y
z = 1
# %%
if flag:
    %matplotlib inline
    z = 1
# %%
f(a=b, **opts)
# %%
s = f"{name!r:>{width}}"
# %%
y = a if c else b
# %%
v = arr[lo:hi].mean().real
# %%
assert ok, msg
raise Err from cause
# %%
global g
g = 1
# %%
# nothing here

# %%
match v:
    case [a, (b | c)] as whole:
        pass
