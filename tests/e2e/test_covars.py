"""Co-variable detection (python/floe_kernel/covars.py, issue 16 class 1),
in process: the C walk (_floe_covars.walk) against its Python reference on
generated object graphs, the groups found for each kind of sharing, and the
group codec keeping views views and identities shared through a pickle.
The notebooks adv_covar_* test the same end to end against Jupyter."""
import os
import random
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
from floe_kernel import covars  # noqa: E402


class Obj:
    def __init__(self, v):
        self.v = v


def graph(rng, pool, depth=0):
    """A random value built of atoms, containers and objects, reusing
    objects from pool (so that values share some)."""
    k = rng.randrange(9 if depth < 4 else 3)
    if k == 0:
        return rng.randrange(100)
    if k == 1:
        return "s%d" % rng.randrange(5)
    if k == 2 and pool:
        return rng.choice(pool)
    if k == 3:
        v = [graph(rng, pool, depth + 1) for _ in range(rng.randrange(4))]
    elif k == 4:
        v = {"k%d" % i: graph(rng, pool, depth + 1) for i in range(rng.randrange(4))}
    elif k == 5:
        v = tuple(graph(rng, pool, depth + 1) for _ in range(rng.randrange(4)))
    elif k == 6:
        v = Obj(graph(rng, pool, depth + 1))
    elif k == 7:
        v = np.arange(rng.randrange(1, 8))[rng.randrange(2):]
    else:
        v = {frozenset([1, 2]), rng.randrange(3)}
    pool.append(v)
    return v


@pytest.mark.skipif(covars._walk is covars._py_walk, reason="_floe_covars not built")
@pytest.mark.parametrize("seed", range(40))
def test_c_walk_equals_python_reference(seed):
    rng = random.Random(seed)
    pool = []
    values = [graph(rng, pool) for _ in range(6)]
    skip, special = covars._kinds()
    for budget in (3, 50, 10 ** 6):
        a = covars._walk(list(values), set(), budget, skip, special)
        b = covars._py_walk(list(values), set(), budget, skip, special)
        assert a[0] == b[0] and a[2] == b[2]
        assert [id(x) for x in a[1]] == [id(x) for x in b[1]]


def groups(**values):
    return covars.groups(values, covars.Walk())[0]


def test_groups_for_each_kind_of_sharing():
    a = [1]
    arr = np.arange(10)
    df = pd.DataFrame({"x": [1, 2], "y": [1.0, 2.0]})
    shared = {"n": 1}
    assert groups(a=a, b=a, c=[1]) == [["a", "b"]]
    assert groups(arr=arr, s=arr[5:8], other=np.arange(3)) == [["arr", "s"]]
    assert groups(A=arr, B=arr.reshape(2, 5)) == [["A", "B"]]
    assert groups(df=df, col=df["x"], copy=df.copy()) == [["col", "df"]]
    assert groups(left=[shared], right={"k": shared}, o=Obj(shared)) == [["left", "o", "right"]]
    # immutable sharing is no link: numbers, strings, tuples of them, classes
    assert groups(t=(1, "x"), u=(1, "x"), i=Obj(1), j=Obj(1)) == []


@pytest.mark.filterwarnings("ignore::pandas.errors.SettingWithCopyWarning")  # as Jupyter warns: s is df's column
def test_group_codec_keeps_views_and_identities(tmp_path):
    arr = np.arange(10)
    a = [1]
    df = pd.DataFrame({"x": [1, 2, 3], "y": [1.0, 2.0, 3.0]})
    values = {"arr": arr, "rev": arr[::-1], "view": arr[2:5], "a": a, "box": {"k": a}, "df": df, "s": df["x"]}
    path = str(tmp_path / "g.pkl")
    covars.dump(values, path)
    links = covars.Links()
    got = {n: links.load({"gid": "g", "path": path, "member": n}, {}, None) for n in values}
    got["view"][0] = -1
    got["rev"][0] = -9
    got["s"][1] = 12345
    got["a"].append(2)
    assert got["arr"].tolist() == [0, 1, -1, 3, 4, 5, 6, 7, 8, -9]
    assert got["box"]["k"] is got["a"]
    assert got["df"]["x"].tolist() == [1, 12345, 3]
