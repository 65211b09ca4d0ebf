#!/usr/bin/env python3
"""Writes the small, deterministic data files the real-world notebooks read
(tests/realworld/data/). Every file comes from numpy's default_rng with a
fixed seed, so a rerun rewrites the same bytes. Run it after editing:

    /usr/bin/python3 tests/realworld/make_data.py

Files (each well under 300 KB):
  sales.csv      retail orders 2022-2023 (regions, stores, categories, discounts, a few gaps)
  weather.csv    daily weather of three cities for two years (a few missing readings)
  customers.csv  telecom-style customers with churn (total_charges has blanks, as such exports do)
  trial.csv      a small clinical-style trial: dose, age, baseline and outcome by group and site
  access.log     a web server log (combined log format) plus users.csv (ip -> user, plan, country)
"""
import os

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")


def sales(rng):
    stores = {"S01": "North", "S02": "North", "S03": "North", "S04": "South", "S05": "South",
              "S06": "South", "S07": "East", "S08": "East", "S09": "West", "S10": "West", "S11": "West"}
    products = {
        "Electronics": [("Headphones", 59.0), ("Monitor", 189.0), ("Keyboard", 35.0), ("Webcam", 49.0)],
        "Furniture": [("Desk", 240.0), ("Chair", 130.0), ("Bookcase", 95.0)],
        "Office": [("Paper", 6.5), ("Pens", 3.2), ("Stapler", 12.0), ("Binder", 4.8)],
        "Grocery": [("Coffee", 9.9), ("Tea", 5.5), ("Snacks", 3.9)],
    }
    n = 2400
    days = pd.date_range("2022-01-01", "2023-12-31", freq="D")
    # more orders in Q4 and on weekdays
    w = np.where(days.month >= 10, 1.6, 1.0) * np.where(days.dayofweek < 5, 1.2, 0.8)
    date = np.sort(rng.choice(days.values, size=n, p=w / w.sum()))
    store = rng.choice(list(stores), size=n)
    cat = rng.choice(list(products), size=n, p=[0.25, 0.15, 0.35, 0.25])
    prod, base = [], []
    for c in cat:
        name, price = products[c][rng.integers(len(products[c]))]
        prod.append(name)
        base.append(price)
    units = rng.poisson(2.5, size=n) + 1
    price = np.round(np.array(base) * rng.uniform(0.9, 1.1, size=n), 2)
    discount = rng.choice([0.0, 0.05, 0.1, 0.2], size=n, p=[0.55, 0.2, 0.15, 0.1])
    units = units.astype(float)
    units[rng.choice(n, size=12, replace=False)] = np.nan
    df = pd.DataFrame({
        "order_id": np.arange(100001, 100001 + n),
        "order_date": pd.to_datetime(date).strftime("%Y-%m-%d"),
        "store": store,
        "region": [stores[s] for s in store],
        "category": cat,
        "product": prod,
        "units": units,
        "unit_price": price,
        "discount": discount,
        "customer_type": rng.choice(["New", "Returning"], size=n, p=[0.35, 0.65]),
    })
    df.to_csv(os.path.join(DATA, "sales.csv"), index=False)


def weather(rng):
    days = pd.date_range("2021-01-01", "2022-12-31", freq="D")
    doy = days.dayofyear.values
    rows = []
    for city, mean, amp, wet in [("Oslo", 6.0, 11.0, 0.45), ("Madrid", 15.0, 9.5, 0.2), ("Lisbon", 17.0, 5.5, 0.3)]:
        season = -np.cos(2 * np.pi * (doy - 15) / 365.25)
        # AR(1) anomaly so rolling means have something to smooth
        anom = np.zeros(len(days))
        e = rng.normal(0, 1.6, len(days))
        for i in range(1, len(days)):
            anom[i] = 0.7 * anom[i - 1] + e[i]
        tmax = mean + 4 + amp * season + anom
        tmin = tmax - rng.uniform(4, 11, len(days))
        rain = rng.random(len(days)) < wet * (1.2 - 0.4 * season)
        precip = np.where(rain, np.round(rng.gamma(1.3, 4.0, len(days)), 1), 0.0)
        wind = np.round(rng.gamma(4.0, 3.5, len(days)), 1)
        hum = np.clip(np.round(70 - 8 * season + 10 * rain + rng.normal(0, 6, len(days))), 20, 100)
        t = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "city": city, "temp_max": np.round(tmax, 1),
                          "temp_min": np.round(tmin, 1), "precip_mm": precip, "wind_kmh": wind,
                          "humidity": hum})
        gaps = rng.choice(len(days), size=9, replace=False)
        t.loc[gaps, "temp_max"] = np.nan
        rows.append(t)
    pd.concat(rows, ignore_index=True).to_csv(os.path.join(DATA, "weather.csv"), index=False)


