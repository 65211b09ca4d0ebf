l = locals()
# %%
def f():
    return locals()
# %%
x = (1,
# %%
os.chdir(d)
# %%
%run other.py
# %%
%time x = f(y)
# %%
%timeit -n 10 -r 3 f(y)
# %%
%%time
x = f(y)
z = x
# %%
%%capture out
print(1)
# %%
%%bash
echo $x
x = 1

# %%
%%sql
SELECT 1
# %%
!ls
y = 1
