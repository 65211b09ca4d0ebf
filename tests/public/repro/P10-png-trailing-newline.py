# %%
from sympy import *
init_printing()
x = Symbol('x')
# %%
(pi + x)**2