def customers(rng):
    n = 1800
    contract = rng.choice(["Month-to-month", "One year", "Two year"], size=n, p=[0.55, 0.25, 0.2])
    tenure = np.where(contract == "Month-to-month", rng.integers(0, 40, n),
                      np.where(contract == "One year", rng.integers(6, 60, n), rng.integers(12, 73, n)))
    internet = rng.choice(["DSL", "Fiber optic", "No"], size=n, p=[0.35, 0.45, 0.2])
    monthly = np.round(np.where(internet == "Fiber optic", 75, np.where(internet == "DSL", 50, 22))
                       + rng.normal(0, 9, n), 2)
    total = np.round(monthly * tenure * rng.uniform(0.95, 1.05, n), 2)
    payment = rng.choice(["Electronic check", "Mailed check", "Bank transfer", "Credit card"], size=n)
    senior = (rng.random(n) < 0.16).astype(int)
    logit = (-1.2 + 1.4 * (contract == "Month-to-month") - 0.9 * (contract == "Two year")
             - 0.035 * tenure + 0.8 * (internet == "Fiber optic") + 0.5 * (payment == "Electronic check")
             + 0.4 * senior)
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))
    total_s = np.array(["%.2f" % v for v in total], dtype=object)
    total_s[tenure == 0] = " "  # new customers have no total yet, as in the usual telco export
    df = pd.DataFrame({
        "customer_id": ["C%05d" % i for i in range(1, n + 1)],
        "gender": rng.choice(["Female", "Male"], size=n),
        "senior": senior,
        "partner": rng.choice(["Yes", "No"], size=n),
        "tenure_months": tenure,
        "contract": contract,
        "internet": internet,
        "payment_method": payment,
        "monthly_charges": monthly,
        "total_charges": total_s,
        "churn": np.where(churn, "Yes", "No"),
    })
    df.to_csv(os.path.join(DATA, "customers.csv"), index=False)


def trial(rng):
    n = 360
    group = np.repeat(["control", "treatment"], n // 2)
    site = rng.choice(["Site A", "Site B", "Site C"], size=n, p=[0.4, 0.35, 0.25])
    age = rng.integers(25, 76, n)
    dose = np.where(group == "treatment", rng.choice([10, 20, 40], size=n), 0)
    baseline = np.round(rng.normal(140, 12, n), 1)
    site_eff = pd.Series(site).map({"Site A": 0.0, "Site B": -2.0, "Site C": 1.5}).values
    outcome = np.round(baseline - 0.22 * dose + 0.12 * (age - 50) + site_eff + rng.normal(0, 7, n), 1)
    adverse = rng.random(n) < np.where(group == "treatment", 0.14, 0.08)
    df = pd.DataFrame({"subject": ["P%03d" % i for i in range(1, n + 1)], "group": group, "site": site,
                       "age": age, "sex": rng.choice(["F", "M"], size=n), "dose_mg": dose,
                       "baseline_bp": baseline, "outcome_bp": outcome, "adverse_event": adverse.astype(int)})
    df.to_csv(os.path.join(DATA, "trial.csv"), index=False)


def logs(rng):
    n_users = 60
    ips = ["10.%d.%d.%d" % tuple(rng.integers(0, 256, 3)) for _ in range(n_users)]
    plans = rng.choice(["free", "pro", "team"], size=n_users, p=[0.6, 0.3, 0.1])
    users = pd.DataFrame({"ip": ips, "user": ["user%02d" % i for i in range(n_users)], "plan": plans,
                          "country": rng.choice(["DE", "FR", "US", "BR", "JP"], size=n_users)})
    # a few addresses in the log belong to nobody in users.csv (left joins leave NaN)
    strangers = ["192.168.%d.%d" % tuple(rng.integers(0, 256, 2)) for _ in range(6)]
    users.to_csv(os.path.join(DATA, "users.csv"), index=False)
    paths = ["/", "/login", "/logout", "/search?q=shoes", "/search?q=hats", "/api/v1/items", "/api/v1/items/42",
             "/api/v1/orders", "/static/app.js", "/static/style.css", "/cart", "/checkout", "/admin"]
    pw = np.array([12, 8, 3, 6, 4, 14, 6, 7, 10, 10, 6, 3, 1], dtype=float)
    agents = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/118.0", "Mozilla/5.0 (Macintosh) Safari/605.1",
              "Mozilla/5.0 (Windows NT 10.0) Chrome/119.0", "curl/8.4.0", "python-requests/2.31"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    n = 1900
    t0 = pd.Timestamp("2023-03-06 00:00:00")
    secs = np.sort(rng.integers(0, 7 * 86400, n))
    lines = []
    for s in secs:
        ts = t0 + pd.Timedelta(seconds=int(s))
        ip = strangers[rng.integers(6)] if rng.random() < 0.06 else ips[rng.integers(n_users)]
        path = paths[rng.choice(len(paths), p=pw / pw.sum())]
        method = "POST" if path in ("/login", "/checkout", "/api/v1/orders") and rng.random() < 0.7 else "GET"
        r = rng.random()
        status = 200 if r < 0.82 else 304 if r < 0.88 else 404 if r < 0.95 else 500 if r < 0.98 else 403
        if path == "/admin":
            status = 403
        size = 0 if status == 304 else int(rng.integers(120, 48000))
        lines.append('%s - - [%02d/%s/%d:%02d:%02d:%02d +0000] "%s %s HTTP/1.1" %d %d "-" "%s"' % (
            ip, ts.day, months[ts.month - 1], ts.year, ts.hour, ts.minute, ts.second, method, path, status,
            size, agents[rng.integers(len(agents))]))
    # a couple of malformed lines, as real logs have
    lines.insert(400, "-- log rotated --")
    lines.insert(1500, '10.0.0.1 - - [bad timestamp] "GET / HTTP/1.1" 200')
    with open(os.path.join(DATA, "access.log"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    os.makedirs(DATA, exist_ok=True)
    sales(np.random.default_rng(20231))
    weather(np.random.default_rng(20232))
    customers(np.random.default_rng(20233))
    trial(np.random.default_rng(20234))
    logs(np.random.default_rng(20235))
    for f in sorted(os.listdir(DATA)):
        print("%-14s %7d bytes" % (f, os.path.getsize(os.path.join(DATA, f))))


if __name__ == "__main__":
    main()
