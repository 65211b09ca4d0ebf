# %%
class display(object):
    """Display HTML representation of multiple objects (PDSH 03.06/03.07)"""
    def __init__(self, *args):
        self.args = args
    def __repr__(self):
        return '\n\n'.join(a + '\n' + repr(eval(a)) for a in self.args)
# %%
x = [1, 2]
# %%
display('x')
