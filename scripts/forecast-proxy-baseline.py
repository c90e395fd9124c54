#!/usr/bin/env python3
"""Score statsforecast's MSTL + AutoETS on the hourly proxy windows that
`cargo run --example mase_proxy -p crest-forecast` dumps (PROXY_DUMP=DIR),
beside crest and seasonal naive (m = 24) on exactly the same points.

    PROXY_DUMP=/tmp cargo run --release --example mase_proxy -p crest-forecast
    pip install statsforecast && python3 scripts/forecast-proxy-baseline.py /tmp
"""
import sys

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import MSTL, AutoETS

d = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
hist = pd.read_csv(f"{d}/proxy_hist.csv")
fc = pd.read_csv(f"{d}/proxy_fc.csv")
hist["ds"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(hist["ds"], unit="h")
h = int(fc["step"].max()) + 1
sf = StatsForecast(
    models=[MSTL(season_length=[24, 168], trend_forecaster=AutoETS(model="ZZN"))],
    freq="h",
    n_jobs=1,
)
out = sf.forecast(df=hist, h=h).reset_index()
out["step"] = out.groupby("unique_id").cumcount()
m = fc.merge(out[["unique_id", "step", "MSTL"]], on=["unique_id", "step"])
rows = []
for name in ["crest", "MSTL", "snaive24"]:
    e = (m["actual"] - m[name]).abs()
    smape = 200 * e / (m["actual"].abs() + m[name].abs())
    per = pd.DataFrame({"id": m["unique_id"], "smape": smape, "mase": e / m["scale"]})
    g = per.groupby("id").mean()
    rows.append((name, g["smape"].mean(), g["mase"].mean()))
for name, s, ms in rows:
    print(f"{name:>10}: sMAPE {s:6.2f}  MASE {ms:.3f}  ({m['unique_id'].nunique()} windows, horizon {h})")
