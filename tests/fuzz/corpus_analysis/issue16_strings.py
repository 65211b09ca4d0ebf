r = df.query('a > @mu and b == "x\\" ')
m = smf.ols('y ~ np.log(x) + C(g)', data=d)
t = pd.eval('''df1 + df2.a''')
def f():
    return sys._getframe(1).f_globals
