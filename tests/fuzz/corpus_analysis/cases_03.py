def f(a, b=default, *args, c: Ann = 2, **kw) -> Ret:
    return a + g(b) + h
# %%
@decorators.register(name)
def f():
    pass
# %%
def f():
    return g + 1
y = f()
# %%
g = 1
def f():
    return g
y = f()
# %%
def f(x):
    y = x
    return y
z = f(1)
# %%
def setup():
    global CONFIG
    CONFIG = load()
setup()
# %%
def setup():
    global CONFIG
    CONFIG = 1
# %%
def outer():
    x = 1
    def inner():
        nonlocal x
        x = 2
    inner()
    return x
v = outer()
# %%
def outer():
    def inner():
        return G
    return inner
v = outer()
# %%
class C(Base, metaclass=Meta):
    attr = value
    def m(self):
        return other
# %%
class C:
    x = 1
    def m(self):
        return x
c = C()
# %%
class C:
    a = 1
    b = a + 1
