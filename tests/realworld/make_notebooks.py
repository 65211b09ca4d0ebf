#!/usr/bin/env python3
"""Writes the five real-world notebooks (tests/realworld/*.ipynb) from the
cell lists below, so they are reviewable as Python. Run it after editing:

    /usr/bin/python3 tests/realworld/make_notebooks.py

They are ordinary data-analysis notebooks, of the kind found in public
repositories, on the data of make_data.py (read with paths relative to the
notebook, data/...): loading and cleaning, in-place mutation, helper
functions reused by later cells, DataFrame displays, matplotlib figures, and
several independent branches of analysis after the loading cells. Nothing
depends on time, unseeded randomness or memory addresses.

A cell is a string (code) or ("md", text) for markdown."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

SALES = [
    ("md", "# Retail sales: exploratory analysis\n\nTwo years of orders from eleven stores. "
           "Which regions, categories and products bring the revenue, and how do discounts behave?"),
    "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt\n%matplotlib inline",
    "sales = pd.read_csv('data/sales.csv', parse_dates=['order_date'])\nprint(sales.shape)\nsales.head(3).T",
    "sales.info()",
    "sales.isna().sum()",
    ("md", "## Cleaning\n\nA few orders have no unit count: use the median. Revenue is net of the discount."),
    "sales['units'] = sales['units'].fillna(sales['units'].median()).astype(int)\n"
    "sales['revenue'] = (sales['units'] * sales['unit_price'] * (1 - sales['discount'])).round(2)\n"
    "sales['year'] = sales['order_date'].dt.year\n"
    "sales['month'] = sales['order_date'].dt.to_period('M')\n"
    "sales.drop(columns=['order_id'], inplace=True)\n"
    "sales.describe()",
    "def summarize(frame, by):\n"
    "    \"\"\"Orders, units and revenue per group, biggest revenue first.\"\"\"\n"
    "    out = frame.groupby(by).agg(orders=('revenue', 'size'), units=('units', 'sum'),\n"
    "                                revenue=('revenue', 'sum'))\n"
    "    out['avg_order'] = (out['revenue'] / out['orders']).round(2)\n"
    "    out['share_%'] = (100 * out['revenue'] / out['revenue'].sum()).round(1)\n"
    "    return out.sort_values('revenue', ascending=False)\n\n"
    "def money(x):\n"
    "    return f'${x:,.0f}'",
    ("md", "## Regions"),
    "by_region = summarize(sales, 'region')\nby_region",
    "fig, ax = plt.subplots(figsize=(6, 3.5))\n"
    "ax.bar(by_region.index, by_region['revenue'], color='steelblue')\n"
    "ax.set_title('Revenue by region')\nax.set_ylabel('revenue ($)')\n"
    "for i, v in enumerate(by_region['revenue']):\n"
    "    ax.text(i, v, money(v), ha='center', va='bottom', fontsize=8)\n"
    "plt.tight_layout()\nplt.show()",
    ("md", "## Categories, year over year"),
    "pivot = sales.pivot_table(index='category', columns='year', values='revenue', aggfunc='sum')\n"
    "pivot['growth_%'] = ((pivot[2023] / pivot[2022] - 1) * 100).round(1)\n"
    "pivot.sort_values('growth_%', ascending=False)",
    "top_products = summarize(sales, ['category', 'product']).head(8)\ntop_products",
    ("md", "## Monthly trend"),
    "monthly = sales.groupby('month')['revenue'].sum()\n"
    "print('best month:', monthly.idxmax(), money(monthly.max()))\n"
    "print('worst month:', monthly.idxmin(), money(monthly.min()))\n"
    "monthly.tail(6)",
    "ax = monthly.plot(figsize=(8, 3), marker='o', title='Monthly revenue')\nax.set_ylabel('revenue ($)')",
    "quarterly = sales.groupby([sales['order_date'].dt.year.rename('year'),\n"
    "                           sales['order_date'].dt.quarter.rename('quarter')])['revenue'].sum().unstack()\n"
    "quarterly.round(0)",
    ("md", "## Discounts"),
    "disc = sales.groupby('discount').agg(orders=('revenue', 'size'), units_per_order=('units', 'mean'),\n"
    "                                     revenue=('revenue', 'sum'))\n"
    "print('corr(discount, units) = %.3f' % sales['discount'].corr(sales['units']))\n"
    "disc.round(2)",
    ("md", "## Stores and customers"),
    "def top_n(frame, col, n=3):\n"
    "    return frame.nlargest(n, col)[[col]]\n\n"
    "stores = summarize(sales, ['region', 'store'])\n"
    "for region, grp in stores.groupby(level=0):\n"
    "    best = top_n(grp, 'revenue', 1).index[0][1]\n"
    "    print(f'{region:6s} best store {best}: {money(grp.loc[(region, best), \"revenue\"])}')",
    "pd.crosstab(sales['region'], sales['customer_type'], values=sales['revenue'], aggfunc='sum',\n"
    "            normalize='index').round(3)",
    "sales['weekday'] = sales['order_date'].dt.day_name()\n"
    "order = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday']\n"
    "by_day = sales.groupby('weekday')['revenue'].agg(['size', 'sum']).reindex(order)\nby_day",
    "fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))\n"
    "share = sales.groupby('category')['revenue'].sum()\n"
    "axes[0].pie(share, labels=share.index, autopct='%1.0f%%', startangle=90)\n"
    "axes[0].set_title('Revenue share by category')\n"
    "axes[1].bar(by_day.index.str[:3], by_day['sum'], color='darkorange')\n"
    "axes[1].set_title('Revenue by weekday')\n"
    "plt.tight_layout()\nplt.show()",
    "total = sales['revenue'].sum()\n"
    "print(f'Total revenue {money(total)} from {len(sales):,} orders '\n"
    "      f'({money(total / len(sales))} per order); top region {by_region.index[0]}, '\n"
    "      f'top product {top_products.index[0][1]}')",
]

WEATHER = [
    ("md", "# Weather in three cities, 2021-2022\n\nDaily readings for Oslo, Madrid and Lisbon: "
           "seasonal cycle, smoothing, rain, and the longest warm spells."),
    "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt",
    "weather = pd.read_csv('data/weather.csv', parse_dates=['date'], index_col='date')\n"
    "weather.head()",
    "weather.groupby('city').describe().T.round(1).head(16)",
    "missing = weather[weather['temp_max'].isna()]\nprint(len(missing), 'missing temp_max readings')\n"
    "missing.groupby('city').size()",
    ("md", "## Cleaning\n\nFill the gaps by linear interpolation within each city, then derive the daily mean."),
    "weather['temp_max'] = weather.groupby('city')['temp_max'].transform(lambda s: s.interpolate())\n"
    "weather['temp_mean'] = ((weather['temp_max'] + weather['temp_min']) / 2).round(2)\n"
    "weather['rainy'] = weather['precip_mm'] > 0.5\n"
    "assert weather['temp_max'].notna().all()\n"
    "weather[['city', 'temp_max', 'temp_min', 'temp_mean', 'rainy']].tail(3)",
    "temps = weather.pivot_table(index='date', columns='city', values='temp_mean')\n"
    "rain = weather.pivot_table(index='date', columns='city', values='precip_mm')\n"
    "temps.shape, rain.shape",
    ("md", "## Monthly means and smoothing"),
    "monthly = temps.resample('M').mean().round(1)\nmonthly.head(6)",
    "smooth = temps.rolling(30, center=True, min_periods=10).mean()\n"
    "fig, ax = plt.subplots(figsize=(9, 3.5))\n"
    "for city in smooth.columns:\n"
    "    ax.plot(temps.index, temps[city], alpha=0.25, lw=0.6)\n"
    "    ax.plot(smooth.index, smooth[city], lw=2, label=city)\n"
    "ax.set_ylabel('°C')\nax.set_title('Daily mean temperature and 30-day rolling mean')\nax.legend()\n"
    "plt.show()",
    "yearly = temps.groupby(temps.index.year).agg(['mean', 'min', 'max']).round(1)\nyearly",
    "monthly.diff().abs().max().rename('largest month-to-month change (°C)')",
    ("md", "## Rain"),
    "quarterly_rain = rain.resample('Q').sum().round(1)\n"
    "quarterly_rain.index = quarterly_rain.index.to_period('Q')\nquarterly_rain",
    "rainy_days = weather.groupby('city')['rainy'].mean().mul(100).round(1)\n"
    "print('share of rainy days (%):')\nprint(rainy_days.to_string())",
    "ax = rain.resample('M').sum().plot(kind='bar', figsize=(10, 3.5), width=0.8)\n"
    "ax.set_xticklabels([d.strftime('%Y-%m') for d in rain.resample('M').sum().index], rotation=90)\n"
    "ax.set_ylabel('mm')\nax.set_title('Monthly precipitation')\nplt.tight_layout()",
    ("md", "## Seasons and warm spells"),
    "def season_of(month):\n"
    "    return {12: 'winter', 1: 'winter', 2: 'winter', 3: 'spring', 4: 'spring', 5: 'spring',\n"
    "            6: 'summer', 7: 'summer', 8: 'summer'}.get(month, 'autumn')\n\n"
    "def longest_run(mask):\n"
    "    \"\"\"Length of the longest run of consecutive True values.\"\"\"\n"
    "    best = cur = 0\n"
    "    for v in mask:\n"
    "        cur = cur + 1 if v else 0\n"
    "        best = max(best, cur)\n"
    "    return best",
    "weather['season'] = [season_of(m) for m in weather.index.month]\n"
    "seasonal = weather.groupby(['city', 'season'])['temp_mean'].mean().unstack()\n"
    "seasonal[['winter', 'spring', 'summer', 'autumn']].round(1)",
    "thresholds = {'Oslo': 20, 'Madrid': 30, 'Lisbon': 25}\n"
    "spells = {c: longest_run(weather.loc[weather.city == c, 'temp_max'] > t) for c, t in thresholds.items()}\n"
    "pd.Series(spells, name='longest warm spell (days)')",
    "hottest = weather.reset_index().loc[weather.reset_index().groupby('city')['temp_max'].idxmax()]\n"
    "hottest[['date', 'city', 'temp_max', 'humidity']]",
    "weather.groupby('city')[['temp_mean', 'humidity', 'precip_mm', 'wind_kmh']].corr().round(2)",
    "oslo = weather[weather.city == 'Oslo']\n"
    "fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))\n"
    "oslo.assign(month=oslo.index.month).boxplot(column='temp_mean', by='month', ax=axes[0], grid=False)\n"
    "axes[0].set_title('Oslo: daily mean by month')\naxes[0].set_xlabel('month')\n"
    "for city, grp in weather.groupby('city'):\n"
    "    axes[1].scatter(grp['temp_mean'], grp['humidity'], s=4, label=city)\n"
    "axes[1].set_xlabel('°C')\naxes[1].set_ylabel('humidity %')\naxes[1].legend()\n"
    "fig.suptitle('')\nplt.tight_layout()\nplt.show()",
]

CHURN = [
    ("md", "# Customer churn\n\nWho leaves? A look at contracts, tenure, services and payment methods."),
    "import pandas as pd\nimport numpy as np\nimport matplotlib.pyplot as plt\n%matplotlib inline",
    "df = pd.read_csv('data/customers.csv')\nprint(df.shape)\ndf.head(3).T",
    "df.dtypes",
    ("md", "`total_charges` is text: new customers have a blank there."),
    "df['total_charges'] = pd.to_numeric(df['total_charges'], errors='coerce')\n"
    "print('blank total_charges:', df['total_charges'].isna().sum())\n"
    "df.dropna(subset=['total_charges'], inplace=True)\n"
    "df.reset_index(drop=True, inplace=True)\n"
    "df['churn_flag'] = (df['churn'] == 'Yes').astype(int)\n"
    "df.shape",
    "df['churn'].value_counts()",
    "df['churn'].value_counts(normalize=True).round(3)",
    "df.describe().round(2)",
    "def churn_rate(col):\n"
    "    out = df.groupby(col)['churn_flag'].agg(['mean', 'size'])\n"
    "    out.columns = ['churn_rate', 'customers']\n"
    "    out['churn_rate'] = out['churn_rate'].round(3)\n"
    "    return out.sort_values('churn_rate', ascending=False)",
    ("md", "## Contracts and services"),
    "churn_rate('contract')",
    "pd.crosstab(df['internet'], df['churn'], margins=True)",
    "pd.crosstab(df['payment_method'], df['churn'], normalize='index').round(3)",
    "df.groupby(['contract', 'internet'])['monthly_charges'].mean().unstack().round(2)",
    "by_contract = df.groupby('contract')['churn_flag'].mean()\n"
    "ax = by_contract.plot(kind='bar', figsize=(5, 3.5), color=['indianred', 'goldenrod', 'seagreen'], rot=0)\n"
    "ax.set_ylabel('churn rate')\nax.set_title('Churn by contract')\nplt.tight_layout()",
    ("md", "## Tenure"),
    "df['tenure_group'] = pd.cut(df['tenure_months'], bins=[0, 12, 24, 48, 72],\n"
    "                            labels=['0-1 y', '1-2 y', '2-4 y', '4-6 y'])\n"
    "churn_rate('tenure_group').sort_index()",
    "fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))\n"
    "for label, grp in df.groupby('churn'):\n"
    "    axes[0].hist(grp['tenure_months'], bins=24, alpha=0.6, label=f'churn={label}')\n"
    "    axes[1].hist(grp['monthly_charges'], bins=30, alpha=0.6, label=f'churn={label}')\n"
    "axes[0].set_xlabel('tenure (months)')\naxes[1].set_xlabel('monthly charges')\n"
    "for ax in axes:\n    ax.legend()\n"
    "plt.tight_layout()\nplt.show()",
    "df.groupby('churn')[['tenure_months', 'monthly_charges', 'total_charges']].median()",
    ("md", "## Demographics"),
    "churn_rate('senior')",
    "pd.crosstab([df['gender'], df['partner']], df['churn'], normalize='index').round(3)",
    ("md", "## A simple risk score"),
    "def risk_score(row):\n"
    "    score = 0\n"
    "    score += 2 if row['contract'] == 'Month-to-month' else 0\n"
    "    score += 1 if row['internet'] == 'Fiber optic' else 0\n"
    "    score += 1 if row['payment_method'] == 'Electronic check' else 0\n"
    "    score += 1 if row['tenure_months'] < 12 else 0\n"
    "    return score\n\n"
    "df['risk'] = df.apply(risk_score, axis=1)\n"
    "pd.crosstab(df['risk'], df['churn'], margins=True)",
    "lift = df.groupby('risk')['churn_flag'].mean() / df['churn_flag'].mean()\n"
    "for score, value in lift.items():\n"
    "    print(f'risk {score}: churn {value:.2f}x the average')",
    "high = df[df['risk'] >= 4]\n"
    "print(f\"{len(high)} high-risk customers, {high['churn_flag'].mean():.1%} of them churned; \"\n"
    "      f\"they pay {high['monthly_charges'].sum():,.2f} a month\")",
]

STATS = [
    ("md", "# Blood-pressure trial: hypothesis tests and regression\n\n"
           "Does the treatment lower blood pressure, by how much per mg, and is the effect robust?"),
    "import numpy as np\nimport pandas as pd\nfrom scipy import stats\nimport matplotlib.pyplot as plt\n\n"
    "rng = np.random.default_rng(42)",
    "trial = pd.read_csv('data/trial.csv')\ntrial.head().T",
    "trial['change'] = trial['outcome_bp'] - trial['baseline_bp']\n"
    "trial.groupby('group')[['age', 'baseline_bp', 'outcome_bp', 'change']].agg(['mean', 'std']).round(2)",
    "control = trial.loc[trial['group'] == 'control', 'change'].to_numpy()\n"
    "treated = trial.loc[trial['group'] == 'treatment', 'change'].to_numpy()\n"
    "print(len(control), len(treated))",
    ("md", "## Two-sample tests"),
    "t, p = stats.ttest_ind(treated, control, equal_var=False)\n"
    "print(f'Welch t = {t:.3f}, p = {p:.2e}')",
    "for name, x in [('control', control), ('treatment', treated)]:\n"
    "    w, p = stats.shapiro(x)\n"
    "    print(f'{name:10s} Shapiro-Wilk W = {w:.4f}, p = {p:.3f}')",
    "u, p = stats.mannwhitneyu(treated, control, alternative='less')\nprint(f'Mann-Whitney U = {u:.0f}, p = {p:.2e}')",
    "def cohens_d(a, b):\n"
    "    na, nb = len(a), len(b)\n"
    "    pooled = np.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))\n"
    "    return (a.mean() - b.mean()) / pooled\n\n"
    "print(f\"Cohen's d = {cohens_d(treated, control):.3f}\")",
    ("md", "## Resampling"),
    "boot = np.array([rng.choice(treated, len(treated)).mean() - rng.choice(control, len(control)).mean()\n"
    "                 for _ in range(2000)])\n"
    "lo, hi = np.percentile(boot, [2.5, 97.5])\n"
    "print(f'bootstrap 95% CI of the difference: [{lo:.2f}, {hi:.2f}]')",
    "observed = treated.mean() - control.mean()\n"
    "pooled = np.concatenate([treated, control])\n"
    "perm = []\n"
    "for _ in range(2000):\n"
    "    rng.shuffle(pooled)\n"
    "    perm.append(pooled[:len(treated)].mean() - pooled[len(treated):].mean())\n"
    "p_perm = (np.abs(perm) >= abs(observed)).mean()\n"
    "print(f'observed {observed:.3f}, permutation p = {p_perm:.4f}')",
    ("md", "## Categorical outcomes and sites"),
    "table = pd.crosstab(trial['group'], trial['adverse_event'])\n"
    "chi2, p, dof, expected = stats.chi2_contingency(table)\n"
    "print(f'chi2 = {chi2:.3f}, dof = {dof}, p = {p:.3f}')\ntable",
    "groups = [g['change'].to_numpy() for _, g in trial.groupby('site')]\n"
    "f, p = stats.f_oneway(*groups)\nprint(f'one-way ANOVA across sites: F = {f:.3f}, p = {p:.4f}')\n"
    "trial.groupby('site')['change'].describe().round(2)",
    ("md", "## Regression\n\nOrdinary least squares with numpy: outcome on baseline, dose, age and site."),
    "def fit_ols(X, y):\n"
    "    beta, *_ = np.linalg.lstsq(X, y, rcond=None)\n"
    "    resid = y - X @ beta\n"
    "    n, k = X.shape\n"
    "    sigma2 = resid @ resid / (n - k)\n"
    "    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(X.T @ X)))\n"
    "    r2 = 1 - resid @ resid / ((y - y.mean()) @ (y - y.mean()))\n"
    "    return beta, se, r2, resid",
    "design = pd.get_dummies(trial[['baseline_bp', 'dose_mg', 'age', 'site']], columns=['site'], drop_first=True)\n"
    "design.insert(0, 'const', 1.0)\n"
    "X = design.to_numpy(dtype=float)\ny = trial['outcome_bp'].to_numpy()\n"
    "beta, se, r2, resid = fit_ols(X, y)\n"
    "dof = len(y) - X.shape[1]\n"
    "coefs = pd.DataFrame({'coef': beta, 'se': se, 't': beta / se}, index=design.columns)\n"
    "coefs['p'] = 2 * stats.t.sf(np.abs(coefs['t']), dof)\n"
    "print(f'R^2 = {r2:.4f}')\ncoefs.round(4)",
    "fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))\n"
    "axes[0].scatter(X @ beta, resid, s=6)\naxes[0].axhline(0, color='k', lw=0.8)\n"
    "axes[0].set_xlabel('fitted')\naxes[0].set_ylabel('residual')\n"
    "stats.probplot(resid, dist='norm', plot=axes[1])\n"
    "plt.tight_layout()\nplt.show()",
    "dose = trial.groupby('dose_mg')['change'].agg(['mean', 'sem', 'size']).round(3)\n"
    "fit = stats.linregress(trial['dose_mg'], trial['change'])\n"
    "print(f'slope {fit.slope:.4f} mmHg/mg (p = {fit.pvalue:.2e}), r = {fit.rvalue:.3f}')\ndose",
    "fig, ax = plt.subplots(figsize=(6, 3.5))\n"
    "ax.errorbar(dose.index, dose['mean'], yerr=1.96 * dose['sem'], fmt='o', capsize=4)\n"
    "xs = np.linspace(0, 40, 50)\nax.plot(xs, fit.intercept + fit.slope * xs, '--')\n"
    "ax.set_xlabel('dose (mg)')\nax.set_ylabel('change in BP (mmHg)')\nax.set_title('Dose response')\n"
    "plt.show()",
    "num = trial[['age', 'dose_mg', 'baseline_bp', 'outcome_bp', 'change']]\n"
    "num.corr(method='spearman').round(3)",
]

LOGS = [
    ("md", "# Web server log analysis\n\nOne week of an access log (combined log format): parse it with a "
           "regular expression, then look at status codes, endpoints, clients, users and traffic over time."),
    "import re\nfrom collections import Counter\n\nimport pandas as pd\nimport matplotlib.pyplot as plt",
    "with open('data/access.log') as f:\n    raw = f.read().splitlines()\nprint(len(raw), 'lines')\nraw[:2]",
    "LOG_RE = re.compile(\n"
    "    r'(?P<ip>\\S+) \\S+ \\S+ \\[(?P<ts>[^\\]]+)\\] '\n"
    "    r'\"(?P<method>[A-Z]+) (?P<path>\\S+) (?P<proto>[^\"]+)\" '\n"
    "    r'(?P<status>\\d{3}) (?P<bytes>\\d+) \"(?P<referer>[^\"]*)\" \"(?P<agent>[^\"]*)\"')\n\n"
    "def parse(line):\n"
    "    m = LOG_RE.match(line)\n"
    "    return m.groupdict() if m else None",
    "records = [parse(line) for line in raw]\n"
    "bad = [line for line, rec in zip(raw, records) if rec is None]\n"
    "print(f'{len(bad)} unparseable lines:')\nfor line in bad:\n    print('  ', repr(line))",
    "logs = pd.DataFrame([r for r in records if r is not None])\n"
    "logs['status'] = logs['status'].astype(int)\n"
    "logs['bytes'] = logs['bytes'].astype(int)\n"
    "logs['ts'] = pd.to_datetime(logs['ts'], format='%d/%b/%Y:%H:%M:%S %z')\n"
    "logs.drop(columns=['proto', 'referer'], inplace=True)\n"
    "logs[['ts', 'method', 'path', 'status', 'bytes']].head()",
    "logs.dtypes",
    ("md", "## Status codes"),
    "status_counts = Counter(logs['status'])\nstatus_counts.most_common()",
    "logs['status_class'] = (logs['status'] // 100).astype(str) + 'xx'\n"
    "logs['status_class'].value_counts().sort_index()",
    ("md", "## Endpoints"),
    "logs['endpoint'] = logs['path'].str.split('?').str[0]\n"
    "logs['query'] = logs['path'].str.extract(r'[?&]q=(\\w+)', expand=False)\n"
    "logs['endpoint'].value_counts().head(10)",
    "logs['query'].value_counts(dropna=True)",
    "errors = pd.crosstab(logs['endpoint'], logs['status_class'])\n"
    "errors['error_rate'] = ((errors.get('4xx', 0) + errors.get('5xx', 0)) / errors.sum(axis=1)).round(3)\n"
    "errors.sort_values('error_rate', ascending=False).head(6)",
    "tokens = Counter(tok for p in logs['endpoint'] for tok in p.strip('/').split('/') if tok)\n"
    "print(tokens.most_common(5))",
    ("md", "## Clients"),
    "def client_of(agent):\n"
    "    for name in ('Firefox', 'Chrome', 'Safari', 'curl', 'python-requests'):\n"
    "        if name in agent:\n"
    "            return name\n"
    "    return 'other'\n\n"
    "BOTS = {'curl', 'python-requests'}",
    "logs['client'] = logs['agent'].map(client_of)\nlogs['is_bot'] = logs['client'].isin(BOTS)\n"
    "logs.groupby('client').agg(requests=('bytes', 'size'), mb=('bytes', lambda b: round(b.sum() / 1e6, 2)),\n"
    "                           bot=('is_bot', 'first'))",
    ("md", "## Users"),
    "users = pd.read_csv('data/users.csv')\n"
    "logs = logs.merge(users, on='ip', how='left')\n"
    "logs['plan'] = logs['plan'].fillna('anonymous')\n"
    "print('requests from unknown addresses:', logs['user'].isna().sum())\n"
    "print('unknown addresses:', ', '.join(sorted(logs.loc[logs['user'].isna(), 'ip'].unique())))",
    "logs.groupby('plan').agg(users=('user', 'nunique'), requests=('ip', 'size'),\n"
    "                         errors=('status', lambda s: int((s >= 400).sum()))).sort_values('requests')",
    "heavy = logs.groupby(['user', 'country'])['bytes'].sum().sort_values(ascending=False).head(5)\n"
    "heavy.apply(lambda b: f'{b / 1e6:.2f} MB')",
    "def sessionize(frame, gap='30min'):\n"
    "    frame = frame.sort_values(['ip', 'ts'])\n"
    "    new = frame.groupby('ip')['ts'].diff().gt(pd.Timedelta(gap)) | frame['ip'].ne(frame['ip'].shift())\n"
    "    return frame.assign(session=new.cumsum())\n\n"
    "sessions = sessionize(logs).groupby('session').agg(ip=('ip', 'first'), hits=('ts', 'size'),\n"
    "                                                    start=('ts', 'min'), end=('ts', 'max'))\n"
    "sessions['minutes'] = (sessions['end'] - sessions['start']).dt.total_seconds() / 60\n"
    "print(len(sessions), 'sessions')\nsessions['hits'].describe().round(2)",
    ("md", "## Traffic over time"),
    "hourly = logs.set_index('ts').resample('H').size()\n"
    "daily = logs.groupby(logs['ts'].dt.strftime('%a %d'))['bytes'].agg(['size', 'sum'])\n"
    "print('busiest hour:', hourly.idxmax(), hourly.max(), 'requests')\ndaily",
    "fig, axes = plt.subplots(2, 1, figsize=(9, 5.5))\n"
    "axes[0].plot(hourly.index, hourly.values, lw=0.8)\naxes[0].set_title('Requests per hour')\n"
    "top = logs['endpoint'].value_counts().head(8)[::-1]\n"
    "axes[1].barh(top.index, top.values, color='slategray')\naxes[1].set_title('Top endpoints')\n"
    "plt.tight_layout()\nplt.show()",
    "logs.pivot_table(index='country', columns=logs['ts'].dt.day_name().str[:3], values='bytes',\n"
    "                 aggfunc='size', fill_value=0)",
]

NOTEBOOKS = {"sales_eda": SALES, "weather_timeseries": WEATHER, "churn_analysis": CHURN,
             "stats_regression": STATS, "log_processing": LOGS}


def cell(c, i):
    md = isinstance(c, tuple)
    if md:
        c = c[1]
    d = {"cell_type": "markdown" if md else "code", "id": "c%02d" % i, "metadata": {}, "source": c}
    if not md:
        d["execution_count"] = None
        d["outputs"] = []
    return d


def main():
    for name, cells in NOTEBOOKS.items():
        nb = {"cells": [cell(c, i) for i, c in enumerate(cells)],
              "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                           "language_info": {"name": "python"}},
              "nbformat": 4, "nbformat_minor": 5}
        with open(os.path.join(HERE, name + ".ipynb"), "w") as f:
            json.dump(nb, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print("%-20s %d code cells" % (name, sum(1 for c in cells if not isinstance(c, tuple))))


if __name__ == "__main__":
    main()
