#!/usr/bin/env python3
"""Score statsforecast's MSTL + AutoETS on the hourly proxy windows that
`cargo run --example mase_proxy -p crest-forecast` dumps (PROXY_DUMP=DIR),
beside crest and seasonal naive (m = 24) on exactly the same points: mean
sMAPE and mean MASE per window, and on how many windows each model's MASE is
worse than seasonal naive's; overall, per source group (legacy = the first
65-window proxy; smooth) and per half (tune = odd windows, report =
even windows).

    PROXY_DUMP=/tmp cargo run --example mase_proxy -p crest-forecast
    pip install statsforecast && python3 scripts/forecast-proxy-baseline.py /tmp
"""
import sys

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
per = {}
for name in ["crest", "MSTL", "snaive24"]:
    e = (m["actual"] - m[name]).abs()
    smape = 200 * e / (m["actual"].abs() + m[name].abs())
    df = pd.DataFrame({"id": m["unique_id"], "smape": smape, "mase": e / m["scale"]})
    per[name] = df.groupby("id").mean()
info = m.groupby("unique_id")[["group", "half"]].first()
sets = {"all": info.index}
for g in sorted(info["group"].unique()):
    sets[g] = info.index[info["group"] == g]
for half in ["tune", "report"]:
    sets[f"all/{half}"] = info.index[info["half"] == half]
    sets[f"new/{half}"] = info.index[(info["half"] == half) & (info["group"] != "legacy")]
for label, ids in sets.items():
    print(f"== {label} ({len(ids)} windows, horizon {h})")
    naive = per["snaive24"].loc[ids, "mase"]
    for name in ["crest", "MSTL", "snaive24"]:
        g = per[name].loc[ids]
        worse = int((g["mase"] > naive).sum())
        print(
            f"{name:>10}: sMAPE {g['smape'].mean():6.2f}  MASE {g['mase'].mean():.3f}"
            f"  MASE > snaive24 on {worse}/{len(ids)}"
        )
